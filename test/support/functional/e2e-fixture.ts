// The one place the end-to-end tests bring a fleet cluster up: real systemd machines and an etcd
// on the host bridge (agent-harness's startFleet, whose etcd can be stopped and started again on
// the same address), with fleet installed in every machine the way an operator does it, by the
// sandbox library's installFleet: the shipped contrib/systemd unit files (fleet.socket activation,
// fleet.service), /etc/fleet/fleet.conf, the binary at /usr/local/bin/fleet. Tests drive it only
// through the real `bin/fleet ctl` (from the host with the etcd driver, or inside a machine with
// the API driver on /var/run/fleet.sock) and look at systemd inside the machines.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MachineRecord } from "../../../src/registry/models.ts";
import { makeApiTls, readServerPem } from "../../../src/sandbox/api-tls.ts";
import { killTree } from "../../../src/sandbox/command.ts";
import { installFleet, SERVICE } from "../../../src/sandbox/fleet-install.ts";
import { journalTails, type Machine } from "../../../src/sandbox/index.ts";
import { API_PORT } from "../../../src/sandbox/sandbox-record.ts";
import type { EtcdCluster } from "../etcd-cluster.ts";
import { shared } from "../shared.ts";
import { until } from "../until.ts";
import { daemonConfig, FLEET_BIN, type Fleet, startFleet } from "./agent-harness.ts";

/** The daemon's unit, as contrib/systemd ships it. */
export const DAEMON_UNIT = SERVICE;
export const AGENT_TTL_MS = 3000;
/**
 * engine_reconcile_interval in seconds. The engine leader's lease is 5 x this, so 0.6 makes a
 * dead leader's lease last as long as a dead machine's (3 s): a machine that dies while it leads
 * still has its units moved within MOVE_DEADLINE_MS (with the default 2 s it would take 10 s).
 */
export const ENGINE_INTERVAL_S = 0.6;
/** How long a unit may take to run elsewhere after its machine is lost: agent_ttl + 5 s. */
export const MOVE_DEADLINE_MS = AGENT_TTL_MS + 5000;
/** Deadline for things that should happen promptly (a start, a stop, a registration). */
export const SOON_MS = 30_000;

/** Where `fleet ctl` runs: on the host (etcd driver) or inside a machine (API driver). */
export type Where = Machine | "host";

export interface CtlResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** One `list-units` row; `machineId` is the full id. */
export interface UnitRow {
  unit: string;
  machineId: string;
  ip: string;
  active: string;
  sub: string;
}

export interface UnitFileRow {
  unit: string;
  dstate: string;
  state: string;
  target: string;
}

export interface MachineRow {
  machineId: string;
  ip: string;
  metadata: string;
}

export interface E2eOptions {
  machines?: number;
  /** A real etcd cluster of this many members, every daemon and fleet ctl given them all. */
  etcdMembers?: number;
  /** Config metadata of each machine, besides hostname=<machine name>. */
  metadata?: (index: number) => Record<string, string>;
  /** More settings of each machine's daemon, as FLEET_* variables (e.g. FLEET_CAPACITY). */
  env?: (index: number) => Record<string, string>;
}

/** The text of a service that runs until stopped, with optional [X-Fleet] lines. */
export function serviceUnit(description: string, xfleet: string[] = [], service: string[] = []): string {
  const fleet = xfleet.length > 0 ? `\n[X-Fleet]\n${xfleet.map((l) => `${l}\n`).join("")}` : "";
  return `[Unit]\nDescription=${description}\n\n[Service]\nExecStart=/bin/sleep infinity\n${service.map((l) => `${l}\n`).join("")}${fleet}`;
}

const CTL_TIMEOUT_MS = 60_000;
/** Inside a machine, unit files for `fleet ctl` live here (the machine's /run is private). */
const INNER_UNIT_DIR = "/run/e2e-units";

