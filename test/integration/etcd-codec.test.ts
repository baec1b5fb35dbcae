// The etcd client's pure parts: wire codec, prefix ends, back-off and the retry policy.
import { describe, expect, test } from "bun:test";
import { backoffDelay } from "../../src/lib/backoff.ts";
import { shouldRetry } from "../../src/registry/etcd/retry.ts";
import { b64 as encode, decodeKv, encodeRange, prefixEnd, prefixEndBytes, unb64 } from "../../src/registry/etcd/codec.ts";
import { EtcdError, kindFromGrpc } from "../../src/registry/etcd/errors.ts";
import { ndjson } from "../../src/registry/etcd/ndjson.ts";
import { cmp, encodeCompare, encodeTxn, op, txnIsReadOnly } from "../../src/registry/etcd/txn.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("codec", () => {
  test("a key value with every default field omitted decodes to zeros and empty strings", () => {
    expect(decodeKv({ key: b64("/k"), mod_revision: "7" })).toEqual({ key: "/k", value: "", createRevision: 0, modRevision: 7, version: 0, lease: "0" });
  });

  test("base64 of ASCII and of any other UTF-8 text matches Buffer's and round-trips", () => {
    for (const s of ["", "/fleet/units/a.service", "\x7f", "\u0080", "é", "日本", "🚀 x", "a\u0000b"]) {
      expect(encode(s)).toBe(Buffer.from(s, "utf8").toString("base64"));
      expect(unb64(encode(s))).toBe(s);
    }
    expect(unb64(undefined)).toBe("");
  });

  test("lease IDs above 2^53 stay exact", () => {
    expect(decodeKv({ key: b64("/k"), lease: "7587882395163870001" }).lease).toBe("7587882395163870001");
  });

  test("prefixEnd increments the last character", () => {
    expect(prefixEnd("/fleet/units/")).toBe("/fleet/units0");
    expect(prefixEnd("a")).toBe("b");
    expect(prefixEnd("é")).toBe("ê");
    expect(prefixEnd("a\u{10FFFF}")).toBe("b");
    expect(prefixEnd("\u{D7FF}")).toBe("\u{E000}");
    expect(prefixEnd("")).toBe("\0");
  });

  test("prefixEndBytes increments the last byte below 0xff and drops trailing 0xff", () => {
    expect([...prefixEndBytes(new Uint8Array([0x61, 0x62]))]).toEqual([0x61, 0x63]);
    expect([...prefixEndBytes(new Uint8Array([0x61, 0xff, 0xff]))]).toEqual([0x62]);
    expect([...prefixEndBytes(new Uint8Array([0xff]))]).toEqual([0]);
  });

  test("encodeRange: single key, prefix, explicit end, and every key", () => {
    expect(encodeRange("/a", {})).toEqual({ key: b64("/a") });
    expect(encodeRange("/a/", { prefix: true })).toEqual({ key: b64("/a/"), range_end: b64("/a0") });
    expect(encodeRange("/a", { rangeEnd: "/b" })).toEqual({ key: b64("/a"), range_end: b64("/b") });
    expect(encodeRange("", { prefix: true })).toEqual({ key: "AA==", range_end: "AA==" });
  });
});

describe("txn wire form", () => {
  test("compares carry target, result and the matching field", () => {
    expect(encodeCompare(cmp.createRevision("/k", "=", 0))).toEqual({ key: b64("/k"), target: "CREATE", result: "EQUAL", create_revision: "0" });
    expect(encodeCompare(cmp.modRevision("/k", "<", 5))).toEqual({ key: b64("/k"), target: "MOD", result: "LESS", mod_revision: "5" });
    expect(encodeCompare(cmp.version("/k", ">", 1))).toEqual({ key: b64("/k"), target: "VERSION", result: "GREATER", version: "1" });
    expect(encodeCompare(cmp.value("/k", "!=", "v"))).toEqual({ key: b64("/k"), target: "VALUE", result: "NOT_EQUAL", value: b64("v") });
    expect(encodeCompare(cmp.lease("/k", "=", "42"))).toEqual({ key: b64("/k"), target: "LEASE", result: "EQUAL", lease: "42" });
  });

  test("ops map to request_put, request_delete_range and request_range", () => {
    expect(encodeTxn({ compare: [], success: [op.put("/k", "v", { lease: "9" }), op.del("/p/", { prefix: true }), op.get("/k", { keysOnly: true })] })).toEqual({
      compare: [],
      success: [
        { request_put: { key: b64("/k"), value: b64("v"), lease: "9" } },
        { request_delete_range: { key: b64("/p/"), range_end: b64("/p0") } },
        { request_range: { key: b64("/k"), keys_only: true } },
      ],
      failure: [],
    });
  });

  test("only a txn without writes counts as a read", () => {
    expect(txnIsReadOnly({ compare: [], success: [op.get("/a")], failure: [op.get("/b")] })).toBe(true);
    expect(txnIsReadOnly({ compare: [], success: [op.get("/a")], failure: [op.del("/b")] })).toBe(false);
  });
});

