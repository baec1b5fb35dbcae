// The agent: makes this machine's systemd run what the engine scheduled here (architecture.md §5).
// Desired state is a list+watch of `schedule/<id>/` only; actual state is the unit files on
// disk, what this agent recorded as launched, and systemd's states from D-Bus signals. Each
// change triggers a reconcile: plan (pure), execute, record. Nothing here ever stops a unit
// because etcd is unreachable: without news from etcd the schedule simply does not change.
import type { Logger } from "../log/logger.ts";
import type { Backoff } from "../lib/backoff.ts";
import { backoffDelay, jitter } from "../lib/backoff.ts";
import { systemClock, type Clock } from "../lib/clock.ts";
import { Worker } from "../lib/worker.ts";
import type { EtcdClient } from "../registry/etcd/index.ts";
import { Informer, recordDecoder } from "../registry/informer.ts";
import type { InvalidRecords } from "../registry/invalid-records.ts";
import { childName, type KeySpace } from "../registry/keys.ts";
import type { ScheduleEntry } from "../registry/models.ts";
import type { UnitManager, UnitState } from "../systemd/unit-manager.ts";
import { executePlan } from "./execute.ts";
import { LaunchRecords } from "./launch-records.ts";
import { type DesiredUnit, type Plan, planReconcile } from "./plan.ts";
import type { Registration } from "./presence.ts";
import { StatePublisher } from "./publisher.ts";
import { UnitTexts } from "./unit-texts.ts";
import { readUnitFiles } from "../registry/unit-file-reads.ts";
import { errorText } from "../lib/error-text.ts";

export interface AgentOptions {
  etcd: Pick<EtcdClient, "range" | "watch" | "txn" | "get" | "observedRevision">;
  keys: KeySpace;
  machineId: string;
  units: UnitManager;
  stateDir: string;
  log: Logger;
  /** Safety net: re-read the unit files and states from systemd this often (default 5 min, ±10 %). */
  resyncIntervalMs?: number;
  /**
   * Safety net: re-list the schedule from etcd this often (default 30 min), and only when etcd's
   * revision moved since the cache was current. The watch resumes at the exact revision after
   * any break, so this guards against bugs, not against outages.
   */
  relistIntervalMs?: number;
  /** Per-unit retry after a failed action (default 1 s doubling to 60 s). */
  unitRetry?: Backoff;
  /** How long a change waits for others to join its reconcile (default 20 ms). */
  coalesceMs?: number;
  /** How long a state report waits for others to join its transaction (default 20 ms). */
  publishCoalesceMs?: number;
  /** allow_unit_shadowing: load units whose names the host already defines itself. */
  allowShadowing?: boolean;
  /** Where skipped records are told about (the daemon's one reporter by default). */
  invalid?: InvalidRecords;
  clock?: Clock;
  random?: () => number;
}

/**
 * The state published for a unit refused on this machine: not systemd's (systemd never loaded
 * it from us), in systemd's vocabulary so that fleet's columns read plainly, with the reason.
 */
export const REFUSED_STATE = { loadState: "error", activeState: "failed", subState: "shadowed" } as const;

interface Failure {
  attempts: number;
  retryAt: number;
  error: string;
}

export interface AgentStats {
  reconciles: number;
  actions: number;
}

