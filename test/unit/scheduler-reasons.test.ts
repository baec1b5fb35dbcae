// Reasons as data (scheduler/reasons.ts): each kind renders the exact line fleet has always
// shown, the planner's grouping of blockers is data with counts and units, and every unschedule
// and pending action the planner makes carries data that renders to its reason.
import { describe, expect, test } from "bun:test";
import { noFitOf } from "../../src/scheduler/no-fit.ts";
import { planSchedule } from "../../src/scheduler/plan.ts";
import type { NoFit, PendingReason, UnscheduleReason } from "../../src/scheduler/reasons.ts";
import { noFitText, pendingText, unscheduleText } from "../../src/scheduler/reasons.ts";
import type { ClusterState, EngineAction } from "../../src/scheduler/types.ts";
import { cluster, machine, unit } from "../support/unit/scheduler-fixtures.ts";

const M = "27e8a4f8b1c2d3e4f5a6b7c8d9e0f1a2";
const webs = ["web@1.service", "web@2.service", "web@3.service"];
const conflicts: NoFit = { kind: "blocked", groups: [{ rule: "conflicts", pattern: "web@*.service", own: true, units: webs, machines: 3 }] };

describe("pending reasons render as before", () => {
  const cases: [string, PendingReason, string][] = [
    ["no-fit, a unit's own Conflicts (fleet ctl start prints it)", { kind: "no-fit", noFit: conflicts },
      "no machine fits: 3 run a unit matching Conflicts=web@*.service (web@1.service, web@2.service, web@3.service)"],
    ["no-fit, no machines", { kind: "no-fit", noFit: { kind: "no-machines" } }, "no machines are available"],
    ["no-fit, a MachineOf cycle", { kind: "no-fit", noFit: { kind: "machine-of-cycle", cycle: ["a.service", "b.service", "a.service"] } },
      "no machine fits: MachineOf cycle a.service -> b.service -> a.service"],
    ["no-fit, MachineID of no live machine", { kind: "no-fit", noFit: { kind: "machine-id-not-live", id: "m9" } },
      "no machine fits: MachineID=m9 is not a live machine"],
    ["no-fit, metadata nobody has", { kind: "no-fit", noFit: { kind: "metadata-matches-none", required: { region: ["eu", "us"], disk: ["ssd"] }, machines: 1 } },
      "no machine fits: MachineMetadata disk=ssd region=eu|us matches none of 1 machine"],
    ["no-fit, several rules, biggest first", {
      kind: "no-fit",
      noFit: {
        kind: "blocked",
        groups: [
          { rule: "metadata", key: "disk", values: ["ssd"], machines: 2 },
          { rule: "machine-of", peer: "db.service", scheduled: true, machines: 1 },
          { rule: "machine-of", peer: "gone.service", scheduled: false, machines: 1 },
          { rule: "conflicts", pattern: "app*", own: false, units: ["app.service"], machines: 1 },
          { rule: "replaced", units: ["new.service"], machines: 1 },
          { rule: "drained", machines: 2 },
        ],
      },
    }, "no machine fits: 2 lack MachineMetadata disk=ssd; 1 does not run MachineOf=db.service; MachineOf=gone.service is not scheduled; " +
      "1 runs a unit with Conflicts=app* (app.service); 1 runs a unit that replaces it (new.service); 2 are drained"],
    ["no-fit, a long list of units is cut", {
      kind: "no-fit",
      noFit: { kind: "blocked", groups: [{ rule: "conflicts", pattern: "x*", own: true, units: ["x1", "x2", "x3", "x4", "x5", "x6", "x7"], machines: 7 }] },
    }, "no machine fits: 7 run a unit matching Conflicts=x* (x1, x2, x3, x4, x5, and 2 more)"],
    ["awaiting-return", { kind: "awaiting-return", machine: M, noFit: { kind: "machine-id-not-live", id: "27e8a4f8" } },
      "waiting for machine 27e8a4f8 to return: no other machine fits: MachineID=27e8a4f8 is not a live machine"],
    ["awaiting-return, no other machines", { kind: "awaiting-return", machine: M, noFit: { kind: "no-machines" } },
      "waiting for machine 27e8a4f8 to return: no other machines are available"],
    ["eviction-held", { kind: "eviction-held", machine: "m9", hold: "eviction rate limit" },
      "waiting to move off lost machine m9 (eviction rate limit)"],
    ["drain-held", { kind: "drain-held", machine: M, hold: "room was freed after it tried" },
      "waiting to leave drained machine 27e8a4f8 (room was freed after it tried)"],
    ["drain-blocked", { kind: "drain-blocked", machine: "m0", noFit: { kind: "blocked", groups: [{ rule: "drained", machines: 1 }] } },
      "waiting to leave drained machine m0: no other machine fits: 1 is drained"],
    ["drain-blocked, with its target", {
      kind: "drain-blocked", machine: "m0", movesWith: "db.service",
      noFit: { kind: "blocked", groups: [{ rule: "metadata", key: "disk", values: ["ssd"], machines: 1 }] },
    }, "waiting to leave drained machine m0: moves with db.service, and no other machine fits it: 1 lacks MachineMetadata disk=ssd"],
    ["drain-blocked, with its target, no other machines", { kind: "drain-blocked", machine: "m0", movesWith: "db.service", noFit: { kind: "no-machines" } },
      "waiting to leave drained machine m0: moves with db.service, and no other machines are available"],
  ];
  test.each(cases)("%s", (_name, why, text) => {
    expect(pendingText(why)).toBe(text);
  });

  test("noFitText is the no-fit line", () => {
    expect(noFitText(conflicts)).toBe(pendingText({ kind: "no-fit", noFit: conflicts }));
  });
});

