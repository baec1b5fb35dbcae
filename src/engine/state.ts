// From the engine's informer caches to the planner's plain input, and from the planner's actions
// to the registry's writes. Pure: no I/O, no clock.
import type { EngineWrite } from "../registry/engine-writes.ts";
import { childName, childPair, type KeySpace } from "../registry/keys.ts";
import type { DrainRecord, MachineRecord, PendingRecord, ScheduleEntry, UnitRecord } from "../registry/models.ts";
import { pendingKeyUnit, scheduleKeyParts, type RecordFailure } from "../registry/records.ts";
import { mergeMetadata } from "../registry/registry.ts";
import type { PendingKind } from "../scheduler/reasons.ts";
import { rolloutHashes, targetKey } from "../rollout/hashes.ts";
import { HOLDING_ROLLOUT_STATES, type RolloutRecord } from "../rollout/types.ts";
import type { ClusterState, EngineAction, Placement, PlacementMachine, PlacementUnit, StoredPendingData } from "../scheduler/types.ts";

/** What the engine's informers hold, keyed by full etcd key. */
export interface EngineCaches {
  units: Iterable<[string, UnitRecord]>;
  machines: Iterable<[string, MachineRecord]>;
  metadata: Iterable<[string, Record<string, string>]>;
  schedule: Iterable<[string, ScheduleEntry]>;
  pending: Iterable<[string, PendingRecord]>;
  /** `drain/<machine>` marks (optional: a cache without them drains nothing). */
  drains?: Iterable<[string, DrainRecord]>;
  /**
   * Schedule and pending keys whose value could not be read. The engine owns both families, so
   * it repairs them: an unreadable entry is rewritten (or deleted if the unit no longer runs
   * there), an unreadable pending reason rewritten or cleared.
   */
  invalidSchedule?: Iterable<[string, RecordFailure]>;
  invalidPending?: Iterable<[string, RecordFailure]>;
  /** The revision that created a schedule key, when known (to tell an old entry from a stray). */
  scheduleCreated?: (key: string) => number | undefined;
  /** The text of a unit file small enough to store in its schedule entries, when known. */
  text?: (hash: string) => string | undefined;
  /** Rollout records with the revision each was read at (rollout/hashes.ts). */
  rollouts?: Iterable<[string, { record: RolloutRecord; modRevision: number }]>;
  /** The revision a unit record was read at, when known. */
  unitRevision?: (name: string) => number | undefined;
}

export interface EngineSnapshot {
  state: ClusterState;
  live: Set<string>;
  /** Gone machines that still have entries of active non-global units (whose units would move). */
  lost: Set<string>;
  /** Live drained machines that still have entries of active non-global units (to move off). */
  draining: Set<string>;
  units: Map<string, UnitRecord>;
  /** The text of a unit file small enough to store in its schedule entries, when known. */
  text?: (hash: string) => string | undefined;
  /**
   * The hash an instance runs where a rollout says otherwise than its unit record, by
   * targetKey (a global unit's per machine); non-global units' are already in `units`.
   */
  versions?: Map<string, string>;
}

