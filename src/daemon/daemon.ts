// One fleet daemon: API listeners (503 until registered), presence, the agent and, unless
// disable_engine, an engine candidate, all on one etcd client and one D-Bus connection.
// Stopping leaves every unit running and the lease alive, so a restart moves nothing; only
// when the host itself is going down is the lease revoked, so the engine moves the units at once.
// A reload (SIGHUP) keeps the listeners, the agent and the lease, and restarts what it must.
import { createApiHandler } from "../api/handler.ts";
import { journalctlSource } from "../api/journal.ts";
import { type ApiListeners, serveApi } from "../api/listeners.ts";
import { Agent } from "../agent/agent.ts";
import { Presence, type Registration } from "../agent/presence.ts";
import type { Config } from "../config/index.ts";
import type { Logger } from "../log/logger.ts";
import { fleetMetrics, type FleetMetrics } from "../metrics/fleet.ts";
import { EtcdClient } from "../registry/etcd/index.ts";
import type { MachineCapacity, MachineRecord } from "../registry/models.ts";
import { Registry } from "../registry/registry.ts";
import { Engine } from "../engine/engine.ts";
import { DbusUnitManager } from "../systemd/dbus-unit-manager.ts";
import type { UnitManager } from "../systemd/unit-manager.ts";
import { detectCapacity, machineCapacity, type DetectedCapacity } from "./capacity.ts";
import { detectPublicIp, readMachineId } from "./identity.ts";
import { MachineRefresher } from "./machine-refresher.ts";
import type { Clock } from "../lib/clock.ts";
import { registryMetricsObserver } from "./registry-metrics.ts";
import { InvalidRecords, invalidRecords } from "../registry/invalid-records.ts";
import { planReload, type ReloadPlan } from "./reload-plan.ts";
import { sdNotify } from "./sd-notify.ts";
import { errorText } from "../lib/error-text.ts";
import { EventHub } from "../events/hub.ts";

export interface DaemonOptions {
  config: Config;
  log: Logger;
  version: string;
  /** A UnitManager to use instead of connecting to systemd over D-Bus. */
  units?: UnitManager;
  /** sd_notify; replaceable for tests. */
  notify?: (state: string) => Promise<boolean>;
  /** Where the registry, engine and API count; the process-wide metrics by default. */
  metrics?: FleetMetrics;
  /** Finds the public IP when public_ip is not configured; the default route's by default. */
  detectPublicIp?: () => string;
  /** Finds the CPUs and memory `capacity` does not give; the host's by default. */
  detectCapacity?: () => DetectedCapacity;
  /** The machine refresher's period (default 60 s) and clock. */
  refreshIntervalMs?: number;
  refreshClock?: Clock;
}

export interface StopOptions {
  /** Revoke the lease (the host is shutting down): the machine and its states leave at once. */
  revokeLease?: boolean;
}

/** How long shutdown waits for systemd to say whether the host is stopping. */
const SYSTEM_STATE_TIMEOUT_MS = 2000;

