// The scale benchmark's engine process: the real Engine and the real v1 API (TCP on a free
// port), wired as the daemon wires them, on their own etcd client. No agent runs here: this
// process is not a machine. Its log goes to stderr (the orchestrator sends it to a file).
// Started by main.ts with its config as JSON in argv[2]; answers stats requests over IPC.
import { createApiHandler } from "../../src/api/handler.ts";
import { serveApi } from "../../src/api/listeners.ts";
import { DEFAULTS } from "../../src/config/index.ts";
import { createLogger } from "../../src/log/logger.ts";
import { fleetMetrics } from "../../src/metrics/fleet.ts";
import { EtcdClient, type Txn } from "../../src/registry/etcd/index.ts";
import { Registry } from "../../src/registry/registry.ts";
import { Engine, type EngineEtcd } from "../../src/engine/engine.ts";
import { VERSION } from "../../src/version.ts";
import { parseMetrics, sumOf } from "./etcd-metrics.ts";
import type { EngineProcessConfig, EngineReply, EngineRequest, EngineStats } from "./ipc.ts";
import { monitorLoopLag, processStats, resetPeak } from "./process-stats.ts";

const send = (m: EngineReply) => process.send!(m);

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? "") as EngineProcessConfig;
  const log = createLogger({ verbosity: 0 });
  const etcd = new EtcdClient({ endpoints: [config.endpoint], requestTimeoutMs: DEFAULTS.etcdRequestTimeoutMs });
  const registry = new Registry(etcd, config.prefix);
  const counts = { schedulePuts: 0, scheduleDeletes: 0, lastScheduleWriteAt: 0, txns: 0 };
  const schedules = registry.keys.schedules;
  // The engine's own client with its writes counted: what it placed, and when.
  const counted: EngineEtcd = {
    get: (k, o) => etcd.get(k, o),
    range: (k, o) => etcd.range(k, o),
    leaseGrant: (t, id) => etcd.leaseGrant(t, id),
    leaseKeepAlive: (id) => etcd.leaseKeepAlive(id),
    leaseRevoke: (id) => etcd.leaseRevoke(id),
    watch: (k, o) => etcd.watch(k, o),
    observedRevision: () => etcd.observedRevision(),
    leaseTimeToLive: (id, o) => etcd.leaseTimeToLive(id, o),
    txn: async (t: Txn) => {
      const res = await etcd.txn(t);
      counts.txns++;
      if (res.succeeded) {
        let touched = false;
        for (const o of t.success) {
          if (!o.key.startsWith(schedules)) continue;
          touched = true;
          if (o.type === "put") counts.schedulePuts++;
          else if (o.type === "delete") counts.scheduleDeletes++;
        }
        if (touched) counts.lastScheduleWriteAt = Date.now();
      }
      return res;
    },
  };
  const engine = new Engine({
    etcd: counted,
    registry,
    machineId: "bench-engine",
    config: {
      reconcileIntervalMs: config.reconcileIntervalMs,
      agentTtlMs: config.agentTtlMs,
      evictionsPerSecond: config.evictionsPerSecond,
      evictionBurst: config.evictionBurst,
      evictionSettleMs: config.evictionSettleMs,
    },
    log: log.child("engine"),
  });
  const handler = createApiHandler({ registry, tokenLimit: DEFAULTS.tokenLimit, version: VERSION, isReady: () => true, log: log.child("api") });
  // A TCP listener needs authentication: a token of this run, handed to the submitter.
  const token = crypto.randomUUID();
  const listeners = await serveApi(handler, {
    listen: [{ kind: "tcp", host: "127.0.0.1", port: 0 }], tokens: [token], log: log.child("api"), version: VERSION, socketActivation: false,
  });
  engine.start();
  // Event-loop stalls: the API shares this loop with the engine's synchronous planning.
  const lag = monitorLoopLag(50);

  const stats = (): EngineStats => {
    const m = parseMetrics(fleetMetrics.registry.expose());
    return {
      process: processStats(),
      leader: engine.isLeader(),
      ...counts,
      reconciles: sumOf(m, "fleet_engine_reconcile_count_total"),
      reconcileSeconds: sumOf(m, "fleet_engine_reconcile_duration_second_sum"),
      loopMaxStallMs: Math.round(lag.maxMs),
      loopStalledSeconds: lag.stalledMs / 1000,
    };
  };
  process.on("message", (raw) => {
    const req = raw as EngineRequest;
    if (req.type === "stats") {
      const s = stats();
      if (req.resetPeak) {
        resetPeak();
        lag.maxMs = 0;
      }
      send({ type: "stats", stats: s });
    } else if (req.type === "stop") {
      void (async () => {
        await engine.stop({ resign: true }).catch(() => undefined);
        await listeners.close();
        etcd.close();
        send({ type: "stopped" });
        process.exit(0);
      })();
    }
  });
  const address = listeners.addresses[0]!.replace(/^tcp:\/\//, "http://");
  while (!engine.isLeader()) await Bun.sleep(50);
  send({ type: "ready", api: address, token });
}

main().catch((e) => {
  send({ type: "error", message: e instanceof Error ? e.stack ?? e.message : String(e) });
  process.exit(1);
});
