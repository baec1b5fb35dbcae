// From etcd's changes to fleet's events: a pure function of one revision's changes (each with
// the value it replaced, prev_kv), so every daemon, and a daemon reading etcd's history again,
// derives the same events with the same ids. Records are read with the registry's decoders; a
// change nobody can read says nothing (its failure is returned, to be told about once).
import type { KeyValue, WatchEvent } from "../registry/etcd/index.ts";
import { childName, childPair, type KeySpace } from "../registry/keys.ts";
import {
  decodeRecord, kindOfKey, pendingKeyUnit, scheduleKeyParts, type RecordFailure, type RecordKind, type RecordTypes,
} from "../registry/records.ts";
import { eventId, type EventBody, type FleetEvent } from "./types.ts";

export interface Derived {
  events: FleetEvent[];
  /** Records this revision wrote that their decoder refused. */
  failures: { failure: RecordFailure; revision: number }[];
}

/** Splits a watch batch, which may span revisions, into each revision's changes, in order. */
export function byRevision(changes: readonly WatchEvent[]): [number, WatchEvent[]][] {
  const out: [number, WatchEvent[]][] = [];
  for (const c of changes) {
    const last = out.at(-1);
    if (last && last[0] === c.kv.modRevision) last[1].push(c);
    else out.push([c.kv.modRevision, [c]]);
  }
  return out;
}

/** The events of one revision, numbered from 0 in the order of its changes. */
export function deriveEvents(keys: KeySpace, revision: number, changes: readonly WatchEvent[]): Derived {
  const failures: Derived["failures"] = [];
  const read = <K extends RecordKind>(kind: K, kv: KeyValue | undefined): RecordTypes[K] | undefined => {
    if (kv === undefined) return undefined;
    const d = decodeRecord(kind, keys, kv);
    if (d.ok) return d.value;
    if (kv.modRevision === revision) failures.push({ failure: d.failure, revision });
    return undefined;
  };
  // A move's removal is told by the move, written by the same transaction.
  const movedAway = new Set<string>();
  for (const c of changes) {
    if (c.type !== "put" || kindOfKey(keys, c.kv.key) !== "schedule" || c.kv.version !== 1) continue;
    const moved = decodeRecord("schedule", keys, c.kv);
    const unit = scheduleKeyParts(keys, c.kv.key)?.[1];
    if (moved.ok && moved.value.moved && unit !== undefined) movedAway.add(keys.schedule(moved.value.moved.from, unit));
  }
  const bodies: EventBody[] = [];
  for (const c of changes) {
    const kind = kindOfKey(keys, c.kv.key);
    if (kind === "rollouts") {
      bodies.push(...rolloutEvents(keys, c, read));
      continue;
    }
    const body = kind === undefined ? undefined : describe(keys, kind, c, read, movedAway);
    if (body) bodies.push(body);
  }
  return { events: bodies.map((b, i) => ({ id: eventId(revision, i), revision, ...b }) as FleetEvent), failures };
}

type Reader = <K extends RecordKind>(kind: K, kv: KeyValue | undefined) => RecordTypes[K] | undefined;

