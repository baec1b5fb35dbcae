// The scale benchmark's result records (what bench/results/scale.json holds), and the arithmetic
// that turns two snapshots of the processes into one phase's figures. Pure.
import { diffCounters, type EtcdCounters } from "./etcd-metrics.ts";
import type { EngineStats, WorkerStats } from "./ipc.ts";
import type { ScaleSize } from "./scenario.ts";

export type PhaseName = "register" | "submit" | "idle" | "kill";
export const PHASES: readonly PhaseName[] = ["register", "submit", "idle", "kill"];

/** One moment: etcd's counters and every process's own. */
export interface Snapshot {
  at: number;
  etcd: EtcdCounters;
  engine: EngineStats;
  workers: WorkerStats[];
  observerEvents: number;
}

export interface PhaseFigures {
  seconds: number;
  etcd: {
    /** Per second over the phase. */
    reads: number;
    writes: number;
    keysWritten: number;
    /** Watch events sent, less those the benchmark's own observer received. */
    watchEvents: number;
    keepalives: number;
    otherLease: number;
    /** Counts over the phase. */
    watchStreamsOpened: number;
    cpuPercent: number;
    rssMB: number;
    dbMB: number;
  };
  engine: { cpuSeconds: number; cpuPercent: number; peakRssMB: number; reconciles: number; reconcileSeconds: number; txns: number; loopMaxStallMs: number; loopStalledSeconds: number };
  agents: {
    machines: number;
    cpuSeconds: number;
    /** Percent of one core per hollow machine (the worker processes' CPU shared out). */
    cpuPercentPerMachine: number;
    ownEvents: number;
    foreignEvents: number;
    reconciles: number;
    publishTxns: number;
    warnings: number;
    /** Longest event-loop stall of a worker process during the phase (ms). */
    loopMaxStallMs: number;
    /** The agents' etcd calls by kind during the phase (all machines). */
    calls: Record<string, number>;
  };
}

export interface HostInfo {
  cpus: number;
  model: string;
  memoryGB: number;
  loadAverageStart: number;
  loadAverageEnd: number;
  bun: string;
  etcd: string;
}

export interface RunConfig {
  workers: number;
  idleSeconds: number;
  killed: number;
  agentTtlSeconds: number;
  submitInFlight: number;
  evictionsPerSecond?: number;
  evictionBurst?: number;
  evictionSettleMs?: number;
  /** The resources variant of the scenario (scenario.ts, ScenarioOptions). */
  resources?: boolean;
}

export interface SizeResult {
  /** Which variant of the run ("default", or e.g. "no-eviction-brake"). */
  label: string;
  size: ScaleSize;
  date: string;
  commit: string;
  host: HostInfo;
  config: RunConfig;
  /** Unit instances that run once all is placed (globals count once per machine). */
  instances: number;
  submit?: {
    apiSeconds: number;
    apiUnitsPerSecond: number;
    retries: number;
    failed: number;
    apiLatencyMs: { p50: number; p99: number; max: number };
    /** From the first PUT until etcd holds every instance as active; absent when never reached. */
    allActiveSeconds?: number;
    activeReached: number;
    placements: number;
    /** From the first PUT to the engine's last schedule write. */
    placementSeconds: number;
    placementsPerSecond: number;
  };
  kill?: {
    killed: number;
    /** Non-global units that were active on the killed machines. */
    unitsToMove: number;
    /** From the kill until etcd had deleted every killed machine's key (lease expiry). */
    leaseGoneSeconds?: number;
    /** From the kill until every such unit was active on a live machine. */
    allActiveSeconds?: number;
    movedReached: number;
    targetSeconds: number;
  };
  phases: Partial<Record<PhaseName, PhaseFigures>>;
  /** Where the run stopped, when it did not finish. */
  failure?: string;
}

export function phaseFigures(a: Snapshot, b: Snapshot): PhaseFigures {
  const seconds = Math.max(0.001, (b.at - a.at) / 1000);
  const e = diffCounters(a.etcd, b.etcd);
  const rate = (n: number) => round(n / seconds, 2);
  const observerEvents = b.observerEvents - a.observerEvents;
  const machines = b.workers.reduce((s, w) => s + w.agents, 0);
  const sum = (f: (w: WorkerStats) => number) => b.workers.reduce((s, w, i) => s + f(w) - f(a.workers[i]!), 0);
  const agentCpu = sum((w) => w.process.cpuSeconds);
  const engineCpu = b.engine.process.cpuSeconds - a.engine.process.cpuSeconds;
  return {
    seconds: round(seconds, 2),
    etcd: {
      reads: rate(e.range),
      writes: rate(e.txn + e.put + e.deleteRange),
      keysWritten: rate(e.keysPut + e.keysDeleted),
      watchEvents: rate(Math.max(0, e.watchEvents - observerEvents)),
      keepalives: rate(e.keepalives),
      otherLease: rate(e.leaseGrants + e.leaseRevokes + e.leaseTimeToLive),
      watchStreamsOpened: e.watchStreams,
      cpuPercent: round((100 * e.cpuSeconds) / seconds, 1),
      rssMB: round(e.rssBytes / 2 ** 20, 0),
      dbMB: round(e.dbBytes / 2 ** 20, 0),
    },
    engine: {
      cpuSeconds: round(engineCpu, 2),
      cpuPercent: round((100 * engineCpu) / seconds, 1),
      peakRssMB: round(b.engine.process.peakRssBytes / 2 ** 20, 0),
      reconciles: b.engine.reconciles - a.engine.reconciles,
      reconcileSeconds: round(b.engine.reconcileSeconds - a.engine.reconcileSeconds, 2),
      txns: b.engine.txns - a.engine.txns,
      loopMaxStallMs: b.engine.loopMaxStallMs,
      loopStalledSeconds: round(b.engine.loopStalledSeconds - a.engine.loopStalledSeconds, 2),
    },
    agents: {
      machines,
      cpuSeconds: round(agentCpu, 2),
      cpuPercentPerMachine: machines > 0 ? round((100 * agentCpu) / seconds / machines, 4) : 0,
      ownEvents: sum((w) => w.ownEvents),
      foreignEvents: sum((w) => w.foreignEvents),
      reconciles: sum((w) => w.reconciles),
      publishTxns: sum((w) => w.publishTxns),
      warnings: sum((w) => (w.calls["log-warn"] ?? 0) + (w.calls["log-error"] ?? 0)),
      loopMaxStallMs: Math.max(0, ...b.workers.map((w) => w.loopMaxStallMs)),
      calls: callsDiff(a.workers, b.workers),
    },
  };
}

function callsDiff(a: readonly WorkerStats[], b: readonly WorkerStats[]): Record<string, number> {
  const out: Record<string, number> = {};
  b.forEach((w, i) => {
    for (const [k, v] of Object.entries(w.calls)) {
      if (k.startsWith("log-")) continue;
      out[k] = (out[k] ?? 0) + v - (a[i]?.calls[k] ?? 0);
    }
  });
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== 0).sort(([x], [y]) => (x < y ? -1 : 1)));
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Results of earlier runs with this run's replacing the one of the same label and size. */
export function mergeResults(old: readonly SizeResult[], run: SizeResult): SizeResult[] {
  const same = (r: SizeResult) => r.label === run.label && r.size.machines === run.size.machines && r.size.units === run.size.units;
  const out = old.filter((r) => !same(r));
  out.push(run);
  return out.sort((x, y) => (x.label === y.label ? x.size.machines - y.size.machines || x.size.units - y.size.units : x.label === "default" ? -1 : y.label === "default" ? 1 : x.label < y.label ? -1 : 1));
}
