// How the leader writes: a large plan in several fenced transactions, each unit written once
// (the next plan waits for its own writes to come back), metrics counted; and the unit-file
// collector refusing to delete a file newer than the units it has seen, or written again between
// its reads and its delete.
import { expect, test } from "bun:test";
import type { EtcdClient, Txn, TxnResult, Watch, WatchBatch, WatchOptions } from "../../src/registry/etcd/index.ts";
import { MetricsRegistry } from "../../src/metrics/metrics.ts";
import { createFleetMetrics } from "../../src/metrics/fleet.ts";
import type { EngineEtcd } from "../../src/engine/engine.ts";
import { INLINE_TEXT_MAX } from "../../src/registry/engine-writes.ts";
import { Cluster, memoryLog, unitRecord, unitText } from "../support/integration/engine-harness.ts";
import { until } from "../support/until.ts";

test("250 units are placed in batched transactions, each written exactly once", async () => {
  await using c = await Cluster.start();
  for (const m of ["m1", "m2", "m3"]) await c.agent(m);
  for (let i = 0; i < 250; i++) await c.submit(`u${String(i).padStart(3, "0")}.service`);
  const metrics = createFleetMetrics(new MetricsRegistry());
  const { engine, log } = c.engine("e1", {}, { metrics });
  engine.start();
  const entries = await until("250 entries", async () => {
    const all = await c.entries();
    return all.length === 250 ? all : undefined;
  });
  const load = new Map<string, number>();
  for (const e of entries) load.set(e.machine, (load.get(e.machine) ?? 0) + 1);
  expect([...load.values()].sort()).toEqual([83, 83, 84]);
  // More than one transaction: entries carry at least three different revisions.
  expect(new Set(entries.map((e) => e.modRevision)).size).toBeGreaterThanOrEqual(3);
  expect(log.lines.filter((l) => l.includes("INFO Scheduled ")).length).toBe(250);
  // Counted as each transaction's answer arrives, which may be after etcd shows the entries.
  await until("250 schedule tasks counted", () => metrics.engineTaskCount.get({ type: "schedule" }) === 250);
  expect(metrics.engineReconcileCount.get()).toBeGreaterThan(0);
  expect(metrics.engineLeaderStartTime.get()).toBeGreaterThan(0);
}, 60_000);

test("a plan's entries for one machine are one transaction: each agent gets them in one watch event", async () => {
  await using c = await Cluster.start();
  const machines = ["m1", "m2", "m3"];
  for (const m of machines) await c.agent(m);
  // Submitted before any engine runs, so one plan places all 30 (10 a machine, by name in turn).
  for (let i = 0; i < 30; i++) await c.submit(`u${String(i).padStart(2, "0")}.service`);
  const from = (await c.client.get(c.keys.unit("u29.service")))!.modRevision + 1;
  const batchesOf = new Map<string, number>();
  const seen = new Map<string, number>();
  const watches = machines.map((m) => {
    const w = c.client.watch(c.keys.machineSchedule(m), { prefix: true, startRevision: from });
    void (async () => {
      for await (const b of w) {
        if (b.kind !== "events") continue;
        batchesOf.set(m, (batchesOf.get(m) ?? 0) + 1);
        seen.set(m, (seen.get(m) ?? 0) + b.events.length);
      }
    })();
    return w;
  });
  try {
    const { engine } = c.engine("e1", { maxOpsPerTxn: 12 });
    engine.start();
    await until("ten entries on every machine", () => machines.every((m) => seen.get(m) === 10));
    expect(Object.fromEntries(batchesOf)).toEqual({ m1: 1, m2: 1, m3: 1 });
  } finally {
    for (const w of watches) w.close();
  }
}, 60_000);

test("a small unit's text goes into its entries; a large one's does not (the agent reads it from unitfiles/)", async () => {
  await using c = await Cluster.start();
  await c.agent("m1");
  const small = await c.submit("small.service");
  const env = Array.from({ length: Math.ceil(INLINE_TEXT_MAX / 1000) + 1 }, (_, i) => `Environment=V${i}=${"x".repeat(1000)}`).join("\n");
  const big = await c.submit("big.service", "", "launched", `ExecStart=/bin/true\n${env}`);
  const { engine } = c.engine("e1");
  engine.start();
  const entries = await until("both scheduled", async () => {
    const all = await c.entries();
    return all.length === 2 ? all : undefined;
  });
  expect(entries.find((e) => e.unit === "small.service")!.entry.text).toBe(unitText(""));
  expect(entries.find((e) => e.unit === "small.service")!.entry.hash).toBe(small.hash);
  expect(entries.find((e) => e.unit === "big.service")!.entry).not.toHaveProperty("text");
  expect(entries.find((e) => e.unit === "big.service")!.entry.hash).toBe(big.hash);
}, 60_000);

