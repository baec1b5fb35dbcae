// The handler's routes other than /units, through the real Registry and etcd: the 503 gate,
// the route table's 404/405s, path cleaning, discovery, /state, /machines, /metrics, and
// registry failures.
import { describe, expect, test } from "bun:test";
import { createApiHandler } from "../../src/api/handler.ts";
import { encodePageToken } from "../../src/api/page-token.ts";
import { createFleetMetrics } from "../../src/metrics/fleet.ts";
import { EtcdClient } from "../../src/registry/etcd/index.ts";
import { Registry } from "../../src/registry/registry.ts";
import { sharedEtcd } from "../support/etcd-fixture.ts";
import { freePort } from "../support/etcd-server.ts";
import { apiFixture, errorBody, errorOf, MACHINE_STARTED_AT, SLEEP_OPTIONS, testLogger, VERSION } from "../support/integration/api-fixture.ts";

const etcd = sharedEtcd();

const UNAVAILABLE = '{"error":{"code":503,"message":"fleet server unable to communicate with etcd"}}';

describe("availability gate and Server header", () => {
  test("until ready every request, /metrics included, is 503 without a Server header", async () => {
    const f = apiFixture(etcd.client);
    f.ready.value = false;
    for (const [method, path] of [["GET", "/fleet/v1/units"], ["PUT", "/fleet/v1/units/a.service"], ["GET", "/metrics"], ["GET", "/"], ["GET", "/bogus"]] as const) {
      const res = await f.call(method, path);
      expect(res.status).toBe(503);
      expect(res.headers.get("Content-Type")).toBe("application/json");
      expect(res.headers.get("Server")).toBeNull();
      expect(await res.text()).toBe(UNAVAILABLE);
    }
    f.ready.value = true;
    expect((await f.call("GET", "/fleet/v1/units")).status).toBe(200);
  });

  // compatibility.md §13, item 15.
  test("/ is 405, /bogus 404, and every answer has Server: fleetd/<version>", async () => {
    const f = apiFixture(etcd.client);
    const cases: [string, string, number, string][] = [
      ["GET", "/", 405, ""],
      ["GET", "/fleet/v1", 405, ""],
      ["DELETE", "/v1-alpha", 405, ""],
      ["GET", "/bogus", 404, ""],
      ["GET", "/fleet/v1/", 404, ""],
      ["GET", "/fleet/v1/units/", 404, ""],
      ["PUT", "/fleet/v1/units/a/b", 404, ""],
      ["GET", "/fleet/v1/state/a/b", 404, ""],
      ["GET", "/fleet/v1/machines/anything", 404, ""],
      ["GET", "/fleet/v1/discovery/", 404, ""],
      ["POST", "/fleet/v1/units", 405, "only GET supported against this resource"],
      ["POST", "/fleet/v1/state", 405, "only GET supported against this resource"],
      ["DELETE", "/fleet/v1/state/a.service", 405, "only GET supported against this resource"],
      ["PUT", "/fleet/v1/machines", 405, "only GET and PATCH supported against this resource"],
      ["PATCH", "/fleet/v1/units/a.service", 405, "only GET, PUT and DELETE supported against this resource"],
      ["HEAD", "/fleet/v1/units/a.service", 405, "only GET, PUT and DELETE supported against this resource"],
      ["POST", "/fleet/v1/discovery", 400, "only HTTP GET supported against this resource"],
    ];
    for (const [method, path, status, message] of cases) {
      const res = await f.call(method, path);
      expect({ method, path, status: res.status }).toEqual({ method, path, status });
      expect(res.headers.get("Server")).toBe(`fleetd/${VERSION}`);
      if (method !== "HEAD") expect(await res.text()).toBe(errorBody(status, message));
    }
    for (const path of ["/fleet/v1/units", "/fleet/v1/discovery", "/metrics", "/fleet/v1/state", "/fleet/v1/machines"]) {
      const res = await f.call("GET", path);
      expect(res.status).toBe(200);
      expect(res.headers.get("Server")).toBe(`fleetd/${VERSION}`);
    }
  });

  test("unclean paths get a 301 to the clean path, query kept", async () => {
    const f = apiFixture(etcd.client);
    const res = await f.call("GET", "//fleet//v1/units?alt=json");
    expect(res.status).toBe(301);
    expect(res.headers.get("Location")).toBe("/fleet/v1/units?alt=json");
    expect(res.headers.get("Server")).toBe(`fleetd/${VERSION}`);
    expect(await res.text()).toBe('<a href="/fleet/v1/units?alt=json">Moved Permanently</a>.\n\n');
    const put = await f.call("PUT", "/fleet/v1//units/a.service", { body: {} });
    expect(put.status).toBe(301);
    expect(put.headers.get("Location")).toBe("/fleet/v1/units/a.service");
    expect((await f.call("GET", "/fleet/v1/units//")).headers.get("Location")).toBe("/fleet/v1/units/");
  });
});