export function snapshotOf(keys: KeySpace, c: EngineCaches): EngineSnapshot {
  const dynamic = new Map<string, Record<string, string>>();
  for (const [k, v] of c.metadata) {
    const id = childName(keys.metadatas, k);
    if (id !== undefined) dynamic.set(id, v);
  }
  const drained = new Set<string>();
  for (const [k] of c.drains ?? []) {
    const id = childName(keys.drains, k);
    if (id !== undefined) drained.add(id);
  }
  const machines: PlacementMachine[] = [];
  const live = new Set<string>();
  for (const [k, m] of c.machines) {
    // The key names the machine: agents own their key, so a record's id cannot point elsewhere.
    const id = childName(keys.machines, k);
    if (id === undefined || live.has(id)) continue;
    live.add(id);
    const pm: PlacementMachine = { id, metadata: mergeMetadata(m.metadata, dynamic.get(id)) };
    // The persistent drain mark, or the flag a record may carry (older writers, tests).
    if (m.drained || drained.has(id)) pm.drained = true;
    // Units may request what the machine has allocatable, not its totals.
    if (m.capacity) pm.capacity = { cpuMillis: m.capacity.allocatableCpuMillis, memoryBytes: m.capacity.allocatableMemoryBytes };
    if (m.stopped) pm.stopped = true;
    machines.push(pm);
  }
  const units = new Map<string, UnitRecord>();
  for (const [k, u] of c.units) {
    const name = childName(keys.units, k);
    if (name !== undefined) units.set(name, u.name === name ? u : { ...u, name });
  }
  const schedule: Placement[] = [];
  const lost = new Set<string>();
  const draining = new Set<string>();
  const unreadable = new Map<string, string>();
  for (const [k, f] of c.invalidSchedule ?? []) if (scheduleKeyParts(keys, k)) unreadable.set(k, f.reason);
  const entries = new Map<string, ScheduleEntry | undefined>(c.schedule);
  for (const k of unreadable.keys()) if (!entries.has(k)) entries.set(k, undefined);
  for (const [k, e] of entries) {
    const pair = childPair(keys.schedules, k);
    if (!pair) continue;
    const [machine, unit] = pair;
    const why = unreadable.get(k);
    const p: Placement = e === undefined ? { unit, machine } : { unit, machine, hash: e.hash, desiredState: e.desiredState };
    if (why !== undefined) {
      p.unreadable = why;
      // The informer kept the key's last good value: the agent there runs the unit on it.
      if (e !== undefined) p.lastGood = true;
      const created = c.scheduleCreated?.(k);
      if (created !== undefined) p.created = created;
    }
    schedule.push(p);
    const u = units.get(unit);
    if (!live.has(machine) && u && !u.global && u.desiredState !== "inactive") lost.add(machine);
    if (drained.has(machine) && live.has(machine) && u && !u.global && u.desiredState !== "inactive") draining.add(machine);
  }
  const pending = new Map<string, string>();
  const pendingData = new Map<string, StoredPendingData>();
  for (const [k, p] of c.pending) {
    const name = childName(keys.pendings, k);
    if (name === undefined) continue;
    pending.set(name, p.reason);
    pendingData.set(name, { kind: p.kind, machine: p.machine });
  }
  // No real reason is empty: the planner rewrites or clears each of these.
  for (const [k] of c.invalidPending ?? []) {
    const name = pendingKeyUnit(keys, k);
    if (name !== undefined) pending.set(name, "");
  }
  const versions = rolloutVersions(keys, c, units);
  const placementUnits: PlacementUnit[] = [...units.values()].map((u) => {
    if (!u.global) return u;
    const on = new Map<string, string>();
    for (const [k, h] of versions) if (k.startsWith(`${u.name}\n`)) on.set(k.slice(u.name.length + 1), h);
    return on.size > 0 ? { ...u, hashOn: on } : u;
  });
  const snap: EngineSnapshot = { state: { machines, units: placementUnits, schedule, pending, pendingData }, live, lost, draining, units };
  if (c.text) snap.text = c.text;
  if (versions.size > 0) snap.versions = versions;
  return snap;
}

/**
 * The hashes rollouts hold instances on (rollout/hashes.ts). A non-global instance's is set on
 * its record in `units` (so every write for it uses it); all are returned, by targetKey.
 */
function rolloutVersions(keys: KeySpace, c: EngineCaches, units: Map<string, UnitRecord>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, r] of c.rollouts ?? []) {
    if (childName(keys.rollouts, k) !== r.record.unit) continue;
    const over = rolloutHashes(r.record, r.modRevision, (name) => {
      const u = units.get(name);
      return u && { hash: u.hash, modRevision: c.unitRevision?.(name) ?? 0 };
    });
    for (const [key, hash] of over) out.set(key, hash);
  }
  for (const [key, hash] of out) {
    const u = units.get(key);
    if (u !== undefined && !u.global) units.set(key, { ...u, hash });
  }
  return out;
}

/**
 * Units moved off lost or drained machines by a plan, as the eviction budget counts them: a
 * follower that leaves the same machine as one of its MachineOf targets moves with it for free.
 * A unit unscheduled from a live machine counts only when it leaves a drained one for another.
 */
