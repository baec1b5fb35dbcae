// A rolling update as data: the record stored at `<p>/rollouts/<unit>` (one per unit, global
// unit or template), its policy, each instance it replaces, and the log of its steps. Pure types;
// the registry decodes them (registry/rollout-record.ts), the engine drives them (rollout/plan.ts).

/**
 * running: replacing instances. paused: an operator paused it; instances in flight are still
 * watched. reverting: an instance failed and auto-revert puts the replaced ones back. aborting:
 * an operator aborted it, same as reverting. The rest are ends: succeeded (every instance on the
 * new version, the unit record too), failed (stopped with instances on both versions: it holds
 * them there until aborted), reverted and aborted (every instance back on the old version).
 */
export const ROLLOUT_STATES = ["running", "paused", "reverting", "aborting", "succeeded", "failed", "reverted", "aborted"] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

/** States in which the engine still has something to do. */
export const ACTIVE_ROLLOUT_STATES: readonly RolloutState[] = ["running", "paused", "reverting", "aborting"];

/** Ends that leave instances on both versions, so the rollout's hashes still hold. */
export const HOLDING_ROLLOUT_STATES: readonly RolloutState[] = [...ACTIVE_ROLLOUT_STATES, "failed"];

export function isActiveRollout(state: RolloutState): boolean {
  return ACTIVE_ROLLOUT_STATES.includes(state);
}

export interface RolloutPolicy {
  /** Instances replaced at a time (at least 1). */
  maxParallel: number;
  /** How long a replaced instance must stay active with the same MainPID, in ms. */
  minHealthyMs: number;
  /** How long a replaced instance has to become healthy, in ms (more than minHealthyMs). */
  deadlineMs: number;
  /** Whether a failed rollout puts the replaced instances back on the old version. */
  autoRevert: boolean;
}

/**
 * old: still on `from`, not touched yet. updating: switched to the new version, waiting to be
 * healthy. updated: healthy on the new version. failed: did not become healthy. reverting: put
 * back on `from`, waiting to be running again. reverted: back on `from`.
 */
export const TARGET_PHASES = ["old", "updating", "updated", "failed", "reverting", "reverted"] as const;
export type TargetPhase = (typeof TARGET_PHASES)[number];

/** One instance the rollout replaces: a unit, or for a global unit its copy on one machine. */
export interface RolloutTarget {
  instance: string;
  /** Global units only: the machine of this copy. */
  machine?: string;
  /** The hash the instance ran when the rollout found it. */
  from: string;
  phase: TargetPhase;
  /** ISO time of the last switch (to the new version, or back): the deadline runs from it. */
  changedAt?: string;
  /** Since when the engine has seen it active with this MainPID on the hash it should run. */
  seen?: { pid: number; since: string };
}

/** What a step of the log is about, as data; rollout/describe.ts renders the words. */
export type RolloutEvent =
  | { kind: "started"; targets: number; to: string }
  | { kind: "joined"; instance: string; machine?: string; from: string }
  | { kind: "left"; instance: string; machine?: string; why: "unit-gone" | "machine-gone" | "hash-changed" }
  | { kind: "replace"; instance: string; machine?: string; from: string; to: string; done: number; total: number }
  | { kind: "healthy"; instance: string; machine?: string; minHealthyMs: number }
  | { kind: "unhealthy"; instance: string; machine?: string; problem: HealthProblem }
  | { kind: "revert"; instance: string; machine?: string; to: string }
  | { kind: "reverted"; instance: string; machine?: string; healthy: boolean }
  | { kind: "paused" }
  | { kind: "resumed" }
  | { kind: "abort-requested" }
  | { kind: "finished"; state: Exclude<RolloutState, "running" | "paused" | "reverting" | "aborting">; why: FinishReason };

/** Why an instance did not become healthy. */
export type HealthProblem =
  | { kind: "deadline"; deadlineMs: number; last?: string }
  | { kind: "failed"; activeState: string; subState: string; loadState: string };

export type FinishReason =
  | { kind: "all-replaced"; count: number }
  | { kind: "nothing-to-do" }
  | { kind: "instance-failed"; instance: string; machine?: string }
  | { kind: "aborted" }
  | { kind: "unit-gone" };

export interface RolloutLogEntry {
  /** 1, 2, ... over the rollout's life (the log keeps the last ROLLOUT_LOG_MAX). */
  n: number;
  at: string;
  event: RolloutEvent;
}

export const ROLLOUT_LOG_MAX = 100;

/** `<p>/rollouts/<unit>`. */
export interface RolloutRecord {
  /** A unit, a global unit, or a template (`web@.service`: every instance of it). */
  unit: string;
  /** The hash of the new unit file (stored at `<p>/unitfiles/<to>`). */
  to: string;
  /** The new file's `[Unit] Description`, for the unit records when the rollout succeeds. */
  description: string;
  policy: RolloutPolicy;
  state: RolloutState;
  createdAt: string;
  /** Filled in by the engine's first round; empty until then. */
  targets: RolloutTarget[];
  /** False until the engine has found the instances. */
  started: boolean;
  log: RolloutLogEntry[];
}
