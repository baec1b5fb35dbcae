// The API's limits, in-process against a real etcd: the request body limit (enforced before and
// while the body is read), the unit file size and option count limits, etcd's own size limit
// answered as a 413 that says so, and PATCH /machines (capped, live machines only, few etcd
// requests). Nothing a refused request carried may reach etcd.
import { describe, expect, test } from "bun:test";
import { createApiHandler } from "../../src/api/handler.ts";
import { MAX_METADATA_OPS } from "../../src/api/machines.ts";
import { createFleetMetrics } from "../../src/metrics/fleet.ts";
import { EtcdClient } from "../../src/registry/etcd/index.ts";
import { Registry } from "../../src/registry/registry.ts";
import { sharedEtcd } from "../support/etcd-fixture.ts";
import { apiFixture, errorBody, errorOf, SLEEP_OPTIONS, testLogger, VERSION } from "../support/integration/api-fixture.ts";

const etcd = sharedEtcd();

const TOO_LARGE_1MIB = errorBody(413, "request body is larger than the limit of 1048576 bytes (api_max_request_bytes)");

async function keysUnder(registry: Registry): Promise<string[]> {
  const { kvs } = await registry.etcd.range(registry.keys.prefix, { prefix: true, keysOnly: true });
  return kvs.map((kv) => kv.key.slice(registry.keys.prefix.length));
}

/** A body of `total` bytes that records how much of it was pulled and whether it was cancelled. */
function countingBody(total: number, chunk = 64 << 10) {
  const seen = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (seen.pulled >= total) return c.close();
      const n = Math.min(chunk, total - seen.pulled);
      seen.pulled += n;
      c.enqueue(new Uint8Array(n).fill(0x20));
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { stream, seen, chunk };
}

/** A unit of `n` Environment= lines, each about `width` bytes. */
function wideOptions(n: number, width = 100) {
  return [...SLEEP_OPTIONS, ...Array.from({ length: n }, (_, i) => ({ section: "Service", name: "Environment", value: `V${i}=${"x".repeat(width)}` }))];
}

describe("request body limit", () => {
  test("a Content-Length over the limit is refused up front, on any route, before a byte is read", async () => {
    const f = apiFixture(etcd.client);
    for (const [method, path] of [["PUT", "/fleet/v1/units/big.service"], ["PATCH", "/fleet/v1/machines"], ["GET", "/fleet/v1/units"], ["POST", "/bogus"]]) {
      const body = countingBody(120 << 20);
      const res = await f.handler(new Request(`http://fleet.test${path}`, {
        method, body: body.stream, headers: { "Content-Type": "application/json", "Content-Length": String(120 << 20) },
      }));
      expect({ path, status: res.status, body: await res.text() }).toEqual({ path, status: 413, body: TOO_LARGE_1MIB });
      expect(res.headers.get("Server")).toBe(`fleetd/${VERSION}`);
      expect(body.seen.pulled).toBeLessThanOrEqual(2 * body.chunk);
    }
    expect(await keysUnder(f.registry)).toEqual([]);
  });

  test("a body without Content-Length (chunked), or longer than it said, is counted as it streams", async () => {
    const f = apiFixture(etcd.client);
    for (const headers of [{}, { "Content-Length": "100" }] as Record<string, string>[]) {
      const body = countingBody(120 << 20);
      const res = await f.handler(new Request("http://fleet.test/fleet/v1/units/big.service", {
        method: "PUT", body: body.stream, headers: { "Content-Type": "application/json", ...headers },
      }));
      expect(await errorOf(res)).toEqual({ status: 413, body: TOO_LARGE_1MIB });
      // Read up to the limit and a chunk or two more, then the stream was let go of.
      expect(body.seen.pulled).toBeLessThanOrEqual((1 << 20) + 2 * body.chunk);
      expect(body.seen.cancelled).toBe(true);
    }
    expect(await keysUnder(f.registry)).toEqual([]);
  });

  test("a Content-Length that is not a number is a 400", async () => {
    const f = apiFixture(etcd.client);
    for (const value of ["abc", "-1", "1e3", "12, 13", "99999999999999999999"]) {
      const res = await f.call("PUT", "/fleet/v1/units/a.service", { body: { options: SLEEP_OPTIONS }, headers: { "Content-Length": value } });
      expect(await errorOf(res)).toEqual({ status: 400, body: errorBody(400, `invalid Content-Length ${JSON.stringify(value)}`) });
    }
    expect(await keysUnder(f.registry)).toEqual([]);
  });

  test("the limit is configurable: a body of exactly the limit passes, one byte more does not", async () => {
    const f = apiFixture(etcd.client, { maxRequestBytes: 8192 });
    const body = JSON.stringify({ desiredState: "inactive", options: SLEEP_OPTIONS });
    const padded = (n: number) => body + " ".repeat(n - Buffer.byteLength(body));
    expect(await errorOf(await f.call("PUT", "/fleet/v1/units/a.service", { body: padded(8193) })))
      .toEqual({ status: 413, body: errorBody(413, "request body is larger than the limit of 8192 bytes (api_max_request_bytes)") });
    expect((await f.call("PUT", "/fleet/v1/units/a.service", { body: padded(8192) })).status).toBe(201);
  });

  test("a 13 MB unit: 413 under the default limit (it was a 500 with an empty message)", async () => {
    const f = apiFixture(etcd.client);
    const res = await f.call("PUT", "/fleet/v1/units/big.service", { body: { desiredState: "launched", options: wideOptions(13_000, 1000) } });
    expect(await errorOf(res)).toEqual({ status: 413, body: TOO_LARGE_1MIB });
    expect(await keysUnder(f.registry)).toEqual([]);
  });
});