test("a unit that fits nowhere is counted once per round, and only written tasks are counted", async () => {
  await using c = await Cluster.start();
  await c.agent("m1");
  await c.submit("placed.service");
  await c.submit("stuck.service", "MachineID=nosuchmachine");
  const metrics = createFleetMetrics(new MetricsRegistry());
  const { engine } = c.engine("e1", {}, { metrics });
  engine.start();
  await until("stuck.service pending", async () => (await c.registry.getPending("stuck.service")) !== undefined);
  await until("placed.service scheduled", async () => (await c.entries()).length === 1);
  // Counted in rounds after it was written too, not only in the round that wrote it.
  await until("two rounds counted the pending unit", () => (metrics.engineReconcileFailureCount.get({ type: "constraints" }) ?? 0) >= 2);
  const rounds = metrics.engineReconcileCount.get() ?? 0;
  expect(metrics.engineReconcileFailureCount.get({ type: "constraints" })).toBeLessThanOrEqual(rounds);
  expect(metrics.engineTaskCount.get({ type: "schedule" })).toBe(1);
  expect(metrics.engineTaskCount.get({ type: "pending" })).toBe(1);
}, 60_000);

/**
 * The real client, with the deliveries of chosen watched prefixes held back (`hold`/`open`), or
 * lost for good while `drop` is set for them.
 */
function withValves(client: EtcdClient) {
  const gates = new Map<string, { wait: Promise<void>; release: () => void }>();
  const dropping = new Set<string>();
  const etcd: EngineEtcd = {
    get: client.get.bind(client), range: client.range.bind(client), txn: client.txn.bind(client),
    leaseGrant: client.leaseGrant.bind(client), leaseKeepAlive: client.leaseKeepAlive.bind(client),
    leaseRevoke: client.leaseRevoke.bind(client),
    observedRevision: client.observedRevision.bind(client), leaseTimeToLive: client.leaseTimeToLive.bind(client),
    watch(key: string, opts: WatchOptions = {}): Watch {
      const inner = client.watch(key, opts);
      return {
        close: () => inner.close(),
        async *[Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
          for await (const b of inner) {
            await gates.get(key)?.wait;
            if (!dropping.has(key)) yield b;
          }
        },
      };
    },
  };
  return {
    etcd,
    hold(prefix: string) {
      let release = () => {};
      const wait = new Promise<void>((r) => (release = r));
      gates.set(prefix, { wait, release });
    },
    open(prefix: string) {
      gates.get(prefix)?.release();
      gates.delete(prefix);
    },
    drop(prefix: string) {
      dropping.add(prefix);
    },
  };
}

test("a unit file newer than the units the engine has seen is not collected", async () => {
  await using c = await Cluster.start();
  await c.agent("m1");
  const valves = withValves(c.client);
  const log = memoryLog("engine");
  const { engine } = c.engine("e1", {}, { etcd: valves.etcd, log: log.logger });
  engine.start();
  await c.submit("a.service");
  await until("a scheduled", async () => (await c.placements())["a.service"]);

  // The engine sees b's file arrive but not yet b itself: the file looks unused to it.
  valves.hold(c.keys.units);
  const b = unitRecord("b.service", "", "launched", "ExecStart=/bin/sleep 1");
  await c.registry.createUnit(b, unitText("", "ExecStart=/bin/sleep 1"));
  await log.waitFor(`Not collecting unit files ${b.hash} yet: written after the units this engine has seen`);
  expect(await c.registry.getUnitFile(b.hash)).toBeDefined();

  valves.open(c.keys.units);
  await until("b scheduled", async () => (await c.placements())["b.service"]);
  expect(await c.registry.getUnitFile(b.hash)).toBeDefined();
  expect(log.has(`Removed unit file ${b.hash}`)).toBe(false);
}, 60_000);

/**
 * The real client, except that the first transaction deleting unit files waits for `before`
 * (given the hashes it deletes) and only then goes to etcd. `outcome` is set once it has.
 */
