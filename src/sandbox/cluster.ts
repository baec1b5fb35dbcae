// A cluster of machines on one host bridge, recorded in a state file so that a crashed run
// (or `fleet sandbox down` in a later process) can tear it down completely.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createNode, ensureCgroup2Root, isPopulated, killNode, removeTree } from "./cgroup.ts";
import { Machine } from "./machine.ts";
import { bridgeName, createBridge, defaultSubnets, deleteLink, hostRoutes, linkAlias, subnetOverlaps, vethName } from "./network.ts";
import { type ClusterRecord, currentOwner, listRecords, type MachineRecord, ownerAlive, readRecord, STATE_FILE, writeRecord } from "./state.ts";

export const DEFAULT_STATE_ROOT = "/run/fleet-sandbox";

export interface ClusterOptions {
  /** Names the state directory and cgroup node: a lowercase letter, then up to 15 of [a-z0-9]. */
  name: string;
  machines: number;
  /** Three octets, e.g. "10.250.7"; by default the first free 10.250.X. */
  subnet?: string;
  /** Parent of the cluster's state directory; DEFAULT_STATE_ROOT by default. */
  stateRoot?: string;
  /** Outlive this process (fleet sandbox up); otherwise the cluster is stale once it exits. */
  detached?: boolean;
  bootTimeoutMs?: number;
}

export interface DestroyOptions {
  /** Kill machines outright instead of halting them. */
  hard?: boolean;
  haltTimeoutMs?: number;
}

export interface ClusterInfo {
  name: string;
  dir: string;
  detached: boolean;
  /** The owning process is gone: cleanupStale will remove it. */
  stale: boolean;
  subnet?: string;
  bridge?: string;
  machines: { name: string; ip: string; machineId: string; pid?: number; started: boolean }[];
}

const NAME_PATTERN = /^[a-z][a-z0-9]{0,15}$/;

export function randomClusterName(prefix = "flt"): string {
  return `${prefix}${randomBytes(3).toString("hex")}`;
}

export class Cluster implements AsyncDisposable {
  readonly machines: Machine[] = [];
  private destroyed = false;

  private constructor(private readonly record: ClusterRecord) {
    for (const m of record.machines) this.machines.push(this.machineFor(m));
  }

  static async create(opts: ClusterOptions): Promise<Cluster> {
    if (!NAME_PATTERN.test(opts.name)) {
      throw new Error(`Cannot create cluster "${opts.name}": the name must be a lowercase letter followed by up to 15 letters or digits`);
    }
    const dir = join(opts.stateRoot ?? DEFAULT_STATE_ROOT, opts.name);
    if (existsSync(join(dir, STATE_FILE))) throw new Error(`Cannot create cluster ${opts.name}: ${dir} already holds one`);
    mkdirSync(dir, { recursive: true });
    const cluster = new Cluster({
      version: 1,
      name: opts.name,
      dir,
      owner: opts.detached ? null : currentOwner(),
      createdAt: new Date().toISOString(),
      machines: [],
    });
    cluster.save();
    if (!opts.detached) registerOwned(cluster);
    try {
      await cluster.createNetwork(opts.subnet);
      cluster.record.cgroupNode = join(await ensureCgroup2Root(), `fleet-sandbox-${opts.name}`);
      cluster.save();
      createNode(cluster.record.cgroupNode);
      const machines = Array.from({ length: opts.machines }, () => cluster.defineMachine());
      await Promise.all(machines.map((m) => m.boot({ wait: false })));
      await Promise.all(machines.map((m) => m.waitUntilBooted(opts.bootTimeoutMs)));
    } catch (err) {
      await cluster.destroy({ hard: true }).catch(() => {});
      throw err;
    }
    return cluster;
  }

  /** The cluster recorded under stateRoot/name, e.g. for `fleet sandbox status` in a new process. */
  static attach(name: string, stateRoot = DEFAULT_STATE_ROOT): Cluster {
    return new Cluster(readRecord(join(stateRoot, name)));
  }