describe("unit file limits", () => {
  test("a unit file over 512 KiB is a 400 naming the unit and the limit, even under a larger body limit (it was a 500)", async () => {
    const f = apiFixture(etcd.client, { maxRequestBytes: 64 << 20 });
    const res = await f.call("PUT", "/fleet/v1/units/big.service", { body: { desiredState: "launched", options: wideOptions(4000, 1000) } });
    const { status, body } = await errorOf(res);
    expect(status).toBe(400);
    expect(JSON.parse(body).error.message).toMatch(/^unit file big\.service is \d+ bytes, more than the limit of 524288 \(512 KiB\)$/);
    expect(await keysUnder(f.registry)).toEqual([]);
  });

  test("more than 4096 options is a 400 naming the unit and the limit", async () => {
    const f = apiFixture(etcd.client);
    const res = await f.call("PUT", "/fleet/v1/units/many.service", { body: { options: wideOptions(4096, 1) } });
    expect(await errorOf(res)).toEqual({ status: 400, body: errorBody(400, "unit file many.service has more options than the limit of 4096") });
    expect((await f.call("PUT", "/fleet/v1/units/many.service", { body: { options: wideOptions(4095, 1) } })).status).toBe(201);
  });
});

describe("etcd's request size limit", () => {
  // 64 KiB instead of etcd's default 1.5 MiB: a unit within fleet's limits is too large for it.
  const small = sharedEtcd({ extraArgs: ["--max-request-bytes", "65536"] });

  test("a write etcd refuses for its size is a 413 that says so, not a 500; nothing is stored", async () => {
    const logged: string[] = [];
    const registry = new Registry(small.client, "/limits/");
    const handler = createApiHandler({ registry, tokenLimit: 100, version: VERSION, isReady: () => true, metrics: createFleetMetrics(), log: testLogger(logged) });
    const call = (method: string, path: string, body: unknown) =>
      handler(new Request(`http://fleet.test${path}`, { method, body: JSON.stringify(body), headers: { "Content-Type": "application/json" } }));
    // Up to etcd's limit plus gRPC's slack, etcd itself answers "request is too large".
    const put = await errorOf(await call("PUT", "/fleet/v1/units/mid.service", { options: wideOptions(1000, 100) }));
    expect(put).toEqual({
      status: 413,
      body: errorBody(413, "request is too large for etcd (etcdserver: request is too large): the change must fit in etcd's --max-request-bytes"),
    });
    // Beyond that gRPC refuses the message: the same 413.
    await small.client.put(registry.keys.machine("m1"), JSON.stringify({ id: "m1", publicIP: "", metadata: {}, version: VERSION, startedAt: "" }));
    const patch = await errorOf(await call("PATCH", "/fleet/v1/machines", [{ op: "add", path: "/m1/metadata/blob", value: "b".repeat(900_000) }]));
    expect(patch.status).toBe(413);
    expect(JSON.parse(patch.body).error.message).toMatch(/^request is too large for etcd \(grpc: received message larger than max \(\d+ vs\. \d+\)\): the change must fit in etcd's --max-request-bytes$/);
    expect(await keysUnder(registry)).toEqual(["machines/m1"]);
    expect(logged.filter((l) => l.includes("ERROR"))).toEqual([]);
  });
});

describe("PATCH /machines", () => {
  const machine = (id: string) => JSON.stringify({ id, publicIP: "", metadata: {}, version: VERSION, startedAt: "" });

  test(`more than ${MAX_METADATA_OPS} operations is a 400; nothing is applied`, async () => {
    const f = apiFixture(etcd.client);
    await f.machine({ id: "m1" });
    const ops = Array.from({ length: MAX_METADATA_OPS + 1 }, (_, i) => ({ op: "add", path: `/m1/metadata/k${i}`, value: "v" }));
    expect(await errorOf(await f.call("PATCH", "/fleet/v1/machines", { body: ops })))
      .toEqual({ status: 400, body: errorBody(400, "too many operations: 1001, at most 1000 per request") });
    expect(await keysUnder(f.registry)).toEqual(["machines/m1"]);
    expect((await f.call("PATCH", "/fleet/v1/machines", { body: ops.slice(1) })).status).toBe(204);
    expect(Object.keys(await f.registry.getDynamicMetadata("m1"))).toHaveLength(MAX_METADATA_OPS);
  });

  test("ids that are not live machines are a 404 naming them, and nothing is written (2,000 ids used to leave 2,000 keys)", async () => {
    const f = apiFixture(etcd.client);
    await f.machine({ id: "live" });
    const one = await errorOf(await f.call("PATCH", "/fleet/v1/machines", {
      body: [{ op: "add", path: "/live/metadata/a", value: "1" }, { op: "add", path: "/ghost/metadata/a", value: "1" }],
    }));
    expect(one).toEqual({ status: 404, body: errorBody(404, 'machine "ghost" does not exist (metadata can be set on live machines only)') });
    const ops = Array.from({ length: 1000 }, (_, i) => ({ op: "add", path: `/id${String(i).padStart(4, "0")}/metadata/x`, value: "1" }));
    const many = await errorOf(await f.call("PATCH", "/fleet/v1/machines", { body: ops }));
    expect(many).toEqual({
      status: 404,
      body: errorBody(404, 'machines "id0000", "id0001", "id0002", "id0003", "id0004" and 995 more do not exist (metadata can be set on live machines only)'),
    });
    expect(await keysUnder(f.registry)).toEqual(["machines/live"]);
  });

  test("200 live machines are updated in a few transactions, not one read and one write per id", async () => {
    let requests = 0;
    const counting = new EtcdClient({ endpoints: [etcd.endpoint], onOperation: () => requests++ });
    try {
      const registry = new Registry(counting, "/limits-patch/");
      const handler = createApiHandler({ registry, tokenLimit: 100, version: VERSION, isReady: () => true, metrics: createFleetMetrics(), log: testLogger([]) });
      const ids = Array.from({ length: 200 }, (_, i) => `m${String(i).padStart(3, "0")}`);
      for (const id of ids) await etcd.client.put(registry.keys.machine(id), machine(id));
      await etcd.client.put(registry.keys.metadata("m007"), JSON.stringify({ keep: "yes", region: "old" }));
      const ops = ids.map((id) => ({ op: "add", path: `/${id}/metadata/region`, value: `r-${id}` }));
      requests = 0;
      const res = await handler(new Request("http://fleet.test/fleet/v1/machines", { method: "PATCH", body: JSON.stringify(ops) }));
      expect(res.status).toBe(204);
      // One read and one write per group of 64 machines: 4 groups.
      expect(requests).toBe(8);
      expect(await registry.getDynamicMetadata("m007")).toEqual({ keep: "yes", region: "r-m007" });
      expect(await registry.getDynamicMetadata("m199")).toEqual({ region: "r-m199" });
    } finally {
      counting.close();
    }
  });
});
