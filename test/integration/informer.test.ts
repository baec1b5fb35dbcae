// The list+watch cache against a real etcd: every change delivered once, in order, and after a
// compaction the re-list reports exactly the difference.
import { expect, test } from "bun:test";
import { EtcdClient, type Watch, type WatchBatch, type WatchOptions } from "../../src/registry/etcd/index.ts";
import { Informer, type InformerChange } from "../../src/registry/informer.ts";
import type { KeyValue } from "../../src/registry/etcd/index.ts";
import { InvalidRecords } from "../../src/registry/invalid-records.ts";
import type { Decoded } from "../../src/registry/records.ts";
import { createLogger } from "../../src/log/logger.ts";
import { createFleetMetrics } from "../../src/metrics/fleet.ts";
import { MetricsRegistry } from "../../src/metrics/metrics.ts";
import { startEtcdFixture } from "../support/etcd-fixture.ts";
import { until } from "../support/until.ts";
import { startEtcd } from "../support/etcd-server.ts";

const text = (kv: KeyValue): Decoded<string> => ({ ok: true, value: kv.value });

function recorder(inf: Informer<string>) {
  const seen: InformerChange<string>[] = [];
  inf.onChange((batch) => seen.push(...batch));
  const short = () => seen.map((c) => `${c.type} ${c.key.slice(inf.prefix.length)}${c.value === undefined ? "" : `=${c.value}`}${c.prev === undefined ? "" : ` (was ${c.prev})`}`);
  return { seen, short };
}

function snapshot(inf: Informer<string>): Record<string, string> {
  return Object.fromEntries([...inf.entries()].map(([k, v]) => [k.slice(inf.prefix.length), v]));
}

test("initial keys arrive as adds, then each put and delete exactly once, in order", async () => {
  await using etcd = await startEtcdFixture();
  const c = etcd.client;
  const inf = new Informer<string>({ etcd: c, prefix: "/i/", decode: text, pageSize: 2 });
  try {
    for (const k of ["a", "b", "c", "d", "e"]) await c.put(`/i/${k}`, `${k}0`);
    await c.put("/i-not-mine", "x");
    const rec = recorder(inf);
    inf.start();
    await inf.synced;
    expect(rec.short()).toEqual(["add a=a0", "add b=b0", "add c=c0", "add d=d0", "add e=e0"]);
    expect(rec.seen.every((ch) => ch.source === "list")).toBe(true);

    await c.put("/i/a", "a1");
    await c.delete("/i/b");
    await c.put("/i/f", "f0");
    await c.put("/other/x", "ignored");
    const last = await c.delete("/i/f");
    await inf.waitForRevision(last.revision);
    expect(rec.short().slice(5)).toEqual(["update a=a1 (was a0)", "delete b (was b0)", "add f=f0", "delete f (was f0)"]);
    expect(rec.seen.slice(5).every((ch) => ch.source === "watch")).toBe(true);
    expect(snapshot(inf)).toEqual({ a: "a1", c: "c0", d: "d0", e: "e0" });
    expect(inf.revision).toBeGreaterThanOrEqual(last.revision);

    // A healthy watch leaves nothing for a re-list to find, and nothing is reported twice.
    expect(await inf.resync()).toBe(0);
    expect(rec.seen.length).toBe(9);
  } finally {
    await inf.close();
  }
}, 30_000);

