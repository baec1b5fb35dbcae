// Orphan dynamic metadata: the leader removes metadata/<id> of a machine absent for the whole
// window (24 h by default), and keeps it for a machine that comes back in time, was written
// since, or is live. The collector is driven with explicit times against a real etcd; the
// engine test checks it is wired in (a window of 0 removes orphans at the first round).
import { expect, test } from "bun:test";
import { EngineWrites } from "../../src/registry/engine-writes.ts";
import { keySpace } from "../../src/registry/keys.ts";
import { MetadataCollector, ORPHAN_METADATA_AFTER_MS } from "../../src/engine/metadata-collector.ts";
import type { Term } from "../../src/engine/leader.ts";
import { Cluster, memoryLog } from "../support/integration/engine-harness.ts";
import { until } from "../support/until.ts";

const HOUR = 3_600_000;

test("metadata of a machine absent for the whole window goes; a return, a write or a live machine keeps it", async () => {
  await using c = await Cluster.start();
  const keys = keySpace("/collector/");
  const etcd = c.client;
  const put = (key: string, value: unknown) => etcd.put(key, JSON.stringify(value));
  // What the informers would hold: read straight from etcd before each round.
  const caches = async () => {
    const [machines, metadata] = await Promise.all([
      etcd.range(keys.machines, { prefix: true, keysOnly: true }),
      etcd.range(keys.metadatas, { prefix: true }),
    ]);
    const live = new Set(machines.kvs.map((kv) => kv.key));
    const meta = new Map(metadata.kvs.map((kv) => [kv.key, kv.modRevision]));
    return { machines: { has: (k: string) => live.has(k) }, metadata: { keys: () => meta.keys(), modRevision: (k: string) => meta.get(k) } };
  };
  const remaining = async () => (await etcd.range(keys.metadatas, { prefix: true, keysOnly: true })).kvs.map((kv) => kv.key.slice(keys.metadatas.length));
  const log = memoryLog("collector");
  // The fence always holds: no leader key under this prefix.
  const collector = new MetadataCollector({ writes: new EngineWrites(etcd, keys), keys, log: log.logger, election: { fence: () => ({ key: keys.leader, epoch: 0 }) } });
  const term = { epoch: 1 } as Term;
  const round = async (now: number) => collector.collect(term, await caches(), now);

  await put(keys.machine("live"), { id: "live" });
  for (const id of ["live", "gone", "back", "rewritten"]) await put(keys.metadata(id), { role: id });
  expect(ORPHAN_METADATA_AFTER_MS).toBe(24 * HOUR);

  const t0 = 1_000_000;
  expect(await round(t0)).toBe(t0 + 24 * HOUR);
  // "back" registers again within the window (the engine tells the collector), then leaves again.
  collector.machineSeen("back");
  expect(await round(t0 + 2 * HOUR)).toBe(t0 + 24 * HOUR);
  // "rewritten" got new metadata while it was briefly live.
  await put(keys.metadata("rewritten"), { role: "new" });
  expect(await round(t0 + 3 * HOUR)).toBe(t0 + 24 * HOUR);
  expect(await remaining()).toEqual(["back", "gone", "live", "rewritten"]);

  // One window after first seen absent: only "gone" is due; the others restarted their count.
  expect(await round(t0 + 24 * HOUR)).toBe(t0 + 26 * HOUR);
  expect(await remaining()).toEqual(["back", "live", "rewritten"]);
  expect(log.lines.filter((l) => l.includes("Removed the dynamic metadata"))).toEqual([
    expect.stringContaining("INFO Removed the dynamic metadata of machine gone: the machine has been gone for 24 h or more"),
  ]);
  // A machine that registered after being found absent is not collected, even when due.
  await put(keys.machine("back"), { id: "back" });
  expect(await round(t0 + 30 * HOUR)).toBeUndefined();
  expect(await remaining()).toEqual(["back", "live"]);

  // A new term starts counting afresh: a removal can be delayed by a leader change, never hastened.
  await etcd.delete(keys.machine("back"));
  await round(t0 + 31 * HOUR);
  collector.reset();
  expect(await round(t0 + 56 * HOUR)).toBe(t0 + 80 * HOUR);
  expect(await remaining()).toEqual(["back", "live"]);
  await round(t0 + 80 * HOUR);
  expect(await remaining()).toEqual(["live"]);
}, 60_000);

test("a delete needs the machine still gone and the metadata unchanged in etcd, whatever the cache said", async () => {
  await using c = await Cluster.start();
  const keys = keySpace("/collector-race/");
  const etcd = c.client;
  await etcd.put(keys.metadata("m1"), JSON.stringify({ a: "1" }));
  const kv = await etcd.get(keys.metadata("m1"));
  const collector = new MetadataCollector({ writes: new EngineWrites(etcd, keys), keys, log: memoryLog("race").logger, afterMs: 0, election: { fence: () => ({ key: keys.leader, epoch: 0 }) } });
  // A stale cache: the machine registered in etcd meanwhile.
  await etcd.put(keys.machine("m1"), "{}");
  const stale = { machines: { has: () => false }, metadata: { keys: () => [keys.metadata("m1")][Symbol.iterator](), modRevision: () => kv!.modRevision } };
  await collector.collect({ epoch: 1 } as Term, stale, 0);
  expect(await etcd.get(keys.metadata("m1"))).toBeDefined();
});

test("the leader removes orphan metadata and keeps live machines' (window 0)", async () => {
  await using c = await Cluster.start();
  await c.agent("m1", { disk: "ssd" });
  await c.client.put(c.keys.metadata("m1"), JSON.stringify({ rack: "r1" }));
  for (let i = 0; i < 20; i++) await c.client.put(c.keys.metadata(`ghost${i}`), JSON.stringify({ x: "1" }));
  const { engine, log } = c.engine("e1", { orphanMetadataAfterMs: 0 });
  engine.start();
  await until("orphans removed", async () => (await c.client.range(c.keys.metadatas, { prefix: true, keysOnly: true })).kvs.length === 1);
  expect(await c.registry.getDynamicMetadata("m1")).toEqual({ rack: "r1" });
  expect(log.lines.filter((l) => l.includes("Removed the dynamic metadata of machine ghost"))).toHaveLength(20);
}, 60_000);
