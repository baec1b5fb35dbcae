// The engine (architecture.md §4): every daemon runs a candidate; while this one leads, it keeps
// informers on units/, machines/, metadata/, schedule/, pending/, unitfiles/ and drain/ (made when
// its term begins, so a candidate watches only the leader key), and every change kicks a worker
// that coalesces changes, plans the whole state in memory (planSchedule), and writes only the
// difference, in transactions fenced by the leader epoch. A new leader lists the cluster and
// adopts the schedule it finds: nothing moves because leadership changed.
import type { EtcdClient } from "../registry/etcd/index.ts";
import { EngineWrites } from "../registry/engine-writes.ts";
import type { Informer, InformerChange } from "../registry/informer.ts";
import type { InvalidRecords } from "../registry/invalid-records.ts";
import { childName, type KeySpace } from "../registry/keys.ts";
import type { MachineRecord } from "../registry/models.ts";
import type { Logger } from "../log/logger.ts";
import { fleetMetrics, type FleetMetrics } from "../metrics/fleet.ts";
import { jitter } from "../lib/backoff.ts";
import { systemClock, type Clock } from "../lib/clock.ts";
import { Worker } from "../lib/worker.ts";
import { EvictionGovernor } from "./evictions.ts";
import { awaitEcho, writePlan } from "./plan-writes.ts";
import { evictionsIn, nextPlanAt, snapshotOf, unplacedByType } from "./state.ts";
import { TermCaches } from "./caches.ts";
import { LeaderElection, type ElectionEtcd, type Term } from "./leader.ts";
import { probeLeases } from "./lease-probe.ts";
import { collectUnitFiles } from "./unit-file-collector.ts";
import { RolloutReconciler } from "./rollouts.ts";
import { MetadataCollector } from "./metadata-collector.ts";
import { planSchedule } from "../scheduler/plan.ts";
import type { EngineAction } from "../scheduler/types.ts";
import { errorText } from "../lib/error-text.ts";

export interface EngineConfig {
  /** engine_reconcile_interval: the leader lease TTL is 5 x this. */
  reconcileIntervalMs: number;
  /** agent_ttl: the partition guard's window. */
  agentTtlMs: number;
  /**
   * The safety-net re-list runs every reconcileIntervalMs x this, jittered (default 300, so 10
   * min), and lists only when etcd's revision moved past what the informers hold.
   */
  resyncEvery?: number;
  /** How long a change waits for others to plan them together (default 20 ms). */
  coalesceMs?: number;
  /** Units moved off lost machines per second (default 500), in bursts of up to (default 1000). */
  evictionsPerSecond?: number;
  evictionBurst?: number;
  /** Quiet time after a machine vanishes before its units move (default agentTtlMs / 3, at most 2 s). */
  evictionSettleMs?: number;
  /** How long a partition pause lasts at most (default 10 x agentTtlMs; 0: until resumed). */
  evictionPauseMaxMs?: number;
  /** Operations per transaction (default 100; etcd's own limit is 128). */
  maxOpsPerTxn?: number;
  /** How long a machine is gone before the leader removes its dynamic metadata (default 24 h). */
  orphanMetadataAfterMs?: number;
}

/** The etcd calls the engine makes (an EtcdClient; tests may wrap one). */
export type EngineEtcd = ElectionEtcd & Pick<EtcdClient, "observedRevision" | "leaseTimeToLive">;

export interface EngineDeps {
  etcd: EngineEtcd;
  /** The key space, and where skipped records are told about (the daemon's one reporter by default). */
  registry: { readonly keys: KeySpace; readonly invalid?: InvalidRecords };
  machineId: string;
  config: EngineConfig;
  log: Logger;
  clock?: Clock;
  random?: () => number;
  metrics?: FleetMetrics;
  /** The candidate; by default one on `<p>/leader` with TTL 5 x reconcileIntervalMs. */
  election?: LeaderElection;
}

