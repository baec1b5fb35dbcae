// The planner's state, typed, and the few decisions every step makes the same way. A plan is
// one PlanInput (fixed), the Entries step 1 sorts out of the given schedule, one Decisions that
// steps 2 to 5 extend, and per round of steps 3 and 4 a Round; plan.ts runs the steps in order.
import type { PlacementView } from "./cluster-view.ts";
import type { Relations } from "./order.ts";
import { relationsOf } from "./order.ts";
import type { GlobalTargets } from "./place.ts";
import type { Blocker, PendingReason, UnscheduleReason } from "./reasons.ts";
import type { ClusterState, Placement, PlacementUnit, PlanOptions } from "./types.ts";
import { byName } from "../lib/compare.ts";

const DEFAULT_HOLD = "eviction rate limit";

/** What the plan is given, and what follows from it alone. Never changes during a plan. */
export interface PlanInput {
  readonly state: ClusterState;
  readonly units: ReadonlyMap<string, PlacementUnit>;
  /** The decision order of the active non-global units, and the Replaces relation. */
  readonly rel: Relations;
  /** Active global units, by name (the order they claim machines in). */
  readonly globals: readonly PlacementUnit[];
  /** MachineOf target -> its active non-global followers, by name. */
  readonly followers: ReadonlyMap<string, readonly string[]>;
  /** The given schedule, one entry per (unit, machine) (the first one given), by `entryKey`. */
  readonly original: ReadonlyMap<string, Placement>;
  /** Unit -> the machines of its given entries. */
  readonly entriesOf: ReadonlyMap<string, readonly string[]>;
  /** Why units wait for the eviction budget (the engine's words), for their pending reasons. */
  readonly hold: string;
}

/** Step 1's output: the given entries of units that stay active, by what becomes of them. */
export interface Entries {
  /** Global unit -> the live machines it has entries on. */
  readonly globalsNow: ReadonlyMap<string, ReadonlySet<string>>;
  /** Non-global unit -> its entries on live machines, readable ones first, then by machine id. */
  readonly live: ReadonlyMap<string, readonly string[]>;
  /** Non-global unit -> its entries on lost machines, in the same order. */
  readonly lost: ReadonlyMap<string, readonly string[]>;
}

/** Everything decided so far. Steps 1 to 5 extend it; step 6 turns it into actions. */
export interface Decisions {
  /** What runs where as decided so far: later decisions see earlier ones. */
  readonly view: PlacementView;
  /** Non-global unit -> the live machine it runs on. */
  readonly kept: Map<string, string>;
  /** Non-global units that still need a machine. */
  readonly needs: Set<string>;
  /** Units whose only entry is on a lost machine, until step 4 moves or keeps them. */
  readonly away: Map<string, string>;
  /** Units that keep their entry on a lost machine: held by the eviction budget, or fit nowhere else. */
  readonly stuck: Map<string, string>;
  /** Units moved off a lost machine in this plan, with that machine (their followers ride free). */
  readonly movedOffLost: Map<string, string>;
  /** Global unit -> the machines it runs on and why not the others (step 3). */
  targets: Map<string, GlobalTargets>;
  /** Why each new (unit, machine) was chosen, by `entryKey`. */
  readonly placed: Map<string, string>;
  /** Why each given entry goes, by `entryKey` (only read for entries the plan does not keep). */
  readonly dropped: Map<string, UnscheduleReason>;
  /** Why each unit waits. */
  readonly pending: Map<string, PendingReason>;
  /** Units that may still leave lost or drained machines in this plan. */
  budget: number;
}

/** One round of steps 3 and 4, as step 5 needs the last one. */
export interface Round {
  /** A Replaces push freed room a global unit may now take: run another round. */
  pushed: boolean;
  /** Groups (by root) that stay on their drained machine: some unit of theirs fits nowhere else. */
  readonly stays: Map<string, string>;
  /** Groups (by root) the eviction budget keeps on their drained machine. */
  readonly held: Map<string, string>;
}

export const entryKey = (unit: string, machine: string): string => `${unit}\0${machine}`;