export class E2eCluster implements AsyncDisposable {
  /** Unit files seen by `fleet ctl`, by name. */
  private readonly units = new Map<string, string>();
  /** What was copied into each machine, keyed by the machine's systemd pid (a reboot starts over). */
  private readonly synced = new Map<string, { pid: number | undefined; files: Map<string, string> }>();

  private readonly token = randomBytes(18).toString("base64url");
  /** The certificate of the machines' TCP API listeners (the sandbox's own maker): off loopback it needs TLS. */
  private tls: { cert: string; key: string } | undefined;

  private constructor(
    readonly fleet: Fleet,
    private readonly unitDir: string,
    private readonly metadataOf: (index: number) => Record<string, string>,
    private readonly envOf: (index: number) => Record<string, string> = () => ({}),
  ) {}

  /** Boots the machines and etcd and installs fleet in every machine; resolves once all registered. */
  static async start(opts: E2eOptions = {}): Promise<E2eCluster> {
    const fleet = await startFleet({ machines: opts.machines ?? 3, etcdMembers: opts.etcdMembers });
    const unitDir = mkdtempSync(join(tmpdir(), "fleet-e2e-units-"));
    const c = new E2eCluster(fleet, unitDir, opts.metadata ?? (() => ({})), opts.env);
    try {
      c.tls = readServerPem(await makeApiTls(join(unitDir, ".tls"), fleet.cluster.name, c.machines.map((m) => m.ip)));
      await Promise.all(c.machines.map((m) => c.install(m)));
      await c.waitForMachines(c.machines);
    } catch (e) {
      await c.dumpJournals();
      await c.destroy();
      throw e;
    }
    return c;
  }

  get machines(): readonly Machine[] {
    return this.fleet.cluster.machines;
  }

  /**
   * The etcd endpoints on the bridge, as machines (and the host's fleet ctl) reach them: one per
   * member, comma-separated, in member order.
   */
  get etcdEndpoint(): string {
    return this.fleet.machineEndpoints.join(",");
  }

  /** The etcd cluster (only when started with etcdMembers). */
  get etcdCluster(): EtcdCluster {
    const e = this.fleet.etcd;
    if (!("members" in e)) throw new Error("This e2e cluster runs a single etcd, not an etcd cluster (E2eOptions.etcdMembers)");
    return e;
  }

  metadata(m: Machine): Record<string, string> {
    return { hostname: m.name, ...this.metadataOf(this.machines.indexOf(m)) };
  }

  /**
   * Installs and starts fleet (it does not wait for registration). Settings the installer does
   * not write go in a fleet.service drop-in as FLEET_* variables, as an operator could.
   */
  private async install(m: Machine, env: Record<string, string> = {}): Promise<void> {
    const vars = { FLEET_ENGINE_RECONCILE_INTERVAL: String(ENGINE_INTERVAL_S), ...this.envOf(this.machines.indexOf(m)), ...env };
    const dropIn = `[Service]\n${Object.entries(vars).map(([k, v]) => `Environment=${k}=${v}\n`).join("")}`;
    await m.writeFile(`/etc/systemd/system/${DAEMON_UNIT}.d/50-e2e.conf`, dropIn);
    await installFleet(m, {
      binary: FLEET_BIN,
      etcdEndpoints: this.fleet.machineEndpoints,
      keyPrefix: this.fleet.keys.prefix,
      metadata: this.metadata(m),
      token: this.token,
      tls: this.tls!,
      apiPort: API_PORT,
      agentTtl: `${AGENT_TTL_MS / 1000}s`,
    });
  }

  /** Starts fleet in the machine (installing it after a reboot); resolves once it has registered. */
  async startDaemon(m: Machine): Promise<void> {
    // The binary is bind-mounted into the machine; a reboot loses the mount.
    const installed = (await m.exec(["mountpoint", "-q", "/usr/local/bin/fleet"])).code === 0;
    if (installed) await m.systemctl("start", DAEMON_UNIT);
    else await this.install(m);
    await this.waitRegistered(m);
  }

