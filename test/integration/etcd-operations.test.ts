// The etcd client's operation observer against a real etcd: exactly one report per logical
// operation (retries and failover included), failures flagged, and the daemon's registry
// metrics counting those reports.
import { expect, test } from "bun:test";
import { registryMetricsObserver } from "../../src/daemon/registry-metrics.ts";
import { createFleetMetrics } from "../../src/metrics/fleet.ts";
import { MetricsRegistry } from "../../src/metrics/metrics.ts";
import { cmp, EtcdClient, EtcdError, type EtcdOperation, op } from "../../src/registry/etcd/index.ts";
import { startEtcdFixture } from "../support/etcd-fixture.ts";
import { freePort, startEtcd } from "../support/etcd-server.ts";

function tally(ops: EtcdOperation[]): Record<string, string> {
  const out: Record<string, [number, number]> = {};
  for (const o of ops) {
    const t = (out[o.type] ??= [0, 0]);
    t[0]++;
    if (!o.ok) t[1]++;
  }
  return Object.fromEntries(Object.entries(out).map(([k, [n, failed]]) => [k, `${n} (${failed} failed)`]));
}

test("each logical operation is reported once, failures flagged, durations measured", async () => {
  await using etcd = await startEtcdFixture();
  const seen: EtcdOperation[] = [];
  const client = etcd.connect({ onOperation: (o) => seen.push(o) });
  for (let i = 0; i < 5; i++) await client.put(`/ops/k${i}`, `v${i}`);
  for (let i = 0; i < 3; i++) await client.range("/ops/", { prefix: true });
  await client.get("/ops/k0");
  // A txn whose compare fails still succeeded as an operation.
  const t = await client.txn({ compare: [cmp.value("/ops/k0", "=", "nope")], success: [op.put("/ops/k0", "x")] });
  expect(t.succeeded).toBe(false);
  await client.delete("/ops/k4");
  const lease = await client.leaseGrant(30);
  await client.leaseKeepAlive(lease.id);
  await client.leaseTimeToLive(lease.id);
  await client.leaseRevoke(lease.id);
  // Already gone: the client treats a second revoke as done.
  await client.leaseRevoke(lease.id);
  // Failing operations: a keepalive of a gone lease, a put bound to a lease that never existed.
  await expect(client.leaseKeepAlive(lease.id)).rejects.toBeInstanceOf(EtcdError);
  await expect(client.put("/ops/bound", "v", { lease: "123456789" })).rejects.toBeInstanceOf(EtcdError);

  expect(tally(seen)).toEqual({
    put: "6 (1 failed)",
    range: "4 (0 failed)",
    txn: "1 (0 failed)",
    delete: "1 (0 failed)",
    lease_grant: "1 (0 failed)",
    lease_keepalive: "2 (1 failed)",
    lease_ttl: "1 (0 failed)",
    lease_revoke: "2 (0 failed)",
  });
  expect(seen.every((o) => Number.isFinite(o.durationMs) && o.durationMs >= 0)).toBe(true);
});

test("a read retried across endpoints is one operation; a watch reports the connection it opened", async () => {
  await using etcd = await startEtcd();
  const dead = `http://127.0.0.1:${await freePort()}`;
  const seen: EtcdOperation[] = [];
  const client = new EtcdClient({ endpoints: [dead, etcd.endpoint], onOperation: (o) => seen.push(o) });
  try {
    await client.range("/retry/", { prefix: true });
    expect(client.endpoint).toBe(etcd.endpoint);
    expect(tally(seen)).toEqual({ range: "1 (0 failed)" });

    const w = client.watch("/retry/w");
    const it = w[Symbol.asyncIterator]();
    const first = it.next();
    // The put may land before the watch connects; keep writing until the watch delivers.
    const writer = (async () => {
      for (let i = 0; i < 200 && seen.filter((o) => o.type === "watch").length === 0; i++) {
        await client.put("/retry/w", String(i));
        await Bun.sleep(25);
      }
      await client.put("/retry/w", "last");
    })();
    const batch = await first;
    await writer;
    w.close();
    expect(batch.done).toBe(false);
    expect(seen.filter((o) => o.type === "watch")).toEqual([{ type: "watch", durationMs: expect.any(Number), ok: true }]);
  } finally {
    client.close();
  }
});

test("a client with one endpoint down reports a failed operation once, after its retries", async () => {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const seen: EtcdOperation[] = [];
  const client = new EtcdClient({ endpoints: [dead], retries: 2, onOperation: (o) => seen.push(o) });
  try {
    await expect(client.range("/x")).rejects.toBeInstanceOf(EtcdError);
    expect(tally(seen)).toEqual({ range: "1 (1 failed)" });
  } finally {
    client.close();
  }
});

test("the registry metrics count what the observer reports", async () => {
  await using etcd = await startEtcdFixture();
  const metrics = createFleetMetrics(new MetricsRegistry());
  const client = etcd.connect({ onOperation: registryMetricsObserver(metrics) });
  for (let i = 0; i < 4; i++) await client.put(`/m/k${i}`, "v");
  for (let i = 0; i < 2; i++) await client.range("/m/", { prefix: true });
  await expect(client.leaseKeepAlive("987654321")).rejects.toBeInstanceOf(EtcdError);

  expect(metrics.registryOperationCount.get({ type: "put" })).toBe(4);
  expect(metrics.registryOperationCount.get({ type: "range" })).toBe(2);
  expect(metrics.registryOperationCount.get({ type: "lease_keepalive" })).toBe(1);
  expect(metrics.registryOperationFailedCount.get({ type: "lease_keepalive" })).toBe(1);
  expect(metrics.registryOperationFailedCount.get({ type: "put" })).toBe(0);
  expect(metrics.registryOperationDuration.count({ ops: "put" })).toBe(4);
  expect(metrics.registryOperationDuration.count({ ops: "range" })).toBe(2);
  const text = metrics.registry.expose();
  expect(text).toContain('fleet_registry_operation_count_total{type="put"} 4');
  expect(text).toContain('fleet_registry_operation_failed_count_total{type="lease_keepalive"} 1');
  expect(text).toContain('fleet_registry_operation_duration_second_count{ops="range"} 2');
});
