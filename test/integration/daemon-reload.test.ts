// Reloading the daemon's configuration in place (SIGHUP, Q19) and the machine refresher,
// against a real etcd with the in-memory UnitManager standing in for systemd: a reload keeps the
// API sockets, the lease and the units, and re-puts the machine record.
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../../src/config/index.ts";
import type { DaemonOptions } from "../../src/daemon/daemon.ts";
import { reloadDaemon } from "../../src/daemon/main.ts";
import { createLogger } from "../../src/log/logger.ts";
import { EtcdClient } from "../../src/registry/etcd/index.ts";
import { keySpace } from "../../src/registry/keys.ts";
import type { MachineRecord } from "../../src/registry/models.ts";
import { startEtcdFixture } from "../support/etcd-fixture.ts";
import { ManualClock } from "../support/manual-clock.ts";
import { api, daemonConfig, type Node, startNode as startDaemonNode } from "../support/integration/daemon-harness.ts";
import { tempDir } from "../support/temp-dir.ts";
import { until } from "../support/until.ts";

const keys = keySpace("/fleet/");
const ID = "feedfeedfeedfeedfeedfeedfeedfeed";

const config = (endpoint: string, dir: string, over: Partial<Config> = {}): Config => daemonConfig(endpoint, dir, ID, over);
const startNode = (endpoint: string, dir: string, over: Partial<Config> = {}, extra: Partial<DaemonOptions> = {}): Promise<Node> =>
  startDaemonNode(endpoint, dir, { machineId: ID, config: over, extra });

async function machineRecord(client: EtcdClient): Promise<{ record: MachineRecord; lease: string } | undefined> {
  const kv = await client.get(keys.machine(ID));
  return kv ? { record: JSON.parse(kv.value) as MachineRecord, lease: kv.lease } : undefined;
}

async function runUnit(node: Node): Promise<void> {
  const put = await api(node, "/fleet/v1/units/hello.service", {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ desiredState: "launched", options: [{ section: "Service", name: "ExecStart", value: "/bin/sleep 1000" }] }),
  });
  expect(put.status).toBe(201);
  await until("hello.service to start", async () => (await node.units.mainPid("hello.service")) !== undefined, { timeoutMs: 20_000, retryErrors: true });
}

function stops(node: Node) {
  return node.units.calls.filter((c) => c.op === "stop" || c.op === "unload");
}

/** The config file the reload reads: TOML, strings quoted. */
function writeConfigFile(path: string, endpoint: string, dir: string, extra: string): void {
  writeFileSync(path, [
    `etcd_servers = "${endpoint}"`,
    `agent_ttl = "3s"`,
    `engine_reconcile_interval = 0.5`,
    `api_listen = ["unix://${join(dir, "fleet.sock")}"]`,
    `units_directory = "${join(dir, "units")}"`,
    `state_dir = "${join(dir, "state")}"`,
    `machine_id = "${ID}"`,
    `public_ip = "10.9.9.9"`,
    extra,
    "",
  ].join("\n"));
}

test("a reload re-puts metadata under the same lease, sets verbosity, and keeps the unit running", async () => {
  await using etcd = await startEtcdFixture();
  using dir = tempDir("fleet-daemon-");
  const { client } = etcd;
  const file = join(dir.path, "fleet.conf");
  writeConfigFile(file, etcd.endpoint, dir.path, `metadata = "region=us-west"`);
  await using node = await startNode(etcd.endpoint, dir.path, { metadata: { region: "us-west" } });
  await until("registration", () => node.daemon.ready, 10_000);
  await runUnit(node);
  const before = await machineRecord(client);
  expect(before?.record.metadata).toEqual({ region: "us-west" });

  writeConfigFile(file, etcd.endpoint, dir.path, `metadata = "region=eu-north,disk=ssd"\nverbosity = 1`);
  expect(await reloadDaemon(node.daemon, createLogger({ verbosity: 0, write: (l) => node.lines.push(l) }), file, file, {})).toBe(true);
  const after = await machineRecord(client);
  expect(after?.record.metadata).toEqual({ region: "eu-north", disk: "ssd" });
  expect(after?.lease).toBe(before?.lease);
  expect(node.lines.some((l) => l.includes(`Reloading configuration from ${file}`))).toBe(true);
  expect(node.lines.some((l) => l.includes("Configuration reloaded; changed: metadata, verbosity"))).toBe(true);
  // Neither the engine nor presence needed a restart for these.
  expect(node.lines.some((l) => l.includes("Restarting server components"))).toBe(false);
  expect(node.daemon.config.verbosity).toBe(1);

  const res = await api(node, "/fleet/v1/machines");
  expect(res.status).toBe(200);
  const body = (await res.json()) as { machines: { id: string; metadata: Record<string, string> }[] };
  expect(body.machines.find((m) => m.id === ID)?.metadata).toEqual({ region: "eu-north", disk: "ssd" });
  // The daemon's own loggers now write debug lines (the API logs each request at debug level).
  expect(node.lines.some((l) => l.includes("DEBUG api: HTTP GET"))).toBe(true);
  expect(stops(node)).toEqual([]);
});