  get name(): string {
    return this.record.name;
  }
  get dir(): string {
    return this.record.dir;
  }
  get subnet(): string {
    if (!this.record.subnet) throw new Error(`Cluster ${this.name} has no network`);
    return this.record.subnet;
  }
  /** The host's address on the bridge: what machines use to reach services on the host. */
  get bridgeIp(): string {
    return `${this.subnet}.1`;
  }
  get bridge(): string | undefined {
    return this.record.bridge;
  }
  /** Host path of the cluster's cgroup2 node (machines are its children), once created. */
  get cgroupNode(): string | undefined {
    return this.record.cgroupNode;
  }
  /** True when no process owns the cluster (it outlives whoever created it). */
  get detached(): boolean {
    return this.record.owner === null;
  }

  /**
   * Hands the cluster over to nobody: it is no longer stale when this process exits, and the
   * exit hook leaves it alone. `fleet sandbox up` creates an owned cluster, so that a crash
   * while booting leaves a stale one to clean up, and detaches it once it is complete.
   */
  detach(): void {
    this.record.owner = null;
    this.save();
    ownedClusters.delete(this);
  }

  machine(name: string): Machine {
    const found = this.machines.find((m) => m.name === name);
    if (!found) throw new Error(`Cluster ${this.name} has no machine ${name}`);
    return found;
  }

  /** Adds and boots one more machine. */
  async addMachine(opts: { timeoutMs?: number } = {}): Promise<Machine> {
    const machine = this.defineMachine();
    await machine.boot({ timeoutMs: opts.timeoutMs });
    return machine;
  }

  private defineMachine(): Machine {
    const index = Math.max(0, ...this.record.machines.map((m) => m.index)) + 1;
    if (index > 253) throw new Error(`Cannot add a machine to ${this.name}: the subnet has room for 253`);
    const bridge = this.record.bridge;
    if (!bridge) throw new Error(`Cannot add a machine to ${this.name}: it has no network`);
    const record: MachineRecord = {
      name: `m${index}`,
      index,
      hostname: `m${index}`,
      machineId: randomBytes(16).toString("hex"),
      ip: `${this.subnet}.${index + 1}`,
      veth: vethName(bridge, index),
    };
    this.record.machines.push(record);
    this.save();
    const machine = this.machineFor(record);
    this.machines.push(machine);
    return machine;
  }

  private machineFor(record: MachineRecord): Machine {
    const node = this.record.cgroupNode;
    const bridge = this.record.bridge;
    if (!node || !bridge) throw new Error(`Cluster ${this.name} is incomplete: no cgroup node or bridge recorded`);
    return new Machine(record, {
      dir: join(this.dir, record.name),
      cgroupNode: join(node, record.name),
      bridge,
      gateway: this.bridgeIp,
      save: () => this.save(),
    });
  }

  private async createNetwork(subnet?: string): Promise<void> {
    const routes = await hostRoutes();
    for (const candidate of subnet ? [subnet] : defaultSubnets()) {
      if (subnetOverlaps(candidate, routes)) continue;
      // Recorded before creation: a crash in between must still lead cleanup to the bridge.
      this.record.subnet = candidate;
      this.record.bridge = bridgeName(candidate);
      this.save();
      if (await createBridge(this.record.bridge, candidate, this.alias())) return;
    }
    this.record.subnet = undefined;
    this.record.bridge = undefined;
    this.save();
    throw new Error(subnet ? `Cannot create cluster ${this.name}: subnet ${subnet} is already in use on this host` : `Cannot create cluster ${this.name}: no free subnet in 10.250.0.0/16`);
  }

  private alias(): string {
    return `fleet-sandbox:${this.name}`;
  }

  private save(): void {
    if (!this.destroyed) writeRecord(this.record);
  }

