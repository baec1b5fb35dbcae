import { describe, expect, test } from "bun:test";
import { apiMachine, apiPage, apiUnit, apiUnitState } from "../../src/api/entities.ts";
import { encodeJson, omitEmpty } from "../../src/api/json.ts";

describe("encodeJson", () => {
  test("escapes <, > and & (and the JS line separators) like Go's encoder", () => {
    expect(encodeJson({ v: "a<b>&c" })).toBe('{"v":"a\\u003cb\\u003e\\u0026c"}');
    expect(encodeJson({ v: "x\u2028y\u2029" })).toBe('{"v":"x\\u2028y\\u2029"}');
    expect(JSON.parse(encodeJson({ v: "<&>" }))).toEqual({ v: "<&>" });
  });

  test("no trailing newline and no whitespace", () => {
    expect(encodeJson({ a: [1, 2], b: { c: "d" } })).toBe('{"a":[1,2],"b":{"c":"d"}}');
  });
});

describe("omitEmpty", () => {
  test("drops Go's empty values and keeps the given order", () => {
    const o = omitEmpty([["z", "1"], ["a", ""], ["m", []], ["n", {}], ["b", false], ["c", null], ["d", undefined], ["y", ["x"]]]);
    expect(Object.keys(o)).toEqual(["z", "y"]);
  });
});

describe("entities", () => {
  test("Unit fields in fleet's order, empty ones omitted, options in name/section/value order", () => {
    const u = apiUnit({
      name: "foo.service",
      desiredState: "launched",
      currentState: "loaded",
      machineID: "m1",
      options: [{ section: "Service", name: "ExecStart", value: "/bin/true" }, { section: "Unit", name: "Description", value: "" }],
    });
    expect(encodeJson(u)).toBe(
      '{"currentState":"loaded","desiredState":"launched","machineID":"m1","name":"foo.service",' +
        '"options":[{"name":"ExecStart","section":"Service","value":"/bin/true"},{"name":"Description","section":"Unit"}]}',
    );
  });

  test("a global unit has neither currentState nor machineID; pendingReason comes last", () => {
    expect(encodeJson(apiUnit({ name: "g.service", desiredState: "launched", options: [], pendingReason: "no machine" })))
      .toBe('{"desiredState":"launched","name":"g.service","pendingReason":"no machine"}');
  });

  test("a pending reason's kind and machine, when known, come in name order before it", () => {
    const u = apiUnit({
      name: "a.service", desiredState: "launched", options: [], machineID: "m1",
      pendingKind: "drain-blocked", pendingMachineID: "m1", pendingReason: "waiting to leave drained machine m1: no other machines are available",
    });
    expect(encodeJson(u)).toBe(
      '{"desiredState":"launched","machineID":"m1","name":"a.service","pendingKind":"drain-blocked","pendingMachineID":"m1",' +
        '"pendingReason":"waiting to leave drained machine m1: no other machines are available"}',
    );
  });

  test("the reference's machine page example, metadata keys sorted", () => {
    const page = apiPage("itemsFirst", "machines", [
      apiMachine({ id: "XXX", publicIP: "", metadata: {}, version: "1", startedAt: "" }),
      apiMachine({ id: "YYY", publicIP: "1.2.3.4", metadata: { ping: "pong" }, version: "1", startedAt: "" }),
    ]);
    expect(encodeJson(page)).toBe('{"machines":[{"id":"XXX"},{"id":"YYY","metadata":{"ping":"pong"},"primaryIP":"1.2.3.4"}]}');
    const sorted = apiMachine({ id: "A", publicIP: "", metadata: { z: "1", a: "2" }, version: "", startedAt: "" });
    expect(encodeJson(sorted)).toBe('{"id":"A","metadata":{"a":"2","z":"1"}}');
  });

  test("UnitState fields in fleet's order", () => {
    const s = apiUnitState({ name: "a.service", machineId: "m", hash: "h", loadState: "loaded", activeState: "active", subState: "running", since: "" });
    expect(encodeJson(s)).toBe('{"hash":"h","machineID":"m","name":"a.service","systemdActiveState":"active","systemdLoadState":"loaded","systemdSubState":"running"}');
    // Extension, last: why the agent refused the unit there.
    const refused = apiUnitState({ name: "sshd.service", machineId: "m", hash: "h", loadState: "error", activeState: "failed", subState: "shadowed", since: "", reason: "why" });
    expect(encodeJson(refused)).toBe('{"hash":"h","machineID":"m","name":"sshd.service","systemdActiveState":"failed","systemdLoadState":"error","systemdSubState":"shadowed","reason":"why"}');
  });

  test("pages: an empty collection is {}; the token's position follows fleet's structs", () => {
    expect(encodeJson(apiPage("tokenFirst", "units", []))).toBe("{}");
    expect(encodeJson(apiPage("tokenFirst", "units", [{ name: "a" }], "T"))).toBe('{"nextPageToken":"T","units":[{"name":"a"}]}');
    expect(encodeJson(apiPage("itemsFirst", "machines", [{ id: "a" }], "T"))).toBe('{"machines":[{"id":"a"}],"nextPageToken":"T"}');
  });
});
