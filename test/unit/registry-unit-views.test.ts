import { describe, expect, test } from "bun:test";
import { deriveUnitStatus, publishersByUnit, unitRecord } from "../../src/registry/unit-views.ts";
import type { ScheduleEntry } from "../../src/registry/models.ts";
import { describeUnit } from "../../src/unit/describe-unit.ts";

const entry = (desiredState: ScheduleEntry["desiredState"]): ScheduleEntry => ({ hash: "h", desiredState, epoch: "1" });
const sched = (...pairs: [string, ScheduleEntry][]) => new Map(pairs);

describe("deriveUnitStatus", () => {
  test("unscheduled: inactive, no machine", () => {
    expect(deriveUnitStatus(false, undefined, new Set())).toEqual({ currentState: "inactive" });
    expect(deriveUnitStatus(false, sched(), new Set(["m1"]))).toEqual({ currentState: "inactive" });
  });

  test("scheduled but no state published yet: inactive on that machine", () => {
    expect(deriveUnitStatus(false, sched(["m1", entry("launched")]), new Set())).toEqual({ currentState: "inactive", machineID: "m1" });
    // A state from some other machine does not count.
    expect(deriveUnitStatus(false, sched(["m1", entry("launched")]), new Set(["m2"]))).toEqual({ currentState: "inactive", machineID: "m1" });
  });

  test("scheduled and published: the schedule entry decides loaded or launched", () => {
    expect(deriveUnitStatus(false, sched(["m1", entry("launched")]), new Set(["m1"]))).toEqual({ currentState: "launched", machineID: "m1" });
    expect(deriveUnitStatus(false, sched(["m1", entry("loaded")]), new Set(["m1"]))).toEqual({ currentState: "loaded", machineID: "m1" });
  });

  test("two entries while moving: the publishing machine wins, else the lowest ID", () => {
    const s = sched(["m2", entry("launched")], ["m1", entry("launched")]);
    expect(deriveUnitStatus(false, s, new Set(["m2"]))).toEqual({ currentState: "launched", machineID: "m2" });
    expect(deriveUnitStatus(false, s, new Set())).toEqual({ currentState: "inactive", machineID: "m1" });
  });

  test("global units have neither (Q21)", () => {
    expect(deriveUnitStatus(true, sched(["m1", entry("launched")]), new Set(["m1"]))).toEqual({});
    expect(deriveUnitStatus(true, undefined, new Set())).toEqual({});
  });
});

describe("publishersByUnit", () => {
  test("the machines that published a state, by unit, each machine once", () => {
    const states = [
      { name: "a.service", machineId: "m2" }, { name: "b.service", machineId: "m1" },
      { name: "a.service", machineId: "m1" }, { name: "a.service", machineId: "m2" },
    ];
    expect(publishersByUnit(states)).toEqual(new Map([["a.service", new Set(["m1", "m2"])], ["b.service", new Set(["m1"])]]));
    expect(publishersByUnit([])).toEqual(new Map());
  });
});

describe("unitRecord", () => {
  test("the stored record keeps the described unit's hash, globality, requirements and description", () => {
    const unit = describeUnit("web.service", "[Unit]\nDescription=Web\n[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\nMachineMetadata=disk=ssd\n");
    expect(unitRecord(unit, "loaded")).toEqual({
      name: "web.service", hash: unit.hash, desiredState: "loaded", global: true, requirements: unit.requirements, description: "Web",
    });
    expect(unit.requirements.machineMetadata).toEqual({ disk: ["ssd"] });
  });
});
