// The etcd client's KV and txn calls against a real etcd, including the gateway's habit of
// omitting fields at their default value.
import { describe, expect, test } from "bun:test";
import { cmp, EtcdClient, EtcdError, op, prefixEnd } from "../../src/registry/etcd/index.ts";
import { sharedEtcd } from "../support/etcd-fixture.ts";

const etcd = sharedEtcd();

describe("range, put and delete", () => {
  test("a missing key and an empty range come back with zero counts, not undefined", async () => {
    expect(await etcd.client.get("/kv/missing")).toBeUndefined();
    const r = await etcd.client.range("/kv/none/", { prefix: true });
    expect(r).toEqual({ kvs: [], count: 0, more: false, revision: expect.any(Number) });
    expect(r.revision).toBeGreaterThan(0);
  });

  test("put then get returns every field, with an empty value and no lease as defaults", async () => {
    const p = await etcd.client.put("/kv/empty", "");
    const kv = await etcd.client.get("/kv/empty");
    expect(kv).toEqual({ key: "/kv/empty", value: "", createRevision: p.revision, modRevision: p.revision, version: 1, lease: "0" });
  });

  test("UTF-8 keys and values survive the base64 round trip", async () => {
    await etcd.client.put("/kv/ünïcødé/日本", "välue ✓ 🚀");
    expect((await etcd.client.get("/kv/ünïcødé/日本"))?.value).toBe("välue ✓ 🚀");
  });

  test("prevKv returns the old value; a first put has none", async () => {
    const first = await etcd.client.put("/kv/prev", "a", { prevKv: true });
    expect(first.prevKv).toBeUndefined();
    const second = await etcd.client.put("/kv/prev", "b", { prevKv: true });
    expect(second.prevKv).toMatchObject({ key: "/kv/prev", value: "a", version: 1, modRevision: first.revision });
    expect((await etcd.client.get("/kv/prev"))?.version).toBe(2);
  });

  test("prefix, explicit range end, limit, keys only, count only and sort", async () => {
    for (const k of ["c", "a", "b", "d"]) await etcd.client.put(`/kv/r/${k}`, `v${k}`);
    await etcd.client.put("/kv/r0", "outside the prefix");
    const all = await etcd.client.range("/kv/r/", { prefix: true, sortByKey: true });
    expect(all.kvs.map((kv) => kv.key)).toEqual(["/kv/r/a", "/kv/r/b", "/kv/r/c", "/kv/r/d"]);
    expect(all.count).toBe(4);
    expect(all.more).toBe(false);

    const limited = await etcd.client.range("/kv/r/", { prefix: true, limit: 2 });
    expect(limited.kvs.map((kv) => kv.key)).toEqual(["/kv/r/a", "/kv/r/b"]);
    expect(limited.count).toBe(4);
    expect(limited.more).toBe(true);

    const between = await etcd.client.range("/kv/r/b", { rangeEnd: "/kv/r/d" });
    expect(between.kvs.map((kv) => kv.key)).toEqual(["/kv/r/b", "/kv/r/c"]);

    const keys = await etcd.client.range("/kv/r/", { prefix: true, keysOnly: true });
    expect(keys.kvs.map((kv) => [kv.key, kv.value])).toEqual([["/kv/r/a", ""], ["/kv/r/b", ""], ["/kv/r/c", ""], ["/kv/r/d", ""]]);

    const counted = await etcd.client.range("/kv/r/", { prefix: true, countOnly: true });
    expect(counted.kvs).toEqual([]);
    expect(counted.count).toBe(4);

    expect((await etcd.client.range("/kv/r/", { rangeEnd: prefixEnd("/kv/r/") })).count).toBe(4);
  });

  test("a read at an older revision sees the value of that time", async () => {
    const p1 = await etcd.client.put("/kv/hist", "one");
    await etcd.client.put("/kv/hist", "two");
    expect((await etcd.client.get("/kv/hist", { revision: p1.revision }))?.value).toBe("one");
    expect((await etcd.client.get("/kv/hist"))?.value).toBe("two");
    const r = await etcd.client.range("/kv/hist", { revision: p1.revision });
    expect(r.kvs[0]?.modRevision).toBe(p1.revision);
  });

  test("delete by key and by prefix, with and without prevKvs", async () => {
    await etcd.client.put("/kv/d/1", "x");
    await etcd.client.put("/kv/d/2", "y");
    await etcd.client.put("/kv/d/3", "z");
    const one = await etcd.client.delete("/kv/d/1");
    expect(one).toEqual({ revision: expect.any(Number), deleted: 1, prevKvs: [] });
    const none = await etcd.client.delete("/kv/d/1");
    expect(none.deleted).toBe(0);
    const rest = await etcd.client.delete("/kv/d/", { prefix: true, prevKv: true });
    expect(rest.deleted).toBe(2);
    expect(rest.prevKvs.map((kv) => [kv.key, kv.value])).toEqual([["/kv/d/2", "y"], ["/kv/d/3", "z"]]);
    expect((await etcd.client.range("/kv/d/", { prefix: true })).count).toBe(0);
  });

  test("a future revision is an invalid-argument error naming endpoint and key", async () => {
    const e = await etcd.client.get("/kv/x", { revision: 1_000_000 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EtcdError);
    const err = e as EtcdError;
    expect(err.kind).toBe("invalid-argument");
    expect(err.code).toBe(11);
    expect(err.endpoint).toBe(etcd.endpoint);
    expect(err.key).toBe("/kv/x");
    expect(err.message).toBe(`etcd ${etcd.endpoint} invalid argument for range /kv/x: etcdserver: mvcc: required revision is a future revision`);
  });
});

describe("txn", () => {
  test("a failed txn (no succeeded field on the wire) runs the failure branch", async () => {
    await etcd.client.put("/txn/a", "1");
    const r = await etcd.client.txn({
      compare: [cmp.value("/txn/a", "=", "2")],
      success: [op.put("/txn/a", "3")],
      failure: [op.get("/txn/a"), op.get("/txn/missing")],
    });
    expect(r.succeeded).toBe(false);
    expect(r.responses).toHaveLength(2);
    expect(r.responses[0]).toMatchObject({ type: "range", count: 1, kvs: [{ key: "/txn/a", value: "1" }] });
    expect(r.responses[1]).toMatchObject({ type: "range", count: 0, kvs: [], more: false });
    expect((await etcd.client.get("/txn/a"))?.value).toBe("1");
  });

  test("every compare target and operator", async () => {
    const p = await etcd.client.put("/txn/t", "m");
    const kv = (await etcd.client.get("/txn/t"))!;
    const cases: [ReturnType<typeof cmp.value>, boolean][] = [
      [cmp.createRevision("/txn/t", "=", kv.createRevision), true],
      [cmp.createRevision("/txn/t", "!=", kv.createRevision), false],
      [cmp.createRevision("/txn/t", "<", kv.createRevision + 1), true],
      [cmp.createRevision("/txn/t", ">", kv.createRevision), false],
      [cmp.modRevision("/txn/t", "=", p.revision), true],
      [cmp.modRevision("/txn/t", ">", p.revision - 1), true],
      [cmp.modRevision("/txn/t", "<", p.revision), false],
      [cmp.version("/txn/t", "=", 1), true],
      [cmp.version("/txn/t", "!=", 1), false],
      [cmp.version("/txn/t", ">", 0), true],
      [cmp.value("/txn/t", "=", "m"), true],
      [cmp.value("/txn/t", "!=", "m"), false],
      [cmp.value("/txn/t", "<", "n"), true],
      [cmp.value("/txn/t", ">", "n"), false],
      [cmp.lease("/txn/t", "=", "0"), true],
      [cmp.createRevision("/txn/absent", "=", 0), true],
      [cmp.version("/txn/absent", ">", 0), false],
    ];
    for (const [c, want] of cases) {
      const r = await etcd.client.txn({ compare: [c], success: [] });
      expect({ c, succeeded: r.succeeded }).toEqual({ c, succeeded: want });
    }
  });

  test("success branch with put, delete and range ops returns typed responses", async () => {
    await etcd.client.put("/txn/s/old", "gone soon");
    const r = await etcd.client.txn({
      compare: [cmp.createRevision("/txn/s/new", "=", 0)],
      success: [op.put("/txn/s/new", "fresh", { prevKv: true }), op.del("/txn/s/old", { prevKv: true }), op.get("/txn/s/", { prefix: true })],
      failure: [],
    });
    expect(r.succeeded).toBe(true);
    expect(r.responses.map((x) => x.type)).toEqual(["put", "delete", "range"]);
    const [put, del, range] = r.responses;
    expect(put).toEqual({ type: "put", revision: r.revision });
    expect(del).toMatchObject({ type: "delete", deleted: 1, prevKvs: [{ key: "/txn/s/old", value: "gone soon" }] });
    expect(range).toMatchObject({ type: "range", count: 1, kvs: [{ key: "/txn/s/new", value: "fresh" }] });
    // All ops of a txn share one revision.
    expect((await etcd.client.get("/txn/s/new"))?.modRevision).toBe(r.revision);
  });

  test("a compare over a prefix", async () => {
    await etcd.client.put("/txn/p/x", "1");
    const none = await etcd.client.txn({ compare: [cmp.version("/txn/p/", "=", 0, { prefix: true })], success: [] });
    expect(none.succeeded).toBe(false);
    const some = await etcd.client.txn({ compare: [cmp.createRevision("/txn/p/", ">", 0, { prefix: true })], success: [] });
    expect(some.succeeded).toBe(true);
  });

  test("two clients racing to create the same key: exactly one wins, every time", async () => {
    const other = new EtcdClient({ endpoints: [etcd.endpoint] });
    try {
      for (let i = 0; i < 20; i++) {
        const key = `/txn/race/${i}`;
        const attempt = (c: EtcdClient, who: string) =>
          c.txn({ compare: [cmp.createRevision(key, "=", 0)], success: [op.put(key, who)], failure: [op.get(key)] });
        const [a, b] = await Promise.all([attempt(etcd.client, "a"), attempt(other, "b")]);
        expect([a.succeeded, b.succeeded].filter(Boolean)).toHaveLength(1);
        const winner = a.succeeded ? "a" : "b";
        const loser = a.succeeded ? b : a;
        expect(loser.responses[0]).toMatchObject({ type: "range", kvs: [{ key, value: winner, version: 1 }] });
        expect((await etcd.client.get(key))?.value).toBe(winner);
      }
    } finally {
      other.close();
    }
  });
});

test("status names the endpoint and the server version", async () => {
  const s = await etcd.client.status();
  expect(s.endpoint).toBe(etcd.endpoint);
  expect(s.version).toMatch(/^3\.\d+\.\d+/);
  expect(s.revision).toBeGreaterThan(1);
});

test("a range at a compacted revision is a compacted error", async () => {
  const p = await etcd.client.put("/kv/compact", "1");
  await etcd.client.put("/kv/compact", "2");
  await etcd.client.compact(p.revision + 1);
  const e = (await etcd.client.get("/kv/compact", { revision: p.revision }).catch((x: unknown) => x)) as EtcdError;
  expect(e).toBeInstanceOf(EtcdError);
  expect(e.kind).toBe("compacted");
  expect(e.message).toContain("/kv/compact");
});