  /**
   * Runs fleet in the machine with these FLEET_* settings and a fresh registration: stops it,
   * forgets its lease (the state directory) and starts it again. Use on a machine with no units.
   */
  async restartDaemonWith(m: Machine, env: Record<string, string>): Promise<void> {
    await m.systemctl("stop", DAEMON_UNIT);
    await m.execOk(["rm", "-rf", "/run/fleet"]);
    await this.install(m, env);
    await this.waitRegistered(m);
  }

  async waitRegistered(m: Machine): Promise<void> {
    await this.waitFor(`${m.name} to register`, async () => (await this.registration(m)) !== undefined && (await this.activeIn(m, DAEMON_UNIT)) === "active");
  }

  // ---- fleet ctl -------------------------------------------------------------------------

  /** Makes a unit file available to `fleet ctl` (on the host and in every machine). */
  writeUnit(name: string, text: string): void {
    this.units.set(name, text);
    writeFileSync(join(this.unitDir, name), text);
  }

  /** Runs the real `bin/fleet ctl`; never throws for a non-zero exit. */
  async fleetctl(where: Where, ...args: string[]): Promise<CtlResult> {
    if (where === "host") {
      return runIn(this.unitDir, [
        FLEET_BIN, "ctl", "--driver", "etcd", "--endpoint", this.etcdEndpoint, "--etcd-key-prefix", this.fleet.keys.prefix, ...args,
      ]);
    }
    await this.syncUnits(where);
    // fleetctl as installed in the machine (a link to /usr/local/bin/fleet).
    const r = await where.exec(["/bin/sh", "-c", `cd ${INNER_UNIT_DIR} && exec "$@"`, "sh", "/usr/local/bin/fleetctl", ...args], { timeoutMs: CTL_TIMEOUT_MS });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut };
  }

  /** Like fleetctl, but a non-zero exit throws with both outputs; returns stdout. */
  async fleetctlOk(where: Where, ...args: string[]): Promise<string> {
    const r = await this.fleetctl(where, ...args);
    if (r.code !== 0 || r.timedOut) {
      const at = where === "host" ? "host" : where.name;
      throw new Error(`fleet ctl ${args.join(" ")} (on ${at}) exited ${r.timedOut ? "by timeout" : r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    }
    return r.stdout;
  }

  private async syncUnits(m: Machine): Promise<void> {
    let state = this.synced.get(m.name);
    if (!state || state.pid !== m.pid) {
      state = { pid: m.pid, files: new Map() };
      this.synced.set(m.name, state);
      await m.execOk(["mkdir", "-p", INNER_UNIT_DIR]);
    }
    for (const [name, text] of this.units) {
      if (state.files.get(name) === text) continue;
      await m.writeFile(`${INNER_UNIT_DIR}/${name}`, text);
      state.files.set(name, text);
    }
  }

  async listUnits(where: Where = "host"): Promise<UnitRow[]> {
    const out = await this.fleetctlOk(where, "list-units", "--no-legend", "--full", "--fields", "unit,machine,active,sub");
    return rows(out).map(([unit = "", machine = "", active = "", sub = ""]) => {
      const [machineId = "", ip = ""] = machine.split("/");
      return { unit, machineId, ip, active, sub };
    });
  }

  async listUnitFiles(where: Where = "host"): Promise<UnitFileRow[]> {
    const out = await this.fleetctlOk(where, "list-unit-files", "--no-legend", "--full", "--fields", "unit,dstate,state,target");
    return rows(out).map(([unit = "", dstate = "", state = "", target = ""]) => ({ unit, dstate, state, target }));
  }

  async listMachines(where: Where = "host"): Promise<MachineRow[]> {
    const out = await this.fleetctlOk(where, "list-machines", "--no-legend", "--full", "--fields", "machine,ip,metadata");
    return rows(out).map(([machineId = "", ip = "", metadata = ""]) => ({ machineId, ip, metadata }));
  }

  // ---- systemd inside the machines -------------------------------------------------------

  systemctlIn(m: Machine, ...args: string[]): Promise<string> {
    return m.systemctl(...args);
  }

  /** `systemctl is-active` (active, inactive, failed, ...); does not throw. */
  async activeIn(m: Machine, unit: string): Promise<string> {
    return (await m.exec(["systemctl", "is-active", unit])).stdout.trim();
  }

  async mainPid(m: Machine, unit: string): Promise<number> {
    return Number((await m.systemctl("show", "-p", "MainPID", "--value", unit)).trim());
  }

  /** The machines (running, not frozen) whose systemd has the unit active. */
  async runningCopies(unit: string): Promise<Machine[]> {
    const found: Machine[] = [];
    for (const m of this.machines) {
      if (!(await reachable(m))) continue;
      if ((await this.activeIn(m, unit)) === "active") found.push(m);
    }
    return found;
  }

  machineById(id: string): Machine {
    const m = this.machines.find((x) => x.machineId === id || (id.length >= 8 && x.machineId.startsWith(id)));
    if (!m) throw new Error(`No machine in this cluster has id ${id}`);
    return m;
  }

  // ---- etcd-side facts -------------------------------------------------------------------

  /** The machine id of the engine leader, from etcd. */
  async leader(): Promise<string | undefined> {
    const kv = await this.fleet.client.get(this.fleet.keys.leader);
    return kv ? (JSON.parse(kv.value) as { machineID: string }).machineID : undefined;
  }

  /** The machine's registration, or undefined when it has none. */
  async registration(m: Machine): Promise<(MachineRecord & { lease: string | undefined }) | undefined> {
    const kv = await this.fleet.client.get(this.fleet.keys.machine(m.machineId));
    return kv ? { ...(JSON.parse(kv.value) as MachineRecord), lease: kv.lease } : undefined;
  }

  // ---- waiting and diagnostics -----------------------------------------------------------

  /** `until` with this cluster's pace; an error counts as "not yet" (a machine may be restarting). */
  waitFor<R>(what: string, cond: () => Promise<R> | R, timeoutMs = SOON_MS): Promise<Exclude<R, false | null | undefined | 0 | "">> {
    return until(what, cond, { timeoutMs, intervalMs: 200, retryErrors: true });
  }

  /** Waits until list-machines shows exactly these machines. */
  async waitForMachines(expected: readonly Machine[], timeoutMs = SOON_MS): Promise<void> {
    const want = expected.map((m) => m.machineId).sort().join(",");
    await this.waitFor(`list-machines to show ${expected.map((m) => m.name).join(", ") || "no machine"}`, async () =>
      (await this.listMachines()).map((r) => r.machineId).sort().join(",") === want, timeoutMs);
  }

  /** Runs fn; when it throws, prints the journals of the machines that can be read, then rethrows. */
  async step<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      await this.dumpJournals();
      throw err;
    }
  }

  async dumpJournals(): Promise<void> {
    const readable: Machine[] = [];
    for (const m of this.machines) if (await reachable(m)) readable.push(m);
    const etcd = this.fleet.etcd;
    const etcdState = "members" in etcd ? `${etcd.logTail(20)}\n` : etcd.running ? "" : "(etcd is stopped)\n";
    process.stderr.write(`${await journalTails(readable, 80)}\n${etcdState}`);
  }

  // ---- machine lifecycle -----------------------------------------------------------------

  async stopEtcd(): Promise<void> {
    await this.fleet.etcd.stop();
  }

  async startEtcd(): Promise<void> {
    await this.fleet.etcd.start();
  }

  /**
   * A second daemon in the machine, as its own unit with its own config, API socket and state
   * directory (e.g. one that claims another machine's id). Does not wait for it to register.
   */
  async startSecondDaemon(m: Machine, unit: string, extra: Record<string, string | number | boolean>): Promise<void> {
    const config = `/etc/fleet/${unit.replace(/\.service$/, "")}.conf`;
    const metadata = Object.entries(this.metadata(m)).map(([k, v]) => `${k}=${v}`).join(",");
    await m.writeFile(config, daemonConfig(this.fleet, m, { agent_ttl: `${AGENT_TTL_MS / 1000}s`, metadata, ...extra }));
    await m.startService(unit, {
      description: "a second fleet daemon",
      execStart: [FLEET_BIN, "daemon", "--config", config],
      serviceLines: ["TimeoutStopSec=30s"],
    });
  }

  /** Boots a stopped machine again (same machine id) and starts its daemon. */
  async revive(m: Machine): Promise<void> {
    await m.boot();
    await this.startDaemon(m);
  }

  /**
   * Back to a clean cluster for the next test: etcd up, every machine running (thawed, booted)
   * with its daemon registered, every unit destroyed and gone from systemd.
   */
  async reset(): Promise<void> {
    if (!this.fleet.etcd.running) await this.fleet.etcd.start();
    for (const m of this.machines) {
      const state = await m.systemState();
      if (state === "frozen") await m.thaw();
      if (!m.isStarted()) await m.boot();
      if ((await this.activeIn(m, DAEMON_UNIT)) !== "active") await this.startDaemon(m);
    }
    await this.waitForMachines(this.machines);
    const names = rows(await this.fleetctlOk("host", "list-unit-files", "--no-legend", "--fields", "unit")).map((r) => r[0] ?? "");
    if (names.length > 0) await this.fleetctlOk("host", "destroy", ...names);
    await this.waitFor("no unit states in list-units", async () => (await this.listUnits()).length === 0);
    for (const m of this.machines) {
      await this.waitFor(`no fleet unit files left in ${m.name}`, async () =>
        (await m.execOk(["/bin/sh", "-c", "ls -A /run/fleet/units 2>/dev/null || true"])).trim() === "");
    }
  }

  async destroy(): Promise<void> {
    try {
      await this.fleet.destroy();
    } finally {
      rmSync(this.unitDir, { recursive: true, force: true });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }
}

/**
 * One cluster for every test of the file (booting it takes a while: `timeoutMs`); with
 * `resetEachTest`, every test starts on a clean one (E2eCluster.reset).
 */
export function sharedE2eCluster(opts: E2eOptions, { timeoutMs, resetEachTest }: { timeoutMs: number; resetEachTest: boolean }): E2eCluster {
  const reset = resetEachTest ? (c: E2eCluster) => c.step(() => c.reset()) : undefined;
  return shared("e2e cluster", () => E2eCluster.start(opts), { reset, timeoutMs });
}

/** A machine commands can be run in: started and not frozen (exec would hang there). */
async function reachable(m: Machine): Promise<boolean> {
  if (!m.isStarted()) return false;
  return (await m.systemState()) !== "frozen";
}

/** Table lines split into cells (fleet ctl's tables separate columns with tabs or spaces). */
function rows(out: string): string[][] {
  return out.split("\n").filter((l) => l.trim() !== "").map((l) => l.trim().split(/\s+/));
}

async function runIn(cwd: string, argv: string[]): Promise<CtlResult> {
  mkdirSync(cwd, { recursive: true });
  const proc = Bun.spawn(argv, {
    cwd,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", LANG: "C.UTF-8" },
  });
  return ctlResult(proc);
}

/** Waits for a `fleet ctl` child to end (killed with its children after CTL_TIMEOUT_MS). */
export async function ctlResult(proc: { pid: number; stdout: ReadableStream<Uint8Array>; stderr: ReadableStream<Uint8Array>; exited: Promise<number> }): Promise<CtlResult> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killTree(proc.pid);
  }, CTL_TIMEOUT_MS);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr, timedOut };
  } finally {
    clearTimeout(timer);
  }
}
