// One run of the scale scenario at one size: etcd, the engine process, hollow-machine workers,
// then the phases register -> submit (until every instance is active) -> idle -> kill (until the
// killed machines' units are active elsewhere), each measured from snapshots taken around it.
import { execSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { EtcdClient } from "../../src/registry/etcd/index.ts";
import { startEtcd } from "../../test/support/etcd-server.ts";
import { Child } from "./children.ts";
import { scrape } from "./etcd-metrics.ts";
import type { EngineReply, EngineRequest, WorkerReply, WorkerRequest } from "./ipc.ts";
import { Observer } from "./observer.ts";
import { type PhaseName, phaseFigures, type RunConfig, round, type SizeResult, type Snapshot } from "./results.ts";
import { expectedInstances, hollowMachines, killIndices, type ScaleSize, scaleUnits } from "./scenario.ts";
import { submitUnits } from "./submit.ts";

export interface RunOptions {
  size: ScaleSize;
  label: string;
  config: RunConfig;
  /** Longest wait for "all active" in submit and kill (ms). */
  deadlineMs: number;
  /** Where the children's logs go (kept after the run). */
  logDir: string;
  progress: (line: string) => void;
}

const PREFIX = "/fleet/";
const STATS_TIMEOUT_MS = 60_000;

export async function runSize(opts: RunOptions): Promise<SizeResult> {
  const { size, config, progress } = opts;
  const ttlMs = config.agentTtlSeconds * 1000;
  const result: SizeResult = {
    label: opts.label, size, date: new Date().toISOString(), commit: gitCommit(), config,
    host: { cpus: availableParallelism(), model: cpus()[0]?.model ?? "unknown", memoryGB: round(totalmem() / 2 ** 30, 1), loadAverageStart: round(loadavg()[0]!, 2), loadAverageEnd: 0, bun: Bun.version, etcd: "" },
    instances: expectedInstances(size), phases: {},
  };
  mkdirSync(opts.logDir, { recursive: true });
  const stateRoot = mkdtempSync(join(existsDir("/dev/shm") ? "/dev/shm" : tmpdir(), "fleet-scale-"));
  await using etcd = await startEtcd({ extraArgs: ["--quota-backend-bytes", String(8 * 2 ** 30)], startTimeoutMs: 60_000 });
  const admin = new EtcdClient({ endpoints: [etcd.endpoint], requestTimeoutMs: 30_000 });
  result.host.etcd = (await admin.status()).version;
  admin.close();

  const tag = `${opts.label}-${size.machines}x${size.units}`;
  const engine = new Child<EngineRequest, EngineReply>("engine process", join(import.meta.dir, "engine-process.ts"), [JSON.stringify({
    endpoint: etcd.endpoint, prefix: PREFIX, agentTtlMs: ttlMs, reconcileIntervalMs: 2000,
    evictionsPerSecond: config.evictionsPerSecond, evictionBurst: config.evictionBurst, evictionSettleMs: config.evictionSettleMs,
  })], { logFile: join(opts.logDir, `${tag}-engine.log`) });
  const workers: Child<WorkerRequest, WorkerReply>[] = [];
  const observer = new Observer(etcd.endpoint, PREFIX);
  let phase: PhaseName | "setup" = "setup";
  try {
    const { api, token } = await engine.next("ready", 60_000);
    progress(`engine leads; API at ${api}`);

    const machines = hollowMachines(size.machines, { resources: config.resources });
    const perWorker = Math.ceil(size.machines / config.workers);
    const slices = Array.from({ length: config.workers }, (_, w) => machines.slice(w * perWorker, (w + 1) * perWorker)).filter((s) => s.length > 0);
    for (const [w, slice] of slices.entries()) {
      workers.push(new Child<WorkerRequest, WorkerReply>(`hollow worker ${w}`, join(import.meta.dir, "hollow-worker.ts"), [], {
        logFile: join(opts.logDir, `${tag}-worker-${w}.log`),
        // Bun's fetch runs at most 256 requests at once per process unless told otherwise, and
        // every agent's watch and every candidate's watch is a request that never ends.
        env: { BUN_CONFIG_MAX_HTTP_REQUESTS: String(Math.min(65_535, slice.length * 3 + 512)) },
      }));
    }
    const snap = async (resetPeak: boolean): Promise<Snapshot> => {
      const [e, eng, ws] = await Promise.all([
        scrape(etcd.endpoint),
        engine.request({ type: "stats", resetPeak }, "stats", STATS_TIMEOUT_MS),
        Promise.all(workers.map((w) => w.request({ type: "stats", resetPeak }, "stats", STATS_TIMEOUT_MS))),
      ]);
      return { at: Date.now(), etcd: e, engine: eng.stats, workers: ws.map((w) => w.stats), observerEvents: observer.events };
    };

    // Register: every hollow machine holds a lease and its machines/ key.
    phase = "register";
    const zeroWorkers = await snapWorkersless(etcd.endpoint, engine, observer);
    const t0 = Date.now();
    const rampMs = Math.round(ttlMs / 3);
    await Promise.all(workers.map((w, i) => w.request({
      type: "start", config: { endpoint: etcd.endpoint, prefix: PREFIX, agentTtlMs: ttlMs, stateRoot, machines: slices[i]!, rampMs, reconcileIntervalMs: 2000 },
    }, "started", 10 * 60_000)));
    await observer.start();
    await waitFor(() => observer.live.size === size.machines, 60_000);
    let before = await snap(true);
    result.phases.register = phaseFigures({ ...zeroWorkers, at: t0, workers: before.workers.map(() => emptyWorker()) }, before);
    progress(`${size.machines} machines registered in ${((before.at - t0) / 1000).toFixed(1)} s`);

    // Submit: every unit through the API, until etcd holds every instance as active.
    phase = "submit";
    const units = scaleUnits(size.units, { resources: config.resources });
    const nonGlobal = units.filter((u) => u.kind !== "global").map((u) => u.name);
    const globals = units.filter((u) => u.kind === "global").map((u) => u.name);
    const placedBefore = before.engine.schedulePuts;
    const submitStart = Date.now();
    const sub = await submitUnits(api, token, units, config.submitInFlight);
    progress(`submitted ${sub.submitted} units in ${sub.seconds.toFixed(1)} s (${sub.retries} retries, ${sub.failed.length} failed; PUT latency p50 ${sub.latencyMs.p50} ms, p99 ${sub.latencyMs.p99} ms)`);
    const allActive = () =>
      observer.activeInstances >= result.instances &&
      nonGlobal.every((u) => (observer.activeOn.get(u)?.size ?? 0) >= 1) &&
      globals.every((u) => (observer.activeOn.get(u)?.size ?? 0) >= size.machines);
    const activeMs = await waitFor(allActive, opts.deadlineMs - (Date.now() - submitStart), 100, () =>
      progress(`  ${observer.activeInstances} of ${result.instances} instances active`));
    const activeAt = Date.now();
    let after = await snap(false);
    const placements = after.engine.schedulePuts - placedBefore;
    const placementSeconds = Math.max(0.001, (after.engine.lastScheduleWriteAt - submitStart) / 1000);
    result.submit = {
      apiSeconds: round(sub.seconds, 2), apiUnitsPerSecond: round(sub.submitted / sub.seconds, 1), retries: sub.retries, failed: sub.failed.length,
      apiLatencyMs: sub.latencyMs,
      allActiveSeconds: activeMs === undefined ? undefined : round((activeAt - submitStart) / 1000, 2),
      activeReached: observer.activeInstances, placements, placementSeconds: round(placementSeconds, 2), placementsPerSecond: round(placements / placementSeconds, 1),
    };
    result.phases.submit = phaseFigures({ ...before, at: submitStart }, after);
    if (activeMs === undefined) throw new Error(`only ${observer.activeInstances} of ${result.instances} instances active after ${opts.deadlineMs / 1000} s`);
    progress(`all ${result.instances} instances active ${result.submit.allActiveSeconds} s after the first PUT; engine: ${result.phases.submit.engine.reconciles} reconciles, ${result.phases.submit.engine.reconcileSeconds} s in them, ${result.phases.submit.engine.cpuSeconds} CPU s`);

    // Idle: nothing changes; what does it cost?
    phase = "idle";
    before = await snap(true);
    await Bun.sleep(config.idleSeconds * 1000);
    after = await snap(false);
    result.phases.idle = phaseFigures(before, after);
    progress(`idle ${config.idleSeconds} s: agents ${result.phases.idle.agents.cpuPercentPerMachine}% of a core each, etcd keepalives ${result.phases.idle.etcd.keepalives}/s, reads ${result.phases.idle.etcd.reads}/s, writes ${result.phases.idle.etcd.writes}/s`);

    // Kill: machines die without a word; their units must run elsewhere.
    phase = "kill";
    if (config.killed > 0) {
      const killed = new Set(killIndices(size.machines, config.killed).map((i) => machines[i]!.id));
      const toMove = nonGlobal.filter((u) => [...(observer.activeOn.get(u) ?? [])].some((m) => killed.has(m)));
      before = await snap(true);
      const killStart = Date.now();
      await Promise.all(workers.map((w, i) => {
        const ids = slices[i]!.map((m) => m.id).filter((id) => killed.has(id));
        return ids.length ? w.request({ type: "kill", ids }, "killed", 60_000) : Promise.resolve();
      }));
      const expectedAfter = expectedInstances(size, size.machines - killed.size);
      const moved = () => toMove.filter((u) => observer.activeElsewhere(u, killed) >= 1).length;
      const goneMs = await waitFor(() => [...killed].every((id) => observer.machineGoneAt.has(id)), ttlMs * 3, 100);
      const movedMs = await waitFor(() => moved() === toMove.length && observer.activeInstances >= expectedAfter, opts.deadlineMs, 100, () =>
        progress(`  ${moved()} of ${toMove.length} units moved`));
      const movedAt = Date.now();
      after = await snap(false);
      const lastGone = Math.max(...[...killed].map((id) => observer.machineGoneAt.get(id) ?? Infinity));
      result.kill = {
        killed: killed.size, unitsToMove: toMove.length,
        leaseGoneSeconds: goneMs === undefined ? undefined : round((lastGone - killStart) / 1000, 2),
        allActiveSeconds: movedMs === undefined ? undefined : round((movedAt - killStart) / 1000, 2),
        movedReached: moved(), targetSeconds: config.agentTtlSeconds + 5,
      };
      result.phases.kill = phaseFigures({ ...before, at: killStart }, after);
      if (movedMs === undefined) throw new Error(`only ${moved()} of ${toMove.length} units moved after ${opts.deadlineMs / 1000} s`);
      progress(`${toMove.length} units of ${killed.size} killed machines active elsewhere ${result.kill.allActiveSeconds} s after the kill (leases gone after ${result.kill.leaseGoneSeconds} s)`);
    }
  } catch (e) {
    result.failure = `${phase}: ${e instanceof Error ? e.message : String(e)}`;
    progress(`run stopped in phase ${result.failure}`);
  } finally {
    result.host.loadAverageEnd = round(loadavg()[0]!, 2);
    await observer.close().catch(() => undefined);
    await Promise.all(workers.map((w) => w.request({ type: "stop" }, "stopped", 30_000).catch(() => undefined)));
    await engine.request({ type: "stop" }, "stopped", 30_000).catch(() => undefined);
    await Promise.all([...workers, engine].map((c) => c.kill(15_000)));
    rmSync(stateRoot, { recursive: true, force: true });
  }
  return result;
}

/** The snapshot before any worker exists (their counters start at zero). */
async function snapWorkersless(endpoint: string, engine: Child<EngineRequest, EngineReply>, observer: Observer): Promise<Snapshot> {
  const [e, eng] = await Promise.all([scrape(endpoint), engine.request({ type: "stats", resetPeak: true }, "stats", STATS_TIMEOUT_MS)]);
  return { at: Date.now(), etcd: e, engine: eng.stats, workers: [], observerEvents: observer.events };
}

function emptyWorker(): Snapshot["workers"][number] {
  return {
    process: { cpuSeconds: 0, rssBytes: 0, peakRssBytes: 0, at: 0 }, agents: 0, registered: 0, ownEvents: 0, foreignEvents: 0,
    agentsWithForeignEvents: 0, reconciles: 0, actions: 0, publishTxns: 0, publishOps: 0, calls: {}, loopMaxStallMs: 0,
  };
}

/** Polls `cond` until true (resolves the ms waited) or the deadline (undefined). */
async function waitFor(cond: () => boolean, timeoutMs: number, pollMs = 100, every10s?: () => void): Promise<number | undefined> {
  const start = Date.now();
  let told = start;
  while (!cond()) {
    if (Date.now() - start > timeoutMs) return undefined;
    if (every10s && Date.now() - told >= 10_000) {
      told = Date.now();
      every10s();
    }
    await Bun.sleep(pollMs);
  }
  return Date.now() - start;
}

function existsDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function gitCommit(): string {
  try {
    return execSync("git rev-parse --short HEAD", { cwd: import.meta.dir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
}
