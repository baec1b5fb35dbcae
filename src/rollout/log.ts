// The rollout's log: each step numbered, stamped and kept (the last ROLLOUT_LOG_MAX), so the
// CLI, the API's event stream and `rollout status` read the same steps the engine took.
import { ROLLOUT_LOG_MAX, type RolloutEvent, type RolloutRecord } from "./types.ts";

export function appendLog(rec: RolloutRecord, events: readonly RolloutEvent[], now: number): RolloutRecord {
  if (events.length === 0) return rec;
  let n = rec.log.at(-1)?.n ?? 0;
  const at = new Date(now).toISOString();
  const log = [...rec.log, ...events.map((event) => ({ n: ++n, at, event }))];
  return { ...rec, log: log.slice(-ROLLOUT_LOG_MAX) };
}
