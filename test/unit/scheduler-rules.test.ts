import { describe, expect, test } from "bun:test";
import { relationsOf } from "../../src/scheduler/order.ts";
import { conflictBetween, machineIdMatches, missingMetadata, namesInReplaces, newMatcher } from "../../src/scheduler/rules.ts";
import { unit } from "../support/unit/scheduler-fixtures.ts";

const FULL = "abcd1234ef567890abcd1234ef567890";

describe("MachineID", () => {
  const cases: [string, string, string, boolean][] = [
    ["the full id", FULL, FULL, true],
    ["the 8-character short id, as the original accepted", "abcd1234", FULL, true],
    ["another machine", "abcd1234", "ffff1234ef567890abcd1234ef567890", false],
    ["a 7-character prefix", "abcd123", FULL, false],
    ["a 9-character prefix", "abcd1234e", FULL, false],
    ["an empty requirement", "", FULL, false],
    ["a short machine id compared whole", "m0", "m0", true],
    ["a short machine id that is only a prefix", "m", "m0", false],
  ];
  test.each(cases)("%s", (_label, required, machineId, expected) => {
    expect(machineIdMatches(required, machineId)).toBe(expected);
  });
});

describe("MachineMetadata: AND across keys, OR within a key, exact values", () => {
  const cases: [string, Record<string, string[]>, Record<string, string>, string | undefined][] = [
    ["no requirement", {}, { region: "us-east" }, undefined],
    ["one key, one value", { region: ["us-east"] }, { region: "us-east" }, undefined],
    ["one key, second of two values", { region: ["us-east", "us-west"] }, { region: "us-west" }, undefined],
    ["two keys, both hold", { region: ["us-east"], disk: ["ssd"] }, { region: "us-east", disk: "ssd", x: "y" }, undefined],
    ["two keys, one fails", { region: ["us-east"], disk: ["ssd"] }, { region: "us-east", disk: "hdd" }, "disk"],
    ["two keys, both fail: the first key in order", { region: ["us-east"], disk: ["ssd"] }, {}, "disk"],
    ["a missing key", { region: ["us-east"] }, { disk: "ssd" }, "region"],
    ["a value that differs", { region: ["us-east"] }, { region: "us-west" }, "region"],
    ["values are case-sensitive", { region: ["us-east"] }, { region: "US-EAST" }, "region"],
    ["no glob in values", { region: ["us-*"] }, { region: "us-east" }, "region"],
    ["a key named like an Object property", { constructor: ["x"] }, {}, "constructor"],
    ["an empty value list matches nothing", { region: [] }, { region: "us-east" }, "region"],
  ];
  test.each(cases)("%s", (_label, required, metadata, expected) => {
    expect(missingMetadata(required, metadata)).toBe(expected);
  });
});

describe("Conflicts: globs, symmetric, several values, never with itself", () => {
  const match = newMatcher();
  const cases: [string, string[], string, string[], { pattern: string; own: boolean } | undefined][] = [
    ["own exact name", ["b.service"], "b.service", [], { pattern: "b.service", own: true }],
    ["the other side declares it", [], "b.service", ["a.service"], { pattern: "a.service", own: false }],
    ["own glob", ["web@*.service"], "web@2.service", [], { pattern: "web@*.service", own: true }],
    ["? and classes", ["web@[12]?.service"], "web@1x.service", [], { pattern: "web@[12]?.service", own: true }],
    ["several values, the second matches", ["x.service", "b.*"], "b.service", [], { pattern: "b.*", own: true }],
    ["no match either way", ["x.service"], "b.service", ["y.service"], undefined],
    ["* does not cross /", ["a*"], "a/b.service", [], undefined],
  ];
  test.each(cases)("%s", (_label, own, otherName, otherPatterns, expected) => {
    const a = unit("a.service", { conflicts: own });
    const b = unit(otherName, { conflicts: otherPatterns });
    expect(conflictBetween(a, b, match)).toEqual(expected);
  });

  test("a unit never conflicts with itself", () => {
    const a = unit("web@1.service", { conflicts: ["web@*.service"] });
    expect(conflictBetween(a, a, match)).toBeUndefined();
  });
});

