// /units through the real handler, Registry and etcd: the PUT algorithm (compatibility.md §7.4)
// with every path validated (Q12), GET and DELETE, current state, pagination.
import { describe, expect, test } from "bun:test";
import { encodePageToken } from "../../src/api/page-token.ts";
import type { UnitRecord } from "../../src/registry/models.ts";
import { serializeUnitFile, unitHash } from "../../src/unit/unit-file.ts";
import { sharedEtcd } from "../support/etcd-fixture.ts";
import { apiFixture, errorBody, errorOf, SLEEP_OPTIONS, VERSION } from "../support/integration/api-fixture.ts";

const etcd = sharedEtcd();

// compatibility.md §13, item 13.
describe("PUT, GET and DELETE of /units/{name} answer as the original did", () => {
  test("no options 409, options 201, desiredState only 204, options only 409, not JSON 415, another name 400, a missing unit 404, POST 405", async () => {
    const f = apiFixture(etcd.client);
    const url = "/fleet/v1/units/x.service";
    expect(await errorOf(await f.call("PUT", url, { body: { desiredState: "launched" } })))
      .toEqual({ status: 409, body: errorBody(409, "unit does not exist and options field empty") });

    const created = await f.call("PUT", url, { body: { desiredState: "inactive", options: SLEEP_OPTIONS } });
    expect(created.status).toBe(201);
    expect(await created.text()).toBe("");
    expect(created.headers.get("Server")).toBe(`fleetd/${VERSION}`);

    const changed = await f.call("PUT", url, { body: { desiredState: "launched" } });
    expect(changed.status).toBe(204);
    expect(await changed.text()).toBe("");

    expect(await errorOf(await f.call("PUT", url, { body: { options: SLEEP_OPTIONS } })))
      .toEqual({ status: 409, body: errorBody(409, "must provide DesiredState to update existing unit") });
    expect(await errorOf(await f.call("PUT", url, { body: { desiredState: "launched" }, contentType: "text/plain" })))
      .toEqual({ status: 415, body: errorBody(415, "only acceptable Content-Type is application/json") });
    expect(await errorOf(await f.call("PUT", url, { body: { desiredState: "launched" }, contentType: null })))
      .toEqual({ status: 415, body: errorBody(415, "expected 1 Content-Type, got 0") });
    expect(await errorOf(await f.call("PUT", url, { body: { name: "y.service", desiredState: "launched" } })))
      .toEqual({ status: 400, body: errorBody(400, 'name in URL "x.service" differs from unit name in request body "y.service"') });

    const missing = await f.call("GET", "/fleet/v1/units/missing.service");
    expect(missing.headers.get("Content-Type")).toBe("application/json");
    expect(await errorOf(missing)).toEqual({ status: 404, body: '{"error":{"code":404,"message":"unit does not exist"}}' });
    expect(await errorOf(await f.call("DELETE", "/fleet/v1/units/missing.service")))
      .toEqual({ status: 404, body: errorBody(404, "unit does not exist") });
    expect(await errorOf(await f.call("POST", url, { body: {} })))
      .toEqual({ status: 405, body: errorBody(405, "only GET, PUT and DELETE supported against this resource") });

    const got = await f.call("GET", url);
    expect(got.status).toBe(200);
    expect(await got.text()).toBe(
      '{"currentState":"inactive","desiredState":"launched","name":"x.service",' +
        '"options":[{"name":"ExecStart","section":"Service","value":"/usr/bin/sleep 3000"}]}',
    );
  });
});