test("a value that cannot be decoded is skipped, told about once, and the last good value kept", async () => {
  await using etcd = await startEtcdFixture();
  const c = etcd.client;
  const metrics = createFleetMetrics(new MetricsRegistry());
  const invalid = new InvalidRecords(metrics);
  const lines: string[] = [];
  const log = createLogger({ verbosity: 0, journal: false, write: (l) => lines.push(l) });
  const decode = (kv: KeyValue): Decoded<{ n: number }> => {
    const v = JSON.parse(kv.value === "" ? "null" : kv.value.startsWith("{") ? kv.value : "null") as { n?: unknown } | null;
    return typeof v?.n === "number" ? { ok: true, value: { n: v.n } } : { ok: false, failure: { kind: "units", key: kv.key, reason: "no n" } };
  };
  const inf = new Informer<{ n: number }>({ etcd: c, prefix: "/j/", decode, log, invalid });
  let batches = 0;
  inf.onChange(() => batches++);
  try {
    await c.put("/j/good", JSON.stringify({ n: 1 }));
    const bad = await c.put("/j/bad", "{}");
    inf.start();
    await inf.synced;
    expect([...inf.keys()]).toEqual(["/j/good"]);
    expect([...inf.invalidEntries()]).toEqual([["/j/bad", { kind: "units", key: "/j/bad", reason: "no n" }]]);
    const broken = await c.put("/j/good", "also not json");
    const r = await c.put("/j/good2", JSON.stringify({ n: 2 }));
    await inf.waitForRevision(r.revision);
    expect(inf.get("/j/good")).toEqual({ n: 1 });
    expect(inf.get("/j/good2")).toEqual({ n: 2 });
    expect([...inf.invalidEntries()].map(([k]) => k).sort()).toEqual(["/j/bad", "/j/good"]);

    // Re-listing meets the same revisions again: nothing more is logged or counted.
    await inf.resync();
    expect(lines.map((l) => l.slice(l.indexOf("WARN")))).toEqual([
      `WARN Skipping /j/bad at revision ${bad.revision}: no n`,
      `WARN Skipping /j/good at revision ${broken.revision}: no n`,
    ]);
    expect(invalid.count).toBe(2);
    expect(metrics.registry.expose()).toContain('fleet_registry_invalid_records_total{kind="units"} 2\n');

    // Fixing or deleting an unreadable key is news even when no value changes: listeners hear it.
    const before = batches;
    const fixed = await c.put("/j/bad", JSON.stringify({ n: 3 }));
    await inf.waitForRevision(fixed.revision);
    const gone = await c.delete("/j/good");
    await inf.waitForRevision(gone.revision);
    expect([...inf.invalidEntries()]).toEqual([]);
    expect(inf.get("/j/bad")).toEqual({ n: 3 });
    expect(batches).toBe(before + 2);
  } finally {
    await inf.close();
  }
}, 30_000);

/**
 * The real client, except that watches wait for `open()`: the informer lists, then the test
 * changes keys and compacts the history before the watch can start from the list's revision.
 */
function withHeldWatches(c: EtcdClient) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let watches = 0;
  const etcd = {
    range: c.range.bind(c),
    watch(key: string, opts: WatchOptions): Watch {
      watches++;
      let inner: Watch | undefined;
      let closed = false;
      return {
        close() {
          closed = true;
          inner?.close();
        },
        async *[Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
          await gate;
          if (closed) return;
          inner = c.watch(key, opts);
          yield* inner;
        },
      };
    },
  };
  return { etcd, open, watches: () => watches };
}

test("a watch that falls behind compaction re-lists and reports only the difference", async () => {
  await using etcd = await startEtcdFixture();
  const c = etcd.client;
  const held = withHeldWatches(c);
  const inf = new Informer<string>({ etcd: held.etcd, prefix: "/k/", decode: text, pageSize: 3 });
  try {
    for (const k of ["a", "b", "c", "d"]) await c.put(`/k/${k}`, `${k}0`);
    const rec = recorder(inf);
    inf.start();
    await inf.synced;
    const listed = inf.revision;
    expect(rec.seen.length).toBe(4);

    // Changes the informer cannot see through a watch: their history is compacted away.
    await c.put("/k/a", "a1");
    await c.delete("/k/b");
    await c.put("/k/e", "e0");
    await c.delete("/k/c");
    await c.put("/k/c", "c1");
    await c.put("/k/f", "f0");
    const gone = await c.delete("/k/f");
    await c.compact(gone.revision);
    expect(inf.revision).toBe(listed);

    held.open();
    await until("the re-list after compaction", () => inf.revision >= gone.revision);
    const diff = rec.short().slice(4).sort();
    expect(diff).toEqual(["add e=e0", "delete b (was b0)", "update a=a1 (was a0)", "update c=c1 (was c0)"]);
    expect(rec.seen.slice(4).every((ch) => ch.source === "list")).toBe(true);
    expect(snapshot(inf)).toEqual({ a: "a1", c: "c1", d: "d0", e: "e0" });
    // The first watch ended with "compacted", the second resumes after the re-list.
    expect(held.watches()).toBe(2);

    // And the new watch delivers live changes once.
    const p = await c.put("/k/g", "g0");
    await inf.waitForRevision(p.revision);
    expect(rec.short().slice(8)).toEqual(["add g=g0"]);
  } finally {
    await inf.close();
  }
}, 30_000);

