// The daemon's wiring against a real etcd, with the in-memory UnitManager standing in for
// systemd (the real daemon on real systemd is test/functional/agent-*.test.ts): the API is 503
// until registration, READY=1 follows registration, a duplicate machine id stays at 503 and
// says why, the engine and agent together run a unit submitted through the API, and stopping
// keeps the lease unless the host is going down.
import { expect, test } from "bun:test";
import type { Config } from "../../src/config/index.ts";
import { keySpace } from "../../src/registry/keys.ts";
import { EtcdClient } from "../../src/registry/etcd/index.ts";
import { FakeUnitManager } from "../../src/systemd/fake-unit-manager.ts";
import { contentHash } from "../../src/systemd/unit-manager.ts";
import { startEtcdFixture } from "../support/etcd-fixture.ts";
import { startEtcd } from "../support/etcd-server.ts";
import { api as apiAt, type Node, startNode as startDaemonNode } from "../support/integration/daemon-harness.ts";
import { tempDir } from "../support/temp-dir.ts";
import { until } from "../support/until.ts";
import { waitFor } from "../../src/lib/wait-for.ts";

const keys = keySpace("/fleet/");
const ID = "d00dd00dd00dd00dd00dd00dd00dd00d";

const startNode = (endpoint: string, dir: string, over: Partial<Config> = {}): Promise<Node> =>
  startDaemonNode(endpoint, dir, { machineId: ID, config: over, verbosity: 1 });
const api = (node: Node, path: string, init: RequestInit = {}) => apiAt(node, `/fleet/v1${path}`, init);

test("the API answers 503 until the daemon registers, then serves; READY=1 follows registration", async () => {
  await using etcd = await startEtcd();
  using dir = tempDir("fleet-daemon-");
  await etcd.stop();
  await using node = await startNode(etcd.endpoint, dir.path, { disableEngine: true });
  const res = await api(node, "/machines");
  expect(res.status).toBe(503);
  expect(await res.json()).toEqual({ error: { code: 503, message: "fleet server unable to communicate with etcd" } });
  expect(node.notified).toEqual([]);

  await etcd.start();
  await until("the API to answer 200", async () => (await api(node, "/machines")).status === 200, { timeoutMs: 20_000, retryErrors: true });
  const body = (await (await api(node, "/machines")).json()) as { machines: { id: string; primaryIP: string }[] };
  expect(body.machines.map((m) => [m.id, m.primaryIP])).toEqual([[ID, "10.9.9.9"]]);
  expect(node.notified).toEqual([`READY=1\nSTATUS=Registered machine ${ID}`]);
  expect(node.lines.some((l) => l.includes("Not starting engine; disable-engine is set"))).toBe(true);
  expect(node.daemon.dump()).toMatchObject({ Presence: { state: "registered" }, Engine: "disabled" });
});

test("a second daemon with the same machine id stays at 503, says why, and registers once the first is gone", async () => {
  await using etcd = await startEtcd();
  using dirA = tempDir("fleet-daemon-");
  using dirB = tempDir("fleet-daemon-");
  const a = await startNode(etcd.endpoint, dirA.path, { disableEngine: true, publicIp: "10.0.0.1" });
  let b: Node | undefined;
  try {
    await until("daemon A to register", () => a.daemon.ready, 10_000);
    b = await startNode(etcd.endpoint, dirB.path, { disableEngine: true, publicIp: "10.0.0.2" });
    await until("daemon B to refuse", () => b!.daemon.presence.status.state === "duplicate", 10_000);
    const reason = b.daemon.presence.status.reason!;
    expect(reason).toStartWith(`Machine id ${ID} is already registered by another live daemon (lease `);
    expect(reason).toEndWith(", public IP 10.0.0.1); not registering until it goes away");
    expect(b.lines.some((l) => l.endsWith(reason))).toBe(true);
    expect((await api(b, "/machines")).status).toBe(503);
    expect(b.notified).toEqual([]);

    // The first daemon's host shuts down: its lease goes at once and B takes over.
    await a.daemon.stop({ revokeLease: true });
    await until("daemon B to register", () => b!.daemon.ready, 15_000);
    expect((await api(b, "/machines")).status).toBe(200);
    expect(b.notified.length).toBe(1);
  } finally {
    await a.daemon.stop();
    await b?.daemon.stop();
  }
});

test("engine and agent together run a unit submitted through the API; stopping keeps the lease", async () => {
  await using etcd = await startEtcdFixture();
  using dir = tempDir("fleet-daemon-");
  const { client } = etcd;
  await using node = await startNode(etcd.endpoint, dir.path);
  await until("registration", () => node.daemon.ready, 10_000);
  const put = await api(node, "/units/hello.service", {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ desiredState: "launched", options: [{ section: "Service", name: "ExecStart", value: "/bin/sleep 1000" }] }),
  });
  expect(put.status).toBe(201);
  await until("hello.service active in /state", async () => {
    const s = (await (await api(node, "/state")).json()) as { states?: { name: string; systemdActiveState: string; machineID: string }[] };
    return s.states?.some((x) => x.name === "hello.service" && x.systemdActiveState === "active" && x.machineID === ID);
  }, { timeoutMs: 20_000, retryErrors: true });
  const pid = await node.units.mainPid("hello.service");
  expect(pid).toBeNumber();

  const lease = node.daemon.presence.status.lease!;
  await node.daemon.stop();
  // Still registered with its states, for a restart to resume; the unit still runs.
  expect((await client.get(keys.machine(ID)))?.lease).toBe(lease);
  expect((await client.get(keys.state("hello.service", ID)))?.lease).toBe(lease);
  expect(node.units.calls.filter((c) => c.op === "stop" || c.op === "unload")).toEqual([]);
  expect(await client.leaseTimeToLive(lease)).toBeDefined();
});