describe("PUT creates and replaces canonical units", () => {
  test("the record and the canonical text are stored; values are trimmed before hashing", async () => {
    const f = apiFixture(etcd.client);
    const options = [
      { section: "Unit", name: "Description", value: "  web <b> & co  " },
      { section: "Service", name: "ExecStart", value: "/bin/true" },
      { section: "Unit", name: "After", value: "net.target" },
      { section: "X-Fleet", name: "MachineMetadata", value: "region=eu" },
    ];
    const res = await f.call("PUT", "/fleet/v1/units/web.service", { body: { desiredState: "loaded", options } });
    expect(res.status).toBe(201);
    const text = "[Unit]\nDescription=web <b> & co\nAfter=net.target\n\n[Service]\nExecStart=/bin/true\n\n[X-Fleet]\nMachineMetadata=region=eu\n";
    const record = await f.registry.getUnit("web.service") as UnitRecord;
    expect(record).toMatchObject({
      name: "web.service", desiredState: "loaded", global: false, description: "web <b> & co",
      hash: unitHash(options.map((o) => ({ ...o, value: o.value.trim() }))),
    });
    expect(record.requirements.machineMetadata).toEqual({ region: ["eu"] });
    expect((await f.registry.getUnitFile(record.hash))?.text).toBe(text);
    expect(serializeUnitFile(options)).toBe(text);

    const body = await (await f.call("GET", "/fleet/v1/units/web.service")).text();
    expect(body).toContain('"value":"web \\u003cb\\u003e \\u0026 co"');
    expect(body).toContain('{"name":"After","section":"Unit","value":"net.target"}');
  });

  test("different options replace the unit (201) and reset the desired state; identical ones do not", async () => {
    const f = apiFixture(etcd.client);
    const url = "/fleet/v1/units/r.service";
    expect((await f.call("PUT", url, { body: { desiredState: "launched", options: SLEEP_OPTIONS } })).status).toBe(201);
    const first = await f.registry.getUnit("r.service") as UnitRecord;
    expect((await f.call("PUT", url, { body: { desiredState: "launched", options: SLEEP_OPTIONS } })).status).toBe(204);

    const other = [{ section: "Service", name: "ExecStart", value: "/bin/sleep 1" }];
    expect((await f.call("PUT", url, { body: { options: other } })).status).toBe(201);
    const second = await f.registry.getUnit("r.service") as UnitRecord;
    expect(second.hash).not.toBe(first.hash);
    expect(second.desiredState).toBe("inactive");
    expect((await f.call("PUT", url, { body: { desiredState: "loaded", options: SLEEP_OPTIONS } })).status).toBe(201);
    expect((await f.registry.getUnit("r.service"))?.desiredState).toBe("loaded");
  });

  test("a global unit: record says global; GET and list omit currentState and machineID (Q21)", async () => {
    const f = apiFixture(etcd.client);
    const options = [...SLEEP_OPTIONS, { section: "X-Fleet", name: "Global", value: "true" }];
    expect((await f.call("PUT", "/fleet/v1/units/g.service", { body: { desiredState: "launched", options } })).status).toBe(201);
    await f.schedule("m1", "g.service", { desiredState: "launched" });
    await f.state("g.service", "m1");
    expect((await f.registry.getUnit("g.service"))?.global).toBe(true);
    const one = await (await f.call("GET", "/fleet/v1/units/g.service")).json() as Record<string, unknown>;
    expect(Object.keys(one)).toEqual(["desiredState", "name", "options"]);
    const list = await (await f.call("GET", "/fleet/v1/units")).json() as { units: Record<string, unknown>[] };
    expect(Object.keys(list.units[0] as object)).toEqual(["desiredState", "name", "options"]);
  });
});