  /**
   * Stops every machine and removes every trace on the host: processes, veths, the bridge,
   * cgroup nodes, the state directory. Safe to call again.
   */
  async destroy(opts: DestroyOptions = {}): Promise<void> {
    if (this.destroyed) return;
    const errors: string[] = [];
    const results = await Promise.allSettled(
      this.machines.map((m) => (opts.hard ? m.kill() : m.halt(opts.haltTimeoutMs ?? 15_000))),
    );
    for (const r of results) if (r.status === "rejected") errors.push(String((r.reason as Error)?.message ?? r.reason));
    const { bridge, cgroupNode } = this.record;
    try {
      // Only our own bridge: a recorded candidate may have turned out to be another cluster's.
      if (bridge && (await linkAlias(bridge)) === this.alias()) await deleteLink(bridge);
    } catch (err) {
      errors.push((err as Error).message);
    }
    try {
      if (cgroupNode) {
        if (isPopulated(cgroupNode)) throw new Error(`Cannot remove cgroup ${cgroupNode}: processes remain`);
        removeTree(cgroupNode);
      }
    } catch (err) {
      errors.push((err as Error).message);
    }
    if (errors.length > 0) throw new Error(`Cannot destroy cluster ${this.name} completely: ${errors.join("; ")}`);
    removeStateDir(this.dir);
    this.destroyed = true;
    ownedClusters.delete(this);
  }

  /**
   * Last resort when the owning process exits without destroying the cluster: kills every
   * machine and removes what it can synchronously (exit handlers cannot wait on promises).
   */
  destroyOnExit(): void {
    if (this.destroyed) return;
    const { bridge, cgroupNode } = this.record;
    if (!cgroupNode) return;
    killNode(cgroupNode);
    const deadline = Date.now() + 3_000;
    while (isPopulated(cgroupNode) && Date.now() < deadline) Bun.sleepSync(10);
    if (isPopulated(cgroupNode)) return;
    for (const m of this.record.machines) Bun.spawnSync(["ip", "link", "del", "dev", m.veth], { stderr: "ignore" });
    if (bridge) {
      const shown = Bun.spawnSync(["ip", "-j", "-d", "link", "show", "dev", bridge], { stderr: "ignore" }).stdout.toString();
      if (shown.includes(`"ifalias":"${this.alias()}"`)) Bun.spawnSync(["ip", "link", "del", "dev", bridge], { stderr: "ignore" });
    }
    try {
      removeTree(cgroupNode);
      removeStateDir(this.dir);
      this.destroyed = true;
    } catch {
      // left for cleanupStale
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }
}

const ownedClusters = new Set<Cluster>();
let exitHookInstalled = false;

function registerOwned(cluster: Cluster): void {
  ownedClusters.add(cluster);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const c of ownedClusters) c.destroyOnExit();
  });
}

/** Refuses to delete a directory with anything mounted below it in this mount namespace. */
function removeStateDir(dir: string): void {
  const mounted = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
  if (mounted.length > 0) throw new Error(`Cannot remove ${dir}: ${mounted.join(", ")} mounted below it`);
  rmSync(dir, { recursive: true, force: true });
}

export function discoverClusters(stateRoot = DEFAULT_STATE_ROOT): ClusterInfo[] {
  return listRecords(stateRoot).map((r) => ({
    name: r.name,
    dir: r.dir,
    detached: r.owner === null,
    stale: !ownerAlive(r.owner),
    subnet: r.subnet,
    bridge: r.bridge,
    machines: r.machines.map((m) => ({
      name: m.name,
      ip: m.ip,
      machineId: m.machineId,
      pid: m.pid,
      started: m.pid !== undefined && r.cgroupNode !== undefined && isPopulated(join(r.cgroupNode, m.name)),
    })),
  }));
}

/** Destroys the clusters whose owning process has exited; returns their names. */
export async function cleanupStale(stateRoot = DEFAULT_STATE_ROOT): Promise<string[]> {
  const cleaned: string[] = [];
  for (const info of discoverClusters(stateRoot)) {
    if (!info.stale) continue;
    await Cluster.attach(info.name, stateRoot).destroy({ hard: true });
    cleaned.push(info.name);
  }
  return cleaned;
}