export function evictionsIn(actions: readonly EngineAction[], snap: EngineSnapshot): number {
  const off = new Map<string, Set<string>>();
  for (const a of actions) {
    if (a.kind !== "unschedule") continue;
    if (snap.live.has(a.machine) && !(snap.draining.has(a.machine) && a.why?.kind === "drained")) continue;
    const u = snap.units.get(a.unit);
    if (!u || u.global || u.desiredState === "inactive") continue;
    let set = off.get(a.machine);
    if (!set) off.set(a.machine, (set = new Set()));
    set.add(a.unit);
  }
  let n = 0;
  for (const set of off.values()) {
    for (const name of set) {
      const peers = snap.units.get(name)!.requirements.machineOf;
      if (!peers.some((p) => set.has(p))) n++;
    }
  }
  return n;
}

/** How many plans' lengths the engine waits after a plan before the next. */
export const PLAN_PACE = 5;
/**
 * The longest that wait gets. Plans of a very large cluster take seconds (2.6 s at 3,000 machines
 * and 30,000 units), and five of them between plans delayed every reaction, a lost machine's
 * units included, by 13 s: 300 killed machines' units took 55 s to move where 3,000 x 30,000
 * allows agent_ttl + 5 s.
 */
export const PLAN_PACE_MAX_MS = 2000;

/**
 * When the next plan may start: PLAN_PACE plans' lengths after the last one ended. A plan holds
 * the event loop the API shares and costs as much as the whole cluster, however little changed.
 * In a burst of changes (units submitted, machines lost) the engine so plans more at a time:
 * each machine gets more of its work in one transaction and its agent reconciles and reports
 * fewer times, and the API keeps most of the loop. A plan in a small cluster takes a millisecond
 * or two, so nothing waits there; after a plan of seconds, the wait is PLAN_PACE_MAX_MS.
 */
export function nextPlanAt(last: { endedAt: number; ms: number }): number {
  return last.endedAt + Math.min(PLAN_PACE * last.ms, PLAN_PACE_MAX_MS);
}

/** The metric's `type` label for a unit left pending, by the kind of its reason. */
const UNPLACED_TYPE: Record<PendingKind, string> = {
  "no-fit": "constraints",
  "awaiting-return": "constraints",
  "eviction-held": "machine_away",
  "drain-held": "machine_drained",
  "drain-blocked": "machine_drained",
  // A global unit that runs, but lacks room on some machines it matches.
  partial: "constraints",
};

/**
 * Every unit left pending after a plan (the stored records, as the plan's actions change them),
 * counted by the `type` label of its reason's kind.
 */
export function unplacedByType(keys: KeySpace, pending: Iterable<[string, PendingRecord]>, actions: readonly EngineAction[]): Map<string, number> {
  const kinds = new Map<string, PendingKind | undefined>();
  for (const [k, rec] of pending) {
    const unit = childName(keys.pendings, k);
    if (unit !== undefined) kinds.set(unit, rec.kind);
  }
  for (const a of actions) {
    if (a.kind === "pending") kinds.set(a.unit, a.why?.kind);
    else if (a.kind === "clear-pending") kinds.delete(a.unit);
  }
  const out = new Map<string, number>();
  for (const kind of kinds.values()) {
    // Without a kind (a record written before it was stored, which this plan rewrites): constraints.
    const type = kind === undefined ? "constraints" : UNPLACED_TYPE[kind];
    out.set(type, (out.get(type) ?? 0) + 1);
  }
  return out;
}

/** A unit a plan takes off one machine and places on another: where from, and why it left. */
export interface Move {
  from: string;
  reason: string;
}

/**
 * The moves in a plan: each non-global unit with exactly one unschedule and one schedule action.
 * The engine records a move in the new entry and writes both halves in one transaction, so a
 * watcher (the event stream) sees one move, not a removal and an unrelated placement.
 */
export function movesIn(actions: readonly EngineAction[], snap: EngineSnapshot): Map<string, Move> {
  const off = new Map<string, EngineAction[]>();
  const on = new Map<string, number>();
  for (const a of actions) {
    if (a.kind === "unschedule") off.set(a.unit, [...(off.get(a.unit) ?? []), a]);
    else if (a.kind === "schedule") on.set(a.unit, (on.get(a.unit) ?? 0) + 1);
  }
  const out = new Map<string, Move>();
  for (const [unit, removed] of off) {
    const a = removed[0]!;
    if (removed.length !== 1 || on.get(unit) !== 1 || snap.units.get(unit)?.global !== false || a.kind !== "unschedule") continue;
    out.set(unit, { from: a.machine, reason: a.reason });
  }
  return out;
}

