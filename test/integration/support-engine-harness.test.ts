// The engine tests' stand-in machines behave as agents do where the tests rely on it: a machine
// whose lease lapsed while it meant to stay (a renewal stalled on a slow host) registers again;
// one whose renewals were stopped stays gone.
import { expect, test } from "bun:test";
import { Cluster } from "../support/integration/engine-harness.ts";
import { until } from "../support/until.ts";

test("a lapsed lease is replaced by a new registration; a machine stopped renewing stays gone", async () => {
  await using c = await Cluster.start();
  const kept = await c.agent("m1", {}, 3);
  const lost = await c.agent("m2", {}, 3);
  const first = kept.leaseId;
  await c.client.leaseRevoke(first);
  lost.stopRenewing();
  await c.client.leaseRevoke(lost.leaseId);
  const back = await until("m1 registered again", async () => {
    const kv = await c.client.get(c.keys.machine("m1"));
    return kv && kv.lease !== first ? kv : undefined;
  }, 10_000);
  expect(back.lease).toBe(kept.leaseId);
  expect(await c.client.get(c.keys.machine("m2"))).toBeUndefined();
});