test("close ends the watch and releases anyone waiting", async () => {
  await using etcd = await startEtcdFixture();
  const c = etcd.client;
  const inf = new Informer<string>({ etcd: c, prefix: "/l/", decode: text }).start();
  try {
    await inf.synced;
    const waiting = inf.waitForRevision(inf.revision + 1000);
    await inf.close();
    // close() resolves only once the list/watch loop has ended.
    await waiting;
  } finally {
    await inf.close();
  }
}, 30_000);

test("the safety-net re-list reads etcd only when etcd's revision moved past the cache", async () => {
  await using etcd = await startEtcdFixture();
  const c = etcd.client;
  let ranges = 0;
  const counting = { range: (...a: Parameters<EtcdClient["range"]>) => (ranges++, c.range(...a)), watch: c.watch.bind(c) };
  const inf = new Informer<string>({ etcd: counting, prefix: "/g/", decode: text });
  try {
    await c.put("/g/a", "a0");
    const lease = await c.leaseGrant(60);
    inf.start();
    await inf.synced;
    const afterList = ranges;
    // A keepalive tells the client etcd's revision; nothing changed since the list.
    await c.leaseKeepAlive(lease.id);
    expect(c.observedRevision()).toBe(inf.revision);
    expect(await inf.resyncIfBehind(c.observedRevision())).toBe(0);
    expect(ranges).toBe(afterList);

    // A change elsewhere moves the revision: the cache cannot know it missed nothing, so it lists.
    await c.put("/elsewhere", "x");
    await c.leaseKeepAlive(lease.id);
    expect(c.observedRevision()).toBeGreaterThan(inf.revision);
    expect(await inf.resyncIfBehind(c.observedRevision())).toBe(0);
    expect(ranges).toBe(afterList + 1);
    // The list brought the cache up to etcd's revision, so the next check is free again.
    expect(await inf.resyncIfBehind(c.observedRevision())).toBe(0);
    expect(ranges).toBe(afterList + 1);
    // An unknown revision (0: the client has not heard from etcd) always lists.
    expect(await inf.resyncIfBehind(0)).toBe(0);
    expect(ranges).toBe(afterList + 2);
  } finally {
    await inf.close();
  }
}, 30_000);

/** The real client, except that the first `blind` watches never deliver (a stream on a dead connection). */
function blindWatches(c: EtcdClient, blind: number) {
  const calls = { range: 0, watch: 0 };
  const etcd = {
    range: (...a: Parameters<EtcdClient["range"]>) => (calls.range++, c.range(...a)),
    watch(key: string, opts: WatchOptions = {}): Watch {
      if (++calls.watch > blind) return c.watch(key, opts);
      let wake = () => {};
      const closed = new Promise<void>((r) => (wake = r));
      opts.signal?.addEventListener("abort", () => wake(), { once: true });
      return {
        close: () => wake(),
        async *[Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
          await closed;
        },
      };
    },
  };
  return { etcd, calls };
}

test("refresh lists again and replaces a watch that delivers nothing, reporting only the difference", async () => {
  await using etcd = await startEtcd();
  const c = new EtcdClient({ endpoints: [etcd.endpoint] });
  const { etcd: stuck, calls } = blindWatches(c, 1);
  const inf = new Informer<string>({ etcd: stuck, prefix: "/r/", decode: text });
  const rec = recorder(inf);
  try {
    await c.put("/r/a", "a0");
    await c.put("/r/b", "b0");
    inf.start();
    await inf.synced;
    await c.put("/r/a", "a1");
    await c.delete("/r/b");
    await c.put("/r/c", "c0");
    // The watch is stuck: nothing arrives however long one waits. A refresh finds it all.
    expect(snapshot(inf)).toEqual({ a: "a0", b: "b0" });
    await inf.refresh();
    expect(snapshot(inf)).toEqual({ a: "a1", c: "c0" });
    expect(calls).toEqual({ range: 2, watch: 2 });
    // The new watch delivers.
    await c.put("/r/d", "d0");
    await until("the new watch to deliver /r/d", () => inf.get("/r/d") === "d0");
    expect(rec.short()).toEqual(["add a=a0", "add b=b0", "update a=a1 (was a0)", "add c=c0", "delete b (was b0)", "add d=d0"]);
    expect(calls).toEqual({ range: 2, watch: 2 });
  } finally {
    await inf.close();
    c.close();
  }
}, 30_000);