describe("PUT validates every path (Q12)", () => {
  test("invalid names, options and requirements are 400 on create", async () => {
    const f = apiFixture(etcd.client);
    const put = async (name: string, body: object) => errorOf(await f.call("PUT", `/fleet/v1/units/${name}`, { body }));
    expect(await put("foo.servICE", { options: SLEEP_OPTIONS })).toEqual({ status: 400, body: errorBody(400, 'invalid unit type: "servICE"') });
    expect(await put("foo%25.service", { options: SLEEP_OPTIONS })).toEqual({ status: 400, body: errorBody(400, "invalid character '%' in unit name") });
    const xfleet = (pairs: [string, string][]) => [...SLEEP_OPTIONS, ...pairs.map(([name, value]) => ({ section: "X-Fleet", name, value }))];
    expect(await put("a.service", { options: xfleet([["MachineID", "abc"], ["Global", "true"]]) }))
      .toEqual({ status: 400, body: errorBody(400, "MachineID cannot be used with Global") });
    expect(await put("a.service", { options: xfleet([["MachineOf", "b.service"], ["Conflicts", "b.*"]]) }))
      .toEqual({ status: 400, body: errorBody(400, 'unresolvable requirements: peer "b.service" matches conflict "b.*"') });
    expect(await put("a.service", { options: [{ section: "Service", name: "ExecStart", value: "x".repeat(3000) }] }))
      .toEqual({ status: 400, body: errorBody(400, "line too long (max 2048 bytes)") });
    // A resource or Spread= value names its line in the canonical text: [Service], ExecStart, MemoryMax.
    expect(await put("a.service", { options: [...SLEEP_OPTIONS, { section: "Service", name: "MemoryMax", value: "lots" }] }))
      .toEqual({ status: 400, body: errorBody(400, `Invalid MemoryMax in a.service: line 3: "lots" is not a size, a percentage or infinity (e.g. 512M, 1.5G, 50%)`) });
    expect(await put("a.service", { options: xfleet([["Spread", "zone=a"]]) }))
      .toEqual({ status: 400, body: errorBody(400, `Invalid Spread in a.service: line 5: "zone=a" names a metadata value, not a key (e.g. Spread=zone, or Spread=zone web-*.service)`) });
    expect(await f.registry.listUnits()).toEqual([]);
  });

  test("replace validates the options too", async () => {
    const f = apiFixture(etcd.client);
    expect((await f.call("PUT", "/fleet/v1/units/a.service", { body: { options: SLEEP_OPTIONS } })).status).toBe(201);
    const bad = [...SLEEP_OPTIONS, { section: "X-Fleet", name: "Conflicts", value: "x" }, { section: "X-Fleet", name: "Replaces", value: "y" }];
    expect(await errorOf(await f.call("PUT", "/fleet/v1/units/a.service", { body: { desiredState: "launched", options: bad } })))
      .toEqual({ status: 400, body: errorBody(400, "Conflicts cannot be used with Replaces") });
    expect((await f.registry.getUnit("a.service"))?.hash).toBe(unitHash(SLEEP_OPTIONS));
  });

  test("an invalid desiredState is 400 on create, replace and update; nothing is stored", async () => {
    const f = apiFixture(etcd.client);
    const msg = errorBody(400, 'invalid desiredState "running": expect inactive, loaded, or launched');
    expect(await errorOf(await f.call("PUT", "/fleet/v1/units/s.service", { body: { desiredState: "running", options: SLEEP_OPTIONS } })))
      .toEqual({ status: 400, body: msg });
    expect(await f.registry.getUnit("s.service")).toBeUndefined();
    expect((await f.call("PUT", "/fleet/v1/units/s.service", { body: { options: SLEEP_OPTIONS } })).status).toBe(201);
    expect(await errorOf(await f.call("PUT", "/fleet/v1/units/s.service", { body: { desiredState: "running" } })))
      .toEqual({ status: 400, body: msg });
    const other = [{ section: "Service", name: "ExecStart", value: "/bin/other" }];
    expect(await errorOf(await f.call("PUT", "/fleet/v1/units/s.service", { body: { desiredState: "running", options: other } })))
      .toEqual({ status: 400, body: msg });
    expect(await f.registry.getUnit("s.service")).toMatchObject({ desiredState: "inactive", hash: unitHash(SLEEP_OPTIONS) });
  });

  test("a template may be submitted but not activated, on create or update", async () => {
    const f = apiFixture(etcd.client);
    const url = "/fleet/v1/units/foo@.service";
    const msg = { status: 400, body: errorBody(400, 'cannot activate template "foo@.service"') };
    expect(await errorOf(await f.call("PUT", url, { body: { desiredState: "launched", options: SLEEP_OPTIONS } }))).toEqual(msg);
    expect((await f.call("PUT", url, { body: { desiredState: "inactive", options: SLEEP_OPTIONS } })).status).toBe(201);
    expect(await errorOf(await f.call("PUT", url, { body: { desiredState: "loaded" } }))).toEqual(msg);
    expect((await f.call("PUT", url, { body: { desiredState: "inactive" } })).status).toBe(204);
    // An instance of it is an ordinary unit.
    expect((await f.call("PUT", "/fleet/v1/units/foo@1.service", { body: { desiredState: "launched", options: SLEEP_OPTIONS } })).status).toBe(201);
  });

  test("undecodable bodies", async () => {
    const f = apiFixture(etcd.client);
    expect(await errorOf(await f.call("PUT", "/fleet/v1/units/a.service", { body: "" })))
      .toEqual({ status: 400, body: errorBody(400, "unable to decode body: EOF") });
    const res = await errorOf(await f.call("PUT", "/fleet/v1/units/a.service", { body: "{nope" }));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error.message).toStartWith("unable to decode body: ");
  });
});