test("stopping as the host shuts down revokes the lease: machine and states leave at once", async () => {
  await using etcd = await startEtcdFixture();
  using dir = tempDir("fleet-daemon-");
  const { client } = etcd;
  await using node = await startNode(etcd.endpoint, dir.path, { disableEngine: true });
  await until("registration", () => node.daemon.ready, 10_000);
  expect(await node.daemon.hostStopping()).toBe(false);
  node.units.systemStateValue = "stopping";
  expect(await node.daemon.hostStopping()).toBe(true);
  await node.daemon.stop({ revokeLease: true });
  expect(await client.get(keys.machine(ID))).toBeUndefined();
});

test("a stopped daemon's machine keeps its lease and units but takes nothing new; restarted, it takes work again", async () => {
  await using etcd = await startEtcd();
  using dirA = tempDir();
  using dirB = tempDir();
  const client = new EtcdClient({ endpoints: [etcd.endpoint] });
  // A's id sorts first: of two machines running nothing, a new unit goes to A.
  const A = "a0000000000000000000000000000000";
  const B = "b0000000000000000000000000000000";
  const submit = (node: Node, name: string) => api(node, `/units/${name}`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ desiredState: "launched", options: [{ section: "Service", name: "ExecStart", value: "/bin/sleep 1000" }] }),
  });
  const placedOn = async (name: string) => {
    const { kvs } = await client.range(keys.schedules, { prefix: true });
    return kvs.filter((kv) => kv.key.endsWith(`/${name}`)).map((kv) => kv.key.slice(keys.schedules.length, keys.schedules.length + 32));
  };
  let a = await startDaemonNode(etcd.endpoint, dirA.path, { machineId: A, verbosity: 1 });
  const b = await startDaemonNode(etcd.endpoint, dirB.path, { machineId: B, verbosity: 1 });
  try {
    await waitFor(() => a.daemon.ready && b.daemon.ready, { timeoutMs: 10_000, what: "registration" });
    const lease = a.daemon.presence.status.lease!;
    await a.daemon.stop();
    expect((await client.get(keys.machine(A)))?.lease).toBe(lease);
    expect(JSON.parse((await client.get(keys.machine(A)))!.value)).toMatchObject({ id: A, stopped: true });

    expect((await submit(b, "one.service")).status).toBe(201);
    expect(await waitFor(async () => (await placedOn("one.service")).length > 0 && placedOn("one.service"), { timeoutMs: 10_000, what: "one.service placed" })).toEqual([B]);

    // The daemon is back on its lease: the mark is gone, and the next unit goes to the machine running less.
    a = await startDaemonNode(etcd.endpoint, dirA.path, { machineId: A, verbosity: 1 });
    await waitFor(() => a.daemon.ready, { timeoutMs: 10_000, what: "A registered again" });
    expect(a.daemon.presence.status.lease).toBe(lease);
    expect(JSON.parse((await client.get(keys.machine(A)))!.value).stopped).toBeUndefined();
    expect((await submit(b, "two.service")).status).toBe(201);
    expect(await waitFor(async () => (await placedOn("two.service")).length > 0 && placedOn("two.service"), { timeoutMs: 10_000, what: "two.service placed" })).toEqual([A]);
  } finally {
    await a.daemon.stop();
    await b.daemon.stop();
    client.close();
  }
});

/** A unit manager whose start waits until the test lets it go (a reconcile stuck on systemd). */
class StuckStart extends FakeUnitManager {
  entered = false;
  private release = () => {};
  private readonly gate = new Promise<void>((r) => (this.release = r));
  override async start(name: string): Promise<void> {
    this.entered = true;
    await this.gate;
    return super.start(name);
  }
  letGo(): void {
    this.release();
  }
}

test("as the host shuts down the lease is revoked first, not after a reconcile in flight", async () => {
  await using etcd = await startEtcd();
  using dir = tempDir();
  const client = new EtcdClient({ endpoints: [etcd.endpoint] });
  const units = new StuckStart({ unitsDirectory: `${dir.path}/units` });
  const node = await startDaemonNode(etcd.endpoint, dir.path, { machineId: ID, config: { disableEngine: true }, verbosity: 1, extra: { units } });
  try {
    await waitFor(() => node.daemon.ready, { timeoutMs: 10_000, what: "registration" });
    const text = "[Service]\nExecStart=/bin/sleep 1000\n";
    const hash = contentHash(text);
    await client.put(keys.unitFile(hash), text);
    await client.put(keys.schedule(ID, "slow.service"), JSON.stringify({ hash, desiredState: "launched", epoch: "1" }));
    await waitFor(() => units.entered, { timeoutMs: 10_000, what: "the agent's reconcile to wait on systemd" });
    units.systemStateValue = "stopping";
    const stopping = node.daemon.stop({ revokeLease: await node.daemon.hostStopping() });
    await waitFor(async () => (await client.get(keys.machine(ID))) === undefined, { timeoutMs: 10_000, what: "the machine to leave etcd" });
    units.letGo();
    await stopping;
  } finally {
    units.letGo();
    await node.daemon.stop();
    client.close();
  }
});
