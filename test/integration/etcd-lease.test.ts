// Leases against a real etcd: grant, keepalive, time-to-live, revoke, and expiry.
import { expect, test } from "bun:test";
import { EtcdError } from "../../src/registry/etcd/index.ts";
import { sharedEtcd } from "../support/etcd-fixture.ts";
import { until } from "../support/until.ts";

const etcd = sharedEtcd();

test("grant, time-to-live with keys, keepalive and revoke", async () => {
  const lease = await etcd.client.leaseGrant(30);
  expect(lease.ttl).toBe(30);
  // Lease IDs exceed 2^53: they stay exact decimal strings.
  expect(lease.id).toMatch(/^[1-9]\d*$/);
  await etcd.client.put("/lease/a", "on lease", { lease: lease.id });
  expect((await etcd.client.get("/lease/a"))?.lease).toBe(lease.id);

  const ttl = await etcd.client.leaseTimeToLive(lease.id, { keys: true });
  expect(ttl?.grantedTtl).toBe(30);
  expect(ttl?.ttl).toBeGreaterThan(0);
  expect(ttl?.ttl).toBeLessThanOrEqual(30);
  expect(ttl?.keys).toEqual(["/lease/a"]);

  expect(await etcd.client.leaseKeepAlive(lease.id)).toBe(30);

  await etcd.client.leaseRevoke(lease.id);
  expect(await etcd.client.get("/lease/a")).toBeUndefined();
  expect(await etcd.client.leaseTimeToLive(lease.id)).toBeUndefined();
  // Revoking again is fine: the lease is gone either way.
  await etcd.client.leaseRevoke(lease.id);
});

test("a lease with a chosen ID, and a second grant of the same ID fails", async () => {
  const id = "9223372036854775000";
  const lease = await etcd.client.leaseGrant(10, id);
  expect(lease.id).toBe(id);
  const e = (await etcd.client.leaseGrant(10, id).catch((x: unknown) => x)) as EtcdError;
  expect(e).toBeInstanceOf(EtcdError);
  expect(e.message).toContain(id);
  expect(e.message).toContain("lease already exists");
  await etcd.client.leaseRevoke(id);
});

test("a lease left without keepalive expires: keepalive says not-found and its keys are gone", async () => {
  const lease = await etcd.client.leaseGrant(1);
  await etcd.client.put("/lease/exp/1", "x", { lease: lease.id });
  await etcd.client.put("/lease/exp/2", "y", { lease: lease.id });
  await etcd.client.put("/lease/exp/keep", "no lease");
  expect(await etcd.client.leaseKeepAlive(lease.id)).toBeGreaterThan(0);

  await until(`lease ${lease.id} to expire`, async () => (await etcd.client.leaseTimeToLive(lease.id)) === undefined, { timeoutMs: 15_000, intervalMs: 100 });
  const e = (await etcd.client.leaseKeepAlive(lease.id).catch((x: unknown) => x)) as EtcdError;
  expect(e).toBeInstanceOf(EtcdError);
  expect(e.kind).toBe("not-found");
  expect(e.key).toBe(lease.id);
  expect(e.endpoint).toBe(etcd.endpoint);
  expect(e.message).toBe(`etcd ${etcd.endpoint} not found for lease-keepalive ${lease.id}: lease not found or expired`);

  const left = await etcd.client.range("/lease/exp/", { prefix: true });
  expect(left.kvs.map((kv) => kv.key)).toEqual(["/lease/exp/keep"]);
  // A put on the dead lease is refused by etcd.
  const put = (await etcd.client.put("/lease/exp/3", "z", { lease: lease.id }).catch((x: unknown) => x)) as EtcdError;
  expect(put.kind).toBe("not-found");
});