test("an invalid config on reload is logged and the daemon keeps running with the old one", async () => {
  await using etcd = await startEtcdFixture();
  using dir = tempDir("fleet-daemon-");
  const { client } = etcd;
  const file = join(dir.path, "fleet.conf");
  await using node = await startNode(etcd.endpoint, dir.path, { metadata: { region: "us-west" }, disableEngine: true });
  const lines: string[] = [];
  await until("registration", () => node.daemon.ready, 10_000);
  writeFileSync(file, `metadata = "region=eu-north"\netcd_servers = http://unquoted:2379\n`);
  expect(await reloadDaemon(node.daemon, createLogger({ verbosity: 0, write: (l) => lines.push(l) }), file, file, {})).toBe(false);
  const error = lines.find((l) => l.includes("ERROR"));
  expect(error).toContain("Cannot reload the configuration, keeping the running one: ");
  expect(error).toContain(file);
  expect(node.daemon.ready).toBe(true);
  expect(node.daemon.config.metadata).toEqual({ region: "us-west" });
  expect((await machineRecord(client))?.record.metadata).toEqual({ region: "us-west" });
  expect((await api(node, "/fleet/v1/machines")).status).toBe(200);
});

test("agent_ttl, the reconcile interval and etcd_servers on reload: components restart in place, the unit keeps running", async () => {
  await using etcd = await startEtcdFixture();
  using dir = tempDir("fleet-daemon-");
  const { client } = etcd;
  await using node = await startNode(etcd.endpoint, dir.path);
  await until("registration", () => node.daemon.ready, 10_000);
  await runUnit(node);
  const before = await machineRecord(client);
  const next = config(etcd.endpoint, dir.path, {
    agentTtlMs: 4000, engineReconcileIntervalMs: 400, etcdServers: [etcd.endpoint, "http://127.0.0.1:1"],
  });
  const plan = await node.daemon.reload(next);
  expect(plan.changed).toEqual(["agent_ttl", "engine_reconcile_interval", "etcd_servers"]);
  expect(plan.needsRestart).toEqual(["etcd_servers"]);
  expect(node.lines.some((l) => l.includes("Config key etcd_servers changed; restart the daemon to apply it"))).toBe(true);
  expect(node.lines.some((l) => l.includes("Restarting server components"))).toBe(true);
  expect(node.daemon.config.etcdServers).toEqual([etcd.endpoint]);
  expect(node.daemon.config.agentTtlMs).toBe(4000);

  // A new lease of the new TTL carries the machine; the API answers through the same socket.
  await until("the machine on a new lease", async () => {
    const m = await machineRecord(client);
    return m !== undefined && m.lease !== before?.lease && node.daemon.ready;
  }, { timeoutMs: 15_000, retryErrors: true });
  const lease = (await machineRecord(client))!.lease;
  expect((await client.leaseTimeToLive(lease))?.grantedTtl).toBe(4);
  await until("the unit's state on the new lease", async () => (await client.get(keys.state("hello.service", ID)))?.lease === lease, { timeoutMs: 15_000, retryErrors: true });
  expect((await api(node, "/fleet/v1/machines")).status).toBe(200);
  expect(stops(node)).toEqual([]);
  // The engine came back: a second unit is placed and started.
  const put = await api(node, "/fleet/v1/units/second.service", {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ desiredState: "launched", options: [{ section: "Service", name: "ExecStart", value: "/bin/sleep 1000" }] }),
  });
  expect(put.status).toBe(201);
  await until("second.service to start", async () => (await node.units.mainPid("second.service")) !== undefined, { timeoutMs: 20_000, retryErrors: true });
  expect(stops(node)).toEqual([]);
});

test("the machine refresher re-puts a changed public IP under the same lease", async () => {
  await using etcd = await startEtcdFixture();
  using dir = tempDir("fleet-daemon-");
  const { client } = etcd;
  let ip = "192.0.2.10";
  const refreshClock = new ManualClock();
  await using node = await startNode(etcd.endpoint, dir.path, { publicIp: undefined, disableEngine: true }, {
    detectPublicIp: () => ip,
    refreshClock,
  });
  await until("registration", () => node.daemon.ready, 10_000);
  const before = await machineRecord(client);
  expect(before?.record.publicIP).toBe("192.0.2.10");
  ip = "192.0.2.77";
  expect(refreshClock.pending).toEqual([60_000]);
  refreshClock.advance(60_000);
  await until("the new IP in etcd", async () => (await machineRecord(client))?.record.publicIP === "192.0.2.77", { timeoutMs: 10_000, retryErrors: true });
  expect((await machineRecord(client))?.lease).toBe(before?.lease);
  expect(node.lines.some((l) => l.includes("Public IP changed from 192.0.2.10 to 192.0.2.77"))).toBe(true);
});
