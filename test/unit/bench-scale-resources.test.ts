// The scale benchmark's resources variant (issue 16): machines in two availability zones that
// report capacity, half the units with requests read every way a unit can state them, and each
// Conflicts group spread across the zones; every unit is accepted and placed.
import { expect, test } from "bun:test";
import { describeForApi } from "../../src/api/describe-for-api.ts";
import { unitRecord } from "../../src/registry/unit-views.ts";
import { applyActions } from "../../src/scheduler/apply.ts";
import { planSchedule } from "../../src/scheduler/plan.ts";
import { AZS, CONFLICT_GROUP, expectedInstances, HOLLOW_CAPACITY, hollowMachines, scaleUnits } from "../../bench/scale/scenario.ts";

test("half the units state requests; machines report capacity and are split between two zones", () => {
  const units = scaleUnits(1000, { resources: true }).map((u) => describeForApi(u.name, u.options));
  const withRequests = units.filter((u) => u.requirements.resources !== undefined);
  // Every other unit of each kind (909 plain, 50 conflicting, 40 with metadata, 1 global).
  expect(withRequests.length).toBe(455 + 25 + 20 + 1);
  // Each way of stating a request is used.
  expect(new Set(withRequests.map((u) => JSON.stringify(Object.keys(u.requirements.resources!).sort()))))
    .toEqual(new Set(['["memoryBytes"]', '["cpuMillis"]', '["cpuMillis","memoryBytes"]', '["cpuWeight","memoryBytes"]']));
  expect(units.every((u) => u.warnings.length === 0)).toBe(true);
  const machines = hollowMachines(10, { resources: true });
  expect(machines.map((m) => m.metadata.az)).toEqual([...Array(5).fill(AZS[0]), ...Array(5).fill(AZS[1])]);
  expect(machines.every((m) => JSON.stringify(m.capacity) === JSON.stringify(HOLLOW_CAPACITY))).toBe(true);
  // Without the variant, nothing changes.
  expect(hollowMachines(10).every((m) => m.capacity === undefined && m.metadata.az === undefined)).toBe(true);
  expect(scaleUnits(1000).every((u) => describeForApi(u.name, u.options).requirements.resources === undefined)).toBe(true);
});

test("the planner places every unit, within capacity, each Conflicts group across both zones", () => {
  const hollow = hollowMachines(20, { resources: true });
  const machines = hollow.map((m) => ({ id: m.id, metadata: m.metadata, capacity: { cpuMillis: m.capacity!.allocatableCpuMillis, memoryBytes: m.capacity!.allocatableMemoryBytes } }));
  const units = scaleUnits(200, { resources: true }).map((u) => unitRecord(describeForApi(u.name, u.options), "launched"));
  const state = { machines, units, schedule: [], pending: new Map<string, string>() };
  const actions = planSchedule(state);
  expect(actions.filter((a) => a.kind === "pending")).toEqual([]);
  const placed = applyActions(state, actions).schedule;
  expect(placed.length).toBe(expectedInstances({ machines: 20, units: 200 }));
  const az = new Map(hollow.map((m) => [m.id, m.metadata.az!] as const));
  const group = placed.filter((p) => p.unit.startsWith("conflict-g00000-")).map((p) => az.get(p.machine)!);
  expect(group.length).toBe(CONFLICT_GROUP);
  // Five units in two zones: three and two.
  expect([group.filter((z) => z === "a").length, group.filter((z) => z === "b").length].sort()).toEqual([2, 3]);
});
