// Fuzzing the keyspace in process (the cheap variant of test/functional/record-fuzz.test.ts):
// a real etcd, three "daemons" wired as the daemon wires them (presence, agent, engine
// candidate, API), with the in-memory unit manager standing in for systemd. Seeded malformed
// records go under every key kind while good units are submitted; the good units must still be
// placed, started and listed, nothing may fail, and each daemon counts each refused record once.
// FLEET_FUZZ_SEED repeats a run; FLEET_FUZZ_WRITES changes its size (default 300).
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent } from "../../src/agent/agent.ts";
import { Presence } from "../../src/agent/presence.ts";
import { createApiHandler, type ApiHandler } from "../../src/api/handler.ts";
import { createLogger } from "../../src/log/logger.ts";
import { createFleetMetrics, type FleetMetrics } from "../../src/metrics/fleet.ts";
import { MetricsRegistry } from "../../src/metrics/metrics.ts";
import { EtcdClient } from "../../src/registry/etcd/index.ts";
import { InvalidRecords } from "../../src/registry/invalid-records.ts";
import { keySpace } from "../../src/registry/keys.ts";
import { Registry } from "../../src/registry/registry.ts";
import type { RecordKind } from "../../src/registry/records.ts";
import { Engine } from "../../src/engine/engine.ts";
import { FakeUnitManager } from "../../src/systemd/fake-unit-manager.ts";
import { startEtcdFixture } from "../support/etcd-fixture.ts";
import { RecordFuzzer } from "../support/record-fuzz.ts";
import { fuzzSeed } from "../support/seeded-random.ts";
import { until } from "../support/until.ts";

const PREFIX = "/fleet/";
const IDS = ["1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a", "2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b", "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c"];
/** Families the engine leader's informers read: each refused record there is counted once by it. */
const WATCHED: RecordKind[] = ["units", "machines", "metadata", "schedule", "pending", "drain"];
const SERVICE = [{ section: "Service", name: "ExecStart", value: "/bin/sleep 1000" }];

interface Node {
  id: string;
  engine: Engine;
  units: FakeUnitManager;
  invalid: InvalidRecords;
  metrics: FleetMetrics;
  lines: string[];
  api: ApiHandler;
  stop(): Promise<void>;
}

async function startNode(etcd: EtcdClient, id: string, dir: string): Promise<Node> {
  const lines: string[] = [];
  const log = createLogger({ verbosity: 0, journal: false, write: (l) => lines.push(l) });
  const metrics = createFleetMetrics(new MetricsRegistry());
  const invalid = new InvalidRecords(metrics);
  const registry = new Registry(etcd, PREFIX, { log, invalid });
  const units = new FakeUnitManager({ unitsDirectory: join(dir, id, "units") });
  const stateDir = join(dir, id);
  const presence = new Presence({
    etcd, keys: registry.keys, machine: () => ({ id, publicIP: "10.1.1.1", metadata: {}, version: "fuzz", startedAt: new Date().toISOString() }),
    ttlMs: 5000, stateDir, log, retry: { baseMs: 50, capMs: 200 },
  });
  const agent = new Agent({ etcd, keys: registry.keys, machineId: id, units, stateDir, log, invalid, unitRetry: { baseMs: 50, capMs: 500 } });
  const engine = new Engine({ etcd, registry, machineId: id, log, metrics, config: { reconcileIntervalMs: 400, agentTtlMs: 5000 } });
  await agent.start();
  presence.onRegistered((r) => agent.activate(r));
  presence.onLost(() => agent.deactivate());
  presence.start();
  engine.start();
  await until(`${id} registered`, () => presence.ready, 10_000);
  const api = createApiHandler({ registry, tokenLimit: 100, version: "fuzz", isReady: () => true, metrics, log });
  return {
    id, engine, units, invalid, metrics, lines, api,
    async stop() {
      await engine.stop();
      await agent.stop();
      await presence.stop();
    },
  };
}

async function call(node: Node, method: string, path: string, body?: object): Promise<Response> {
  const init: RequestInit = { method, headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined };
  return node.api(new Request(`http://fleet.test${path}`, init));
}