export class Agent {
  readonly publisher: StatePublisher;
  readonly stats: AgentStats = { reconciles: 0, actions: 0 };
  private readonly log: Logger;
  private readonly records: LaunchRecords;
  private readonly texts: UnitTexts;
  private readonly files = new Map<string, string>();
  private readonly systemd = new Map<string, UnitState>();
  private readonly failures = new Map<string, Failure>();
  /** Units refused here (the host defines them), with the hash scheduled and the reason. */
  private readonly refused = new Map<string, { hash: string; reason: string }>();
  private readonly clock: Clock;
  private readonly random: () => number;
  /**
   * Reconciles: a burst of changes joins one round, a round is due again when the earliest unit
   * retry is, and a failed round is retried after the first step of the unit back-off, kicks
   * meanwhile running at once (each unit backs off on its own; the round as a whole must not).
   */
  private readonly reconciler: Worker;
  /** Marks the safety-net resync due, every resyncIntervalMs (jittered). */
  private readonly resyncer: Worker;
  private schedule: Informer<ScheduleEntry> | undefined;
  /** The schedule's latest list (the first, or a refresh after an outage): a reconcile waits for it. */
  private listed: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;
  private active = false;
  private stopped = false;
  private reloadPending = false;
  private resyncDue = false;
  private relistedAt: number;

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.log;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.relistedAt = this.clock.now();
    const first = Math.min(this.retryPolicy().baseMs, this.retryPolicy().capMs);
    this.reconciler = new Worker({
      clock: this.clock,
      random: this.random,
      coalesceMs: opts.coalesceMs ?? 20,
      retry: { baseMs: first, capMs: first },
      kicksWaitForRetry: false,
      run: () => this.round(),
      onError: (e) => this.log.error(`Reconcile failed, will retry: ${errorText(e)}`),
    });
    this.resyncer = new Worker({
      clock: this.clock,
      run: async () => {
        this.resyncDue = true;
        this.kick();
        return this.resyncInterval();
      },
    });
    this.records = new LaunchRecords(opts.stateDir, opts.machineId, opts.units.unitsDirectory, opts.log);
    this.texts = new UnitTexts(
      opts.keys, (hash) => opts.etcd.get(opts.keys.unitFile(hash)), opts.log, opts.invalid, (hashes) => readUnitFiles(opts.etcd, opts.keys, hashes),
    );
    this.publisher = new StatePublisher({
      etcd: opts.etcd, keys: opts.keys, machineId: opts.machineId, log: opts.log, coalesceMs: opts.publishCoalesceMs,
      clock: this.clock, random: this.random,
    });
  }

  /**
   * Reads what this machine runs (files, records, systemd) and subscribes to systemd's changes.
   * Nothing is changed until activate(): a daemon that may not register acts on nothing.
   */
  async start(): Promise<void> {
    this.records.load();
    this.unsubscribe = await this.opts.units.subscribe((name, state) => this.onUnitState(name, state));
    await this.readActual();
    this.resyncer.kick(this.resyncInterval());
  }

  private resyncInterval(): number {
    // Jittered, so machines started together (a rack powered on at once) drift apart.
    return jitter(this.opts.resyncIntervalMs ?? 300_000, this.random, 0.1);
  }

  /** Registered (again): publish under this lease, follow the schedule, reconcile. */
  activate(reg: Registration): void {
    if (this.stopped) return;
    this.publisher.setLease(reg.lease, reg.leaseKeys);
    if (!this.schedule) {
      const prefix = this.opts.keys.machineSchedule(this.opts.machineId);
      // An unreadable entry keeps the last good one: the unit runs on until the engine rewrites it.
      const decode = recordDecoder("schedule", this.opts.keys);
      this.schedule = new Informer<ScheduleEntry>({
        etcd: this.opts.etcd, prefix, decode, log: this.log, invalid: this.opts.invalid, clock: this.clock, random: this.random,
      });
      this.schedule.onChange(() => this.kick());
      this.schedule.start();
      this.listed = this.schedule.synced;
    } else {
      // Registered again after the lease was lost: etcd was out of reach for a TTL, and the
      // watch may be stuck on a connection that died meanwhile. Units moved away meanwhile
      // must stop now, not when TCP's back-off lets the old stream deliver.
      this.listed = this.schedule.refresh();
    }
    this.active = true;
    this.kick();
  }

  /** etcd was out of reach and is back (the lease outlived it): list the schedule again and watch anew. */
  refresh(): void {
    if (this.stopped || !this.schedule) return;
    this.listed = this.schedule.refresh();
    this.kick();
  }

  /** The lease is gone: hold state reports back until registered again. Units keep running. */
  deactivate(): void {
    this.active = false;
    this.publisher.setLease(undefined);
  }

  /** Resolves when no reconcile is running or due (for tests and the benchmark). */
  async settled(): Promise<void> {
    await this.reconciler.idle();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.active = false;
    // No round starts from here on; the one in flight ends once the schedule is closed.
    const reconciling = this.reconciler.stop();
    await this.resyncer.stop();
    this.unsubscribe?.();
    await this.schedule?.close();
    await reconciling;
    this.records.save();
    this.publisher.close();
  }

  /** For SIGUSR1: what the agent believes and is about to publish. */
  dump(): Record<string, unknown> {
    return {
      // First: journald splits long lines, and this is what a reader of the dump looks for.
      Stats: { ...this.stats, publishTxns: this.publisher.stats.txns, publishOps: this.publisher.stats.ops },
      Agent: {
        Cache: { TargetStates: Object.fromEntries([...this.records.map].map(([n, r]) => [n, r.state])) },
        Desired: Object.fromEntries([...this.desired()].map(([n, d]) => [n, d])),
        Files: Object.fromEntries(this.files),
        Failures: Object.fromEntries(this.failures),
        Refused: Object.fromEntries(this.refused),
        RetryAt: this.nextRetryAt === undefined ? null : new Date(this.nextRetryAt).toISOString(),
      },
      UnitStatePublisher: this.publisher.dump(),
    };
  }

  private kick(): void {
    if (this.stopped) return;
    this.reconciler.kick();
  }

  /** One round: the resync when due, then a reconcile; due again when the earliest unit retry is. */
  private async round(): Promise<number | undefined> {
    if (this.stopped) return undefined;
    if (this.resyncDue) {
      this.resyncDue = false;
      await this.resync();
    }
    return this.reconcile();
  }

  private desired(): Map<string, DesiredUnit> {
    const out = new Map<string, DesiredUnit>();
    if (!this.schedule) return out;
    for (const [key, entry] of this.schedule.entries()) {
      const name = childName(this.schedule.prefix, key);
      if (name && (entry.desiredState === "loaded" || entry.desiredState === "launched") && typeof entry.hash === "string") {
        out.set(name, { hash: entry.hash, desiredState: entry.desiredState });
      }
    }
    return out;
  }

  /** Plans, executes and records; returns the delay until the earliest unit retry, if any. */
  private async reconcile(): Promise<number | undefined> {
    if (!this.active || !this.schedule) return undefined;
    await this.listed;
    if (this.stopped) return undefined;
    const desired = this.desired();
    const now = this.clock.now();
    const backingOff = new Set([...this.failures].filter(([, f]) => f.retryAt > now).map(([n]) => n));
    const plan = planReconcile({ desired, files: this.files, systemd: this.systemd, launched: this.records.map, backingOff });
    this.stats.reconciles++;
    this.applyBookkeeping(plan);

    if (plan.actions.length > 0 || this.reloadPending) {
      await this.textsFor(plan);
      const result = await executePlan(plan.actions, {
        units: this.opts.units, text: (h) => this.texts.get(h), log: this.log, forceReload: this.reloadPending,
        allowShadowing: this.opts.allowShadowing,
      });
      if (result.reloaded) this.reloadPending = false;
      if (result.reloadFailed) this.reloadPending = true;
      const touched = new Set<string>();
      for (const a of result.done) {
        touched.add(a.unit);
        this.stats.actions++;
        switch (a.kind) {
          case "unload":
            this.files.delete(a.unit);
            this.records.delete(a.unit);
            this.systemd.delete(a.unit);
            break;
          case "load":
            this.files.set(a.unit, a.hash!);
            this.records.set(a.unit, { state: "loaded", hash: a.hash! });
            this.refused.delete(a.unit);
            break;
          case "start":
          case "stop": {
            const hash = this.files.get(a.unit);
            if (hash) this.records.set(a.unit, { state: a.kind === "start" ? "launched" : "loaded", hash });
            break;
          }
        }
      }
      for (const unit of touched) if (!result.failed.has(unit)) this.failures.delete(unit);
      for (const [unit, error] of result.failed) this.noteFailure(unit, error);
      for (const [unit, reason] of result.refused) {
        if (!this.refused.has(unit)) this.log.warn(`Refusing ${unit} on this machine: ${reason}`);
        this.refused.set(unit, { hash: desired.get(unit)?.hash ?? "", reason });
      }
      this.records.save();
      await this.refreshStates([...touched, ...result.failed.keys()]);
      this.dropSettledFailures(now, result.failed, desired);
    } else {
      this.dropSettledFailures(now, new Map(), desired);
    }
    this.texts.retain(new Set([...desired.values()].map((d) => d.hash)));
    return this.retryDelay();
  }

  /** The texts of the units the plan loads: from their entries when they carry them, else read in one request. */
  private async textsFor(plan: Plan): Promise<void> {
    const loads = plan.actions.flatMap((a) => (a.kind === "load" && a.hash ? [a.hash] : []));
    if (loads.length === 0 || !this.schedule) return;
    const wanted = new Set(loads);
    for (const e of this.schedule.values()) if (e.text !== undefined && wanted.has(e.hash)) this.texts.seed(e.hash, e.text);
    await this.texts.prefetch(loads);
  }

  /**
   * Failure records that have nothing left to retry go: those of units neither scheduled here,
   * nor on disk, nor recorded, and those whose retry was due when this reconcile planned (the
   * retry ran now: it failed again and was noted anew, or it needed nothing). Kept, such a
   * record would re-arm a retry in the past after every reconcile, forever.
   */
  private dropSettledFailures(plannedAt: number, failedNow: ReadonlyMap<string, string>, desired: ReadonlyMap<string, DesiredUnit>): void {
    for (const [unit, f] of this.failures) {
      if (failedNow.has(unit)) continue;
      const gone = !desired.has(unit) && !this.files.has(unit) && !this.records.map.has(unit);
      if (gone || f.retryAt <= plannedAt) this.failures.delete(unit);
    }
    // A refusal holds for the unit as scheduled; unscheduled (or rescheduled), it is over.
    for (const [unit, r] of this.refused) {
      if (desired.get(unit)?.hash === r.hash && !this.files.has(unit)) continue;
      this.refused.delete(unit);
      this.publish(unit);
    }
  }

  private applyBookkeeping(plan: Plan): void {
    for (const a of plan.adoptions) {
      this.records.set(a.unit, { state: a.state, hash: a.hash });
      this.log.info(`Adopted ${a.unit} as ${a.state}: ${a.reason}`);
    }
    for (const unit of plan.forget) this.records.delete(unit);
    if (plan.adoptions.length > 0 || plan.forget.length > 0) this.records.save();
  }

  private noteFailure(unit: string, error: string): void {
    const attempts = (this.failures.get(unit)?.attempts ?? 0) + 1;
    const delay = backoffDelay(attempts, this.retryPolicy(), this.random);
    this.failures.set(unit, { attempts, retryAt: this.clock.now() + delay, error });
    this.log.warn(`Retrying ${unit} in ${(delay / 1000).toFixed(1)} s (attempt ${attempts} failed)`);
  }

  private retryPolicy(): Backoff {
    return this.opts.unitRetry ?? { baseMs: 1000, capMs: 60_000 };
  }

  private retryDelay(): number | undefined {
    let earliest = Infinity;
    for (const f of this.failures.values()) earliest = Math.min(earliest, f.retryAt);
    // Every record left is one noted after this reconcile planned, so its time is still ahead
    // (or just reached while executing: then the retry is due now, once).
    return earliest === Infinity ? undefined : Math.max(0, earliest - this.clock.now());
  }

  /** When the next reconcile is due on its own (a retry; ms since the epoch), or undefined when none is. */
  get nextRetryAt(): number | undefined {
    return this.reconciler.nextDueAt;
  }

  /** Files on disk and systemd's view of them, read afresh. */
  private async readActual(): Promise<void> {
    const files = await this.opts.units.listManaged();
    this.files.clear();
    for (const f of files) this.files.set(f.name, f.hash);
    const names = new Set([...this.files.keys(), ...this.records.map.keys()]);
    const states = await this.opts.units.states([...names]);
    this.systemd.clear();
    for (const [name, state] of states) this.systemd.set(name, state);
    for (const name of names) this.publish(name);
    // States published for units that are no longer here.
    for (const name of Object.keys(this.publisher.dump().states)) if (!this.files.has(name) && !this.refused.has(name)) this.publisher.report(name, undefined);
  }

  private async resync(): Promise<void> {
    if (this.schedule && this.clock.now() - this.relistedAt >= (this.opts.relistIntervalMs ?? 1_800_000)) {
      this.relistedAt = this.clock.now();
      const found = await this.schedule.resyncIfBehind(this.opts.etcd.observedRevision());
      if (found > 0) this.log.warn(`Resync found ${found} schedule change${found === 1 ? "" : "s"} the watch had not delivered`);
    }
    await this.readActual();
  }

  private async refreshStates(names: string[]): Promise<void> {
    if (names.length === 0) return;
    try {
      const states = await this.opts.units.states(names);
      for (const [name, state] of states) {
        if (this.files.has(name) || this.records.map.has(name)) this.systemd.set(name, state);
      }
    } catch (e) {
      this.log.warn(`Cannot read unit states from systemd: ${errorText(e)}`);
    }
    for (const name of names) this.publish(name);
  }

  private onUnitState(name: string, state: UnitState): void {
    // Scheduled units count too: their first signals may come before their load is recorded.
    const scheduled = this.schedule?.has(this.opts.keys.schedule(this.opts.machineId, name)) ?? false;
    if (!scheduled && !this.files.has(name) && !this.records.map.has(name)) return;
    this.systemd.set(name, state);
    this.publish(name);
  }

  private publish(name: string): void {
    const hash = this.files.get(name);
    if (hash === undefined) {
      const refused = this.refused.get(name);
      this.publisher.report(name, refused && { ...REFUSED_STATE, hash: refused.hash, reason: refused.reason });
      return;
    }
    const s = this.systemd.get(name) ?? { loadState: "not-found", activeState: "inactive", subState: "dead" };
    this.publisher.report(name, { ...s, hash });
  }
}