function withHookOnFileDelete(client: EtcdClient, unitFiles: string, before: (hashes: string[]) => Promise<void>) {
  let armed = true;
  const hook = {
    outcome: undefined as { hashes: string[]; result?: TxnResult; error?: unknown } | undefined,
    etcd: {
      get: client.get.bind(client), range: client.range.bind(client), watch: client.watch.bind(client),
      observedRevision: client.observedRevision.bind(client), leaseTimeToLive: client.leaseTimeToLive.bind(client),
      leaseGrant: client.leaseGrant.bind(client), leaseKeepAlive: client.leaseKeepAlive.bind(client),
      leaseRevoke: client.leaseRevoke.bind(client),
      async txn(t: Txn): Promise<TxnResult> {
        const hashes = t.success.filter((o) => o.type === "delete" && o.key.startsWith(unitFiles)).map((o) => o.key.slice(unitFiles.length));
        if (!armed || hashes.length === 0) return client.txn(t);
        armed = false;
        try {
          await before(hashes);
          const result = await client.txn(t);
          hook.outcome = { hashes, result };
          return result;
        } catch (error) {
          hook.outcome = { hashes, error };
          throw error;
        }
      },
    } satisfies EngineEtcd,
  };
  return hook;
}

test("a unit file written again between the collector's reads and its delete is not collected", async () => {
  await using c = await Cluster.start();
  await c.agent("m1");
  const body = "ExecStart=/bin/sleep 2";
  const y = unitRecord("y.service", "", "launched", body);
  let rewrittenAt = 0;
  // Just before the collector's delete reaches etcd, a user creates y with x's text: the same
  // file, put again (in y's transaction), after the units the collector decided on.
  const hook = withHookOnFileDelete(c.client, c.keys.unitFiles, async () => {
    if (!(await c.registry.createUnit(y, unitText("", body)))) throw new Error("Cannot create y.service: it exists already");
    rewrittenAt = (await c.client.get(c.keys.unitFile(y.hash)))?.modRevision ?? 0;
  });
  // A 10 s leader lease: on a slow machine a lapsed lease would fail the delete on the fence
  // instead (no "Kept" line then, so the test would fail, not pass for the wrong reason).
  const { engine, log } = c.engine("e1", { reconcileIntervalMs: 2000 }, { etcd: hook.etcd });
  engine.start();
  const x = await c.submit("x.service", "", "launched", body);
  expect(y.hash).toBe(x.hash);
  await until("x scheduled", async () => (await c.placements())["x.service"]);

  // Once x is gone the engine unschedules it and finds its file unused.
  await c.registry.destroyUnit("x.service");
  const outcome = await until("the collector's delete", () => hook.outcome);
  if (outcome.error !== undefined) throw outcome.error;
  expect(outcome.hashes).toEqual([x.hash]);
  expect(rewrittenAt).toBeGreaterThan(0);
  // etcd refused it: the file's mod revision is newer than the units the engine had read.
  expect(outcome.result?.succeeded).toBe(false);
  await log.waitFor(`Kept unit files ${x.hash}: written again since the units were read`);
  expect((await c.registry.getUnitFile(x.hash))?.text).toBe(unitText("", body));

  await until("y scheduled", async () => (await c.placements())["y.service"]);
  // The very file y wrote, neither deleted nor written since.
  expect((await c.client.get(c.keys.unitFile(x.hash)))?.modRevision).toBe(rewrittenAt);
  expect(log.has(`Removed unit file ${x.hash}`)).toBe(false);
}, 60_000);

test("the periodic resync finds what a watch lost, and the engine acts on it", async () => {
  await using c = await Cluster.start();
  await c.agent("m1");
  const valves = withValves(c.client);
  const log = memoryLog("engine");
  // A resync every 2 x 400 ms (jittered).
  const { engine } = c.engine("e1", { resyncEvery: 2 }, { etcd: valves.etcd, log: log.logger });
  engine.start();
  await until("leadership", () => engine.isLeader());
  valves.drop(c.keys.units);
  await c.submit("lost.service");
  await log.waitFor("Resync found 1 change the watches had not delivered");
  await until("lost.service scheduled", async () => (await c.placements())["lost.service"]);
}, 60_000);


test("a plan in several transactions waits for each informer's own last write, not the plan's last revision", async () => {
  await using c = await Cluster.start();
  await c.agent("m1");
  // One op per transaction: the schedule entry and the pending reason land at different
  // revisions, and the informer of the earlier one never sees the later one's revision.
  const { engine, log } = c.engine("e1", { maxOpsPerTxn: 1 });
  engine.start();
  await until("leadership", () => engine.isLeader());
  await c.submit("placed.service");
  await c.submit("stuck.service", "MachineID=nosuchmachine");
  await until("stuck.service pending", async () => (await c.registry.getPending("stuck.service")) !== undefined);
  await until("placed.service scheduled", async () => (await c.placements())["placed.service"]);
  // The next change is planned once the last round's echo came back; had the round waited for a
  // revision its informers cannot reach, it would have given up after 5 s and said so first.
  await c.submit("next.service");
  await until("next.service scheduled", async () => (await c.placements())["next.service"]);
  expect(log.lines.filter((l) => l.includes("did not come back"))).toEqual([]);
}, 60_000);