describe("Replaces names", () => {
  const match = newMatcher();
  test.each([
    ["a glob", ["old@*.service"], "old@3.service", true],
    ["another name", ["old.service"], "new.service", false],
    ["never itself", ["r*"], "r.service", false],
  ] as const)("%s", (_label, patterns, name, expected) => {
    expect(namesInReplaces(unit("r.service", { replaces: [...patterns] }), name, match)).toBe(expected);
  });
});

describe("decision order and relations", () => {
  const rel = (...units: ReturnType<typeof unit>[]) => relationsOf(units, newMatcher());

  test("units are decided in name order when unrelated", () => {
    expect(rel(unit("c"), unit("a"), unit("b")).order).toEqual(["a", "b", "c"]);
  });

  test("MachineOf targets come before followers, chains included", () => {
    // a follows b follows c: name order is the reverse of what placement needs.
    const r = rel(unit("a", { machineOf: ["b"] }), unit("b", { machineOf: ["c"] }), unit("c"), unit("d"));
    expect(r.order).toEqual(["c", "b", "a", "d"]);
  });

  test("a replacing unit comes before the unit it replaces", () => {
    const r = rel(unit("a"), unit("z", { replaces: ["a"] }));
    expect(r.order).toEqual(["z", "a"]);
    expect(r.replaces("z")).toEqual(["a"]);
    expect(r.replacedBy("a")).toEqual(["z"]);
  });

  test("mutual and longer circular replacements are ignored", () => {
    const mutual = rel(unit("a", { replaces: ["b"] }), unit("b", { replaces: ["a"] }));
    expect([mutual.replaces("a"), mutual.replaces("b"), mutual.replacedBy("a")]).toEqual([[], [], []]);
    const ring = rel(unit("a", { replaces: ["b"] }), unit("b", { replaces: ["c"] }), unit("c", { replaces: ["a"] }), unit("d"));
    expect(["a", "b", "c"].map((n) => ring.replaces(n))).toEqual([[], [], []]);
    // The edge out of the ring to d still holds.
    const exit = rel(unit("a", { replaces: ["b", "d"] }), unit("b", { replaces: ["a"] }), unit("d"));
    expect(exit.replaces("a")).toEqual(["d"]);
  });

  test("a Replaces edge against MachineOf order is dropped, MachineOf wins", () => {
    // f follows t; f would push t away: contradictory, so only the MachineOf order stands.
    const r = rel(unit("f", { machineOf: ["t"], replaces: ["t"] }), unit("t"));
    expect(r.order).toEqual(["t", "f"]);
    expect(r.replaces("f")).toEqual([]);
  });

  test("MachineOf cycles are found and reported from each member", () => {
    const r = rel(unit("a", { machineOf: ["b"] }), unit("b", { machineOf: ["a"] }), unit("c", { machineOf: ["a"] }), unit("s", { machineOf: ["s"] }));
    expect(r.cycleOf("a")).toEqual(["a", "b", "a"]);
    expect(r.cycleOf("b")).toEqual(["b", "a", "b"]);
    expect(r.cycleOf("c")).toBeUndefined();
    expect(r.cycleOf("s")).toEqual(["s", "s"]);
    const three = rel(unit("a", { machineOf: ["b"] }), unit("b", { machineOf: ["c"] }), unit("c", { machineOf: ["a"] }));
    expect(three.cycleOf("a")).toEqual(["a", "b", "c", "a"]);
  });

  test("inactive and global units take no part", () => {
    const r = rel(unit("a", { state: "inactive" }), unit("g", { global: true }), unit("z", { replaces: ["a"] }));
    expect(r.order).toEqual(["z"]);
    expect(r.replaces("z")).toEqual([]);
  });
});
