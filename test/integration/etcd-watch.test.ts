// Watches against a real etcd: events, prevKv, progress, compaction, and the guarantee that
// matters most: across etcd restarts every revision is delivered once, in order.
import { expect, test } from "bun:test";
import { EtcdClient, type EtcdError, type WatchBatch } from "../../src/registry/etcd/index.ts";
import { startEtcdFixture } from "../support/etcd-fixture.ts";
import { until } from "../support/until.ts";

/** Collects a watch's batches in the background. */
function collect(w: AsyncIterable<WatchBatch>) {
  const batches: WatchBatch[] = [];
  const done = (async () => {
    for await (const b of w) batches.push(b);
  })();
  return { batches, done };
}

test("put and delete events with prevKv, from a start revision, over a prefix", async () => {
  await using etcd = await startEtcdFixture();
  const c = etcd.client;
  const p1 = await c.put("/w/a", "1");
  await c.put("/w/b", "2");
  await c.put("/other", "not watched");
  await c.delete("/w/a");
  const w = c.watch("/w/", { prefix: true, startRevision: p1.revision, prevKv: true });
  const got = collect(w);
  await until("4 events", () => got.batches.flatMap((b) => (b.kind === "events" ? b.events : [])).length >= 3);
  const p5 = await c.put("/w/b", "3");
  const events = () => got.batches.flatMap((b) => (b.kind === "events" ? b.events : []));
  await until("the live event", () => events().length >= 4);
  w.close();
  await got.done;
  expect(events().map((e) => [e.type, e.kv.key, e.kv.value, e.prevKv?.value])).toEqual([
    ["put", "/w/a", "1", undefined],
    ["put", "/w/b", "2", undefined],
    ["delete", "/w/a", "", "1"],
    ["put", "/w/b", "3", "2"],
  ]);
  const del = events()[2]!;
  expect(del.kv).toEqual({ key: "/w/a", value: "", createRevision: 0, modRevision: p1.revision + 3, version: 0, lease: "0" });
  expect(got.batches.at(-1)).toMatchObject({ kind: "events", revision: p5.revision });
});

test("a watch without a start revision delivers changes made after it is established", async () => {
  await using etcd = await startEtcdFixture({ extraArgs: ["--experimental-watch-progress-notify-interval", "200ms"] });
  const c = etcd.client;
  await c.put("/n/before", "x");
  const w = c.watch("/n/", { prefix: true, progressNotify: true });
  const got = collect(w);
  // A progress notification only comes once the watch exists on the server.
  await until("a progress notification", () => got.batches.some((b) => b.kind === "progress"));
  const p = await c.put("/n/after", "y");
  await until("the event", () => got.batches.some((b) => b.kind === "events"));
  await until("a progress notification past the event", () => got.batches.some((b) => b.kind === "progress" && b.revision >= p.revision));
  w.close();
  await got.done;
  const events = got.batches.flatMap((b) => (b.kind === "events" ? b.events : []));
  expect(events.map((e) => e.kv.key)).toEqual(["/n/after"]);
});

test("a watch from a compacted revision yields one compacted batch and ends", async () => {
  await using etcd = await startEtcdFixture();
  const c = etcd.client;
  const first = await c.put("/c/k", "1");
  await c.put("/c/k", "2");
  const last = await c.put("/c/k", "3");
  await c.compact(last.revision);
  const batches: WatchBatch[] = [];
  for await (const b of c.watch("/c/", { prefix: true, startRevision: first.revision })) batches.push(b);
  expect(batches).toEqual([{ kind: "compacted", compactRevision: last.revision }]);
  // From the compaction revision itself the history is still there.
  const w = c.watch("/c/", { prefix: true, startRevision: last.revision });
  for await (const b of w) {
    expect(b).toMatchObject({ kind: "events", revision: last.revision });
    break;
  }
});

