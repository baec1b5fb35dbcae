// Presence against a real etcd: the lease is resumed across a daemon restart, a second daemon
// with the same machine id is refused (and says why), and a lost lease is replaced.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { leaseHex, Presence, type Registration } from "../../src/agent/presence.ts";
import { createLogger } from "../../src/log/logger.ts";
import { keySpace } from "../../src/registry/keys.ts";
import type { MachineRecord } from "../../src/registry/models.ts";
import { startEtcdFixture } from "../support/etcd-fixture.ts";
import { until } from "../support/until.ts";
import { tempDir } from "../support/temp-dir.ts";
import { EtcdClient } from "../../src/registry/etcd/index.ts";
import { startEtcd } from "../support/etcd-server.ts";
import { waitFor } from "../../src/lib/wait-for.ts";

const keys = keySpace("/fleet/");
const ID = "0123456789abcdef0123456789abcdef";
const FAST = { baseMs: 50, capMs: 200 };

function machine(ip: string): () => MachineRecord {
  return () => ({ id: ID, publicIP: ip, metadata: {}, version: "test", startedAt: new Date(0).toISOString() });
}

function logs() {
  const lines: string[] = [];
  return { lines, log: createLogger({ verbosity: 1, journal: false, write: (l) => lines.push(l) }) };
}

test("registers under one lease, and a restarted daemon resumes the same lease", async () => {
  await using etcd = await startEtcdFixture();
  using dir = tempDir("fleet-presence-");
  const { client } = etcd;
  const first = new Presence({ etcd: client, keys, machine: machine("10.0.0.1"), ttlMs: 5000, stateDir: dir.path, log: logs().log, retry: FAST });
  const regs: Registration[] = [];
  first.onRegistered((r) => void regs.push(r));
  first.start();
  await until("the first daemon to register", () => first.ready, 10_000);
  const lease = first.status.lease!;
  expect(regs).toEqual([{ lease, resumed: false, leaseKeys: [] }]);
  const kv = await client.get(keys.machine(ID));
  expect(kv?.lease).toBe(lease);
  expect(JSON.parse(kv!.value)).toMatchObject({ id: ID, publicIP: "10.0.0.1" });
  expect(JSON.parse(readFileSync(join(dir.path, "lease"), "utf8"))).toMatchObject({ lease, machineId: ID, ttl: 5 });

  // A state published under the lease before the "restart".
  const stateKey = keys.state("hello.service", ID);
  await client.put(stateKey, "{}", { lease });
  await first.stop();

  const second = new Presence({ etcd: client, keys, machine: machine("10.0.0.1"), ttlMs: 5000, stateDir: dir.path, log: logs().log, retry: FAST });
  const again: Registration[] = [];
  second.onRegistered((r) => void again.push(r));
  second.start();
  try {
    await until("the restarted daemon to register", () => second.ready, 10_000);
    expect(second.status.lease).toBe(lease);
    expect(again[0]?.resumed).toBe(true);
    expect(again[0]?.leaseKeys.sort()).toEqual([keys.machine(ID), stateKey].sort());
    expect((await client.get(keys.machine(ID)))?.lease).toBe(lease);
    expect(await client.get(stateKey)).toBeDefined();
    // Kept alive: still there after more than one TTL.
    const ttl = await client.leaseTimeToLive(lease);
    expect(ttl?.grantedTtl).toBe(5);
  } finally {
    await second.revoke();
  }
  expect(await client.get(keys.machine(ID))).toBeUndefined();
  expect(await client.get(stateKey)).toBeUndefined();
});

test("a resumed lease is renewed at once, however little of its TTL the restart left", async () => {
  await using etcd = await startEtcdFixture();
  using dir = tempDir("fleet-presence-");
  const { client } = etcd;
  const first = new Presence({ etcd: client, keys, machine: machine("10.0.0.1"), ttlMs: 5000, stateDir: dir.path, log: logs().log, retry: FAST });
  first.start();
  await until("registration", () => first.ready, 10_000);
  const lease = first.status.lease!;
  await first.stop();
  // A slow restart: most of the TTL is gone.
  const left = await until("the lease to run low", async () => {
    const t = await client.leaseTimeToLive(lease);
    return t && t.ttl <= 2 ? t.ttl : undefined;
  }, { timeoutMs: 10_000, retryErrors: true });
  const second = new Presence({ etcd: client, keys, machine: machine("10.0.0.1"), ttlMs: 5000, stateDir: dir.path, log: logs().log, retry: FAST });
  second.start();
  try {
    await until("registration after the restart", () => second.ready, 10_000);
    expect(second.status.lease).toBe(lease);
    expect((await client.leaseTimeToLive(lease))!.ttl).toBeGreaterThan(left);
  } finally {
    await second.revoke();
  }
});

