// Hollow machines: the real Presence, Agent and engine candidate, each with its own machine id,
// lease, watch of its own schedule prefix and state directory, over a FakeUnitManager that starts
// units at once and reports them active. Many run in this one process, sharing one etcd client
// (one connection pool; each still has its own watch streams and lease). Every agent's watch is
// counted: events inside its own schedule prefix, and events for any other key (by design,
// none). The candidates wait behind the benchmark's engine process, which leads, as every
// daemon but the leader does in a real cluster; every etcd call is counted by kind.
import { join } from "node:path";
import { Agent } from "../../src/agent/agent.ts";
import { Presence } from "../../src/agent/presence.ts";
import { Engine, type EngineEtcd } from "../../src/engine/engine.ts";
import { DEFAULTS } from "../../src/config/index.ts";
import { createLogger } from "../../src/log/logger.ts";
import { EtcdClient, type Watch, type WatchBatch } from "../../src/registry/etcd/index.ts";
import { keySpace } from "../../src/registry/keys.ts";
import type { MachineRecord } from "../../src/registry/models.ts";
import { FakeUnitManager } from "../../src/systemd/fake-unit-manager.ts";
import { VERSION } from "../../src/version.ts";
import type { WorkerConfig, WorkerReply, WorkerRequest, WorkerStats } from "./ipc.ts";
import { monitorLoopLag, processStats, resetPeak } from "./process-stats.ts";

interface Hollow {
  id: string;
  agent: Agent;
  presence: Presence;
  candidate: Engine;
  units: FakeUnitManager;
  tally: { own: number; foreign: number };
}

const send = (m: WorkerReply) => process.send!(m);
const hollows = new Map<string, Hollow>();
const calls: Record<string, number> = {};
let etcd: EtcdClient | undefined;
const logLines = { warn: 0, error: 0 };
// Coarse: this timer's CPU would otherwise count as the agents' own.
const lag = monitorLoopLag(500);
/** Counters of killed machines, so totals never go down. */
type AgentTotals = Pick<WorkerStats, "ownEvents" | "foreignEvents" | "agentsWithForeignEvents" | "reconciles" | "actions" | "publishTxns" | "publishOps">;
/** What killed machines' agents counted, so the totals survive them. */
const retired: AgentTotals = { ownEvents: 0, foreignEvents: 0, agentsWithForeignEvents: 0, reconciles: 0, actions: 0, publishTxns: 0, publishOps: 0 };

function count(call: string): void {
  calls[call] = (calls[call] ?? 0) + 1;
}

/** The agent's watch, with each delivered event counted as its own or someone else's. */
function countedWatch(inner: Watch, own: string, tally: Hollow["tally"]): Watch {
  return {
    close: () => inner.close(),
    async *[Symbol.asyncIterator](): AsyncGenerator<WatchBatch> {
      for await (const batch of inner) {
        if (batch.kind === "events") {
          for (const e of batch.events) {
            if (e.kv.key.startsWith(own)) tally.own++;
            else tally.foreign++;
          }
        }
        yield batch;
      }
    },
  };
}

