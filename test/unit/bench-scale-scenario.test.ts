// The scale benchmark's scenario: the unit mix at any size, units the API accepts and
// the planner can place, the instance count it expects, and which machines the kill phase stops.
import { describe, expect, test } from "bun:test";
import { describeForApi } from "../../src/api/describe-for-api.ts";
import { unitRecord } from "../../src/registry/unit-views.ts";
import { applyActions } from "../../src/scheduler/apply.ts";
import { planSchedule } from "../../src/scheduler/plan.ts";
import {
  CONFLICT_GROUP, expectedInstances, hollowMachines, killIndices, machineId, scaleUnits, unitMix,
} from "../../bench/scale/scenario.ts";

describe("unitMix", () => {
  test("is the issue's mix at 10,000 units", () => {
    expect(unitMix(10_000)).toEqual({ plain: 9090, conflicts: 500, metadata: 400, global: 10 });
  });

  test("keeps the proportions at other sizes, with at least one global unit", () => {
    expect(unitMix(1000)).toEqual({ plain: 909, conflicts: 50, metadata: 40, global: 1 });
    expect(unitMix(30_000)).toEqual({ plain: 27_270, conflicts: 1500, metadata: 1200, global: 30 });
    expect(unitMix(100).global).toBe(1);
  });

  test("rejects a size too small to hold the mix", () => {
    expect(() => unitMix(5)).toThrow("Invalid unit count 5: must be an integer of at least 10");
  });
});

describe("expectedInstances", () => {
  test("counts each global unit once per live machine", () => {
    expect(expectedInstances({ machines: 1000, units: 10_000 })).toBe(19_990);
    expect(expectedInstances({ machines: 1000, units: 10_000 }, 900)).toBe(18_990);
    expect(expectedInstances({ machines: 100, units: 1000 })).toBe(1099);
  });
});

describe("scaleUnits", () => {
  test("produces the mix with unique names, each kind's [X-Fleet] option, interleaved", () => {
    const units = scaleUnits(1000);
    expect(new Set(units.map((u) => u.name)).size).toBe(1000);
    const count = (kind: string) => units.filter((u) => u.kind === kind).length;
    expect({ plain: count("plain"), conflicts: count("conflicts"), metadata: count("metadata"), global: count("global") }).toEqual(unitMix(1000));
    const fleetOption = (i: number) => units[i]!.options.find((o) => o.section === "X-Fleet");
    const firstConflict = units.findIndex((u) => u.kind === "conflicts");
    expect(fleetOption(firstConflict)).toEqual({ section: "X-Fleet", name: "Conflicts", value: "conflict-g00000-*.service" });
    expect(units.find((u) => u.kind === "global")!.options.at(-1)).toEqual({ section: "X-Fleet", name: "Global", value: "true" });
    // Interleaved: the first tenth already holds plain, conflict and metadata units.
    const head = new Set(units.slice(0, 100).map((u) => u.kind));
    expect(head.has("plain") && head.has("conflicts") && head.has("metadata")).toBe(true);
  });

  test("every unit is accepted by the API's validation and placed by the planner, as expected", () => {
    const machines = hollowMachines(20).map((m) => ({ id: m.id, metadata: m.metadata }));
    const units = scaleUnits(200).map((u) => unitRecord(describeForApi(u.name, u.options), "launched"));
    const state = { machines, units, schedule: [], pending: new Map<string, string>() };
    const actions = planSchedule(state);
    expect(actions.filter((a) => a.kind === "pending")).toEqual([]);
    const placed = applyActions(state, actions).schedule;
    expect(placed.length).toBe(expectedInstances({ machines: 20, units: 200 }));
    // Conflict groups end up on distinct machines; metadata units in their zone.
    const where = new Map(placed.map((p) => [p.unit, p.machine]));
    const group = units.filter((u) => u.name.startsWith("conflict-g00000-")).map((u) => where.get(u.name));
    expect(group.length).toBe(CONFLICT_GROUP);
    expect(new Set(group).size).toBe(CONFLICT_GROUP);
    const zone = new Map(machines.map((m) => [m.id, m.metadata.zone]));
    expect(zone.get(where.get("meta-00001.service")!)).toBe("z1");
  });
});

describe("machines", () => {
  test("ids look like /etc/machine-id and are stable", () => {
    expect(machineId(7)).toMatch(/^[0-9a-f]{32}$/);
    expect(machineId(7)).toBe(machineId(7));
    expect(new Set(hollowMachines(500).map((m) => m.id)).size).toBe(500);
  });

  test("killIndices spreads the killed machines over the range", () => {
    expect(killIndices(1000, 100)).toHaveLength(100);
    expect(killIndices(10, 2)).toEqual([2, 7]);
    expect(new Set(killIndices(100, 10)).size).toBe(10);
    expect(killIndices(10, 0)).toEqual([]);
    expect(() => killIndices(10, 11)).toThrow("Cannot kill 11 machines of 10");
  });
});
