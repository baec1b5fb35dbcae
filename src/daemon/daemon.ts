// One fleet daemon: API listeners (503 until registered), presence, the agent and, unless
// disable_engine, an engine candidate, all on one etcd client and one D-Bus connection.
// Stopping leaves every unit running and the lease alive, so a restart moves nothing; only
// when the host itself is going down is the lease revoked, so the engine moves the units at once.
import { createApiHandler } from "../api/handler.ts";
import { type ApiListeners, serveApi } from "../api/listeners.ts";
import { Agent } from "../agent/agent.ts";
import { Presence } from "../agent/presence.ts";
import type { Config } from "../config/index.ts";
import type { Logger } from "../log/logger.ts";
import { fleetMetrics, type FleetMetrics } from "../metrics/fleet.ts";
import { EtcdClient } from "../registry/etcd/index.ts";
import type { MachineRecord } from "../registry/models.ts";
import { Registry } from "../registry/registry.ts";
import { Engine } from "../scheduler/engine.ts";
import { DbusUnitManager } from "../systemd/dbus-unit-manager.ts";
import type { UnitManager } from "../systemd/unit-manager.ts";
import { detectPublicIp, readMachineId } from "./identity.ts";
import { registryMetricsObserver } from "./registry-metrics.ts";
import { sdNotify } from "./sd-notify.ts";

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
  private registeredOnce = false;

  private constructor(
    private readonly opts: DaemonOptions,
    readonly machine: MachineRecord,
    readonly etcd: EtcdClient,
    readonly registry: Registry,
    readonly units: UnitManager,
    readonly presence: Presence,
    readonly agent: Agent,
    private listeners: ApiListeners | undefined,
  ) {
    this.notify = opts.notify ?? sdNotify;
  }

  /** Starts everything; resolves once the API listens and registration has begun. */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { config, log, version } = opts;
    log.info(`Starting fleetd version ${version}`);
    const machineId = readMachineId(config.machineId);
    const machine: MachineRecord = {
      id: machineId,
      publicIP: detectPublicIp(config.publicIp),
      metadata: { ...config.metadata },
      version,
      startedAt: new Date().toISOString(),
      disableEngine: config.disableEngine,
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
    const registry = new Registry(etcd, config.etcdKeyPrefix);
    const presence = new Presence({
      etcd, keys: registry.keys, machine: () => machine, ttlMs: config.agentTtlMs, stateDir: config.stateDir, log: log.child("presence"),
    });
    const agent = new Agent({
      etcd, keys: registry.keys, machineId, units, stateDir: config.stateDir, log: log.child("agent"),
    });

    let listeners: ApiListeners | undefined;
    try {
      const handler = createApiHandler({
        registry, tokenLimit: config.tokenLimit, version, isReady: () => presence.ready, log: log.child("api"), metrics: opts.metrics,
      });
      const tls = config.apiTlsCert && config.apiTlsKey ? { cert: config.apiTlsCert, key: config.apiTlsKey, ca: config.apiTlsCa } : undefined;
      listeners = await serveApi(handler, { listen: config.apiListen, tls, tokens: config.apiTokens, log: log.child("api"), version });
      await agent.start();
    } catch (e) {
      await listeners?.close();
      await units.close();
      etcd.close();
      throw e;
    }

    const daemon = new Daemon(opts, machine, etcd, registry, units, presence, agent, listeners);
    presence.onRegistered((reg) => daemon.onRegistered(reg));
    presence.onLost(() => agent.deactivate());
    presence.start();
    return daemon;
  }

  get ready(): boolean {
    return this.presence.ready;
  }

  /** The API addresses actually listened on (with real ports). */
  get apiAddresses(): string[] {
    return this.listeners?.addresses ?? [];
  }

  private async onRegistered(reg: Parameters<Agent["activate"]>[0]): Promise<void> {
    if (this.stopping) return;
    this.agent.activate(reg);
    if (this.registeredOnce) return;
    this.registeredOnce = true;
    const { config, log } = this.opts;
    if (config.disableEngine) {
      log.info("Not starting engine; disable-engine is set");
    } else {
      this.engine = new Engine({
        etcd: this.etcd,
        registry: this.registry,
        machineId: this.machine.id,
        config: { reconcileIntervalMs: config.engineReconcileIntervalMs, agentTtlMs: config.agentTtlMs },
        log: log.child("engine"),
        metrics: this.opts.metrics,
      });
      this.engine.start();
    }
    await this.notify(`READY=1\nSTATUS=Registered machine ${this.machine.id}`);
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
      this.opts.log.warn(`Cannot read systemd's system state: ${e instanceof Error ? e.message : String(e)}`);
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
    await this.notify("STOPPING=1");
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        log.warn(`Cannot ${what} cleanly: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    await step("stop the agent", () => this.agent.stop());
    await step("stop the engine", async () => this.engine?.stop({ resign: true }));
    if (opts.revokeLease) {
      log.info("The host is shutting down: revoking this machine's lease so its units move at once");
      await step("revoke the lease", () => this.presence.revoke());
    } else {
      await step("stop presence", () => this.presence.stop());
    }
    await step("close the API listeners", async () => this.listeners?.close());
    this.listeners = undefined;
    await step("close the D-Bus connection", () => this.units.close());
    this.etcd.close();
  }

  /** One JSON object describing the daemon's state (SIGUSR1). */
  dump(): Record<string, unknown> {
    const agent = this.agent.dump();
    return {
      Stats: agent.Stats,
      Machine: this.machine,
      Presence: this.presence.status,
      Engine: this.opts.config.disableEngine ? "disabled" : { leader: this.engine?.isLeader() ?? false, epoch: this.engine?.epoch },
      ...agent,
    };
  }
}
