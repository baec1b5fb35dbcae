// Plain data in and out of the pure scheduler. The registry records (UnitRecord, MachineRecord,
// ScheduleEntry) fit these shapes structurally, so the engine passes them without copying.
import type { DesiredState, Requirements } from "../unit/types.ts";
import type { PendingKind, PendingReason, UnscheduleReason } from "./reasons.ts";

/** A live machine. Machines absent from ClusterState.machines are gone (lease expired). */
export interface PlacementMachine {
  id: string;
  /** Merged metadata: config plus dynamic API metadata. */
  metadata: Readonly<Record<string, string>>;
  /** A drained machine keeps what it runs but receives nothing new. */
  drained?: boolean;
  /**
   * What units may request there (its allocatable CPU, in thousandths, and memory, in bytes).
   * Absent when the machine reports none (an older daemon): it takes no unit that states a
   * request, and ranks after every machine that reports one.
   */
  capacity?: { cpuMillis: number; memoryBytes: number };
  /**
   * The machine's daemon was stopped (not the host): its lease is kept for a restart and its
   * units run on, but it takes nothing new until the daemon is back.
   */
  stopped?: boolean;
}

export interface PlacementUnit {
  name: string;
  desiredState: DesiredState;
  global: boolean;
  requirements: Requirements;
  /** The unit file hash; when given, stale schedule entries produce `update` actions. */
  hash?: string;
  /**
   * A global unit's hash per machine where a rollout holds that copy on another version than
   * `hash` (rollout/hashes.ts); entries are judged stale against it there.
   */
  hashOn?: ReadonlyMap<string, string>;
}

/**
 * One `schedule/<machine>/<unit>` entry. A non-global unit has at most one; a global unit has
 * one per machine it runs on. hash and desiredState are what the entry says (optional).
 */
export interface Placement {
  unit: string;
  machine: string;
  hash?: string;
  desiredState?: DesiredState;
  /** Why the stored entry could not be read: a kept entry is then rewritten. */
  unreadable?: string;
  /**
   * An unreadable entry whose key held a good value before (hash and desiredState are that
   * value): the agent there still runs the unit on it, so of a unit's entries it counts as
   * readable. One without is a stray nobody runs on, the first of a unit's duplicates to go.
   */
  lastGood?: boolean;
  /**
   * The revision that created the entry, for an unreadable one: of a unit's unreadable entries
   * without a last good value, the one created first is where the unit has run longest, and
   * the later ones are the strays that go.
   */
  created?: number;
}

export interface ClusterState {
  machines: readonly PlacementMachine[];
  units: readonly PlacementUnit[];
  schedule: readonly Placement[];
  /** Current `pending/<unit>` reasons, so unchanged ones are not rewritten. */
  pending?: ReadonlyMap<string, string>;
  /**
   * What each current `pending/<unit>` record stores beside its text, when the caller knows it.
   * Given, a record whose kind or machine differs from the new reason's, or that has none
   * (written before reasons carried their kind), is rewritten even when its text is the same.
   */
  pendingData?: ReadonlyMap<string, StoredPendingData>;
}

/** The data a pending record stores beside its text (both absent in older records). */
export interface StoredPendingData {
  kind?: PendingKind;
  machine?: string;
}

/**
 * What the engine should write. `schedule`/`unschedule`/`update` address one schedule entry
 * (a global unit gets one action per machine). `update` rewrites an entry whose hash or
 * desired state is stale. `pending` sets `pending/<unit>`; `clear-pending` deletes it.
 * `reason` is the text people read. On unschedule and pending actions the planner also sets
 * `why`, the same reason as data (reasons.ts renders `reason` from it), which readers use to
 * tell reasons apart. An action built without it (by hand, in tests) is written as its text
 * alone.
 */
export type EngineAction =
  | { kind: "schedule"; unit: string; machine: string; reason: string }
  | { kind: "unschedule"; unit: string; machine: string; reason: string; readonly why?: UnscheduleReason }
  | { kind: "update"; unit: string; machine: string; reason: string }
  | { kind: "pending"; unit: string; reason: string; readonly why?: PendingReason }
  | { kind: "clear-pending"; unit: string };

export interface PlanOptions {
  /**
   * How many units may be moved off lost machines in this plan (default: no limit). Units
   * beyond it keep their entry on the lost machine and get a pending reason. Followers that
   * move with their MachineOf target do not count. The engine passes 0 to pause evictions.
   */
  maxEvictions?: number;
  /** Why units wait on a lost machine, shown in their pending reason. */
  evictionHold?: string;
}