test("close() and an aborted signal end a waiting iteration", async () => {
  await using etcd = await startEtcdFixture();
  const c = etcd.client;
  const w = c.watch("/idle/", { prefix: true });
  const it = w[Symbol.asyncIterator]();
  const pending = it.next();
  w.close();
  expect(await pending).toEqual({ done: true, value: undefined });

  const ac = new AbortController();
  const got = collect(c.watch("/idle/", { prefix: true, signal: ac.signal }));
  ac.abort();
  await got.done;
  expect(got.batches).toEqual([]);

  // Closing the client closes its watches, and a watch on a closed client ends at once.
  const third = collect(c.watch("/idle/", { prefix: true }));
  c.close();
  await third.done;
  const fourth = collect(c.watch("/idle/", { prefix: true }));
  await fourth.done;
  expect(fourth.batches).toEqual([]);
});

test("etcd restarts mid-watch while a writer keeps writing: every revision once, in order", async () => {
  await using etcd = await startEtcdFixture();
  const watcher = etcd.client;
  const writer = new EtcdClient({ endpoints: [etcd.endpoint], retries: 50, requestTimeoutMs: 2000 });
  try {
    const start = (await writer.status()).revision + 1;
    const w = watcher.watch("/r/", { prefix: true, startRevision: start });
    const got = collect(w);
    const delivered = () => got.batches.flatMap((b) => (b.kind === "events" ? b.events : []));
    const lastDelivered = () => delivered().at(-1)?.kv.modRevision ?? 0;

    let stopWriting = false;
    const acknowledged: number[] = [];
    const writing = (async () => {
      for (let i = 0; !stopWriting; i++) {
        try {
          acknowledged.push((await writer.put(`/r/${i % 7}`, `v${i}`)).revision);
        } catch (e) {
          // A put cut off by the restart may or may not have been applied; etcd's history decides.
          if ((e as EtcdError).kind !== "unavailable" && (e as EtcdError).kind !== "timeout") throw e;
        }
      }
    })();

    const restartRevisions: number[] = [];
    for (const how of ["stop", "kill"] as const) {
      await until("events before the restart", () => acknowledged.length >= 60 * (restartRevisions.length + 1) && lastDelivered() > 0);
      restartRevisions.push(acknowledged.at(-1)!);
      await etcd.server[how]();
      await etcd.server.start();
      await until("writes after the restart", () => (acknowledged.at(-1) ?? 0) > restartRevisions.at(-1)! + 30);
    }
    stopWriting = true;
    await writing;
    const final = (await writer.status()).revision;
    await until("the watch to catch up", () => lastDelivered() >= final);
    w.close();
    await got.done;

    // etcd's own history from the same start, read in one go, is the reference.
    const truth = collect(watcher.watch("/r/", { prefix: true, startRevision: start }));
    const truthEvents = () => truth.batches.flatMap((b) => (b.kind === "events" ? b.events : []));
    await until("the reference history", () => (truthEvents().at(-1)?.kv.modRevision ?? 0) >= final);
    watcher.close();
    await truth.done;

    const seen = delivered().map((e) => `${e.kv.modRevision} ${e.kv.key}=${e.kv.value}`);
    const expected = truthEvents().map((e) => `${e.kv.modRevision} ${e.kv.key}=${e.kv.value}`);
    expect(seen).toEqual(expected);
    const revs = delivered().map((e) => e.kv.modRevision);
    expect(new Set(revs).size).toBe(revs.length);
    expect(revs).toEqual([...revs].sort((a, b) => a - b));
    // Every write the writer saw succeed, including those right before each restart, arrived.
    const revSet = new Set(revs);
    expect(acknowledged.filter((r) => !revSet.has(r))).toEqual([]);
    for (const r of restartRevisions) expect(revs.some((x) => x > r + 30)).toBe(true);
    expect(got.batches.every((b) => b.kind === "events")).toBe(true);
  } finally {
    writer.close();
  }
}, 60_000);