export class Engine {
  readonly election: LeaderElection;
  private readonly keys: KeySpace;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly metrics: FleetMetrics;
  private readonly governor: EvictionGovernor;
  /** The cluster as the current term's informers see it; none while this engine does not lead. */
  private caches: TermCaches | undefined;
  /** Caches of ended terms, being closed. */
  private closing = new Set<Promise<unknown>>();
  private readonly metadataCollector: MetadataCollector;
  private readonly writes: EngineWrites;
  private term: Term | undefined;
  /** The term's caches are known to include everything up to the epoch. */
  private ready = false;
  /** Plans and writes, a round per burst of changes; due again when evictions or metadata are. */
  private readonly reconciler: Worker;
  /** Drives the rolling updates while this engine leads (made per term, on its caches). */
  private rollouts: RolloutReconciler | undefined;
  /** Brings a new term's caches up to its epoch, retrying until they are. */
  private readonly adopter: Worker;
  /** The safety net: re-lists now and then, and plans if a watch missed something. */
  private readonly resyncer: Worker;
  /** When the last plan (snapshot + planSchedule, which hold the event loop) ended, and its length. */
  private lastPlan = { endedAt: 0, ms: 0 };
  private probing: Promise<void> | undefined;
  private started = false;
  private stopped = false;

  constructor(private readonly deps: EngineDeps) {
    const { etcd, config } = deps;
    this.keys = deps.registry.keys;
    this.log = deps.log;
    this.clock = deps.clock ?? systemClock;
    this.random = deps.random ?? Math.random;
    this.metrics = deps.metrics ?? fleetMetrics;
    this.writes = new EngineWrites(etcd, this.keys);
    this.election = deps.election ?? new LeaderElection({
      etcd, key: this.keys.leader, machineId: deps.machineId, ttlMs: 5 * config.reconcileIntervalMs,
      recheckMs: config.reconcileIntervalMs * (config.resyncEvery ?? 300), log: this.log, clock: this.clock, random: this.random,
    });
    this.governor = new EvictionGovernor({
      // Fast enough that a tenth of a 1,000-machine cluster (1,000 units) moves within seconds of
      // its leases expiring (the target is agent_ttl + 5 s), slow enough to bound a storm.
      perSecond: config.evictionsPerSecond ?? 500,
      burst: config.evictionBurst ?? 1000,
      windowMs: config.agentTtlMs,
      // Only when the leases cannot be probed: leases cut off together expire up to agent_ttl/3
      // apart, and a settle that long would alone break the agent_ttl + 5 s target.
      settleMs: config.evictionSettleMs ?? Math.min(2000, Math.round(config.agentTtlMs / 3)),
      pauseMaxMs: config.evictionPauseMaxMs ?? 10 * config.agentTtlMs,
      probe: true,
    }, this.clock, this.log);
    this.metadataCollector = new MetadataCollector({
      writes: this.writes, keys: this.keys, election: this.election, log: this.log, afterMs: config.orphanMetadataAfterMs,
    });
    const loop = { clock: this.clock, random: this.random };
    this.reconciler = new Worker({
      ...loop,
      retry: { baseMs: 100, capMs: 5000 },
      coalesceMs: config.coalesceMs ?? 20,
      notBefore: () => nextPlanAt(this.lastPlan),
      run: () => this.work(),
      onError: (e, delay) => this.log.warn(`Reconcile failed, retrying in ${delay} ms: ${errorText(e)}`),
    });
    this.adopter = new Worker({
      ...loop,
      retry: { baseMs: 200, capMs: 5000 },
      // A new term adopts at once, whatever the last one's back-off.
      kicksWaitForRetry: false,
      run: () => this.adopt(),
      onError: (e, delay) => this.log.warn(`Cannot read the cluster state as the new leader, retrying in ${delay} ms: ${errorText(e)}`),
    });
    this.resyncer = new Worker({
      ...loop,
      run: async () => {
        await this.resync();
        return this.resyncDelay();
      },
    });
  }

