// For the fleetctl integration tests: a real etcd, the real API handler served on a unix socket
// in this process, and the real `bin/fleet` binary spawned per command. There is no engine or
// agent here: `FakeCluster` plays both by writing schedule entries, unit states, machines and
// pending reasons straight into etcd whenever a unit's desired state changes.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiHandler, type ApiHandler } from "../../../src/api/handler.ts";
import { serveApi, type ApiListeners } from "../../../src/api/listeners.ts";
import { createLogger } from "../../../src/log/logger.ts";
import { createFleetMetrics } from "../../../src/metrics/fleet.ts";
import { EtcdClient } from "../../../src/registry/etcd/index.ts";
import type { MachineRecord, ScheduleEntry, UnitStateRecord } from "../../../src/registry/models.ts";
import { InvalidRecords } from "../../../src/registry/invalid-records.ts";
import { Registry } from "../../../src/registry/registry.ts";
import { VERSION } from "../../../src/version.ts";
import { type EtcdFixture, freshPrefix, startEtcdFixture } from "../etcd-fixture.ts";
import { shared } from "../shared.ts";
import type { EtcdServer } from "../etcd-server.ts";

export const BIN = join(import.meta.dir, "../../../bin/fleet");

export interface CtlResult {
  code: number | null;
  out: string;
  err: string;
}

export interface CtlOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Use the etcd driver instead of the API on the unix socket. */
  etcd?: boolean;
  /** No --endpoint/--driver added: the arguments say where fleet is. */
  raw?: boolean;
  /** Executable under bin/ (default `fleet`, which gets the `ctl` word). */
  exe?: "fleet" | "fleetctl";
}

