// The unit state publisher against a real etcd: bursts become one transaction, unchanged states
// are not rewritten, removal deletes only this machine's key (Q18), and a new lease republishes.
import { expect, test } from "bun:test";
import { StatePublisher, type ReportedState } from "../../src/agent/publisher.ts";
import { createLogger } from "../../src/log/logger.ts";
import { keySpace } from "../../src/registry/keys.ts";
import { startEtcdFixture } from "../support/etcd-fixture.ts";
import { until } from "../support/until.ts";

const keys = keySpace("/fleet/");
const ME = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const OTHER = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const HASH = "1111111111111111111111111111111111111111";
const log = createLogger({ verbosity: 0, write: () => {} });

function st(activeState: string, subState: string): ReportedState {
  return { loadState: "loaded", activeState, subState, hash: HASH };
}

test("a burst of reports is one transaction; unchanged states are not written again", async () => {
  await using etcd = await startEtcdFixture();
  const { client } = etcd;
  const pub = new StatePublisher({ etcd: client, keys, machineId: ME, log, coalesceMs: 20 });
  try {
    const { id: lease } = await client.leaseGrant(30);
    pub.setLease(lease);
    for (let i = 0; i < 40; i++) pub.report(`u${i}.service`, st("activating", "start"));
    for (let i = 0; i < 40; i++) pub.report(`u${i}.service`, st("active", "running"));
    await pub.idle();
    expect(pub.stats).toEqual({ txns: 1, ops: 40 });
    const { kvs } = await client.range(keys.states, { prefix: true });
    expect(kvs.length).toBe(40);
    for (const kv of kvs) {
      expect(kv.lease).toBe(lease);
      expect(JSON.parse(kv.value)).toMatchObject({ loadState: "loaded", activeState: "active", subState: "running", hash: HASH });
      expect(Number.isNaN(Date.parse(JSON.parse(kv.value).since))).toBe(false);
    }
    // systemd repeats unchanged values: nothing is written.
    pub.report("u0.service", st("active", "running"));
    await pub.idle();
    expect(pub.stats).toEqual({ txns: 1, ops: 40 });
  } finally {
    pub.close();
  }
});

test("more changes than one transaction may hold are split at the limit", async () => {
  await using etcd = await startEtcdFixture();
  const { client } = etcd;
  const pub = new StatePublisher({ etcd: client, keys, machineId: ME, log, coalesceMs: 20 });
  try {
    pub.setLease((await client.leaseGrant(30)).id);
    for (let i = 0; i < 200; i++) pub.report(`u${i}.service`, st("active", "running"));
    await pub.idle();
    expect(pub.stats).toEqual({ txns: 2, ops: 200 });
    expect((await client.range(keys.states, { prefix: true, countOnly: true })).count).toBe(200);
  } finally {
    pub.close();
  }
});

test("an unloaded unit's state is removed for this machine only", async () => {
  await using etcd = await startEtcdFixture();
  const { client } = etcd;
  const pub = new StatePublisher({ etcd: client, keys, machineId: ME, log, coalesceMs: 10 });
  try {
    await client.put(keys.state("g.service", OTHER), JSON.stringify({ ...st("active", "running"), since: "x" }));
    pub.setLease((await client.leaseGrant(30)).id);
    pub.report("g.service", st("active", "running"));
    await pub.idle();
    expect(await client.get(keys.state("g.service", ME))).toBeDefined();
    pub.report("g.service", undefined);
    await pub.idle();
    expect(await client.get(keys.state("g.service", ME))).toBeUndefined();
    expect(await client.get(keys.state("g.service", OTHER))).toBeDefined();
  } finally {
    pub.close();
  }
});

test("held back without a lease, republished under a new one, stale keys of a resumed lease deleted", async () => {
  await using etcd = await startEtcdFixture();
  const { client } = etcd;
  const pub = new StatePublisher({ etcd: client, keys, machineId: ME, log, coalesceMs: 10 });
  try {
    pub.report("a.service", st("active", "running"));
    await pub.idle();
    expect((await client.range(keys.states, { prefix: true })).kvs).toEqual([]);

    const first = (await client.leaseGrant(30)).id;
    // Published before a daemon restart: one unit that is still here, one that is gone.
    await client.put(keys.state("a.service", ME), "{}", { lease: first });
    await client.put(keys.state("gone.service", ME), "{}", { lease: first });
    const ttl = await client.leaseTimeToLive(first, { keys: true });
    pub.setLease(first, ttl?.keys ?? []);
    await pub.idle();
    expect(await client.get(keys.state("gone.service", ME))).toBeUndefined();
    expect(JSON.parse((await client.get(keys.state("a.service", ME)))!.value).activeState).toBe("active");

    // The lease was lost and replaced: everything is written under the new one.
    await client.leaseRevoke(first);
    const second = (await client.leaseGrant(30)).id;
    pub.setLease(second);
    await pub.idle();
    expect((await client.get(keys.state("a.service", ME)))?.lease).toBe(second);
  } finally {
    pub.close();
  }
});

test("a failed write is retried until etcd takes it", async () => {
  await using etcd = await startEtcdFixture();
  const client = etcd.connect({ requestTimeoutMs: 500, retries: 0 });
  const lines: string[] = [];
  const capture = createLogger({ verbosity: 0, write: (l) => lines.push(l) });
  const pub = new StatePublisher({ etcd: client, keys, machineId: ME, log: capture, coalesceMs: 10, retry: { baseMs: 50, capMs: 200 } });
  try {
    pub.setLease((await client.leaseGrant(60)).id);
    await etcd.server.stop();
    pub.report("a.service", st("active", "running"));
    await until("a failed publish", () => lines.some((l) => l.includes("Cannot publish unit states, will retry")), 15_000);
    await etcd.server.start();
    await until("the state to be written after etcd returned", async () => (await client.get(keys.state("a.service", ME))) !== undefined, { timeoutMs: 15_000, retryErrors: true });
  } finally {
    pub.close();
  }
});