/**
 * The actions in the order they are written: removals, then each move's removal and addition side
 * by side, then the other additions, updates and pending reasons (the planner's order otherwise).
 */
export function writeOrder(actions: readonly EngineAction[], moves: ReadonlyMap<string, Move>): EngineAction[] {
  const moving = (a: EngineAction): boolean => (a.kind === "unschedule" || a.kind === "schedule") && moves.has(a.unit);
  const removals = actions.filter((a) => a.kind === "unschedule" && !moving(a));
  const pairs = actions.filter((a) => a.kind === "schedule" && moving(a)).flatMap((add) => [
    actions.find((a) => a.kind === "unschedule" && a.unit === add.unit)!, add,
  ]);
  const rest = actions.filter((a) => a.kind !== "unschedule" && !moving(a));
  return [...removals, ...pairs, ...rest];
}

/**
 * What to write for one action, or undefined when there is nothing to write (a unit that
 * vanished, or was stopped, between snapshot and write is left to the next plan). A new entry
 * records why the unit goes there, and `move` where it came from.
 */
export function writeFor(a: EngineAction, snap: EngineSnapshot, move?: Move): EngineWrite | undefined {
  switch (a.kind) {
    case "schedule":
    case "update": {
      const u = snap.units.get(a.unit);
      if (!u || u.desiredState === "inactive") return undefined;
      const hash = snap.versions?.get(targetKey(a.unit, a.machine)) ?? u.hash;
      const w: EngineWrite = { kind: "schedule", machine: a.machine, unit: a.unit, hash, desiredState: u.desiredState };
      if (a.kind === "schedule") w.reason = a.reason;
      if (a.kind === "schedule" && move) w.moved = { from: move.from, reason: move.reason };
      const text = snap.text?.(hash);
      if (text !== undefined) w.text = text;
      return w;
    }
    case "unschedule":
      return { kind: "unschedule", machine: a.machine, unit: a.unit };
    case "pending": {
      const w: EngineWrite = { kind: "pending", unit: a.unit, reason: a.reason };
      if (a.why !== undefined) w.pendingKind = a.why.kind;
      if (a.why !== undefined && "machine" in a.why) w.machine = a.why.machine;
      return w;
    }
    case "clear-pending":
      return { kind: "clear-pending", unit: a.unit };
  }
}

/**
 * Unit file hashes nothing refers to: no unit, no schedule entry (an agent may still be
 * fetching the file an entry names until the engine rewrites the entry), and no rollout that
 * still holds instances (both its versions are kept until it ends).
 */
export function unreferencedFiles(keys: KeySpace, files: Iterable<string>, c: Pick<EngineCaches, "units" | "schedule" | "rollouts">): string[] {
  const used = new Set<string>();
  for (const [, u] of c.units) used.add(u.hash);
  for (const [, e] of c.schedule) used.add(e.hash);
  for (const [, { record }] of c.rollouts ?? []) {
    if (!HOLDING_ROLLOUT_STATES.includes(record.state)) continue;
    used.add(record.to);
    for (const t of record.targets) used.add(t.from);
  }
  const out: string[] = [];
  for (const k of files) {
    const hash = childName(keys.unitFiles, k);
    if (hash !== undefined && !used.has(hash)) out.push(hash);
  }
  return out.sort();
}

/** One log line per action, with its reason. */
export function describeAction(a: EngineAction): string {
  switch (a.kind) {
    case "schedule":
      return `Scheduled ${a.unit} to machine ${a.machine}: ${a.reason}`;
    case "unschedule":
      return `Unscheduled ${a.unit} from machine ${a.machine}: ${a.reason}`;
    case "update":
      return `Updated ${a.unit} on machine ${a.machine}: ${a.reason}`;
    case "pending":
      return `Pending ${a.unit}: ${a.reason}`;
    case "clear-pending":
      return `No longer pending: ${a.unit}`;
  }
}
