// Shared by the agent's functional tests and bench/agent.ts: real systemd machines (src/sandbox)
// running `bin/fleet daemon` as a systemd unit, against an etcd on the host bridge address.
// Until a test drives the engine, schedule entries are written straight into etcd here.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { EtcdClient } from "../../../src/registry/etcd/index.ts";
import { keySpace, type KeySpace } from "../../../src/registry/keys.ts";
import type { ScheduleEntry, UnitStateRecord } from "../../../src/registry/models.ts";
import { Cluster, cleanupStale, type Machine, randomClusterName } from "../../../src/sandbox/index.ts";
import { contentHash } from "../../../src/systemd/unit-manager.ts";
import { type EtcdCluster, startEtcdCluster } from "../etcd-cluster.ts";
import { type EtcdServer, startEtcd } from "../etcd-server.ts";

export const FLEET_BIN = join(import.meta.dir, "../../../bin/fleet");
export const CONFIG_PATH = "/etc/fleet/fleet.conf";
export const DAEMON_UNIT = "fleet.service";

export interface Fleet extends AsyncDisposable {
  cluster: Cluster;
  /** One etcd, or a cluster of them (FleetOptions.etcdMembers); either stops and starts as a whole. */
  etcd: EtcdServer | EtcdCluster;
  /** A client on the host's loopback endpoints (every member's). */
  client: EtcdClient;
  keys: KeySpace;
  /** The endpoints machines use (on the bridge address), one per etcd member, in member order. */
  machineEndpoints: string[];
  destroy(): Promise<void>;
}

export interface FleetOptions {
  machines: number;
  prefix?: string;
  /** Run a real etcd cluster of this many members instead of a single etcd. */
  etcdMembers?: number;
}

/** Machines plus an etcd they can reach; `await using` tears everything down. */
export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  if (!existsSync(FLEET_BIN)) throw new Error(`Cannot run the daemon: ${FLEET_BIN} is missing (run ./build first)`);
  await cleanupStale();
  const cluster = await Cluster.create({ name: randomClusterName("ag"), machines: opts.machines });
  // The bridge address exists from Cluster.create on: etcd can listen on it.
  const listenHosts = ["127.0.0.1", cluster.bridgeIp];
  let etcd: EtcdServer | EtcdCluster | undefined;
  try {
    etcd = opts.etcdMembers ? await startEtcdCluster({ members: opts.etcdMembers, listenHosts }) : await startEtcd({ listenHosts });
  } catch (e) {
    await cluster.destroy();
    throw e;
  }
  const server = etcd;
  const members = "members" in server ? server.members : [server];
  const client = new EtcdClient({ endpoints: members.map((m) => m.endpoint) });
  const destroy = async () => {
    client.close();
    try {
      await cluster.destroy({ hard: true });
    } finally {
      await server[Symbol.asyncDispose]();
    }
  };
  return {
    cluster,
    etcd: server,
    client,
    keys: keySpace(opts.prefix ?? "/fleet/"),
    machineEndpoints: members.map((m) => `http://${cluster.bridgeIp}:${m.clientPort}`),
    destroy,
    [Symbol.asyncDispose]: destroy,
  };
}

/** The config file the daemon reads inside the machine. */
export function daemonConfig(fleet: Fleet, m: Machine, extra: Record<string, string | number | boolean> = {}): string {
  const values: Record<string, string | number | boolean> = {
    etcd_servers: fleet.machineEndpoints.join(","),
    etcd_key_prefix: fleet.keys.prefix,
    agent_ttl: "3s",
    disable_engine: true,
    public_ip: m.ip,
    verbosity: 1,
    ...extra,
  };
  return Object.entries(values).map(([k, v]) => `${k} = ${typeof v === "string" ? JSON.stringify(v) : String(v)}\n`).join("");
}

/**
 * Writes the config and runs the daemon as a notify unit: resolves once it has registered
 * (with `waitForReady: false`, as soon as it runs).
 */
export async function startDaemon(
  fleet: Fleet,
  m: Machine,
  extra: Record<string, string | number | boolean> = {},
  opts: { waitForReady?: boolean } = {},
): Promise<void> {
  await m.writeFile(CONFIG_PATH, daemonConfig(fleet, m, extra));
  await m.startService(DAEMON_UNIT, {
    description: "fleet daemon",
    execStart: [FLEET_BIN, "daemon", "--config", CONFIG_PATH],
    type: opts.waitForReady === false ? "simple" : "notify",
    serviceLines: ["TimeoutStartSec=60s", "TimeoutStopSec=30s"],
    // Stopped before the bus at shutdown, so it can still ask systemd whether the host is stopping.
    unitLines: ["After=dbus.service"],
  });
}

export async function scheduleUnit(
  fleet: Fleet,
  m: Machine,
  name: string,
  text: string,
  desiredState: ScheduleEntry["desiredState"] = "launched",
): Promise<string> {
  const hash = contentHash(text);
  await fleet.client.put(fleet.keys.unitFile(hash), text);
  const entry: ScheduleEntry = { hash, desiredState, epoch: "1" };
  await fleet.client.put(fleet.keys.schedule(m.machineId, name), JSON.stringify(entry));
  return hash;
}

/** Many entries in as few transactions as etcd allows. */
export async function scheduleMany(fleet: Fleet, m: Machine, units: { name: string; text: string }[]): Promise<void> {
  const ops = [];
  for (const u of units) {
    const hash = contentHash(u.text);
    ops.push({ type: "put" as const, key: fleet.keys.unitFile(hash), value: u.text });
    ops.push({ type: "put" as const, key: fleet.keys.schedule(m.machineId, u.name), value: JSON.stringify({ hash, desiredState: "launched", epoch: "1" }) });
  }
  for (let i = 0; i < ops.length; i += 100) await fleet.client.txn({ compare: [], success: ops.slice(i, i + 100) });
}

export async function unitState(fleet: Fleet, m: Machine, name: string): Promise<UnitStateRecord | undefined> {
  const kv = await fleet.client.get(fleet.keys.state(name, m.machineId));
  return kv ? (JSON.parse(kv.value) as UnitStateRecord) : undefined;
}

export async function mainPid(m: Machine, unit: string): Promise<number> {
  return Number((await m.systemctl("show", "-p", "MainPID", "--value", unit)).trim());
}

export async function activeState(m: Machine, unit: string): Promise<string> {
  const r = await m.exec(["systemctl", "is-active", unit]);
  return r.stdout.trim();
}

export function serviceText(description: string, execStart: string, extra: string[] = []): string {
  return `[Unit]\nDescription=${description}\n\n[Service]\nExecStart=${execStart}\n${extra.map((l) => `${l}\n`).join("")}`;
}

export function newPrefix(): string {
  return `/fleet-${randomClusterName("t")}/`;
}