test("a second daemon with a live machine id does not register, says why, and takes over once the first is gone", async () => {
  await using etcd = await startEtcdFixture();
  using dirA = tempDir("fleet-presence-");
  using dirB = tempDir("fleet-presence-");
  const { client } = etcd;
  const a = new Presence({ etcd: client, keys, machine: machine("10.0.0.2"), ttlMs: 5000, stateDir: dirA.path, log: logs().log, retry: FAST });
  const bLogs = logs();
  const b = new Presence({ etcd: client, keys, machine: machine("10.0.0.3"), ttlMs: 5000, stateDir: dirB.path, log: bLogs.log, retry: FAST });
  try {
    a.start();
    await until("daemon A to register", () => a.ready, 10_000);
    const leaseA = a.status.lease!;
    b.start();
    await until("daemon B to see the duplicate", () => b.status.state === "duplicate", 10_000);
    const reason = `Machine id ${ID} is already registered by another live daemon (lease ${leaseHex(leaseA)}, public IP 10.0.0.2); not registering until it goes away`;
    expect(b.status.reason).toBe(reason);
    expect(b.ready).toBe(false);
    expect(bLogs.lines.some((l) => l.endsWith(reason))).toBe(true);
    // B holds no lease of its own meanwhile, and the key is untouched.
    const kv = await client.get(keys.machine(ID));
    expect(kv?.lease).toBe(leaseA);
    expect(JSON.parse(kv!.value).publicIP).toBe("10.0.0.2");

    await a.revoke();
    await until("daemon B to register after A left", () => b.ready, 10_000);
    expect(b.status.lease).not.toBe(leaseA);
    expect(JSON.parse((await client.get(keys.machine(ID)))!.value).publicIP).toBe("10.0.0.3");
  } finally {
    await a.stop();
    await b.revoke();
  }
});

test("a lost lease is replaced by a new one and listeners hear of both", async () => {
  await using etcd = await startEtcdFixture();
  using dir = tempDir("fleet-presence-");
  const { client } = etcd;
  const p = new Presence({ etcd: client, keys, machine: machine("10.0.0.4"), ttlMs: 1500, stateDir: dir.path, log: logs().log, retry: FAST });
  const events: string[] = [];
  p.onRegistered((r) => void events.push(`registered ${r.lease} resumed=${r.resumed}`));
  p.onLost((lease) => void events.push(`lost ${lease}`));
  try {
    p.start();
    await until("registration", () => p.ready, 10_000);
    const first = p.status.lease!;
    // As if etcd had expired it during an outage.
    await client.leaseRevoke(first);
    await until("registration under a new lease", () => p.ready && p.status.lease !== first, 10_000);
    const second = p.status.lease!;
    expect(events).toEqual([`registered ${first} resumed=false`, `lost ${first}`, `registered ${second} resumed=false`]);
    expect((await client.get(keys.machine(ID)))?.lease).toBe(second);
    expect(JSON.parse(readFileSync(join(dir.path, "lease"), "utf8")).lease).toBe(second);
  } finally {
    await p.revoke();
  }
});

test("a lease file from another agent_ttl is taken over, not resumed", async () => {
  await using etcd = await startEtcdFixture();
  using dir = tempDir("fleet-presence-");
  const { client } = etcd;
  const before = new Presence({ etcd: client, keys, machine: machine("10.0.0.5"), ttlMs: 5000, stateDir: dir.path, log: logs().log, retry: FAST });
  before.start();
  await until("registration with TTL 5s", () => before.ready, 10_000);
  const old = before.status.lease!;
  await before.stop();
  const after = new Presence({ etcd: client, keys, machine: machine("10.0.0.5"), ttlMs: 3000, stateDir: dir.path, log: logs().log, retry: FAST });
  after.start();
  try {
    await until("registration with TTL 3s", () => after.ready, 10_000);
    expect(after.status.lease).not.toBe(old);
    expect((await client.leaseTimeToLive(after.status.lease!))?.grantedTtl).toBe(3);
    expect((await client.get(keys.machine(ID)))?.lease).toBe(after.status.lease);
  } finally {
    await after.revoke();
  }
});

test("renewals that failed and get through again, the lease alive, tell the reconnected listeners once", async () => {
  await using etcd = await startEtcd();
  using dir = tempDir();
  const client = new EtcdClient({ endpoints: [etcd.endpoint], retries: 0, requestTimeoutMs: 500 });
  const { lines, log } = logs();
  const p = new Presence({ etcd: client, keys, machine: machine("10.0.0.5"), ttlMs: 6000, stateDir: dir.path, log, retry: FAST });
  const events: string[] = [];
  p.onRegistered((r) => void events.push(`registered ${r.lease}`));
  p.onLost((lease) => void events.push(`lost ${lease}`));
  p.onReconnected(() => void events.push("reconnected"));
  try {
    p.start();
    await waitFor(() => p.ready, { timeoutMs: 10_000, what: "registration" });
    const lease = p.status.lease!;
    await etcd.stop();
    await waitFor(() => lines.some((l) => l.includes(`Cannot renew lease ${leaseHex(lease)}`)), { timeoutMs: 10_000, what: "a failed renewal" });
    // etcd restarts every lease's TTL, so the lease outlives the outage.
    await etcd.start();
    await waitFor(() => events.includes("reconnected"), { timeoutMs: 10_000, what: "the reconnected listeners" });
    expect(events).toEqual([`registered ${lease}`, "reconnected"]);
    expect(p.status.lease).toBe(lease);
  } finally {
    await p.revoke();
    client.close();
  }
});
