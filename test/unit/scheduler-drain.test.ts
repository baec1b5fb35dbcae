// Drained machines (`fleet ctl drain`): non-global units move off, with their followers and
// within the eviction budget; what fits nowhere else stays and says why; globals stay.
import { describe, expect, test } from "bun:test";
import { applyActions } from "../../src/scheduler/apply.ts";
import { planSchedule } from "../../src/scheduler/plan.ts";
import type { ClusterState, PlanOptions } from "../../src/scheduler/types.ts";
import { brief, cluster, machine, placementOf, settle, unit } from "../support/unit/scheduler-fixtures.ts";

interface Case {
  name: string;
  state: ClusterState;
  /** A budget: planned once (the next plan gets a new budget, so it is not settled). */
  opts?: PlanOptions;
  actions: string[];
  placement: Record<string, string>;
  pending?: Record<string, string>;
}

const drained = (id: string, metadata: Record<string, string> = {}) => machine(id, metadata, true);

describe("planning with drained machines", () => {
  const cases: Case[] = [
    {
      name: "a unit moves to the least loaded other machine",
      state: cluster([drained("m0"), machine("m1"), machine("m2")], [unit("a.service"), unit("b.service")], { "a.service": "m0", "b.service": "m1" }),
      actions: ["-a.service@m0: machine m0 is drained", "+a.service@m2: least loaded fitting machine"],
      placement: { "a.service": "m2", "b.service": "m1" },
      pending: {},
    },
    {
      name: "a moving unit respects Conflicts on the other machines",
      state: cluster(
        [drained("m0"), machine("m1"), machine("m2")],
        [unit("web@1.service", { conflicts: ["web@*"] }), unit("web@2.service", { conflicts: ["web@*"] }), unit("x.service"), unit("y.service")],
        { "web@1.service": "m0", "web@2.service": "m1", "x.service": "m2", "y.service": "m2" },
      ),
      actions: ["-web@1.service@m0: machine m0 is drained", "+web@1.service@m2: least loaded fitting machine"],
      placement: { "web@1.service": "m2", "web@2.service": "m1", "x.service": "m2", "y.service": "m2" },
      pending: {},
    },
    {
      name: "followers move with their target",
      state: cluster(
        [drained("m0"), machine("m1"), machine("m2")],
        [unit("db.service"), unit("app.service", { machineOf: ["db.service"] }), unit("log.service", { machineOf: ["app.service"] }), unit("z.service")],
        { "db.service": "m0", "app.service": "m0", "log.service": "m0", "z.service": "m1" },
      ),
      actions: [
        "-app.service@m0: machine m0 is drained",
        "-db.service@m0: machine m0 is drained",
        "-log.service@m0: machine m0 is drained",
        "+app.service@m2: MachineOf=db.service runs there",
        "+db.service@m2: least loaded fitting machine",
        "+log.service@m2: MachineOf=app.service runs there",
      ],
      placement: { "app.service": "m2", "db.service": "m2", "log.service": "m2", "z.service": "m1" },
      pending: {},
    },
    {
      name: "a unit pinned to the drained machine stays there, with its reason",
      state: cluster([drained("m0"), machine("m1")], [unit("pinned.service", { machineId: "m0" })], { "pinned.service": "m0" }),
      actions: ["?pinned.service: waiting to leave drained machine m0: no other machine fits: 1 is drained"],
      placement: { "pinned.service": "m0" },
      pending: { "pinned.service": "waiting to leave drained machine m0: no other machine fits: 1 is drained" },
    },
    {
      name: "a unit whose metadata no other machine has stays",
      state: cluster([drained("m0", { disk: "ssd" }), machine("m1")], [unit("db.service", { metadata: { disk: ["ssd"] } })], { "db.service": "m0" }),
      actions: ["?db.service: waiting to leave drained machine m0: no other machine fits: 1 lacks MachineMetadata disk=ssd; 1 is drained"],
      placement: { "db.service": "m0" },
    },
    {
      name: "a target stays when its follower could not come along",
      state: cluster(
        [drained("m0", { role: "db" }), machine("m1", { role: "db" }), machine("m2")],
        [unit("db.service", { metadata: { role: ["db"] } }), unit("app.service", { machineOf: ["db.service"], conflicts: ["x.service"] }), unit("x.service", { machineId: "m1" })],
        { "db.service": "m0", "app.service": "m0", "x.service": "m1" },
      ),
      actions: [
        "?app.service: waiting to leave drained machine m0: no other machine fits: 2 do not run MachineOf=db.service; 1 runs a unit matching Conflicts=x.service (x.service)",
        "?db.service: waiting to leave drained machine m0: moves with app.service, and no other machine fits it: 2 do not run MachineOf=db.service; 1 runs a unit matching Conflicts=x.service (x.service)",
      ],
      placement: { "app.service": "m0", "db.service": "m0", "x.service": "m1" },
    },
    {
      name: "global units stay on a drained machine; their followers move to another machine running them",
      state: cluster(
        [drained("m0"), machine("m1")],
        [unit("g.service", { global: true }), unit("app.service", { machineOf: ["g.service"] })],
        { "g.service": "m0,m1", "app.service": "m0" },
      ),
      actions: ["-app.service@m0: machine m0 is drained", "+app.service@m1: MachineOf=g.service runs there"],
      placement: { "app.service": "m1", "g.service": "m0,m1" },
    },
    {
      name: "every machine drained: nothing moves",
      state: cluster([drained("m0"), drained("m1")], [unit("a.service")], { "a.service": "m0" }),
      actions: ["?a.service: waiting to leave drained machine m0: no other machine fits: 2 are drained"],
      placement: { "a.service": "m0" },
    },
    {
      name: "the eviction budget limits moves: one per group, the rest wait",
      state: cluster(
        [drained("m0"), machine("m1")],
        [unit("a.service"), unit("b.service", { machineOf: ["a.service"] }), unit("c.service")],
        { "a.service": "m0", "b.service": "m0", "c.service": "m0" },
      ),
      opts: { maxEvictions: 1, evictionHold: "eviction rate limit" },
      actions: [
        "-a.service@m0: machine m0 is drained",
        "-b.service@m0: machine m0 is drained",
        "+a.service@m1: least loaded fitting machine",
        "+b.service@m1: MachineOf=a.service runs there",
        "?c.service: waiting to leave drained machine m0 (eviction rate limit)",
      ],
      placement: { "a.service": "m1", "b.service": "m1", "c.service": "m0" },
    },
    {
      name: "a replacing unit leaving a drained machine takes its victim's machine",
      state: cluster(
        [drained("m0"), machine("m1"), machine("m2")],
        [unit("new.service", { replaces: ["old.service"] }), unit("old.service"), unit("x.service")],
        { "new.service": "m0", "old.service": "m1", "x.service": "m2" },
      ),
      actions: [
        "-new.service@m0: machine m0 is drained",
        "-old.service@m1: replaced by new.service",
        "+new.service@m1: takes the machine of old.service (Replaces)",
        "+old.service@m2: least loaded fitting machine",
      ],
      placement: { "new.service": "m1", "old.service": "m2", "x.service": "m2" },
    },
    {
      name: "a unit leaves a drained machine and a lost one's unit moves too, in the same budget",
      state: cluster([drained("m0"), machine("m1")], [unit("a.service"), unit("b.service")], { "a.service": "m0", "b.service": "m9" }),
      opts: { maxEvictions: 1, evictionHold: "eviction rate limit" },
      actions: [
        "-a.service@m0: machine m0 is drained",
        "+a.service@m1: least loaded fitting machine",
        "?b.service: waiting to move off lost machine m9 (eviction rate limit)",
      ],
      placement: { "a.service": "m1", "b.service": "m9" },
    },
  ];
  test.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    if (c.opts !== undefined) {
      const actions = planSchedule(c.state, c.opts);
      expect(brief(actions)).toEqual(c.actions);
      expect(placementOf(applyActions(c.state, actions))).toEqual(c.placement);
      return;
    }
    const s = settle(c.state);
    expect(brief(s.actions)).toEqual(c.actions);
    expect(s.placement).toEqual(c.placement);
    if (c.pending !== undefined) expect(s.pending).toEqual(c.pending);
  });

  test("undraining moves nothing back", () => {
    const st = cluster([machine("m0"), machine("m1")], [unit("a.service"), unit("b.service")], { "a.service": "m1", "b.service": "m1" }, {
      "x.service": "waiting to leave drained machine m0: no other machine fits: 1 is drained",
    });
    expect(brief(planSchedule(st))).toEqual(["!x.service"]);
  });

  test("the pending reason clears once the unit can leave", () => {
    const reason = "waiting to leave drained machine m0: no other machine fits: 1 is drained";
    const st = cluster([drained("m0"), machine("m1")], [unit("a.service")], { "a.service": "m0" }, { "a.service": reason });
    expect(brief(planSchedule(st))).toEqual(["-a.service@m0: machine m0 is drained", "+a.service@m1: least loaded fitting machine", "!a.service"]);
  });
});
