// The daemon's wiring against a real etcd, with the in-memory UnitManager standing in for
// systemd (the real daemon on real systemd is test/functional/agent-*.test.ts): the API is 503
// until registration, READY=1 follows registration, a duplicate machine id stays at 503 and
// says why, the engine and agent together run a unit submitted through the API, and stopping
// keeps the lease unless the host is going down.
import { expect, test } from "bun:test";
import type { Config } from "../../src/config/index.ts";
import { keySpace } from "../../src/registry/keys.ts";
import { startEtcdFixture } from "../support/etcd-fixture.ts";
import { startEtcd } from "../support/etcd-server.ts";
import { api as apiAt, type Node, startNode as startDaemonNode } from "../support/integration/daemon-harness.ts";
import { tempDir } from "../support/temp-dir.ts";
import { until } from "../support/until.ts";

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