describe("GET, DELETE and current state", () => {
  test("scheduled units report loaded or launched once their machine publishes a state", async () => {
    const f = apiFixture(etcd.client);
    for (const n of ["a.service", "b.service", "c.service", "d.service"]) {
      expect((await f.call("PUT", `/fleet/v1/units/${n}`, { body: { desiredState: "launched", options: SLEEP_OPTIONS } })).status).toBe(201);
    }
    await f.schedule("m1", "a.service", { desiredState: "launched" });
    await f.state("a.service", "m1");
    await f.schedule("m2", "b.service", { desiredState: "loaded" });
    await f.state("b.service", "m2");
    await f.schedule("m1", "c.service", { desiredState: "launched" });
    await f.pending("d.service", "no machine matches MachineMetadata region=mars (3 machines)");

    const list = await (await f.call("GET", "/fleet/v1/units")).json() as { units: Record<string, unknown>[] };
    const view = list.units.map(({ options: _, ...u }) => u);
    expect(view).toEqual([
      { currentState: "launched", desiredState: "launched", machineID: "m1", name: "a.service" },
      { currentState: "loaded", desiredState: "launched", machineID: "m2", name: "b.service" },
      { currentState: "inactive", desiredState: "launched", machineID: "m1", name: "c.service" },
      { currentState: "inactive", desiredState: "launched", name: "d.service", pendingReason: "no machine matches MachineMetadata region=mars (3 machines)" },
    ]);
    for (const u of list.units) {
      const one = await (await f.call("GET", `/fleet/v1/units/${u.name}`)).json();
      expect(one).toEqual(u);
    }
  });

  test("a pending reason's kind and machine, when stored, come with it", async () => {
    const f = apiFixture(etcd.client);
    for (const n of ["k.service", "old.service"]) {
      expect((await f.call("PUT", `/fleet/v1/units/${n}`, { body: { desiredState: "launched", options: SLEEP_OPTIONS } })).status).toBe(201);
    }
    await f.schedule("m1", "k.service", { desiredState: "launched" });
    const why = "waiting to leave drained machine m1: no other machine fits: 1 is drained";
    await f.pending("k.service", why, { kind: "drain-blocked", machine: "m1" });
    await f.pending("old.service", "no machine fits");
    const unitOf = async (n: string) => {
      const { options: _, ...u } = await (await f.call("GET", `/fleet/v1/units/${n}`)).json() as Record<string, unknown>;
      return u;
    };
    expect(await unitOf("k.service")).toEqual({
      currentState: "inactive", desiredState: "launched", machineID: "m1", name: "k.service", pendingKind: "drain-blocked", pendingMachineID: "m1", pendingReason: why,
    });
    // A record written before the kind was stored: the text alone, as before.
    expect(await unitOf("old.service")).toEqual({ currentState: "inactive", desiredState: "launched", name: "old.service", pendingReason: "no machine fits" });
    const list = await (await f.call("GET", "/fleet/v1/units")).json() as { units: Record<string, unknown>[] };
    expect(list.units.find((u) => u.name === "k.service")).toMatchObject({ pendingKind: "drain-blocked", pendingMachineID: "m1" });
  });

  test("DELETE removes the unit: 204, then 404", async () => {
    const f = apiFixture(etcd.client);
    expect((await f.call("PUT", "/fleet/v1/units/d.service", { body: { options: SLEEP_OPTIONS } })).status).toBe(201);
    const del = await f.call("DELETE", "/fleet/v1/units/d.service");
    expect(del.status).toBe(204);
    expect(await del.text()).toBe("");
    expect((await f.call("GET", "/fleet/v1/units/d.service")).status).toBe(404);
    expect(await f.registry.getUnit("d.service")).toBeUndefined();
  });

  test("names are matched after URL decoding, on both prefixes", async () => {
    const f = apiFixture(etcd.client);
    expect((await f.call("PUT", "/v1-alpha/units/foo%40bar.service", { body: { options: SLEEP_OPTIONS } })).status).toBe(201);
    const got = await (await f.call("GET", "/fleet/v1/units/foo@bar.service")).json() as { name: string };
    expect(got.name).toBe("foo@bar.service");
  });
});