test("malformed records under every key kind: good units are still placed, started and listed, nothing fails", async () => {
  const seed = fuzzSeed();
  const maxWrites = Number(process.env.FLEET_FUZZ_WRITES ?? 300);
  await using server = await startEtcdFixture();
  const etcd = server.client;
  const dir = mkdtempSync(join(tmpdir(), "fleet-fuzz-"));
  const rejections: unknown[] = [];
  const onRejection = (e: unknown) => rejections.push(e);
  process.on("unhandledRejection", onRejection);
  const nodes: Node[] = [];
  try {
    for (const id of IDS) nodes.push(await startNode(etcd, id, dir));
    const [first] = nodes as [Node];
    const good: string[] = [];
    const hashes = new Set<string>();
    const submit = async (name: string) => {
      const res = await call(first, "PUT", `/fleet/v1/units/${name}`, { desiredState: "launched", options: SERVICE });
      expect(res.status).toBe(201);
      good.push(name);
      const u = await new Registry(etcd, PREFIX).getUnit(name);
      hashes.add(u!.hash);
    };
    for (let i = 0; i < 3; i++) await submit(`good-${i}.service`);
    // Where the first units run, and their main pids: the fuzz must neither move nor restart them.
    const before = new Map<string, { node: Node; pid: number }>();
    for (const u of good) {
      const { node, pid } = await until(`${u} running before the fuzz`, async () => {
        for (const n of nodes) {
          const pid = (await n.units.states([u])).get(u)?.activeState === "active" ? await n.units.mainPid(u) : undefined;
          if (pid !== undefined) return { node: n, pid };
        }
        return undefined;
      }, { timeoutMs: 30_000, retryErrors: true });
      before.set(u, { node, pid });
    }

    const leader = nodes.find((n) => n.engine.isLeader())!;
    const epoch = leader.engine.epoch;
    const fuzzer = new RecordFuzzer(seed, { keys: keySpace(PREFIX), machines: () => IDS, goodUnits: () => good, goodHashes: () => hashes });
    const tried = new Map<string, number>();
    const deadline = Date.now() + 60_000;
    while (fuzzer.total < maxWrites && Date.now() < deadline) {
      const w = fuzzer.next();
      tried.set(w.what, (tried.get(w.what) ?? 0) + 1);
      await etcd.put(w.key, w.value);
      // Good units keep coming while the fuzz goes on.
      if (fuzzer.total % 100 === 50) await submit(`good-${good.length}.service`);
    }
    console.log(`record fuzz (in process): seed=${seed} tried: ${[...tried].sort().map(([w, n]) => `${w}=${n}`).join(", ")}`);

    // Placed, started, listed.
    const registry = new Registry(etcd, PREFIX);
    const placed = await until("every good unit placed", async () => {
      const schedule = await registry.listSchedule();
      return good.every((u) => schedule.get(u)?.size === 1) ? schedule : undefined;
    }, { timeoutMs: 30_000, retryErrors: true });
    for (const u of good) {
      const machine = [...placed.get(u)!.keys()][0]!;
      const node = nodes.find((n) => n.id === machine)!;
      await until(`${u} active on ${machine}`, async () => (await node.units.states([u])).get(u)?.activeState === "active", { timeoutMs: 30_000, retryErrors: true });
    }
    for (const node of nodes) {
      const listed = await until(`every good unit listed launched by ${node.id}`, async () => {
        const units = (await (await call(node, "GET", "/fleet/v1/units")).json()) as { units: { name: string; currentState?: string }[] };
        const launched = units.units.filter((x) => x.currentState === "launched").map((x) => x.name);
        return good.every((u) => launched.includes(u)) ? units.units.map((x) => x.name) : undefined;
      }, { timeoutMs: 30_000, retryErrors: true });
      // Only the good units are listed: nothing the fuzzer wrote passes for a unit.
      expect(listed.sort()).toEqual([...good].sort());
      const states = (await (await call(node, "GET", "/fleet/v1/state")).json()) as { states: { name: string; systemdActiveState: string }[] };
      for (const u of good) expect(states.states.find((s) => s.name === u)?.systemdActiveState).toBe("active");
    }

    for (const [u, was] of before) {
      expect({ u, machine: [...placed.get(u)!.keys()][0], pid: await was.node.units.mainPid(u) }).toEqual({ u, machine: was.node.id, pid: was.pid });
    }

    // Nothing failed; the leader (the same throughout) told about each refused record of its
    // families exactly once, and no daemon told about one twice (candidates read only the
    // leader key; their APIs read what the listings ask for).
    expect(rejections).toEqual([]);
    expect(nodes.filter((n) => n.engine.isLeader())).toEqual([leader]);
    expect(leader.engine.epoch).toBe(epoch);
    for (const node of nodes) {
      expect(node.lines.filter((l) => / ERROR |Reconcile failed|Unhandled|uncaught/.test(l))).toEqual([]);
      for (const kind of WATCHED) {
        const series = `fleet_registry_invalid_records_total{kind="${kind}"} `;
        const line = node.metrics.registry.expose().split("\n").find((l) => l.startsWith(series));
        const counted = Number(line?.slice(series.length) ?? 0);
        const written = fuzzer.written.get(kind) ?? 0;
        if (node === leader) expect({ kind, counted }).toEqual({ kind, counted: written });
        else expect({ kind, counted: Math.min(counted, written) }).toEqual({ kind, counted });
      }
    }
    console.log(
      `record fuzz (in process): seed=${seed} writes=${fuzzer.total} (${fuzzer.summary()}) ` +
        `skipped-and-counted=${nodes.map((n) => n.invalid.count).join("/")} good-units=${good.length} placed+started+listed crashes=0`,
    );
  } finally {
    process.off("unhandledRejection", onRejection);
    for (const n of nodes) await n.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
