// The events of the cluster as the event stream reports them (GET /fleet/v1/events): plain data
// derived from etcd's changes (derive.ts), each named by the etcd revision that made it.
import type { DesiredState } from "../unit/types.ts";
import type { PendingKind } from "../scheduler/reasons.ts";
import type { RolloutEvent } from "../rollout/types.ts";

export const EVENT_KINDS = [
  "unit.submitted", "unit.desired", "unit.placed", "unit.moved", "unit.unscheduled", "unit.pending",
  "unit.state", "unit.state-removed", "unit.destroyed",
  "machine.joined", "machine.lost", "machine.drained", "machine.undrained",
  "leader.changed",
  "rollout.started", "rollout.step", "rollout.finished",
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** What one change says, before it is numbered. Field order is the order of the JSON. */
export type EventBody =
  /** A unit was created, or `replaced: true` when a new unit file replaced its old one. */
  | { kind: "unit.submitted"; unit: string; hash: string; desiredState: DesiredState; global: boolean; replaced?: true }
  /** `previous` is left out when etcd no longer holds the record it replaced. */
  | { kind: "unit.desired"; unit: string; desiredState: DesiredState; previous?: DesiredState }
  /** The engine placed the unit on a machine, and why there. */
  | { kind: "unit.placed"; unit: string; machine: string; reason?: string }
  /** The engine moved the unit: `reason` why it left `from`, `placedReason` why it went to `to`. */
  | { kind: "unit.moved"; unit: string; from: string; to: string; reason?: string; placedReason?: string }
  /** The unit is no longer scheduled on the machine (destroyed, inactive, machine lost, ...). */
  | { kind: "unit.unscheduled"; unit: string; machine: string }
  /**
   * The engine cannot place the unit now, and why: `pendingKind` the kind of reason and `machine`
   * the machine it waits about (both as the pending record has them; absent in older records).
   */
  | { kind: "unit.pending"; unit: string; reason: string; pendingKind?: PendingKind; machine?: string }
  /** What systemd on the machine says about the unit; `reason` when its agent refused it. */
  | { kind: "unit.state"; unit: string; machine: string; loadState: string; activeState: string; subState: string; hash: string; reason?: string }
  /** The machine no longer reports a state for the unit (unloaded there, or the machine is gone). */
  | { kind: "unit.state-removed"; unit: string; machine: string }
  | { kind: "unit.destroyed"; unit: string }
  | { kind: "machine.joined"; machine: string; publicIP: string; metadata: Record<string, string> }
  /** The machine's lease ended: it stopped renewing it, or revoked it as its host shut down. */
  | { kind: "machine.lost"; machine: string }
  | { kind: "machine.drained"; machine: string; since: string }
  | { kind: "machine.undrained"; machine: string }
  /** The engine leader changed; `machine` is null while no engine leads. */
  | { kind: "leader.changed"; machine: string | null; previous?: string }
  /** A rolling update of `unit` (a unit, a global unit or a template) was started. */
  | { kind: "rollout.started"; unit: string; to: string; maxParallel: number; autoRevert: boolean }
  /** A step the engine (or an operator's request) took in a rollout: `n` its number in the rollout's log. */
  | { kind: "rollout.step"; unit: string; n: number; step: RolloutEvent }
  /** The rollout ended: `state` succeeded, failed, reverted or aborted, and why. */
  | { kind: "rollout.finished"; unit: string; n: number; step: Extract<RolloutEvent, { kind: "finished" }> };

/** One event: `id` is `<revision>-<index>`, its place among the events of that etcd revision. */
export type FleetEvent = { id: string; revision: number } & EventBody;

/** A place in the stream: after event `index` of `revision`; `index` Infinity is after all of it. */
export interface Cursor {
  revision: number;
  index: number;
}

export function eventId(revision: number, index: number): string {
  return `${revision}-${index}`;
}

/** The id of a place: `R` for the end of revision R, `R-N` after its event N. */
export function cursorId(c: Cursor): string {
  return c.index === Number.POSITIVE_INFINITY ? String(c.revision) : eventId(c.revision, c.index);
}

const ID = /^(\d{1,16})(?:-(\d{1,9}))?$/;

/** Parses an event id (`R-N`) or a revision (`R`) as the place just after it; undefined if neither. */
export function parseCursor(text: string): Cursor | undefined {
  const m = ID.exec(text.trim());
  if (!m) return undefined;
  const revision = Number(m[1]);
  if (!Number.isSafeInteger(revision)) return undefined;
  return { revision, index: m[2] === undefined ? Number.POSITIVE_INFINITY : Number(m[2]) };
}

/** Whether event `index` of `revision` comes after the cursor. */
export function isAfter(c: Cursor, revision: number, index: number): boolean {
  return revision > c.revision || (revision === c.revision && index > c.index);
}
