// Whether one replaced instance is healthy: active in systemd on the version it should run, with
// the same MainPID, for the policy's minimum healthy time. A restart (a new MainPID) or any other
// state starts the wait afresh; systemd giving up on it (failed, or a unit it cannot load) fails
// it at once; otherwise it fails when its deadline passes. Pure.
import type { HealthProblem, RolloutPolicy, RolloutTarget } from "./types.ts";

/** What the agent on the instance's machine reports (states/<unit>/<machine>). */
export interface ObservedState {
  hash: string;
  loadState: string;
  activeState: string;
  subState: string;
  /** The service's MainPID as systemd reports it; 0 or absent when there is none. */
  mainPid?: number;
}

/** Where the instance runs, if anywhere, and what it is asked to be. */
export interface InstancePlace {
  /** The machine that runs it; undefined when it has no schedule entry (inactive or pending). */
  machine?: string;
  /** Only `launched` instances are watched for health; `loaded` ones need the new file loaded. */
  desiredState: "inactive" | "loaded" | "launched";
  state?: ObservedState;
}

export type HealthVerdict =
  | { kind: "healthy" }
  | { kind: "unhealthy"; problem: HealthProblem }
  /** Not yet: `seen` is the tracking to keep, `wakeAt` when to look again at the latest. */
  | { kind: "waiting"; seen: RolloutTarget["seen"]; wakeAt: number };

const BROKEN_LOAD_STATES = ["error", "not-found", "bad-setting", "masked"];

export function describeState(s: ObservedState | undefined): string | undefined {
  if (s === undefined) return undefined;
  return `${s.activeState} (${s.subState})${s.mainPid ? `, MainPID ${s.mainPid}` : ""}`;
}

/** The verdict on `target`, switched at `changedAt` to `hash`, at `now`. */
export function judgeHealth(target: RolloutTarget, hash: string, place: InstancePlace, policy: RolloutPolicy, now: number): HealthVerdict {
  const changedAt = Date.parse(target.changedAt ?? new Date(now).toISOString());
  const deadline = changedAt + policy.deadlineMs;
  const waiting = (seen: RolloutTarget["seen"], wakeAt: number): HealthVerdict => {
    if (now >= deadline) {
      const last = describeState(place.state?.hash === hash ? place.state : undefined);
      return { kind: "unhealthy", problem: { kind: "deadline", deadlineMs: policy.deadlineMs, ...(last !== undefined ? { last } : {}) } };
    }
    return { kind: "waiting", seen, wakeAt: Math.min(wakeAt, deadline) };
  };
  // Nothing runs it (inactive, or waiting for a machine): it starts on the version it is given.
  if (place.machine === undefined || place.desiredState === "inactive") return { kind: "healthy" };
  const s = place.state;
  if (s === undefined || s.hash !== hash) return waiting(undefined, deadline);
  if (BROKEN_LOAD_STATES.includes(s.loadState) || s.activeState === "failed") {
    return { kind: "unhealthy", problem: { kind: "failed", activeState: s.activeState, subState: s.subState, loadState: s.loadState } };
  }
  if (place.desiredState === "loaded") return { kind: "healthy" };
  if (s.activeState !== "active") return waiting(undefined, deadline);
  const pid = s.mainPid ?? 0;
  const seen = target.seen?.pid === pid ? target.seen : { pid, since: new Date(now).toISOString() };
  const healthyAt = Date.parse(seen.since) + policy.minHealthyMs;
  if (now >= healthyAt) return { kind: "healthy" };
  return waiting(seen, healthyAt);
}