describe("unschedule reasons render as before", () => {
  const cases: [UnscheduleReason, string][] = [
    [{ kind: "unit-gone" }, "unit no longer exists"],
    [{ kind: "inactive" }, "desired state inactive"],
    [{ kind: "machine-gone", machine: M }, "machine 27e8a4f8 went away"],
    [{ kind: "duplicate", keptOn: "m2" }, "duplicate placement (kept on m2)"],
    [{ kind: "replaced", by: "new.service" }, "replaced by new.service"],
    [{ kind: "peer-left", peer: "db.service", machine: "m1" }, "MachineOf=db.service left machine m1"],
    [{ kind: "no-longer-fits", machine: "m1", blocker: { rule: "metadata", key: "disk", values: ["ssd", "nvme"] } },
      "machine m1 no longer fits: lacks MachineMetadata disk=ssd|nvme"],
    [{ kind: "no-longer-fits", machine: "m1", blocker: { rule: "conflicts", unit: "b.service", pattern: "a*", own: false } },
      "machine m1 no longer fits: runs a unit with Conflicts=a* (b.service)"],
    [{ kind: "drained", machine: M }, "machine 27e8a4f8 is drained"],
    [{ kind: "not-scheduled" }, "no longer scheduled here"],
  ];
  test.each(cases)("%o", (why, text) => {
    expect(unscheduleText(why)).toBe(text);
  });
});

describe("noFitOf: the blockers of every machine as data", () => {
  const ctx = { scheduled: (peer: string) => peer === "db.service" };

  test("groups by rule and value with how many machines and which units, biggest first", () => {
    const u = unit("web@4.service", { conflicts: ["web@*.service"], machineOf: ["db.service"] });
    const f = noFitOf(u, [
      { rule: "conflicts", unit: "web@2.service", pattern: "web@*.service", own: true },
      { rule: "machine-of", peer: "db.service" },
      { rule: "conflicts", unit: "web@1.service", pattern: "web@*.service", own: true },
      { rule: "conflicts", unit: "web@1.service", pattern: "web@*.service", own: true },
      { rule: "drained" },
    ], ctx);
    expect(f).toEqual({
      kind: "blocked",
      groups: [
        { rule: "conflicts", pattern: "web@*.service", own: true, units: ["web@1.service", "web@2.service"], machines: 3 },
        { rule: "machine-of", peer: "db.service", scheduled: true, machines: 1 },
        { rule: "drained", machines: 1 },
      ],
    });
  });

  test("one rule blocking every machine for one value becomes a statement about the value", () => {
    const pinned = unit("p.service", { machineId: "m9" });
    expect(noFitOf(pinned, [{ rule: "machine-id", id: "m9" }, { rule: "machine-id", id: "m9" }], ctx)).toEqual({ kind: "machine-id-not-live", id: "m9" });
    const picky = unit("q.service", { metadata: { disk: ["ssd"] } });
    expect(noFitOf(picky, [{ rule: "metadata", key: "disk", values: ["ssd"] }], ctx))
      .toEqual({ kind: "metadata-matches-none", required: { disk: ["ssd"] }, machines: 1 });
    expect(noFitOf(picky, [], ctx)).toEqual({ kind: "no-machines" });
  });
});