describe("discovery document", () => {
  // compatibility.md §7.9.
  test("GET /v1-alpha/discovery serves the original's document: its schemas, enums and methods", async () => {
    const f = apiFixture(etcd.client);
    const res = await f.call("GET", "/v1-alpha/discovery");
    expect(res.headers.get("Content-Type")).toBe("application/json");
    const doc = await res.json() as Record<string, any>;
    expect(doc).toMatchObject({
      kind: "discovery#restDescription", discoveryVersion: "v1", id: "fleet:v1", name: "schema", version: "v1",
      title: "fleet API", documentationLink: "http://github.com/coreos/fleet", protocol: "rest",
      baseUrl: "$ENDPOINT/fleet/v1/", basePath: "/fleet/v1/", rootUrl: "$ENDPOINT/", servicePath: "fleet/v1/", batchPath: "batch",
    });
    expect(Object.keys(doc.schemas).sort()).toEqual(["Machine", "MachinePage", "Unit", "UnitOption", "UnitPage", "UnitState", "UnitStatePage"]);
    expect(doc.schemas.Unit.properties.desiredState.enum).toEqual(["inactive", "loaded", "launched"]);
    expect(doc.schemas.Unit.properties.currentState.enum).toEqual(["inactive", "loaded", "launched"]);
    const methods: [string, string, string][] = [];
    for (const r of Object.values(doc.resources) as { methods: Record<string, { id: string; httpMethod: string; path: string }> }[]) {
      for (const m of Object.values(r.methods)) methods.push([m.id, m.httpMethod, m.path]);
    }
    expect(methods.sort()).toEqual([
      ["fleet.Event.List", "GET", "events"],
      ["fleet.Machine.List", "GET", "machines"],
      ["fleet.Unit.Delete", "DELETE", "units/{unitName}"],
      ["fleet.Unit.Get", "GET", "units/{unitName}"],
      ["fleet.Unit.List", "GET", "units"],
      ["fleet.Unit.Set", "PUT", "units/{unitName}"],
      ["fleet.UnitState.Get", "GET", "state/{unitName}"],
      ["fleet.UnitState.List", "GET", "state"],
    ]);
    expect(Object.keys(doc.resources.UnitState.methods.List.parameters).sort()).toEqual(["machineID", "nextPageToken", "unitName"]);
    // The event stream is an extension, listed with its parameters.
    expect(Object.keys(doc.resources.Events.methods.List.parameters).sort()).toEqual(["kinds", "machine", "since", "unit", "until"]);
  });
});

