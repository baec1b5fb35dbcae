// The JSON records stored under the etcd key prefix (architecture.md §3). One type per key family.
import type { PendingKind } from "../scheduler/reasons.ts";
import type { DesiredState, Requirements } from "../unit/types.ts";

/** `<p>/units/<name>`: a submitted unit. Its text lives at `<p>/unitfiles/<hash>`. */
export interface UnitRecord {
  name: string;
  /** SHA-1 (40 lowercase hex) of the canonical unit text. */
  hash: string;
  desiredState: DesiredState;
  global: boolean;
  requirements: Requirements;
  /** `[Unit] Description`, for list-unit-files. */
  description: string;
}

/** `<p>/schedule/<machineID>/<name>`: the engine's decision that a machine runs a unit. */
export interface ScheduleEntry {
  hash: string;
  desiredState: Exclude<DesiredState, "inactive">;
  /** The create revision of the leader key of the engine that wrote this entry. */
  epoch: string;
  /**
   * Why the engine placed the unit on this machine, as it logged it. Written with a new entry
   * (an `update` rewrite leaves it out); the event stream reports it. Readers may ignore it.
   */
  reason?: string;
  /** Set when the same write took the unit off another machine: which machine, and why it left. */
  moved?: { from: string; reason: string };
  /**
   * The unit file's text (the one that hashes to `hash`) when it is small (INLINE_TEXT_MAX): the
   * agent then starts the unit without reading `unitfiles/<hash>`. Absent for larger files and in
   * entries written before it was stored; readers may ignore it.
   */
  text?: string;
}

/** `<p>/pending/<name>`: why a unit cannot be placed right now. */
export interface PendingRecord {
  /** The reason in words, as people read it. */
  reason: string;
  /** ISO 8601 time since when the unit has been pending for this reason. */
  since: string;
  /**
   * The kind of reason, for readers that tell reasons apart (the engine's metrics, fleet ctl
   * drain). Absent in records written before it was stored.
   */
  kind?: PendingKind;
  /** The machine the unit keeps its entry on and waits about: set for every kind but `no-fit`. */
  machine?: string;
}

/** `<p>/machines/<machineID>`: a live machine, bound to its lease. */
export interface MachineRecord {
  id: string;
  publicIP: string;
  /** Config metadata; dynamic metadata from `<p>/metadata/<id>` is merged over it on read. */
  metadata: Record<string, string>;
  version: string;
  startedAt: string;
  /** True while the machine is drained: it keeps what it runs but gets no new units. */
  drained?: boolean;
  /** Capabilities, as the original reported them (DISABLE_ENGINE). */
  disableEngine?: boolean;
  /** What the machine offers units (docs/placement.md); absent in records of older daemons. */
  capacity?: MachineCapacity;
  /**
   * The daemon was stopped (SIGTERM, the host staying up): the lease is kept for a restart and
   * the units run on, but the engine places nothing new here until a daemon registers again.
   */
  stopped?: boolean;
}

/**
 * A machine's CPUs and memory: the totals, and what units may request after the reserve the
 * machine keeps for itself (config `capacity_reserved`). CPU in thousandths of a CPU, memory in
 * bytes; allocatable is never more than the total.
 */
export interface MachineCapacity {
  cpuMillis: number;
  memoryBytes: number;
  allocatableCpuMillis: number;
  allocatableMemoryBytes: number;
}

/**
 * `<p>/drain/<machineID>`: an operator drained the machine for maintenance. Persistent, not on
 * the machine's lease, so it survives the daemon restarting; the engine moves the machine's
 * non-global units elsewhere and places nothing new there until the key is deleted.
 */
export interface DrainRecord {
  /** ISO 8601 time the machine was drained. */
  since: string;
}

/** `<p>/states/<name>/<machineID>`: what systemd on that machine says about the unit. */
export interface UnitStateRecord {
  loadState: string;
  activeState: string;
  subState: string;
  hash: string;
  since: string;
  /** A service's MainPID while it has one: a rollout judges health by it (absent in older records). */
  mainPid?: number;
  /**
   * Set when the agent refused the unit on this machine instead of giving it to systemd (the
   * host defines a unit of that name itself): why, in words. The states are then
   * `error`/`failed`/`shadowed`.
   */
  reason?: string;
}

/** `<p>/leader`: the engine leader, bound to the leader lease. */
export interface LeaderRecord {
  machineID: string;
  since: string;
}

/** `<p>/version`: the keyspace schema version. */
export const KEYSPACE_VERSION = 1;