export class Daemon {
  private engine: Engine | undefined;
  private stopping: Promise<void> | undefined;
  private readonly notify: (state: string) => Promise<boolean>;
  private readonly metrics: FleetMetrics;
  private readonly detect: () => string;
  private readonly refresher: MachineRefresher;
  private notifiedReady = false;
  private saidEngineDisabled = false;
  private listeners: ApiListeners | undefined;
  /** Behind the API's event stream and blocking reads; it watches etcd only while they are used. */
  private events: EventHub | undefined;
  private presenceNow: Presence;
  private detachPresence: (() => void) | undefined;
  private configNow: Config;
  private reloads: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly opts: DaemonOptions,
    readonly machine: MachineRecord,
    readonly etcd: EtcdClient,
    readonly registry: Registry,
    readonly units: UnitManager,
    readonly agent: Agent,
  ) {
    this.notify = opts.notify ?? sdNotify;
    this.metrics = opts.metrics ?? fleetMetrics;
    this.detect = detectorOf(opts);
    this.configNow = opts.config;
    this.presenceNow = this.newPresence();
    this.refresher = new MachineRefresher({
      configured: () => this.configNow.publicIp,
      detect: this.detect,
      current: () => this.machine.publicIP,
      update: async (ip) => {
        this.machine.publicIP = ip;
        await this.presenceNow.republish();
      },
      log: opts.log.child("machine"),
      intervalMs: opts.refreshIntervalMs,
      clock: opts.refreshClock,
    });
  }

  /** Starts everything; resolves once the API listens and registration has begun. */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { config, log, version } = opts;
    log.info(`Starting fleetd version ${version}`);
    const machineId = readMachineId(config.machineId);
    const detect = detectorOf(opts);
    const machine: MachineRecord = {
      id: machineId,
      publicIP: config.publicIp || detect(),
      metadata: { ...config.metadata },
      version,
      startedAt: new Date().toISOString(),
      disableEngine: config.disableEngine,
      capacity: capacityOf(config, opts, log),
    };
    log.info(`Machine ${machineId} with public IP ${machine.publicIP || "-"}`);

    const units = opts.units ?? (await DbusUnitManager.connect({
      unitsDirectory: config.unitsDirectory,
      address: config.systemdUser ? process.env.DBUS_SESSION_BUS_ADDRESS : undefined,
    }));
    const etcd = new EtcdClient({
      endpoints: config.etcdServers,
      requestTimeoutMs: config.etcdRequestTimeoutMs,
      username: config.etcdUsername,
      password: config.etcdPassword,
      tls: { caFile: config.etcdCafile, certFile: config.etcdCertfile, keyFile: config.etcdKeyfile },
      onOperation: registryMetricsObserver(opts.metrics ?? fleetMetrics),
    });
    // One reporter for the engine, the agent and the API: a bad record is told about once.
    const invalid = opts.metrics ? new InvalidRecords(opts.metrics) : invalidRecords;
    const registry = new Registry(etcd, config.etcdKeyPrefix, { log: log.child("registry"), invalid });
    const agent = new Agent({
      etcd, keys: registry.keys, machineId, units, stateDir: config.stateDir, log: log.child("agent"), allowShadowing: config.allowUnitShadowing, invalid,
    });
    const daemon = new Daemon(opts, machine, etcd, registry, units, agent);

    try {
      daemon.events = new EventHub({ etcd, keys: registry.keys, log: log.child("events"), invalid });
      const handler = createApiHandler({
        registry, tokenLimit: config.tokenLimit, maxRequestBytes: config.apiMaxRequestBytes, version, isReady: () => daemon.ready, log: log.child("api"), metrics: daemon.metrics,
        events: daemon.events, journal: journalctlSource(machineId, { user: config.systemdUser }),
      });
      const tls = config.apiTlsCert && config.apiTlsKey ? { cert: config.apiTlsCert, key: config.apiTlsKey, ca: config.apiTlsCa } : undefined;
      daemon.listeners = await serveApi(handler, {
        listen: config.apiListen, tls, tokens: config.apiTokens, insecure: config.apiInsecure, log: log.child("api"), version,
      });
      await agent.start();
    } catch (e) {
      daemon.events?.close();
      await daemon.listeners?.close();
      await units.close();
      etcd.close();
      throw e;
    }
    daemon.presenceNow.start();
    daemon.refresher.start();
    return daemon;
  }

  get ready(): boolean {
    return this.presenceNow.ready;
  }

  get presence(): Presence {
    return this.presenceNow;
  }

  /** The configuration in effect (after reloads, without the keys that need a restart). */
  get config(): Config {
    return this.configNow;
  }

  /** The API addresses actually listened on (with real ports). */
  get apiAddresses(): string[] {
    return this.listeners?.addresses ?? [];
  }

  private newPresence(): Presence {
    const { config, log } = { config: this.configNow, log: this.opts.log };
    const presence = new Presence({
      etcd: this.etcd, keys: this.registry.keys, machine: () => this.machine, ttlMs: config.agentTtlMs, stateDir: config.stateDir, log: log.child("presence"),
    });
    const offRegistered = presence.onRegistered((reg) => this.onRegistered(reg));
    const offLost = presence.onLost(() => this.agent.deactivate());
    const offReconnected = presence.onReconnected(() => {
      this.agent.refresh();
      this.engine?.refresh();
    });
    this.detachPresence = () => {
      offRegistered();
      offLost();
      offReconnected();
    };
    return presence;
  }

  private async onRegistered(reg: Registration): Promise<void> {
    if (this.stopping) return;
    this.agent.activate(reg);
    // Registered again after the lease was lost: the engine's watches may be stuck too.
    if (this.notifiedReady) this.engine?.refresh();
    this.startEngine();
    if (this.notifiedReady) return;
    this.notifiedReady = true;
    await this.notify(`READY=1\nSTATUS=Registered machine ${this.machine.id}`);
  }

  /** Starts the engine candidate unless it runs already or disable_engine is set. */
  private startEngine(): void {
    if (this.engine || this.stopping) return;
    const { log } = this.opts;
    const config = this.configNow;
    if (config.disableEngine) {
      if (!this.saidEngineDisabled) log.info("Not starting engine; disable-engine is set");
      this.saidEngineDisabled = true;
      return;
    }
    this.engine = new Engine({
      etcd: this.etcd,
      registry: this.registry,
      machineId: this.machine.id,
      config: { reconcileIntervalMs: config.engineReconcileIntervalMs, agentTtlMs: config.agentTtlMs },
      log: log.child("engine"),
      metrics: this.metrics,
    });
    this.engine.start();
  }

  /**
   * Applies a newly read configuration (SIGHUP) without dropping the API sockets, the lease or
   * any unit: the machine record is re-put, the log level set, and the engine (and, when
   * agent_ttl changed, presence) restarted in-process. Keys only a restart can apply are logged
   * and keep their running value. Reloads run one at a time.
   */
  reload(next: Config): Promise<ReloadPlan> {
    const run = this.reloads.then(() => this.applyReload(next));
    this.reloads = run.catch(() => undefined);
    return run;
  }

  private async applyReload(next: Config): Promise<ReloadPlan> {
    const { log } = this.opts;
    const plan = planReload(this.configNow, next);
    if (this.stopping) return plan;
    for (const key of plan.needsRestart) log.warn(`Config key ${key} changed; restart the daemon to apply it`);
    this.configNow = plan.config;
    const config = plan.config;
    if (plan.verbosity) log.setVerbosity(config.verbosity);
    if (plan.machine) {
      this.machine.metadata = { ...config.metadata };
      this.machine.disableEngine = config.disableEngine;
      this.machine.publicIP = config.publicIp || this.detect();
      this.machine.capacity = capacityOf(config, this.opts, log);
    }
    if (plan.presence || plan.engine) {
      log.info("Restarting server components");
      await this.engine?.stop({ resign: true });
      this.engine = undefined;
      this.saidEngineDisabled = false;
      if (plan.presence) {
        // The old lease stays alive until the new presence has registered under a new one
        // (its TTL differs), so the machine never leaves the cluster meanwhile.
        const old = this.presenceNow;
        this.detachPresence?.();
        await old.stop();
        this.presenceNow = this.newPresence();
        this.presenceNow.start();
      } else if (this.presenceNow.status.state === "registered") {
        this.startEngine();
      }
    }
    if (plan.machine && !plan.presence) {
      try {
        await this.presenceNow.republish();
      } catch (e) {
        log.warn(`Cannot update machine ${this.machine.id} in etcd: ${errorText(e)}`);
      }
    }
    log.info(plan.changed.length === 0 ? "Configuration reloaded; nothing changed" : `Configuration reloaded; changed: ${plan.changed.join(", ")}`);
    return plan;
  }

  /**
   * Whether the host is shutting down (systemd's SystemState is "stopping"). Unknown counts as
   * no: revoking the lease by mistake would move every unit off a healthy machine.
   */
  async hostStopping(): Promise<boolean> {
    try {
      const state = await Promise.race([
        this.units.systemState(),
        Bun.sleep(SYSTEM_STATE_TIMEOUT_MS).then(() => "unknown (no answer from systemd)"),
      ]);
      this.opts.log.debug(`systemd SystemState is ${state}`);
      return state === "stopping";
    } catch (e) {
      this.opts.log.warn(`Cannot read systemd's system state: ${errorText(e)}`);
      return false;
    }
  }

  /** Stops every component; units keep running. Safe to call more than once. */
  stop(opts: StopOptions = {}): Promise<void> {
    this.stopping ??= this.shutdown(opts);
    return this.stopping;
  }

  private async shutdown(opts: StopOptions): Promise<void> {
    const { log } = this.opts;
    await this.reloads;
    await this.notify("STOPPING=1");
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        log.warn(`Cannot ${what} cleanly: ${errorText(e)}`);
      }
    };
    if (opts.revokeLease) {
      // The host is going down and its units with it: they must run elsewhere at once, so the
      // lease goes first, before anything that may wait on systemd or etcd (a reconcile in
      // flight, a plan being written). No state is published under it from here on.
      log.info("The host is shutting down: revoking this machine's lease so its units move at once");
      this.agent.deactivate();
      await Promise.all([
        step("revoke the lease", () => this.presenceNow.revoke()),
        step("stop the engine", async () => this.engine?.stop({ resign: true })),
      ]);
    } else {
      // The daemon alone stops: its lease lives on for a restart (nothing moves), but first the
      // machine says so, and the engine places nothing new here meanwhile.
      await step("mark this machine's daemon as stopped", () => this.markStopped());
    }
    await step("stop the machine refresher", () => this.refresher.stop());
    await step("stop the agent", () => this.agent.stop());
    await step("stop the engine", async () => this.engine?.stop({ resign: true }));
    if (!opts.revokeLease) await step("stop presence", () => this.presenceNow.stop());
    // Event streams end first, each with a last line saying why, so clients know to reconnect.
    this.events?.close();
    await step("close the API listeners", async () => this.listeners?.close());
    this.listeners = undefined;
    await step("close the D-Bus connection", () => this.units.close());
    this.etcd.close();
  }

  private async markStopped(): Promise<void> {
    this.machine.stopped = true;
    await this.presenceNow.republish();
  }

  /** One JSON object describing the daemon's state (SIGUSR1). */
  dump(): Record<string, unknown> {
    const agent = this.agent.dump();
    return {
      Stats: agent.Stats,
      Machine: this.machine,
      Presence: this.presenceNow.status,
      Engine: this.configNow.disableEngine ? "disabled" : { leader: this.engine?.isLeader() ?? false, epoch: this.engine?.epoch },
      Memory: memoryFigures(),
      ...agent,
    };
  }
}


/** The process's memory in MB: resident, and of that the JavaScript heap (for the state dump). */
function memoryFigures(): Record<string, number> {
  const m = process.memoryUsage();
  const mb = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;
  return { rss: mb(m.rss), heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external) };
}

/** How the daemon finds its public IP when public_ip is not set: the default route's interface. */
/** The capacity for the machine record; a reserve larger than it is logged. */
function capacityOf(config: Config, opts: DaemonOptions, log: Logger): MachineCapacity {
  const { capacity, warnings } = machineCapacity(config, (opts.detectCapacity ?? detectCapacity)());
  for (const w of warnings) log.warn(w);
  return capacity;
}

function detectorOf(opts: DaemonOptions): () => string {
  return opts.detectPublicIp ?? (() => detectPublicIp(undefined));
}
