// A rollout as the API answers it and `fleet ctl` reads it: the record with each step in words
// (describe.ts) and the policy's durations as Go durations. Pure.
import { describeEvent, describeRollout } from "./describe.ts";
import { targetHash } from "./hashes.ts";
import { formatMs } from "./policy.ts";
import type { RolloutRecord, RolloutState, TargetPhase } from "./types.ts";

export interface RolloutView {
  unit: string;
  state: RolloutState;
  summary: string;
  /** The new version's hash. */
  to: string;
  description: string;
  createdAt: string;
  policy: { maxParallel: number; minHealthyTime: string; deadline: string; autoRevert: boolean };
  /** Each instance (a global unit's: per machine), its phase, the version it had and the one it runs now. */
  instances: { name: string; machineID?: string; phase: TargetPhase; from: string; hash: string }[];
  log: { n: number; at: string; kind: string; text: string }[];
}

export function rolloutView(r: RolloutRecord): RolloutView {
  return {
    unit: r.unit,
    state: r.state,
    summary: describeRollout(r),
    to: r.to,
    description: r.description,
    createdAt: r.createdAt,
    policy: {
      maxParallel: r.policy.maxParallel,
      minHealthyTime: formatMs(r.policy.minHealthyMs),
      deadline: formatMs(r.policy.deadlineMs),
      autoRevert: r.policy.autoRevert,
    },
    instances: r.targets.map((t) => ({
      name: t.instance, ...(t.machine !== undefined ? { machineID: t.machine } : {}), phase: t.phase, from: t.from, hash: targetHash(t, r.to),
    })),
    log: r.log.map((l) => ({ n: l.n, at: l.at, kind: l.event.kind, text: describeEvent(l.event) })),
  };
}

/** The policy in words, for status and the CLI's first line. */
export function policyText(p: RolloutView["policy"]): string {
  return `max-parallel ${p.maxParallel}, min-healthy-time ${p.minHealthyTime}, deadline ${p.deadline}, auto-revert ${p.autoRevert ? "on" : "off"}`;
}
