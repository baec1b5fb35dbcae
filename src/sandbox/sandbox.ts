// `fleet sandbox` operations: a named local cluster of machines running `fleet daemon`, with an
// etcd of its own, that outlives the command which made it. Finding it again, booting it,
// taking it down, killing and restarting one machine. Output is the caller's (cli.ts).
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { EtcdClient } from "../registry/etcd/index.ts";
import { makeApiTls, readServerPem } from "./api-tls.ts";
import { keySpace } from "../registry/keys.ts";
import { Cluster, DEFAULT_STATE_ROOT, discoverClusters } from "./cluster.ts";
import { journalTails } from "./diagnostics.ts";
import { isPopulated } from "./cgroup.ts";
import { dashboardNode, startDashboard, stopDashboard } from "./dashboard.ts";
import { etcdRunning, startEtcd, stopEtcd } from "./etcd-process.ts";
import { EXAMPLE_UNITS, startExamples, waitGlobalExample } from "./examples.ts";
import { fleetActiveState, installFleet, SERVICE, unitActiveState } from "./fleet-install.ts";
import type { Machine } from "./machine.ts";
import type { Progress } from "./progress.ts";
import {
  API_PORT, apiEnv, ENV_FILE, envText, hasSandboxRecord, KEY_PREFIX, readSandboxRecord, type SandboxRecord, writePrivate, writeSandboxRecord,
} from "./sandbox-record.ts";
import { SshAccess, sshCtlEnv, sshdAvailable, SSHD_UNIT } from "./ssh-access.ts";
import { readRecord } from "./state.ts";
import { waitFor } from "../lib/wait-for.ts";

export interface SandboxRef {
  name: string;
  stateRoot?: string;
}

export type Found =
  | { kind: "none" }
  /** An `up` in another process is creating it right now. */
  | { kind: "booting"; pid: number }
  /** The `up` that was creating it died: only cleanup remains. */
  | { kind: "stale" }
  /** Complete once, but its own etcd is gone (everything it knew is lost). */
  | { kind: "broken"; why: string }
  /** A cluster under that name that fleet sandbox did not make. */
  | { kind: "foreign" }
  | { kind: "live"; cluster: Cluster; record: SandboxRecord };

const REGISTER_TIMEOUT_MS = 60_000;

export function stateRootOf(ref: SandboxRef): string {
  return ref.stateRoot ?? DEFAULT_STATE_ROOT;
}

export function sandboxDir(ref: SandboxRef): string {
  return join(stateRootOf(ref), ref.name);
}

export function findSandbox(ref: SandboxRef): Found {
  const info = discoverClusters(stateRootOf(ref)).find((c) => c.name === ref.name);
  if (!info) return { kind: "none" };
  if (info.stale) return { kind: "stale" };
  if (!info.detached) return { kind: "booting", pid: readRecord(info.dir).owner?.pid ?? 0 };
  if (!hasSandboxRecord(info.dir)) return { kind: "foreign" };
  const cluster = Cluster.attach(ref.name, stateRootOf(ref));
  const record = readSandboxRecord(info.dir);
  const node = cluster.cgroupNode;
  if (record.etcd.own && (!node || !etcdRunning(node))) return { kind: "broken", why: "its etcd is no longer running" };
  if (record.tls === undefined) return { kind: "broken", why: "an older fleet made it, whose API had no TLS" };
  return { kind: "live", cluster, record };
}

/** The names of the sandboxes (clusters made by fleet sandbox) under the state root. */
export function listSandboxes(stateRoot = DEFAULT_STATE_ROOT): string[] {
  return discoverClusters(stateRoot).filter((c) => hasSandboxRecord(c.dir)).map((c) => c.name);
}

/**
 * Kills and removes a sandbox whatever state it is in (its etcd too, which the cluster's own
 * cleanup does not know about).
 */