async function start(config: WorkerConfig): Promise<number> {
  const log = createLogger({
    verbosity: 0,
    write: (line) => {
      if (line.includes(" WARN ")) logLines.warn++;
      else if (line.includes(" ERROR ")) logLines.error++;
      process.stderr.write(`${line}\n`);
    },
  });
  const client = new EtcdClient({ endpoints: [config.endpoint], requestTimeoutMs: DEFAULTS.etcdRequestTimeoutMs });
  etcd = client;
  const keys = keySpace(config.prefix);
  const started = Date.now();
  const n = config.machines.length;
  await Promise.all(config.machines.map(async (spec, i) => {
    // Spread over the ramp: keepalives of machines started together stay in step forever.
    await Bun.sleep(Math.max(0, started + (i * config.rampMs) / n - Date.now()));
    const machineLog = log.child(`machine ${spec.id.slice(0, 8)}`);
    const tally = { own: 0, foreign: 0 };
    const own = keys.machineSchedule(spec.id);
    const agentEtcd = {
      range: (...a: Parameters<EtcdClient["range"]>) => (count("range"), client.range(...a)),
      get: (...a: Parameters<EtcdClient["get"]>) => (count("get"), client.get(...a)),
      // A transaction that only reads is the unit files a reconcile needs: counted apart from writes.
      txn: (...a: Parameters<EtcdClient["txn"]>) => (count(a[0].success.every((o) => o.type === "range") ? "read" : "txn"), client.txn(...a)),
      watch: (...a: Parameters<EtcdClient["watch"]>) => (count("watch"), countedWatch(client.watch(...a), own, tally)),
      // Not a request: the revision the worker's shared client last heard of.
      observedRevision: () => client.observedRevision(),
    };
    const presenceEtcd = {
      txn: (...a: Parameters<EtcdClient["txn"]>) => (count("presence-txn"), client.txn(...a)),
      leaseGrant: (...a: Parameters<EtcdClient["leaseGrant"]>) => (count("lease-grant"), client.leaseGrant(...a)),
      leaseKeepAlive: (...a: Parameters<EtcdClient["leaseKeepAlive"]>) => (count("keepalive"), client.leaseKeepAlive(...a)),
      leaseRevoke: (...a: Parameters<EtcdClient["leaseRevoke"]>) => (count("lease-revoke"), client.leaseRevoke(...a)),
      leaseTimeToLive: (...a: Parameters<EtcdClient["leaseTimeToLive"]>) => (count("lease-ttl"), client.leaseTimeToLive(...a)),
    };
    const candidateEtcd: EngineEtcd = {
      get: (...a) => (count("candidate-get"), client.get(...a)),
      range: (...a) => (count("candidate-range"), client.range(...a)),
      txn: (...a) => (count("candidate-txn"), client.txn(...a)),
      watch: (...a) => (count("candidate-watch"), client.watch(...a)),
      leaseGrant: (...a) => (count("candidate-lease-grant"), client.leaseGrant(...a)),
      leaseKeepAlive: (...a) => (count("candidate-keepalive"), client.leaseKeepAlive(...a)),
      leaseRevoke: (...a) => (count("candidate-lease-revoke"), client.leaseRevoke(...a)),
      leaseTimeToLive: (...a) => (count("candidate-lease-ttl"), client.leaseTimeToLive(...a)),
      observedRevision: () => client.observedRevision(),
    };
    const record: MachineRecord = {
      id: spec.id, publicIP: spec.publicIP, metadata: spec.metadata, version: VERSION, startedAt: new Date().toISOString(),
      ...(spec.capacity ? { capacity: spec.capacity } : {}),
    };
    const stateDir = join(config.stateRoot, spec.id);
    const units = new FakeUnitManager();
    const presence = new Presence({ etcd: presenceEtcd, keys, machine: () => record, ttlMs: config.agentTtlMs, stateDir, log: machineLog.child("presence") });
    const agent = new Agent({ etcd: agentEtcd, keys, machineId: spec.id, units, stateDir, log: machineLog.child("agent") });
    const candidate = new Engine({
      etcd: candidateEtcd, registry: { keys }, machineId: spec.id, log: machineLog.child("engine"),
      config: { reconcileIntervalMs: config.reconcileIntervalMs, agentTtlMs: config.agentTtlMs },
    });
    // A candidate that wins would hold the whole cluster in this process: counted, so a run where it happened says so.
    candidate.election.onChange((term) => term && count("candidate-won"));
    await agent.start();
    // As the daemon wires them.
    presence.onRegistered((reg) => {
      agent.activate(reg);
      candidate.start();
    });
    presence.onLost(() => agent.deactivate());
    presence.onReconnected(() => {
      agent.refresh();
      candidate.refresh();
    });
    presence.start();
    hollows.set(spec.id, { id: spec.id, agent, presence, candidate, units, tally });
  }));
  while (registered() < n) await Bun.sleep(50);
  return registered();
}

function registered(): number {
  let r = 0;
  for (const h of hollows.values()) if (h.presence.status.state === "registered") r++;
  return r;
}

function stats(): WorkerStats {
  const s: WorkerStats = {
    process: processStats(), agents: hollows.size, registered: registered(), ...retired, calls: { ...calls, ...prefixed(logLines) },
    loopMaxStallMs: Math.round(lag.maxMs),
  };
  for (const h of hollows.values()) addTotals(s, h);
  return s;
}

function addTotals(t: AgentTotals, h: Hollow): void {
  t.ownEvents += h.tally.own;
  t.foreignEvents += h.tally.foreign;
  if (h.tally.foreign > 0) t.agentsWithForeignEvents++;
  t.reconciles += h.agent.stats.reconciles;
  t.actions += h.agent.stats.actions;
  t.publishTxns += h.agent.publisher.stats.txns;
  t.publishOps += h.agent.publisher.stats.ops;
}

function prefixed(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [`log-${k}`, v]));
}

/** Dies as a crashed host would for etcd: no revoke, no goodbye; the lease runs out. */
async function kill(ids: string[]): Promise<number> {
  let n = 0;
  await Promise.all(ids.map(async (id) => {
    const h = hollows.get(id);
    if (!h) return;
    hollows.delete(id);
    await Promise.all([h.presence.stop(), h.agent.stop(), h.candidate.stop({ resign: false })]);
    await h.units.close();
    addTotals(retired, h);
    n++;
  }));
  return n;
}

async function stopAll(): Promise<void> {
  await kill([...hollows.keys()]);
  etcd?.close();
}

process.on("message", (raw) => {
  const req = raw as WorkerRequest;
  const fail = (e: unknown) => send({ type: "error", message: e instanceof Error ? e.stack ?? e.message : String(e) });
  switch (req.type) {
    case "start":
      start(req.config).then((registered) => send({ type: "started", registered }), fail);
      break;
    case "stats": {
      const s = stats();
      if (req.resetPeak) {
        resetPeak();
        lag.maxMs = 0;
      }
      send({ type: "stats", stats: s });
      break;
    }
    case "kill":
      kill(req.ids).then((count) => send({ type: "killed", count }), fail);
      break;
    case "stop":
      stopAll().then(() => {
        send({ type: "stopped" });
        process.exit(0);
      }, fail);
      break;
  }
});
