// The words of a rollout: each step of its log, and its state, rendered in this one place for
// the engine's log, the CLI's progress lines, `rollout status` and the event stream.
import { formatMs } from "./policy.ts";
import { shortId } from "../lib/short-id.ts";
import type { FinishReason, HealthProblem, RolloutEvent, RolloutRecord } from "./types.ts";

const short = (hash: string): string => hash.slice(0, 7);
const where = (instance: string, machine?: string): string => (machine === undefined ? instance : `${instance} on ${shortId(machine)}...`);

function problem(p: HealthProblem): string {
  if (p.kind === "failed") return `systemd reports it ${p.activeState} (${p.subState}), load state ${p.loadState}`;
  return `not healthy within the deadline of ${formatMs(p.deadlineMs)}${p.last !== undefined ? ` (last seen ${p.last})` : ""}`;
}

function finishWhy(w: FinishReason): string {
  switch (w.kind) {
    case "all-replaced": return `${w.count} instance${w.count === 1 ? "" : "s"} replaced`;
    case "nothing-to-do": return "every instance already runs this version";
    case "instance-failed": return `${where(w.instance, w.machine)} did not become healthy`;
    case "aborted": return "aborted by request";
    case "unit-gone": return "the unit was destroyed";
  }
}

export function describeEvent(e: RolloutEvent): string {
  switch (e.kind) {
    case "started": return `Rollout to ${short(e.to)} started: ${e.targets} instance${e.targets === 1 ? "" : "s"}`;
    case "joined": return `${where(e.instance, e.machine)} joined the rollout (running ${short(e.from)})`;
    case "left": {
      const why = e.why === "machine-gone" ? "its machine left" : e.why === "unit-gone" ? "the unit was destroyed" : "the unit was given another file";
      return `${where(e.instance, e.machine)} left the rollout: ${why}`;
    }
    case "replace": return `Replacing ${where(e.instance, e.machine)}: ${short(e.from)} -> ${short(e.to)} (${e.done} of ${e.total})`;
    case "healthy": return `${where(e.instance, e.machine)} is healthy${e.minHealthyMs > 0 ? ` (active with the same MainPID for ${formatMs(e.minHealthyMs)})` : ""}`;
    case "unhealthy": return `${where(e.instance, e.machine)} failed: ${problem(e.problem)}`;
    case "revert": return `Reverting ${where(e.instance, e.machine)} to ${short(e.to)}`;
    case "reverted": return `${where(e.instance, e.machine)} is back on the old version${e.healthy ? "" : " (it did not become healthy; giving up on it)"}`;
    case "paused": return "Rollout paused: no more instances are replaced until it is resumed";
    case "resumed": return "Rollout resumed";
    case "abort-requested": return "Rollout aborted by request: the replaced instances go back to the old version";
    case "finished": return `Rollout ${e.state}: ${finishWhy(e.why)}`;
  }
}

/** The one-line summary of a rollout, for status and list views. */
export function describeRollout(r: RolloutRecord): string {
  const n = (p: string) => r.targets.filter((t) => t.phase === p).length;
  const total = r.targets.length;
  return `${r.state}: ${n("updated")} of ${total} updated, ${n("updating")} updating, ${n("old")} waiting` +
    (n("failed") + n("reverting") + n("reverted") > 0 ? `, ${n("failed")} failed, ${n("reverting")} reverting, ${n("reverted")} reverted` : "");
}

/** Whether the rollout ended in an outcome the CLI reports as a failure. */
export function rolloutFailed(r: RolloutRecord): boolean {
  return r.state === "failed" || r.state === "reverted" || r.state === "aborted";
}