export async function removeSandbox(ref: SandboxRef, opts: { hard?: boolean } = {}): Promise<void> {
  const cluster = Cluster.attach(ref.name, stateRootOf(ref));
  const node = cluster.cgroupNode;
  if (!opts.hard) {
    // Machines first, while etcd still answers: their daemons leave cleanly.
    await Promise.allSettled(cluster.machines.map((m) => m.halt(10_000)));
  }
  if (node) {
    await stopDashboard(node);
    await stopEtcd(node, opts.hard ? 0 : 10_000);
  }
  await cluster.destroy({ hard: true });
}

/** Removes every stale cluster under the state root (crashed sandboxes and test runs); returns notes. */
export async function cleanupStaleClusters(stateRoot = DEFAULT_STATE_ROOT): Promise<string[]> {
  const notes: string[] = [];
  for (const info of discoverClusters(stateRoot)) {
    if (!info.stale) continue;
    const owner = readOwnerPid(info.dir);
    try {
      await removeSandbox({ name: info.name, stateRoot }, { hard: true });
      notes.push(`Removed stale cluster ${info.name} (its creator, process ${owner}, is gone)`);
    } catch (err) {
      notes.push(`Cannot remove stale cluster ${info.name}: ${(err as Error).message}`);
    }
  }
  return notes;
}

function readOwnerPid(dir: string): string {
  try {
    return String(readRecord(dir).owner?.pid ?? "?");
  } catch {
    return "?";
  }
}

export interface UpOptions extends SandboxRef {
  machines: number;
  /** An etcd to use instead of starting one (machines must reach this URL). */
  etcd?: string;
  /** etcd executable for our own etcd. */
  etcdPath?: string;
  /** Metadata by machine name (m1, m2, ...). */
  metadata: Record<string, Record<string, string>>;
  examples: boolean;
  binary: string;
  agentTtl: string;
  progress: Progress;
}

export interface UpResult {
  cluster: Cluster;
  record: SandboxRecord;
  /** The fleet ctl output of starting the examples. */
  examples?: string;
  /** False when the host has no sshd, so fleet ctl status, journal and ssh cannot work. */
  ssh: boolean;
}

/** Where a sandbox keeps its ssh keys and known_hosts (ssh-access.ts). */
export function sshDir(cluster: Cluster): string {
  return join(cluster.dir, "ssh");
}

/** Boots a new sandbox (the caller has checked that none exists under that name). */
export async function bootSandbox(o: UpOptions): Promise<UpResult> {
  const { progress } = o;
  progress.step(`Booting ${o.machines} machine${o.machines === 1 ? "" : "s"}`);
  // Owned by this process until complete: if it dies on the way, the cluster is stale.
  const cluster = await Cluster.create({ name: o.name, machines: o.machines, stateRoot: o.stateRoot, detached: false });
  try {
    progress.step("Making the API's certificate authority and certificate");
    const tls = await makeApiTls(join(cluster.dir, "tls"), o.name, cluster.machines.map((m) => m.ip));
    const record: SandboxRecord = {
      version: 1,
      name: o.name,
      etcd: { endpoint: o.etcd ?? "", own: o.etcd === undefined },
      token: randomBytes(24).toString("base64url"),
      apiPort: API_PORT,
      tls,
      binary: o.binary,
      metadata: o.metadata,
      agentTtl: o.agentTtl,
      ssh: sshdAvailable(),
    };
    writeSandboxRecord(cluster.dir, record);
    if (o.etcd === undefined) {
      progress.step(`Starting etcd on ${cluster.bridgeIp}`);
      const node = cluster.cgroupNode;
      if (!node || !o.etcdPath) throw new Error(`Cannot start etcd for ${o.name}: no cgroup node or etcd executable`);
      record.etcd = await startEtcd({ etcd: o.etcdPath, clusterNode: node, dir: cluster.dir, host: cluster.bridgeIp });
      writeSandboxRecord(cluster.dir, record);
    }
    const access = record.ssh ? await SshAccess.open(sshDir(cluster)) : undefined;
    progress.step(`Installing and starting fleet${access ? " and sshd" : ""} in ${cluster.machines.map((m) => m.name).join(", ")}`);
    await Promise.all(
      cluster.machines.map(async (m) => {
        await installFleet(m, installOptions(record, m.name));
        await access?.startSshd(m);
      }),
    );
    progress.step(`Waiting for ${o.machines} machine${o.machines === 1 ? "" : "s"} to register in etcd`);
    await waitRegistered(record.etcd.endpoint, cluster.machines);
    progress.step("Starting the dashboard on the host");
    await ensureDashboard(cluster, record, o);
    writeEnv(cluster, record);
    let examples: string | undefined;
    if (o.examples) {
      progress.step(`Starting the example units (${EXAMPLE_UNITS.join(", ")})`);
      examples = await runExamples(cluster, record);
    }
    progress.done();
    cluster.detach();
    return { cluster, record, examples, ssh: record.ssh === true };
  } catch (err) {
    progress.done();
    progress.note("Removing the half-made sandbox");
    const node = cluster.cgroupNode;
    if (node) await stopDashboard(node).catch(() => {});
    if (node) await stopEtcd(node, 0).catch(() => {});
    await cluster.destroy({ hard: true }).catch((e: unknown) => progress.note((e as Error).message));
    throw err;
  }
}

