import { describe, expect, test } from "bun:test";
import { cleanRequestPath, decodeRequestPath, encodeRequestPath, matchRoute } from "../../src/api/routes.ts";

describe("matchRoute", () => {
  test("both prefixes serve the same routes", () => {
    for (const p of ["/fleet/v1", "/v1-alpha"]) {
      expect(matchRoute(p)).toEqual({ kind: "prefix" });
      expect(matchRoute(`${p}/discovery`)).toEqual({ kind: "discovery" });
      expect(matchRoute(`${p}/machines`)).toEqual({ kind: "machines" });
      expect(matchRoute(`${p}/units`)).toEqual({ kind: "units" });
      expect(matchRoute(`${p}/units/foo@1.service`)).toEqual({ kind: "unit", name: "foo@1.service" });
      expect(matchRoute(`${p}/state`)).toEqual({ kind: "states" });
      expect(matchRoute(`${p}/state/foo.service`)).toEqual({ kind: "state", name: "foo.service" });
      expect(matchRoute(`${p}/machines/1a2b/drain`)).toEqual({ kind: "drain", machineId: "1a2b" });
    }
  });

  test("the 404s and 405s of the route table", () => {
    expect(matchRoute("/")).toEqual({ kind: "root" });
    expect(matchRoute("/metrics")).toEqual({ kind: "metrics" });
    for (const p of [
      "/fleet/v1/units/", "/fleet/v1/units/a/b", "/fleet/v1/state/a/b", "/fleet/v1/state/",
      "/fleet/v1/machines/anything", "/fleet/v1/machines/a/drainx", "/fleet/v1/machines/a/drain/x",
      "/fleet/v1/machines/drain", "/fleet/v1/", "/fleet/v1/discovery/", "/bogus", "/fleet/v1/unitsx",
      "/fleet", "/metrics/",
    ]) {
      expect(matchRoute(p)).toEqual({ kind: "notFound" });
    }
  });
});

describe("path cleaning", () => {
  test("Go's cleanPath, keeping a trailing slash", () => {
    expect(cleanRequestPath("/fleet/v1/units")).toBe("/fleet/v1/units");
    expect(cleanRequestPath("//fleet//v1/units")).toBe("/fleet/v1/units");
    expect(cleanRequestPath("/fleet/v1/./units/../machines")).toBe("/fleet/v1/machines");
    expect(cleanRequestPath("/fleet/v1//")).toBe("/fleet/v1/");
    expect(cleanRequestPath("/../..")).toBe("/");
    expect(cleanRequestPath("")).toBe("/");
    expect(cleanRequestPath("/")).toBe("/");
  });

  test("decoding and re-encoding", () => {
    expect(decodeRequestPath("/fleet/v1/units/foo%40bar.service")).toBe("/fleet/v1/units/foo@bar.service");
    expect(() => decodeRequestPath("/a%zz")).toThrow(/invalid URL escape "%zz"/);
    expect(encodeRequestPath("/fleet/v1/units/foo@bar.service")).toBe("/fleet/v1/units/foo@bar.service");
    expect(encodeRequestPath("/a b/c?d")).toBe("/a%20b/c%3Fd");
  });
});