describe("/state", () => {
  const H = { ha1: "a1".repeat(20), ha2: "a2".repeat(20), hb2: "b2".repeat(20) };
  test("sorted by unit then machine, filtered, paginated; GET /state/{name}", async () => {
    const f = apiFixture(etcd.client, { tokenLimit: 2 });
    await f.state("b.service", "m2", { hash: H.hb2 });
    await f.state("a.service", "m2", { hash: H.ha2, activeState: "failed", subState: "failed" });
    await f.state("a.service", "m1", { hash: H.ha1 });
    const page1 = await (await f.call("GET", "/fleet/v1/state")).text();
    expect(page1).toBe(JSON.stringify({
      nextPageToken: encodePageToken({ limit: 2, page: 2 }),
      states: [
        { hash: H.ha1, machineID: "m1", name: "a.service", systemdActiveState: "active", systemdLoadState: "loaded", systemdSubState: "running" },
        { hash: H.ha2, machineID: "m2", name: "a.service", systemdActiveState: "failed", systemdLoadState: "loaded", systemdSubState: "failed" },
      ],
    }));
    const page2 = await (await f.call("GET", `/fleet/v1/state?nextPageToken=${encodePageToken({ limit: 2, page: 2 })}`)).json() as any;
    expect(page2.states.map((s: any) => s.name)).toEqual(["b.service"]);
    expect(page2.nextPageToken).toBeUndefined();

    const names = async (q: string) => ((await (await f.call("GET", `/fleet/v1/state?${q}`)).json() as any).states ?? []).map((s: any) => `${s.name}/${s.machineID}`);
    expect(await names("machineID=m2")).toEqual(["a.service/m2", "b.service/m2"]);
    expect(await names("unitName=a.service")).toEqual(["a.service/m1", "a.service/m2"]);
    expect(await names("unitName=a.service&machineID=m2&machineID=m1")).toEqual(["a.service/m2"]);
    expect(await names("machineID=")).toHaveLength(2);
    expect(await (await f.call("GET", "/fleet/v1/state?unitName=none.service")).text()).toBe("{}");

    expect(await (await f.call("GET", "/fleet/v1/state/a.service")).json()).toMatchObject({ machineID: "m1", hash: H.ha1 });
    expect(await errorOf(await f.call("GET", "/fleet/v1/state/none.service")))
      .toEqual({ status: 404, body: errorBody(404, "unit state does not exist") });
    expect((await f.call("GET", "/fleet/v1/state?nextPageToken=EwBMLg==")).status).toBe(400);
  });
});

describe("/machines", () => {
  test("live machines sorted by ID, with dynamic metadata merged; PATCH add, replace and remove", async () => {
    const f = apiFixture(etcd.client);
    await f.machine({ id: "YYY", publicIP: "1.2.3.4", metadata: { ping: "pong", region: "eu" } });
    await f.machine({ id: "XXX" });
    expect(await (await f.call("GET", "/fleet/v1/machines")).text())
      .toBe('{"machines":[{"id":"XXX","startedAt":"2026-01-02T03:04:05.000Z"},{"id":"YYY","metadata":{"ping":"pong","region":"eu"},"primaryIP":"1.2.3.4","startedAt":"2026-01-02T03:04:05.000Z"}]}');

    const patch = await f.call("PATCH", "/fleet/v1/machines", {
      contentType: null,
      body: [
        { op: "add", path: "/XXX/metadata/role", value: { value: "web" } },
        { op: "replace", path: "/YYY/metadata/ping", Value: { Value: "pang" } },
        { op: "remove", path: "/YYY/metadata/region" },
        { op: "add", path: "/XXX/metadata/later", value: "bare" },
      ],
    });
    expect(patch.status).toBe(204);
    expect(patch.headers.get("Content-Type")).toBe("application/json");
    expect(await patch.text()).toBe("");
    expect(await (await f.call("GET", "/fleet/v1/machines")).text())
      .toBe('{"machines":[{"id":"XXX","metadata":{"later":"bare","role":"web"},"startedAt":"2026-01-02T03:04:05.000Z"},{"id":"YYY","metadata":{"ping":"pang"},"primaryIP":"1.2.3.4","startedAt":"2026-01-02T03:04:05.000Z"}]}');
    expect(await f.registry.getDynamicMetadata("YYY")).toEqual({ ping: "pang", region: "" });
  });

  test("an invalid operation anywhere in the list applies none of them", async () => {
    const f = apiFixture(etcd.client);
    await f.machine({ id: "A" });
    const res = await f.call("PATCH", "/fleet/v1/machines", {
      body: [{ op: "add", path: "/A/metadata/x", value: { value: "1" } }, { op: "add", path: "/A/metadata/y" }],
    });
    expect(await errorOf(res)).toEqual({ status: 400, body: errorBody(400, "invalid value: add and replace require a value") });
    expect(await f.registry.getDynamicMetadata("A")).toEqual({});
    expect((await f.call("PATCH", "/fleet/v1/machines", { body: [{ op: "move", path: "/A/metadata/x" }] })).status).toBe(400);
    expect(await errorOf(await f.call("PATCH", "/fleet/v1/machines", { body: [{ op: "add", path: "/A/x", value: "1" }] })))
      .toEqual({ status: 400, body: errorBody(400, "machine metadata path invalid") });
  });

  test("a machine's capacity, when it reports one, is an extension field", async () => {
    const f = apiFixture(etcd.client);
    const capacity = { cpuMillis: 4000, memoryBytes: 8589934592, allocatableCpuMillis: 3500, allocatableMemoryBytes: 8053063680 };
    await f.machine({ id: "A", capacity });
    await f.machine({ id: "B" });
    expect(await (await f.call("GET", "/fleet/v1/machines")).text()).toBe(
      '{"machines":[{"id":"A","startedAt":"2026-01-02T03:04:05.000Z","capacity":{"cpuMillis":4000,"memoryBytes":8589934592,"allocatableCpuMillis":3500,"allocatableMemoryBytes":8053063680}},{"id":"B","startedAt":"2026-01-02T03:04:05.000Z"}]}',
    );
  });

  test("pagination of machines", async () => {
    const f = apiFixture(etcd.client, { tokenLimit: 2 });
    for (const id of ["m3", "m1", "m2"]) await f.machine({ id });
    const p1 = await (await f.call("GET", "/fleet/v1/machines")).json() as any;
    expect(p1.machines.map((m: any) => m.id)).toEqual(["m1", "m2"]);
    const p2 = await (await f.call("GET", `/fleet/v1/machines?nextPageToken=${p1.nextPageToken}`)).json() as any;
    expect(p2).toEqual({ machines: [{ id: "m3", startedAt: MACHINE_STARTED_AT }] });
  });
});