/**
 * Starts the sandbox's dashboard proxy on the host (dashboard.ts) unless it runs; records its port.
 * A sandbox made before the dashboard existed gets one on its next `up`.
 */
export async function ensureDashboard(cluster: Cluster, record: SandboxRecord, ref: SandboxRef): Promise<void> {
  const node = cluster.cgroupNode;
  if (!node) throw new Error(`Cannot start the dashboard of ${record.name}: its cluster has no cgroup node`);
  if (record.dashboardPort !== undefined && isPopulated(dashboardNode(node))) return;
  await stopDashboard(node);
  record.dashboardPort = await startDashboard({ binary: record.binary, clusterNode: node, dir: cluster.dir, name: record.name, stateRoot: stateRootOf(ref) });
  writeSandboxRecord(cluster.dir, record);
}

/**
 * Starts sshd in the running machines of a sandbox made while the host had none (openssh-server
 * installed since); true when its machines run sshd now.
 */
export async function enableSsh(cluster: Cluster, record: SandboxRecord, progress: Progress): Promise<boolean> {
  if (record.ssh) return true;
  if (!sshdAvailable()) return false;
  const running = cluster.machines.filter((m) => m.isStarted());
  progress.step(`Starting sshd in ${running.map((m) => m.name).join(", ")}`);
  const access = await SshAccess.open(sshDir(cluster));
  await Promise.all(running.map((m) => access.startSshd(m)));
  progress.done();
  record.ssh = true;
  writeSandboxRecord(cluster.dir, record);
  writeEnv(cluster, record);
  return true;
}

/** Starts the example units (again: starting launched units changes nothing) and waits for them. */
export async function runExamples(cluster: Cluster, record: SandboxRecord): Promise<string> {
  const out = await startExamples(record.binary, join(cluster.dir, "examples"), envVars(cluster, record));
  await waitGlobalExample(record.etcd.endpoint, KEY_PREFIX, cluster.machines.filter((m) => m.isStarted()));
  return out;
}

function installOptions(record: SandboxRecord, machine: string) {
  return {
    binary: record.binary,
    etcdEndpoints: [record.etcd.endpoint],
    keyPrefix: KEY_PREFIX,
    metadata: record.metadata[machine] ?? {},
    token: record.token,
    tls: readServerPem(record.tls),
    apiPort: record.apiPort,
    agentTtl: record.agentTtl,
  };
}

