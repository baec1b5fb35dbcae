// Asks etcd how long each live machine's lease has left (design-decisions.md, "Evictions"): a
// machine renewing every agent_ttl/3 always has at least 2/3 of its TTL left, so one with less
// has missed a renewal and is likely cut off with the machine that just vanished.
import type { EtcdClient } from "../registry/etcd/index.ts";

/** In flight at once: enough to ask 1,000 machines in well under a second, few enough for etcd. */
const CONCURRENCY = 32;

/**
 * The remaining time of each machine's lease in ms: 0 for a lease already gone. etcd answers in
 * whole seconds, rounded down, so half a second is added to land in the middle of the interval.
 */
export async function probeLeases(
  etcd: Pick<EtcdClient, "leaseTimeToLive">,
  leases: ReadonlyMap<string, string>,
): Promise<Map<string, number>> {
  const remaining = new Map<string, number>();
  const entries = [...leases];
  let next = 0;
  const worker = async () => {
    while (next < entries.length) {
      const [machine, lease] = entries[next++]!;
      const ttl = await etcd.leaseTimeToLive(lease);
      remaining.set(machine, ttl === undefined ? 0 : ttl.ttl * 1000 + 500);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, entries.length) }, worker));
  return remaining;
}