describe("/metrics", () => {
  test("Prometheus text; each request is counted exactly once, by method and code", async () => {
    const f = apiFixture(etcd.client);
    for (let i = 0; i < 3; i++) await f.call("GET", "/fleet/v1/units");
    await f.call("GET", "/bogus");
    await f.call("PROPFIND", "/");
    f.ready.value = false;
    await f.call("GET", "/fleet/v1/units");
    f.ready.value = true;
    const res = await f.call("GET", "/metrics");
    expect(res.headers.get("Content-Type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    expect(text).toContain('fleet_api_request_count_total{method="GET",code="200"} 3\n');
    expect(text).toContain('fleet_api_request_count_total{method="GET",code="404"} 1\n');
    expect(text).toContain('fleet_api_request_count_total{method="OTHER",code="405"} 1\n');
    expect(text).toContain('fleet_api_request_count_total{method="GET",code="503"} 1\n');
    for (const name of ["fleet_engine_leader_start_time", "fleet_engine_reconcile_count_total", "fleet_registry_operation_duration_second", "process_cpu_seconds_total"]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(f.metrics.apiRequestCount.get({ method: "GET", code: "200" })).toBe(4);
  });
});

describe("registry failures", () => {
  test("500 with an empty message (detail logged), except PATCH machines which names the error", async () => {
    const dead = new EtcdClient({ endpoints: [`http://127.0.0.1:${await freePort()}`], retries: 0, requestTimeoutMs: 2000 });
    try {
      const logged: string[] = [];
      const handler = createApiHandler({
        registry: new Registry(dead, "/dead/"), tokenLimit: 100, version: VERSION, isReady: () => true,
        metrics: createFleetMetrics(), log: testLogger(logged),
      });
      const call = (method: string, path: string, body?: unknown) =>
        handler(new Request(`http://fleet.test${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { "Content-Type": "application/json" } }));
      for (const [method, path, body] of [
        ["GET", "/fleet/v1/units", undefined], ["GET", "/fleet/v1/units/a.service", undefined],
        ["PUT", "/fleet/v1/units/a.service", { options: SLEEP_OPTIONS }], ["DELETE", "/fleet/v1/units/a.service", undefined],
        ["GET", "/fleet/v1/state", undefined], ["GET", "/fleet/v1/machines", undefined],
      ] as const) {
        expect(await errorOf(await call(method, path, body))).toEqual({ status: 500, body: errorBody(500, "") });
      }
      expect(logged.filter((l) => l.includes("ERROR")).length).toBe(6);
      const patch = await call("PATCH", "/fleet/v1/machines", [{ op: "add", path: "/m/metadata/a", value: "1" }]);
      expect(patch.status).toBe(500);
      const message = (await patch.json() as { error: { message: string } }).error.message;
      expect(message).not.toBe("");
    } finally {
      dead.close();
    }
  });
});