describe("retry policy", () => {
  test("back-off doubles up to the cap, with jitter between half and all of it", () => {
    const b = { baseMs: 100, capMs: 1000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, b, () => 0))).toEqual([50, 100, 200, 400, 500]);
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, b, () => 0.999999))).toEqual([100, 200, 400, 800, 1000]);
  });

  test("reads retry transient failures; writes only when they cannot have been applied", () => {
    const f = (kind: EtcdError["kind"], reach: "not-sent" | "maybe" | "answered", detail = "") => ({ kind, reach, detail });
    expect(shouldRetry(f("unavailable", "not-sent"), false)).toBe(true);
    expect(shouldRetry(f("unavailable", "maybe"), true)).toBe(true);
    expect(shouldRetry(f("unavailable", "maybe"), false)).toBe(false);
    expect(shouldRetry(f("timeout", "maybe"), true)).toBe(true);
    expect(shouldRetry(f("timeout", "maybe"), false)).toBe(false);
    expect(shouldRetry(f("unavailable", "answered", "etcdserver: request timed out"), false)).toBe(false);
    expect(shouldRetry(f("unavailable", "answered", "etcdserver: no leader"), false)).toBe(true);
    expect(shouldRetry(f("not-found", "answered"), true)).toBe(false);
    expect(shouldRetry(f("permission-denied", "answered"), true)).toBe(false);
  });

  test("gRPC codes and etcd messages map to error kinds", () => {
    expect(kindFromGrpc(11, "etcdserver: mvcc: required revision has been compacted")).toBe("compacted");
    expect(kindFromGrpc(11, "etcdserver: mvcc: required revision is a future revision")).toBe("invalid-argument");
    expect(kindFromGrpc(3, "etcdserver: authentication failed, invalid user ID or password")).toBe("unauthenticated");
    expect(kindFromGrpc(5, "etcdserver: requested lease not found")).toBe("not-found");
    expect(kindFromGrpc(7, "etcdserver: permission denied")).toBe("permission-denied");
    expect(kindFromGrpc(16, "etcdserver: invalid auth token")).toBe("unauthenticated");
    expect(kindFromGrpc(9, "etcdserver: authentication is not enabled")).toBe("failed-precondition");
    expect(kindFromGrpc(14, "etcdserver: no leader")).toBe("unavailable");
    expect(kindFromGrpc(1, "grpc: the client connection is closing")).toBe("unavailable");
    expect(kindFromGrpc(13, "boom")).toBe("internal");
    // Size, not availability: retrying cannot help, and a write refused for it did not happen.
    expect(kindFromGrpc(3, "etcdserver: request is too large")).toBe("too-large");
    expect(kindFromGrpc(8, "grpc: received message larger than max (2306876 vs. 2097152)")).toBe("too-large");
    expect(kindFromGrpc(8, "etcdserver: too many requests")).toBe("unavailable");
  });

  test("the message names endpoint, kind, op and key", () => {
    const e = new EtcdError({ kind: "failed-precondition", endpoint: "http://e:1", op: "put", key: "/k", code: 9, detail: "nope" });
    expect(e.message).toBe("etcd http://e:1 failed precondition for put /k: nope");
    expect(e).toBeInstanceOf(Error);
    expect(new EtcdError({ kind: "internal", endpoint: "http://e:1", op: "status", code: 13, detail: "x" }).message).toBe("etcd http://e:1 internal for status: x");
  });
});

test("ndjson: lines split across chunks, several per chunk, a multi-byte character cut in two", async () => {
  const text = '{"a":1}\n{"b":"ü"}\n\n{"c":[1,2]}\n{"d":true}';
  const bytes = new TextEncoder().encode(text);
  const cut = [3, 8, 15, 16, 30];
  const chunks = [0, ...cut].map((from, i) => bytes.slice(from, cut[i] ?? bytes.length));
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const ch of chunks) c.enqueue(ch);
      c.close();
    },
  });
  const got: unknown[] = [];
  for await (const m of ndjson(body)) got.push(m);
  expect(got).toEqual([{ a: 1 }, { b: "ü" }, { c: [1, 2] }, { d: true }]);
});
