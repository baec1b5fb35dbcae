// A rollout's policy: the defaults, the per-unit defaults a unit file sets in [X-Fleet]
// (RolloutMaxParallel=, RolloutMinHealthyTime=, RolloutDeadline=, RolloutAutoRevert=), and the
// flags of one `fleet ctl update` over both. Every bad value is an error naming the option.
import { parseDuration } from "../lib/duration.ts";
import { isTruthy } from "../unit/requirements.ts";
import type { UnitOption } from "../unit/types.ts";
import type { RolloutPolicy } from "./types.ts";

export const DEFAULT_ROLLOUT_POLICY: RolloutPolicy = {
  maxParallel: 1,
  minHealthyMs: 10_000,
  deadlineMs: 5 * 60_000,
  autoRevert: false,
};

/** The [X-Fleet] option names, in fleet's style. */
export const ROLLOUT_OPTION_KEYS = ["RolloutMaxParallel", "RolloutMinHealthyTime", "RolloutDeadline", "RolloutAutoRevert"] as const;

/** Upper bounds, so a typo does not make a rollout that never ends. */
const MAX_DURATION_MS = 24 * 3_600_000;
const MAX_PARALLEL = 10_000;

export class RolloutPolicyError extends Error {
  override readonly name = "RolloutPolicyError";
}

/** Values as given (flags or options): any may be missing. */
export interface PolicyInput {
  maxParallel?: string | number;
  minHealthyTime?: string;
  deadline?: string;
  autoRevert?: string | boolean;
}

/** The rollout values a unit file sets in [X-Fleet] (the last of each wins, like systemd). */
export function policyOptions(options: readonly UnitOption[]): PolicyInput {
  const out: PolicyInput = {};
  for (const o of options) {
    if (o.section !== "X-Fleet") continue;
    const v = o.value.trim();
    if (o.name === "RolloutMaxParallel") out.maxParallel = v;
    else if (o.name === "RolloutMinHealthyTime") out.minHealthyTime = v;
    else if (o.name === "RolloutDeadline") out.deadline = v;
    else if (o.name === "RolloutAutoRevert") out.autoRevert = v;
  }
  return out;
}

function count(value: string | number, what: string): number {
  const n = typeof value === "number" ? value : /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_PARALLEL) {
    throw new RolloutPolicyError(`Invalid ${what}: ${JSON.stringify(String(value))} is not a whole number from 1 to ${MAX_PARALLEL}`);
  }
  return n;
}

function duration(value: string, what: string, min: number): number {
  let ms: number;
  try {
    ms = parseDuration(value.trim());
  } catch (e) {
    throw new RolloutPolicyError(`Invalid ${what}: ${(e as Error).message}`);
  }
  if (ms < min || ms > MAX_DURATION_MS) {
    throw new RolloutPolicyError(`Invalid ${what}: ${JSON.stringify(value)} is ${ms < min ? (min === 0 ? "negative" : "zero") : "more than 24h"}`);
  }
  return Math.round(ms);
}

function flag(value: string | boolean, what: string): boolean {
  if (typeof value === "boolean") return value;
  const v = value.trim().toLowerCase();
  if (isTruthy(v)) return true;
  if (["false", "no", "0", "off", "f"].includes(v)) return false;
  throw new RolloutPolicyError(`Invalid ${what}: ${JSON.stringify(value)} is not true or false`);
}

/**
 * The policy of one rollout: `given` (flags, or an API body) over the unit file's [X-Fleet]
 * values over the defaults. `names` say what each source calls its values, for errors.
 */
export function resolvePolicy(given: PolicyInput, fromFile: PolicyInput, unit: string): RolloutPolicy {
  const p = { ...DEFAULT_ROLLOUT_POLICY };
  const sources: [PolicyInput, (key: string) => string][] = [
    [fromFile, (key) => `${key} in ${unit}`],
    [given, (key) => FLAG_NAMES[key] ?? key],
  ];
  for (const [src, name] of sources) {
    if (src.maxParallel !== undefined) p.maxParallel = count(src.maxParallel, name("RolloutMaxParallel"));
    if (src.minHealthyTime !== undefined) p.minHealthyMs = duration(src.minHealthyTime, name("RolloutMinHealthyTime"), 0);
    if (src.deadline !== undefined) p.deadlineMs = duration(src.deadline, name("RolloutDeadline"), 1);
    if (src.autoRevert !== undefined) p.autoRevert = flag(src.autoRevert, name("RolloutAutoRevert"));
  }
  if (p.deadlineMs <= p.minHealthyMs) {
    throw new RolloutPolicyError(
      `Invalid rollout policy for ${unit}: the deadline (${formatMs(p.deadlineMs)}) must be longer than the minimum healthy time (${formatMs(p.minHealthyMs)})`,
    );
  }
  return p;
}

/** What `fleet ctl update` calls each value (the API body uses the same words without dashes). */
const FLAG_NAMES: Record<string, string> = {
  RolloutMaxParallel: "--max-parallel",
  RolloutMinHealthyTime: "--min-healthy-time",
  RolloutDeadline: "--deadline",
  RolloutAutoRevert: "--auto-revert",
};

/** A duration in Go's style ("10s", "1m30s", "250ms"), for messages and status. */
export function formatMs(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s ? `${Number(s.toFixed(3))}s` : ""}`;
}
