// The etcd client against a real 3-member cluster (test/support/etcd-cluster.ts): the raft leader
// killed under a watch, a lease and a stream of writes; the quorum lost for longer than a lease's
// TTL; and what a request says when every member fails it. fleet's promise that no unit moves
// through these rests on what is checked here: no watch event lost or repeated, and leases
// outliving an election and a lost quorum.
import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import { EtcdClient, EtcdError, type Watch, type WatchEvent } from "../../src/registry/etcd/index.ts";
import { type EtcdCluster, startEtcdCluster } from "../support/etcd-cluster.ts";
import type { LocalEtcd } from "../support/etcd-server.ts";
import { until } from "../support/until.ts";

let cluster: EtcdCluster;
let m0: LocalEtcd;
let m1: LocalEtcd;
let m2: LocalEtcd;

beforeAll(async () => {
  cluster = await startEtcdCluster({ members: 3 });
  [m0, m1, m2] = cluster.members as [LocalEtcd, LocalEtcd, LocalEtcd];
});

afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
});

beforeEach(async () => {
  await cluster.start();
});

/** Elections and outages take seconds; a wait allows for several of them. */
const FAULT_WAIT_MS = 30_000;

/** A watch's events, collected in the background. */
function collect(w: Watch) {
  const events: WatchEvent[] = [];
  const done = (async () => {
    for await (const b of w) if (b.kind === "events") events.push(...b.events);
  })();
  return { events, done };
}

/**
 * Puts one key after another until stopped; a put that fails is not retried (it may have been
 * applied: `uncertain`). Returns the revisions etcd acknowledged and every value it tried.
 */
function writer(c: EtcdClient, prefix: string) {
  const acked: number[] = [];
  const tried = new Set<string>();
  const errors: string[] = [];
  let stop = false;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      const value = `v${i}`;
      tried.add(value);
      try {
        acked.push((await c.put(`${prefix}${i % 4}`, value)).revision);
      } catch (e) {
        errors.push((e as Error).message);
        await Bun.sleep(50);
      }
    }
  })();
  return { acked, tried, errors, stop: async () => { stop = true; await done; } };
}

/**
 * Renews the lease every 500 ms until stopped, as a daemon does; counts the renewals that failed
 * and knows when the last one worked.
 */
function keeper(c: EtcdClient, lease: string) {
  let failed = 0;
  let renewed = Date.now();
  let stop = false;
  const done = (async () => {
    while (!stop) {
      try {
        await c.leaseKeepAlive(lease);
        renewed = Date.now();
      } catch {
        failed++;
      }
      // A renewal cadence (as a client keeps a lease), not a wait for something to happen.
      await Bun.sleep(500);
    }
  })();
  return { failed: () => failed, sinceRenewal: () => Date.now() - renewed, stop: async () => { stop = true; await done; } };
}

/** Every revision from `from` on delivered once and in order, each a value the writer tried. */
function expectEveryRevisionOnce(events: WatchEvent[], from: number, tried: Set<string>): void {
  expect(events.map((e) => e.kv.modRevision)).toEqual(events.map((_, i) => from + i));
  expect(events.filter((e) => !tried.has(e.kv.value))).toEqual([]);
}

test("the test cluster: a leader agreed on, handed over, re-elected when killed, none without a quorum, and back", async () => {
  const c = new EtcdClient({ endpoints: cluster.endpoints });
  try {
    await c.put("/support/k", "kept");
    await cluster.transferLeadership(m1);
    expect(await cluster.leader()).toBe(m1);
    await m1.kill();
    const next = await cluster.waitForLeader();
    expect([m0, m2]).toContain(next);
    await next.kill();
    await cluster.waitForNoLeader();
    expect(await cluster.leader()).toBeUndefined();
    await cluster.start();
    expect(cluster.running).toBe(true);
    expect((await c.get("/support/k"))?.value).toBe("kept");
  } finally {
    c.close();
  }
});