  /** Starts the candidate (the informers start when a term begins). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.election.onChange((term) => this.onTerm(term));
    this.election.start();
    this.resyncer.kick(this.resyncDelay());
  }

  private resyncDelay(): number {
    return jitter(this.deps.config.reconcileIntervalMs * (this.deps.config.resyncEvery ?? 300), this.random);
  }

  /**
   * Stops. By default resigns, so another engine takes over at once; `resign: false` leaves the
   * lease to expire, as a crash would.
   */
  async stop(opts: { resign?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // No round starts from here on. An adoption or a resync may wait on the informers, so those
    // are awaited once the informers are closed.
    const reconciling = this.reconciler.stop();
    const others = Promise.all([this.adopter.stop(), this.resyncer.stop()]);
    await this.election.stop({ resign: opts.resign ?? true });
    await reconciling;
    await this.probing;
    this.dropCaches();
    await Promise.all(this.closing);
    await others;
  }

  isLeader(): boolean {
    return this.term !== undefined;
  }

  /** The epoch this engine leads with, if it leads. */
  get epoch(): number | undefined {
    return this.term?.epoch;
  }

  /**
   * etcd was out of reach and is back: a watch may be stuck on a connection that died meanwhile
   * (Informer.refresh). The candidate looks at the leader key again; a leader lists again.
   */
  refresh(): void {
    if (!this.started || this.stopped) return;
    this.election.refresh();
    for (const i of this.caches?.all ?? []) void i.refresh();
  }

  /** An operator ends a partition pause: units of the machines still gone move now. */
  resumeEvictions(): void {
    this.governor.resume();
    this.kick(0);
  }

  private onMachines(changes: InformerChange<MachineRecord>[]): void {
    for (const c of changes) {
      const id = childName(this.keys.machines, c.key);
      if (id === undefined) continue;
      if (c.type === "delete") this.governor.machineRemoved(id);
      else if (c.type === "add") {
        this.governor.machineAdded(id);
        this.metadataCollector.machineSeen(id);
      }
    }
  }

  private onTerm(term: Term | undefined): void {
    this.term = term;
    this.ready = false;
    this.metadataCollector.reset();
    this.dropCaches();
    if (!term || this.stopped) return;
    const caches = new TermCaches({ etcd: this.deps.etcd, keys: this.keys, log: this.log, clock: this.clock, random: this.random, invalid: this.deps.registry.invalid });
    caches.machines.onChange((changes) => this.onMachines(changes));
    for (const inf of caches.all) inf.onChange(() => this.kick());
    const rollouts = new RolloutReconciler({
      etcd: this.deps.etcd, keys: this.keys, election: this.election, log: this.log, clock: this.clock, random: this.random,
      units: caches.units, schedule: caches.schedule, rollouts: caches.rollouts, makeStates: () => caches.makeStates(),
      onFinished: (outcome) => this.metrics.engineRolloutCount.inc({ outcome }),
    });
    for (const inf of [caches.units, caches.schedule, caches.rollouts] as Informer<unknown>[]) inf.onChange(() => rollouts.kick());
    this.rollouts = rollouts;
    caches.start();
    this.caches = caches;
    this.metrics.engineLeaderStartTime.set(undefined, this.clock.now() / 1000);
    this.adopter.resetFailures();
    this.adopter.kick(0);
  }

  private dropCaches(): void {
    const old = this.caches;
    this.caches = undefined;
    const rollouts = this.rollouts;
    this.rollouts = undefined;
    if (rollouts) {
      const stopped: Promise<unknown> = rollouts.stop().finally(() => this.closing.delete(stopped));
      this.closing.add(stopped);
    }
    if (!old) return;
    const closed = old.close().finally(() => this.closing.delete(closed));
    this.closing.add(closed);
  }

  /** Waits for the term's caches to list (at or after the epoch), then plans once; nothing moves unless it must. */
  private async adopt(): Promise<undefined> {
    const term = this.term;
    const c = this.caches;
    if (!term || !c || this.ready || this.stopped) return undefined;
    await c.synced;
    // Made when the term began, every cache lists at or after the epoch; this is a guard.
    await Promise.all(c.all.map((i) => (i.revision >= term.epoch ? 0 : i.resync())));
    if (this.term !== term || this.caches !== c || this.stopped) return undefined;
    this.log.info(`Adopting the schedule: ${c.schedule.size} entries, ${c.units.size} units, ${c.machines.size} live machines`, { epoch: term.epoch });
    this.ready = true;
    this.kick(0);
    this.rollouts?.setTerm(term);
    return undefined;
  }

  /** A plan is wanted (while this engine leads with warm caches): after `delay`, paced, and after any back-off. */
  private kick(delay?: number): void {
    if (!this.term || !this.ready || this.stopped) return;
    this.reconciler.kick(delay);
  }

  /** One reconcile; resolves to when the next is due on its own (evictions, metadata), if ever. */
  private async work(): Promise<number | undefined> {
    const term = this.term;
    if (!term || !this.ready || this.stopped) return undefined;
    const wakeAt = await this.reconcile(term);
    return wakeAt === undefined ? undefined : Math.max(0, wakeAt - this.clock.now());
  }

  private async reconcile(term: Term): Promise<number | undefined> {
    const stopTimer = this.metrics.engineReconcileDuration.startTimer();
    this.metrics.engineReconcileCount.inc();
    try {
      return await this.reconcileRound(term);
    } finally {
      const seconds = stopTimer();
      if (seconds * 1000 > this.deps.config.reconcileIntervalMs) {
        this.log.warn(`Engine completed reconciliation in ${seconds.toFixed(3)}s`);
      }
    }
  }

  /** One plan and its writes; resolves to when the next plan is due on its own, if ever. */
  private async reconcileRound(term: Term): Promise<number | undefined> {
    const c = this.caches;
    if (!c) return undefined;
    const planStart = this.clock.now();
    const snap = snapshotOf(this.keys, c.entries());
    const budget = this.governor.budget(snap.live, snap.lost, snap.draining.size > 0);
    if (budget.probe) this.probeLeases(c, snap.live);
    const actions = planSchedule(snap.state, { maxEvictions: budget.maxEvictions, evictionHold: budget.hold });
    const now = this.clock.now();
    this.lastPlan = { endedAt: now, ms: now - planStart };
    const echoes = await writePlan({
      keys: this.keys, writes: this.writes, election: this.election, log: this.log, metrics: this.metrics,
      maxOpsPerTxn: this.deps.config.maxOpsPerTxn ?? 100, watched: [c.schedule, c.pending] as Informer<unknown>[],
      leads: () => this.term === term,
    }, term, actions, snap, now);
    if (echoes === undefined) return undefined;
    this.governor.consumed(evictionsIn(actions, snap));
    await awaitEcho(this.clock, this.log, echoes);
    this.countUnplaced(c, actions);
    await collectUnitFiles({
      writes: this.writes, keys: this.keys, election: this.election, log: this.log,
      units: c.units, schedule: c.schedule, rollouts: c.rollouts, files: c.files, leads: () => this.term === term,
    }, term);
    if (this.term !== term) return undefined;
    const metadataDue = await this.metadataCollector.collect(term, { machines: c.machines, metadata: c.metadata }, this.clock.now());
    const recheckAt = (snap.lost.size > 0 || snap.draining.size > 0) ? budget.recheckAt : undefined;
    if (metadataDue === undefined) return recheckAt;
    return recheckAt === undefined ? metadataDue : Math.min(metadataDue, recheckAt);
  }

  /** Asks etcd how long the live machines' leases have left, then plans again. */
  private probeLeases(c: TermCaches, live: ReadonlySet<string>): void {
    if (this.probing) return;
    const startedAt = this.clock.now();
    const leases = new Map<string, string>();
    for (const id of live) {
      const lease = c.machines.leaseOf(this.keys.machine(id));
      if (lease && lease !== "0") leases.set(id, lease);
    }
    this.probing = probeLeases(this.deps.etcd, leases)
      .then((remaining) => this.governor.probed(startedAt, remaining))
      .catch((e) => {
        this.log.warn(`Cannot probe the machines' leases; lost machines' units wait until no more vanish instead: ${errorText(e)}`);
        this.governor.probeFailed(startedAt);
      })
      .finally(() => {
        this.probing = undefined;
        this.kick(0);
      });
  }

  /** Once per round: every unit left pending after this round's plan, by the kind of its reason. */
  private countUnplaced(c: TermCaches, actions: readonly EngineAction[]): void {
    for (const [type, n] of unplacedByType(this.keys, c.pending.entries(), actions)) {
      this.metrics.engineReconcileFailureCount.inc({ type }, n);
    }
  }

  private async resync(): Promise<void> {
    const c = this.caches;
    if (!this.term || !this.ready || !c) return;
    try {
      const seen = this.deps.etcd.observedRevision();
      const found = (await Promise.all(c.all.map((i) => i.resyncIfBehind(seen)))).reduce((a, b) => a + b, 0);
      if (found > 0) this.log.warn(`Resync found ${found} change${found === 1 ? "" : "s"} the watches had not delivered`);
      this.kick(0);
    } catch (e) {
      this.log.warn(`Resync failed: ${errorText(e)}`);
    }
  }
}
