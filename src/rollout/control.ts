// An operator's requests on a rollout (pause, resume, abort) and a new rollout over an old one,
// as pure transitions of the record: either the new record, or why it cannot be done (data for
// the API's one error class). The engine carries them out on its next round.
import { appendLog } from "./log.ts";
import { isActiveRollout, type RolloutPolicy, type RolloutRecord } from "./types.ts";

export type ControlRequest = "pause" | "resume" | "abort";

export type ControlResult =
  | { ok: true; record: RolloutRecord; changed: boolean }
  | { ok: false; problem: string };

export function controlRollout(rec: RolloutRecord, req: ControlRequest, now: number): ControlResult {
  const refuse = (why: string): ControlResult => ({ ok: false, problem: `Cannot ${req} the rollout of ${rec.unit}: ${why}` });
  switch (req) {
    case "pause":
      if (rec.state === "paused") return { ok: true, record: rec, changed: false };
      if (rec.state !== "running") return refuse(`it is ${rec.state}`);
      return { ok: true, record: appendLog({ ...rec, state: "paused" }, [{ kind: "paused" }], now), changed: true };
    case "resume":
      if (rec.state === "running") return { ok: true, record: rec, changed: false };
      if (rec.state !== "paused") return refuse(`it is ${rec.state}`);
      return { ok: true, record: appendLog({ ...rec, state: "running" }, [{ kind: "resumed" }], now), changed: true };
    case "abort":
      if (rec.state === "aborting" || rec.state === "aborted") return { ok: true, record: rec, changed: false };
      // A failed rollout holds instances on both versions: aborting it puts them all back.
      if (!isActiveRollout(rec.state) && rec.state !== "failed") return refuse(`it already ended (${rec.state})`);
      return { ok: true, record: appendLog({ ...rec, state: "aborting" }, [{ kind: "abort-requested" }], now), changed: true };
  }
}

/**
 * Why a new rollout of `unit` cannot replace the stored one, if it cannot: one runs, or a failed
 * one holds instances on both versions (abort it first, which puts them back).
 */
export function newRolloutProblem(existing: RolloutRecord | undefined): string | undefined {
  if (existing === undefined) return undefined;
  if (isActiveRollout(existing.state)) return `a rollout of ${existing.unit} is ${existing.state} (see fleet ctl rollout status ${existing.unit})`;
  if (existing.state === "failed") {
    return `the last rollout of ${existing.unit} failed and holds instances on both versions; abort it first (fleet ctl rollout abort ${existing.unit})`;
  }
  return undefined;
}

/** A new rollout record, as the API stores it: the engine finds its instances. */
export function newRollout(unit: string, to: string, description: string, policy: RolloutPolicy, now: number): RolloutRecord {
  return { unit, to, description, policy, state: "running", createdAt: new Date(now).toISOString(), targets: [], started: false, log: [] };
}