export function planInput(state: ClusterState, view: PlacementView, opts: PlanOptions): PlanInput {
  const units = view.units;
  const original = new Map<string, Placement>();
  const entriesOf = new Map<string, string[]>();
  for (const e of state.schedule) {
    const k = entryKey(e.unit, e.machine);
    if (original.has(k)) continue;
    original.set(k, e);
    push(entriesOf, e.unit, e.machine);
  }
  return {
    state,
    units,
    rel: relationsOf(units.values(), view.match),
    globals: [...units.values()].filter((u) => u.global && isActive(u)).sort(byName),
    followers: followersOf(units.values()),
    original,
    entriesOf,
    hold: opts.evictionHold ?? DEFAULT_HOLD,
  };
}

export function emptyDecisions(view: PlacementView, opts: PlanOptions): Decisions {
  return {
    view,
    kept: new Map(),
    needs: new Set(),
    away: new Map(),
    stuck: new Map(),
    movedOffLost: new Map(),
    targets: new Map(),
    placed: new Map(),
    dropped: new Map(),
    pending: new Map(),
    budget: opts.maxEvictions ?? Number.POSITIVE_INFINITY,
  };
}

export function isActive(u: PlacementUnit): boolean {
  return u.desiredState !== "inactive";
}

/** The given entry of `unit` on `machine` goes, for `why` (unless a later step keeps it). */
export function drop(d: Decisions, unit: string, machine: string, why: UnscheduleReason): void {
  d.dropped.set(entryKey(unit, machine), why);
}

/** `unit` now runs on live `machine`, placed there for `reason` when it did not before. */
export function keepOn(d: Decisions, unit: string, machine: string, reason?: string): void {
  d.needs.delete(unit);
  d.view.add(unit, machine);
  d.kept.set(unit, machine);
  if (reason !== undefined) d.placed.set(entryKey(unit, machine), reason);
}

/** `unit` leaves `machine`, where it was kept, and needs a machine again. */
export function evict(d: Decisions, unit: string, machine: string, why: UnscheduleReason): void {
  d.view.remove(unit, machine);
  d.kept.delete(unit);
  d.needs.add(unit);
  drop(d, unit, machine, why);
}

/** `unit` keeps its entry on lost `machine` for now: the eviction budget holds it there. */
export function holdOnLost(input: PlanInput, d: Decisions, unit: string, machine: string): void {
  d.needs.delete(unit);
  d.away.delete(unit);
  d.stuck.set(unit, machine);
  d.pending.set(unit, { kind: "eviction-held", machine, hold: input.hold });
}

/** Replaced, or its target gone: `unit` leaves `machine` and its followers there leave with it. */
export function pushAway(input: PlanInput, d: Decisions, round: Round, unit: string, machine: string, why: UnscheduleReason): void {
  evict(d, unit, machine, why);
  round.pushed = true;
  for (const f of input.followers.get(unit) ?? []) {
    if (d.view.runs(machine, f)) pushAway(input, d, round, f, machine, { kind: "peer-left", peer: unit, machine });
  }
}

/**
 * Why a unit kept on live `machine` must leave it: replaced, its MachineOf target left (the
 * target had an entry there), or another rule now blocks it.
 */
export function evictionReason(input: PlanInput, b: Blocker, machine: string): UnscheduleReason {
  if (b.rule === "replaced") return { kind: "replaced", by: b.by };
  if (b.rule === "machine-of" && (input.entriesOf.get(b.peer) ?? []).includes(machine)) {
    return { kind: "peer-left", peer: b.peer, machine };
  }
  return { kind: "no-longer-fits", machine, blocker: b };
}

function followersOf(units: Iterable<PlacementUnit>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const u of [...units].sort(byName)) {
    if (u.global || !isActive(u)) continue;
    for (const p of new Set(u.requirements.machineOf)) push(out, p, u.name);
  }
  return out;
}

export function push(map: Map<string, string[]>, k: string, v: string): void {
  const list = map.get(k);
  if (list === undefined) map.set(k, [v]);
  else list.push(v);
}