/** Every unschedule and pending action with its data, checked to render to its reason. */
function reasoned(actions: readonly EngineAction[]): (UnscheduleReason | PendingReason)[] {
  const out: (UnscheduleReason | PendingReason)[] = [];
  for (const a of actions) {
    if (a.kind === "unschedule") {
      expect(a.why).toBeDefined();
      expect(unscheduleText(a.why!)).toBe(a.reason);
      out.push(a.why!);
    } else if (a.kind === "pending") {
      expect(a.why).toBeDefined();
      expect(pendingText(a.why!)).toBe(a.reason);
      out.push(a.why!);
    }
  }
  return out;
}

describe("the planner decides with data", () => {
  test("fleet ctl start's example: web@4 no-fit, three machines running web@1..3", () => {
    const st = cluster([machine("m1"), machine("m2"), machine("m3")],
      ["web@1.service", "web@2.service", "web@3.service", "web@4.service"].map((n) => unit(n, { conflicts: ["web@*.service"] })),
      { "web@1.service": "m1", "web@2.service": "m2", "web@3.service": "m3" });
    const actions = planSchedule(st);
    expect(reasoned(actions)).toEqual([{ kind: "no-fit", noFit: conflicts }]);
    expect(actions.map((a) => a.kind === "pending" && a.reason)).toEqual([
      "no machine fits: 3 run a unit matching Conflicts=web@*.service (web@1.service, web@2.service, web@3.service)",
    ]);
  });

  test("drain: units that leave say drained; one that cannot is drain-blocked about its machine", () => {
    const st = cluster([machine("m0", {}, true), machine("m1")], [unit("a.service"), unit("pinned.service", { machineId: "m0" })],
      { "a.service": "m0", "pinned.service": "m0" });
    expect(reasoned(planSchedule(st))).toEqual([
      { kind: "drained", machine: "m0" },
      { kind: "drain-blocked", machine: "m0", noFit: { kind: "blocked", groups: [{ rule: "drained", machines: 1 }] } },
    ]);
  });

  test("lost machines: the budget holds one unit (eviction-held), a pinned one awaits its machine", () => {
    const st = cluster([machine("m1")], [unit("a.service"), unit("b.service"), unit("pin.service", { machineId: "m9" })],
      { "a.service": "m9", "b.service": "m9", "pin.service": "m9" });
    expect(reasoned(planSchedule(st, { maxEvictions: 1, evictionHold: "paused" }))).toEqual([
      { kind: "machine-gone", machine: "m9" },
      { kind: "eviction-held", machine: "m9", hold: "paused" },
      { kind: "awaiting-return", machine: "m9", noFit: { kind: "machine-id-not-live", id: "m9" } },
    ]);
  });

  test("the data rides on the action beside its text", () => {
    const st = cluster([machine("m1")], [], { "gone.service": "m1" });
    const [a] = planSchedule(st);
    expect(a).toEqual({ kind: "unschedule", unit: "gone.service", machine: "m1", reason: "unit no longer exists", why: { kind: "unit-gone" } });
  });

  test("a stored reason with the same text is rewritten when its kind or machine differ, or it has none", () => {
    const base: ClusterState = cluster([machine("m1")], [unit("p.service", { machineId: "m9" })], {}, {
      "p.service": "no machine fits: MachineID=m9 is not a live machine",
    });
    // Without pendingData (the caller does not know), text alone decides.
    expect(planSchedule(base)).toEqual([]);
    const same = { ...base, pendingData: new Map([["p.service", { kind: "no-fit" as const }]]) };
    expect(planSchedule(same)).toEqual([]);
    for (const stored of [{}, { kind: "drain-blocked" as const, machine: "m1" }, { kind: "no-fit" as const, machine: "m1" }]) {
      const actions = planSchedule({ ...base, pendingData: new Map([["p.service", stored]]) });
      expect(actions).toEqual([{
        kind: "pending", unit: "p.service", reason: "no machine fits: MachineID=m9 is not a live machine",
        why: { kind: "no-fit", noFit: { kind: "machine-id-not-live", id: "m9" } },
      }]);
    }
  });
});
