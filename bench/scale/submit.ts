// Submits units through the v1 API as fleetctl would (PUT /fleet/v1/units/<name>, desired
// state launched), with a fixed number of requests in flight.
import type { UnitSpec } from "./scenario.ts";

export interface SubmitResult {
  seconds: number;
  submitted: number;
  /** Answers other than 201 that were retried, and units given up on. */
  retries: number;
  failed: string[];
  /** Latency of the PUTs that succeeded (ms): median, 99th percentile, maximum. */
  latencyMs: { p50: number; p99: number; max: number };
}

export async function submitUnits(api: string, token: string, units: readonly UnitSpec[], inFlight: number): Promise<SubmitResult> {
  let next = 0;
  let retries = 0;
  const failed: string[] = [];
  const latencies: number[] = [];
  const put = async (u: UnitSpec): Promise<void> => {
    const body = JSON.stringify({ desiredState: "launched", options: u.options });
    let last = "";
    for (let attempt = 1; attempt <= 5; attempt++) {
      try {
        const start = performance.now();
        const res = await fetch(`${api}/fleet/v1/units/${encodeURIComponent(u.name)}`, {
          method: "PUT", body, headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        if (res.status === 201 || res.status === 204) {
          latencies.push(performance.now() - start);
          return;
        }
        last = `HTTP ${res.status} ${text.trim()}`;
      } catch (e) {
        last = e instanceof Error ? e.message : String(e);
      }
      retries++;
      await Bun.sleep(100 * attempt);
    }
    failed.push(`${u.name}: ${last}`);
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < units.length) await put(units[next++]!);
  }));
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  const latencyMs = { p50: at(0.5), p99: at(0.99), max: Math.round(latencies[latencies.length - 1] ?? 0) };
  return { seconds: (performance.now() - t0) / 1000, submitted: units.length - failed.length, retries, failed, latencyMs };
}