test("the raft leader killed under a client: writes go on, the watch loses and repeats nothing, the lease lives", async () => {
  await cluster.transferLeadership(m0);
  // The client starts at m0, the leader: it loses its endpoint and the cluster its leader at once.
  const c = new EtcdClient({ endpoints: cluster.endpoints });
  const lease = await c.leaseGrant(3);
  const renewals = keeper(c, lease.id);
  const from = (await c.status()).revision + 1;
  const watch = collect(c.watch("/lk/", { prefix: true, startRevision: from }));
  const w = writer(c, "/lk/");
  try {
    await until("writes through m0", () => w.acked.length >= 50, FAULT_WAIT_MS);

    await m0.kill();
    const before = w.acked.length;
    await cluster.waitForLeader();
    await until("writes after the election", () => w.acked.length >= before + 50, FAULT_WAIT_MS);
    await w.stop();
    await renewals.stop();
    expect(c.endpoint).not.toBe(m0.endpoint);
    expect(await c.leaseKeepAlive(lease.id)).toBe(3);

    const last = w.acked[w.acked.length - 1]!;
    await until("the watch to reach the last write", () => watch.events.some((e) => e.kv.modRevision === last), FAULT_WAIT_MS);
    expectEveryRevisionOnce(watch.events, from, w.tried);
    for (const rev of w.acked) expect(watch.events.some((e) => e.kv.modRevision === rev)).toBe(true);
    console.log(`leader killed: ${w.acked.length} writes acknowledged, ${w.errors.length} failed (${w.errors.join(" | ")}), ${watch.events.length} events watched, ${renewals.failed()} lease renewals failed`);
  } finally {
    await w.stop();
    await renewals.stop();
    c.close();
  }
});

test("the quorum lost for longer than a lease's TTL: the lease outlives it and the watch resumes where it stopped", async () => {
  await cluster.transferLeadership(m0);
  const c = new EtcdClient({ endpoints: cluster.endpoints, requestTimeoutMs: 500, retries: 0 });
  try {
    const lease = await c.leaseGrant(3);
    const from = (await c.status()).revision + 1;
    const watch = collect(c.watch("/qk/", { prefix: true, startRevision: from }));
    const tried = new Set(["a", "b"]);
    await c.put("/qk/1", "a", { lease: lease.id });

    const renewals = keeper(c, lease.id);
    try {
      await Promise.all([m0.kill(), m1.kill()]);
      await cluster.waitForNoLeader();
      // The outage lasts until the lease has gone longer than its TTL without a renewal.
      await until("an outage longer than the lease's TTL", () => renewals.sinceRenewal() > 4000, FAULT_WAIT_MS);
      await Promise.all([m0.start(), m1.start()]);
      await cluster.waitForLeader();
      // A new leader gives every lease its TTL again (etcd's lessor "promote"): renewed as before,
      // it did not expire, and nothing bound to it went away.
      await until("a renewal after the outage", () => renewals.sinceRenewal() < 1000, FAULT_WAIT_MS);
    } finally {
      await renewals.stop();
    }
    expect(renewals.failed()).toBeGreaterThan(0);
    expect(await c.leaseKeepAlive(lease.id)).toBe(3);
    const put = await c.put("/qk/2", "b");
    await until("the write after the outage", () => watch.events.some((e) => e.kv.modRevision === put.revision), FAULT_WAIT_MS);
    expectEveryRevisionOnce(watch.events, from, tried);
    expect(watch.events.map((e) => e.kv.value)).toEqual(["a", "b"]);
    expect((await c.get("/qk/1"))?.lease).toBe(lease.id);
  } finally {
    c.close();
  }
});

test("every member failing a request: the error says how each endpoint failed, in the configured order", async () => {
  await Promise.all([m0.kill(), m1.kill()]);
  await cluster.waitForNoLeader();
  const c = new EtcdClient({ endpoints: cluster.endpoints, requestTimeoutMs: 300, retries: 0 });
  try {
    const e = (await c.get("/nq").catch((x: unknown) => x)) as EtcdError;
    expect(e).toBeInstanceOf(EtcdError);
    expect({ kind: e.kind, endpoint: e.endpoint, tried: e.tried }).toEqual({
      kind: "timeout",
      endpoint: m2.endpoint,
      tried: [
        { endpoint: m0.endpoint, kind: "unavailable", detail: "connect ECONNREFUSED" },
        { endpoint: m1.endpoint, kind: "unavailable", detail: "connect ECONNREFUSED" },
        { endpoint: m2.endpoint, kind: "timeout", detail: "no answer within 300 ms" },
      ],
    });
    expect(e.message).toBe(
      `etcd timeout for range /nq at every endpoint tried: ${m0.endpoint} (connect ECONNREFUSED), ${m1.endpoint} (connect ECONNREFUSED), ${m2.endpoint} (no answer within 300 ms)`,
    );
  } finally {
    c.close();
  }
});