/** Spawns the binary; a command still running after `limitMs` is killed and the test fails. */
export async function spawnCtl(args: string[], env: Record<string, string>, cwd: string, exe = "fleet", limitMs = 60_000): Promise<CtlResult> {
  const argv = exe === "fleet" ? [BIN, "ctl", ...args] : [join(import.meta.dir, "../../../bin", exe), ...args];
  // A clean environment: no FLEETCTL_* of the developer's shell leaks in.
  const base: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root" };
  const proc = Bun.spawn(argv, { cwd, env: { ...base, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), limitMs);
  try {
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (proc.signalCode === "SIGKILL") throw new Error(`fleet ctl ${args.join(" ")} did not finish within ${limitMs} ms\nstdout: ${out}\nstderr: ${err}`);
    return { code, out, err };
  } finally {
    clearTimeout(timer);
  }
}

export interface FakeMachine {
  id: string;
  ip: string;
}

export const MACHINES: FakeMachine[] = [
  { id: "113f16a7a7b84d3f8c9ab6d33b0b7d4e", ip: "172.17.8.101" },
  { id: "595989bbcbb749ce8726722d6e157b4e", ip: "172.17.8.102" },
];

/** What systemd reports for a launched unit; tests override it per unit. */
export type SystemdState = Pick<UnitStateRecord, "activeState" | "subState">;

export class FakeCluster implements AsyncDisposable {
  readonly etcd: EtcdServer;
  readonly etcdClient: EtcdClient;
  readonly registry: Registry;
  readonly prefix: string;
  readonly dir: string;
  readonly socket: string;
  /** Units the fake engine refuses to place, with the reason it gives. */
  readonly unplaceable = new Map<string, string>();
  /** systemd's answer for launched units (default active/running). */
  readonly systemd = new Map<string, SystemdState>();
  private frozen = false;
  /** The fake engine's and agents' pass in flight, if any. */
  private pass: Promise<void> | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private listeners: ApiListeners | undefined;

  private constructor(private readonly fixture: EtcdFixture & AsyncDisposable, readonly machines: FakeMachine[]) {
    this.etcd = fixture.server;
    this.etcdClient = fixture.client;
    this.prefix = freshPrefix("fleet-cli");
    this.registry = new Registry(this.etcdClient, this.prefix, { invalid: new InvalidRecords(createFleetMetrics()) });
    this.dir = mkdtempSync(join(tmpdir(), "fleet-cli-"));
    this.socket = join(this.dir, "fleet.sock");
  }

  /**
   * `wrap` puts something between the socket and the real handler (a recorder, a daemon of an
   * older version, a connection that breaks).
   */
  static async start(machines = MACHINES, wrap: (handler: ApiHandler) => ApiHandler = (h) => h): Promise<FakeCluster> {
    const c = new FakeCluster(await startEtcdFixture(), machines);
    try {
      const handler = wrap(createApiHandler({
        registry: c.registry, tokenLimit: 100, version: VERSION, isReady: () => true,
        metrics: createFleetMetrics(), log: createLogger({ verbosity: 0, journal: false, write: () => {} }),
      }));
      c.listeners = await serveApi(handler, {
        listen: [{ kind: "unix", path: c.socket }], log: createLogger({ verbosity: 0, journal: false, write: () => {} }),
        version: VERSION, socketActivation: false,
      });
      for (const m of machines) await c.putMachine(m);
      c.loop = c.run();
      return c;
    } catch (e) {
      await c[Symbol.asyncDispose]();
      throw e;
    }
  }

  get endpoint(): string {
    return `unix://${this.socket}`;
  }

  /** Runs fleetctl against this cluster (API on the unix socket, or etcd directly). */
  ctl(args: string[], opts: CtlOptions = {}): Promise<CtlResult> {
    const where = opts.raw ? [] : opts.etcd
      ? ["--driver=etcd", `--endpoint=${this.etcd.endpoint}`, `--etcd-key-prefix=${this.prefix}`]
      : [`--endpoint=${this.endpoint}`];
    return spawnCtl([...where, ...args], opts.env ?? {}, opts.cwd ?? this.dir, opts.exe);
  }

  /** Writes a unit file into the test directory (or `sub` of it) and returns its path. */
  writeUnit(name: string, text: string, sub = ""): string {
    const path = join(this.dir, sub, name);
    writeFileSync(path, text);
    return path;
  }

  async putMachine(m: FakeMachine, version = VERSION): Promise<void> {
    const rec: MachineRecord = { id: m.id, publicIP: m.ip, metadata: {}, version, startedAt: new Date().toISOString() };
    await this.etcdClient.put(this.registry.keys.machine(m.id), JSON.stringify(rec));
  }

  /** Removes every unit and what the fake engine and agents wrote for it. */
  async reset(): Promise<void> {
    const k = this.registry.keys;
    // A pass in flight would write the last test's units back after the deletes.
    await this.freeze();
    this.unplaceable.clear();
    this.systemd.clear();
    try {
      for (const p of [k.units, k.unitFiles, k.schedules, k.pendings, k.states]) await this.etcdClient.delete(p, { prefix: true });
    } finally {
      this.thaw();
    }
  }

  /**
   * Stops the fake engine and agents. Resolves once a pass in flight has ended: it may have
   * listed after the caller's next write, and would undo it (the entries of an inactive unit).
   */
  async freeze(): Promise<void> {
    this.frozen = true;
    await this.pass?.catch(() => undefined);
  }

  thaw(): void {
    this.frozen = false;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.frozen) await (this.pass = this.tick());
      } catch (e) {
        if (!this.stopped) console.error(`fake cluster: ${(e as Error).message}`);
      } finally {
        this.pass = undefined;
      }
      await Bun.sleep(25);
    }
  }

  /** One pass of the fake engine and agents: make schedule and states follow the units. */
  private async tick(): Promise<void> {
    const k = this.registry.keys;
    const [units, schedule, states, pending] = await Promise.all([
      this.registry.listUnits(), this.registry.listSchedule(), this.registry.listStates(), this.registry.listPending(),
    ]);
    const put = (key: string, value: object) => this.etcdClient.put(key, JSON.stringify(value));
    const known = new Set(units.map((u) => u.name));
    let n = 0;
    for (const u of units) {
      const placed = schedule.get(u.name);
      if (u.global && u.desiredState !== "inactive") {
        // Every agent runs a global unit: a state from each machine, no schedule entry.
        for (const m of this.machines) {
          const rec = this.stateFor(u.name, u.desiredState, u.hash);
          const have = states.find((s) => s.name === u.name && s.machineId === m.id);
          if (!have || have.activeState !== rec.activeState || have.hash !== rec.hash) await put(k.state(u.name, m.id), rec);
        }
        continue;
      }
      if (u.global || u.desiredState === "inactive" || this.unplaceable.has(u.name)) {
        for (const m of placed?.keys() ?? []) await this.etcdClient.delete(k.schedule(m, u.name));
        for (const s of states.filter((s) => s.name === u.name)) await this.etcdClient.delete(k.state(u.name, s.machineId));
        const reason = this.unplaceable.get(u.name);
        if (reason && u.desiredState !== "inactive" && pending.get(u.name)?.reason !== reason) {
          await put(k.pending(u.name), { reason, since: new Date().toISOString() });
        }
        if ((!reason || u.desiredState === "inactive") && pending.has(u.name)) await this.etcdClient.delete(k.pending(u.name));
        continue;
      }
      if (pending.has(u.name)) await this.etcdClient.delete(k.pending(u.name));
      const machine = placed?.keys().next().value ?? this.machines[n++ % this.machines.length]!.id;
      const entry: ScheduleEntry = { hash: u.hash, desiredState: u.desiredState, epoch: "1" };
      const cur = placed?.get(machine);
      if (!cur || cur.hash !== entry.hash || cur.desiredState !== entry.desiredState) await put(k.schedule(machine, u.name), entry);
      const rec = this.stateFor(u.name, u.desiredState, u.hash);
      const have = states.find((s) => s.name === u.name && s.machineId === machine);
      if (!have || have.activeState !== rec.activeState || have.subState !== rec.subState || have.hash !== rec.hash) {
        await put(k.state(u.name, machine), rec);
      }
    }
    // Destroyed units: unscheduled, and the agent unloads them.
    for (const [name, placed] of schedule) {
      if (known.has(name)) continue;
      for (const m of placed.keys()) await this.etcdClient.delete(k.schedule(m, name));
    }
    for (const s of states) if (!known.has(s.name)) await this.etcdClient.delete(k.state(s.name, s.machineId));
  }

  private stateFor(name: string, desired: string, hash: string): UnitStateRecord {
    const sd = desired === "launched" ? this.systemd.get(name) ?? { activeState: "active", subState: "running" } : { activeState: "inactive", subState: "dead" };
    return { loadState: "loaded", ...sd, hash, since: new Date().toISOString() };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.listeners?.close();
    await this.fixture[Symbol.asyncDispose]();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One FakeCluster for every test of the file, emptied (reset) before each test. */
export function sharedFakeCluster(): FakeCluster {
  return shared("fake cluster", () => FakeCluster.start(), { reset: (c) => c.reset() });
}

export const HELLO = "[Unit]\nDescription=Hello World\n\n[Service]\nExecStart=/bin/bash -c \"while true; do echo Hello, World!; sleep 1; done\"\n";

/** Splits table output on whitespace, as compatibility.md §6.4 advises. */
export function rows(text: string): string[][] {
  return text.trimEnd().split("\n").filter((l) => l !== "").map((l) => l.trim().split(/\s+/));
}