/** What one change says, if anything. */
function describe(keys: KeySpace, kind: RecordKind, c: WatchEvent, read: Reader, movedAway: ReadonlySet<string>): EventBody | undefined {
  const created = c.type === "put" && c.kv.version === 1;
  switch (kind) {
    case "units": {
      const unit = childName(keys.units, c.kv.key);
      if (unit === undefined) return undefined;
      if (c.type === "delete") return { kind: "unit.destroyed", unit };
      const u = read("units", c.kv);
      if (!u) return undefined;
      const prev = created ? undefined : read("units", c.prevKv);
      const submitted = { kind: "unit.submitted", unit, hash: u.hash, desiredState: u.desiredState, global: u.global } as const;
      if (created) return submitted;
      // An unreadable record before was no unit to anyone: this write submitted it again.
      if (c.prevKv !== undefined && prev === undefined) return { ...submitted, replaced: true };
      if (prev && prev.hash !== u.hash) return { ...submitted, replaced: true };
      if (prev && prev.desiredState === u.desiredState) return undefined;
      return prev ? { kind: "unit.desired", unit, desiredState: u.desiredState, previous: prev.desiredState } : { kind: "unit.desired", unit, desiredState: u.desiredState };
    }
    case "schedule": {
      const parts = scheduleKeyParts(keys, c.kv.key);
      if (parts === undefined) return undefined;
      const [machine, unit] = parts;
      if (c.type === "delete") return movedAway.has(c.kv.key) ? undefined : { kind: "unit.unscheduled", unit, machine };
      // A rewrite of an entry (new file, desired state, repair) is told by the unit's own events.
      if (!created) return undefined;
      const e = read("schedule", c.kv);
      if (!e) return undefined;
      if (e.moved) return withOptional({ kind: "unit.moved", unit, from: e.moved.from, to: machine }, { reason: e.moved.reason, placedReason: e.reason });
      return withOptional({ kind: "unit.placed", unit, machine }, { reason: e.reason });
    }
    case "pending": {
      const unit = pendingKeyUnit(keys, c.kv.key);
      if (unit === undefined || c.type === "delete") return undefined;
      const p = read("pending", c.kv);
      if (!p) return undefined;
      const was = read("pending", c.prevKv);
      if (was && was.reason === p.reason && was.kind === p.kind && was.machine === p.machine) return undefined;
      return withOptional({ kind: "unit.pending", unit, reason: p.reason }, { pendingKind: p.kind, machine: p.machine });
    }
    case "states": {
      const pair = childPair(keys.states, c.kv.key);
      if (pair === undefined) return undefined;
      const [unit, machine] = pair;
      if (c.type === "delete") return { kind: "unit.state-removed", unit, machine };
      const s = read("states", c.kv);
      if (!s) return undefined;
      const p = read("states", c.prevKv);
      if (p && p.loadState === s.loadState && p.activeState === s.activeState && p.subState === s.subState && p.hash === s.hash && p.reason === s.reason) {
        return undefined;
      }
      return withOptional(
        { kind: "unit.state", unit, machine, loadState: s.loadState, activeState: s.activeState, subState: s.subState, hash: s.hash },
        { reason: s.reason },
      );
    }
    case "machines": {
      const machine = childName(keys.machines, c.kv.key);
      if (machine === undefined) return undefined;
      if (c.type === "delete") return { kind: "machine.lost", machine };
      // A record put again under the same lease (a new IP, a reload) is the same machine.
      const m = created ? read("machines", c.kv) : undefined;
      return m ? { kind: "machine.joined", machine, publicIP: m.publicIP, metadata: m.metadata } : undefined;
    }
    case "drain": {
      const machine = childName(keys.drains, c.kv.key);
      if (machine === undefined) return undefined;
      if (c.type === "delete") return { kind: "machine.undrained", machine };
      const d = created ? read("drain", c.kv) : undefined;
      return d ? { kind: "machine.drained", machine, since: d.since } : undefined;
    }
    case "leader": {
      const prev = read("leader", c.prevKv)?.machineID;
      if (c.type === "delete") return withOptional({ kind: "leader.changed", machine: null }, { previous: prev });
      const l = read("leader", c.kv);
      // The leader writing its own record back (a repair) changes nothing.
      if (!l || (!created && prev === l.machineID)) return undefined;
      return withOptional({ kind: "leader.changed", machine: l.machineID }, { previous: created ? undefined : prev });
    }
    default:
      // unitfiles, metadata, version: nothing a person follows happened.
      return undefined;
  }
}

/**
 * A rollout record's change: `rollout.started` for a new rollout (a new record, or one put over
 * an ended rollout), then one event per step its log gained, in order.
 */
function rolloutEvents(keys: KeySpace, c: WatchEvent, read: Reader): EventBody[] {
  const unit = childName(keys.rollouts, c.kv.key);
  if (unit === undefined || c.type === "delete") return [];
  const r = read("rollouts", c.kv);
  if (!r) return [];
  const prev = c.type === "put" && c.kv.version === 1 ? undefined : read("rollouts", c.prevKv);
  const fresh = prev === undefined || prev.createdAt !== r.createdAt || prev.to !== r.to;
  const out: EventBody[] = [];
  if (fresh) out.push({ kind: "rollout.started", unit, to: r.to, maxParallel: r.policy.maxParallel, autoRevert: r.policy.autoRevert });
  const seen = fresh ? 0 : (prev.log.at(-1)?.n ?? 0);
  for (const l of r.log) {
    if (l.n <= seen) continue;
    const step = l.event;
    out.push(step.kind === "finished" ? { kind: "rollout.finished", unit, n: l.n, step } : { kind: "rollout.step", unit, n: l.n, step });
  }
  return out;
}

/** `body` with the optional fields that have a value, in their order. */
function withOptional<B extends EventBody>(body: B, optional: Partial<Record<string, string>>): B {
  const out: Record<string, unknown> = { ...body };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) out[k] = v;
  return out as B;
}