describe("pagination", () => {
  test("a small token limit pages through many units; the last full page has no token (Q14)", async () => {
    const f = apiFixture(etcd.client, { tokenLimit: 3 });
    const names = Array.from({ length: 7 }, (_, i) => `u${String(i).padStart(2, "0")}.service`);
    for (const n of names) {
      expect((await f.call("PUT", `/fleet/v1/units/${n}`, { body: { options: SLEEP_OPTIONS } })).status).toBe(201);
    }
    const seen: string[] = [];
    const tokens: string[] = [];
    let query = "?alt=json";
    for (let i = 0; i < 10; i++) {
      const page = await (await f.call("GET", `/fleet/v1/units${query}`)).json() as { units?: { name: string }[]; nextPageToken?: string };
      seen.push(...(page.units ?? []).map((u) => u.name));
      if (!page.nextPageToken) break;
      tokens.push(page.nextPageToken);
      query = `?alt=json&nextPageToken=${page.nextPageToken}`;
    }
    expect(seen).toEqual(names);
    expect(tokens).toEqual([encodePageToken({ limit: 3, page: 2 }), encodePageToken({ limit: 3, page: 3 })]);

    // Later pages come from the listing taken for page 1, so one paging pass is consistent:
    // a delete shows from the next page 1 on, and then the old last page is empty.
    const page3 = `/fleet/v1/units?nextPageToken=${encodePageToken({ limit: 3, page: 3 })}`;
    await f.call("DELETE", "/fleet/v1/units/u06.service");
    const stale = await (await f.call("GET", page3)).json() as { units?: { name: string }[] };
    expect(stale.units?.map((u) => u.name)).toEqual(["u06.service"]);
    const first = await (await f.call("GET", "/fleet/v1/units")).json() as { nextPageToken?: string };
    expect(first.nextPageToken).toBe(encodePageToken({ limit: 3, page: 2 }));
    const second = await (await f.call("GET", `/fleet/v1/units?nextPageToken=${encodePageToken({ limit: 3, page: 2 })}`)).json();
    expect(Object.keys(second as object)).toEqual(["units"]);
    expect(await (await f.call("GET", page3)).text()).toBe("{}");
  });

  // compatibility.md §13, item 14 (a token with another limit) and the other malformed tokens.
  test("a bad nextPageToken is a 400 that says what is wrong with it", async () => {
    const f = apiFixture(etcd.client);
    expect(await errorOf(await f.call("GET", "/fleet/v1/units?nextPageToken=EwBMLg==")))
      .toEqual({ status: 400, body: errorBody(400, "token limit must be 100") });
    expect(await errorOf(await f.call("GET", "/fleet/v1/units?nextPageToken=a&nextPageToken=b")))
      .toEqual({ status: 400, body: errorBody(400, "too many values for page token") });
    expect(await errorOf(await f.call("GET", "/fleet/v1/units?nextPageToken=")))
      .toEqual({ status: 400, body: errorBody(400, "EOF") });
    expect(await errorOf(await f.call("GET", "/fleet/v1/units?nextPageToken=ZAAAAA==")))
      .toEqual({ status: 400, body: errorBody(400, "token page must be greater than zero") });
    expect(await errorOf(await f.call("GET", "/fleet/v1/units?nextPageToken=ZAAC*A==")))
      .toEqual({ status: 400, body: errorBody(400, "illegal base64 data at input byte 4") });
    expect(await (await f.call("GET", "/fleet/v1/units")).text()).toBe("{}");
  });
});