/** Waits until each machine's daemon has put its machines/ key; names the laggards and shows their journal. */
export async function waitRegistered(endpoint: string, machines: readonly Machine[], timeoutMs = REGISTER_TIMEOUT_MS): Promise<void> {
  const keys = keySpace(KEY_PREFIX);
  const client = new EtcdClient({ endpoints: [endpoint], requestTimeoutMs: 2_000, retries: 0 });
  let missing = [...machines];
  try {
    await waitFor(
      async () => {
        const { kvs } = await client.range(keys.machines, { prefix: true, keysOnly: true });
        const have = new Set(kvs.map((kv) => kv.key.slice(keys.machines.length)));
        missing = machines.filter((m) => !have.has(m.machineId));
        return missing.length === 0;
      },
      { timeoutMs, what: () => `${missing.map((m) => m.name).join(", ")} to register in etcd at ${endpoint}`, intervalMs: 100 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await journalTails(missing, 25, SERVICE)}`);
  } finally {
    client.close();
  }
}

/** The machine fleet ctl should talk to: the first one that runs. */
export function envMachine(cluster: Cluster): Machine | undefined {
  return cluster.machines.find((m) => m.isStarted());
}

export function envVars(cluster: Cluster, record: SandboxRecord): Record<string, string> {
  const m = envMachine(cluster) ?? cluster.machines[0];
  return apiEnv(record, m?.ip ?? "0.0.0.0");
}

/** Writes <dir>/env for the first running machine (mode 0600: it holds the token); returns its text. */
export function writeEnv(cluster: Cluster, record: SandboxRecord): string {
  const m = envMachine(cluster) ?? cluster.machines[0];
  const ssh = record.ssh ? sshCtlEnv(sshDir(cluster)) : undefined;
  const text = envText(record, { name: record.name, machine: m?.name ?? "-", ip: m?.ip ?? "0.0.0.0", ssh });
  if (existsSync(cluster.dir)) writePrivate(join(cluster.dir, ENV_FILE), text);
  return text;
}

/** Hard-kills one machine (all its processes at once, like pulling the plug). */
export async function killMachine(cluster: Cluster, record: SandboxRecord, name: string): Promise<void> {
  const m = cluster.machine(name);
  if (!m.isStarted()) throw new Error(`Cannot kill ${name}: it is not running`);
  await m.kill();
  writeEnv(cluster, record);
}

/** Boots a stopped machine again (same machine id and address) and starts fleet in it. */
export async function startMachine(cluster: Cluster, record: SandboxRecord, name: string, progress: Progress): Promise<void> {
  const m = cluster.machine(name);
  if (m.isStarted()) throw new Error(`Cannot start ${name}: it is already running`);
  progress.step(`Booting ${name}`);
  await m.boot();
  // openssh-server may have been removed from the host since the sandbox was made.
  const ssh = record.ssh && sshdAvailable();
  progress.step(`Starting fleet${ssh ? " and sshd" : ""} in ${name}`);
  await installFleet(m, installOptions(record, name));
  if (ssh) await (await SshAccess.open(sshDir(cluster))).startSshd(m);
  progress.step(`Waiting for ${name} to register in etcd`);
  await waitRegistered(record.etcd.endpoint, [m]);
  progress.done();
  writeEnv(cluster, record);
}

export interface MachineStatus {
  name: string;
  ip: string;
  machineId: string;
  systemd: string;
  fleet: string;
  /** "-" when the sandbox runs no sshd (the host had none). */
  sshd: string;
}

export async function machineStatuses(cluster: Cluster, record: SandboxRecord): Promise<MachineStatus[]> {
  return Promise.all(
    cluster.machines.map(async (m) => ({
      name: m.name,
      ip: m.ip,
      machineId: m.machineId,
      systemd: await m.systemState().catch(() => "unknown"),
      fleet: await fleetActiveState(m).catch(() => "unknown"),
      sshd: record.ssh ? await unitActiveState(m, SSHD_UNIT).catch(() => "unknown") : "-",
    })),
  );
}
