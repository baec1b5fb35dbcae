import { describe, expect, test } from "bun:test";
import { planSchedule } from "../../src/scheduler/plan.ts";
import type { ClusterState, PlacementMachine, PlacementUnit } from "../../src/scheduler/types.ts";
import { brief, cluster, machine, settle, unit } from "../support/unit/scheduler-fixtures.ts";

const ms = (n: number, metadata: Record<string, string> = {}): PlacementMachine[] =>
  Array.from({ length: n }, (_, i) => machine(`m${i}`, metadata));

interface Case {
  name: string;
  state: ClusterState;
  /** Every action of the plan, in order (see `brief`). */
  actions: string[];
  /** unit -> machines after applying the plan (global units: a sorted list). */
  placement: Record<string, string>;
}

/** Each case is planned, applied, and planned again: the second plan must be empty. */
function run(cases: Case[]): void {
  test.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const s = settle(c.state);
    expect(brief(s.actions)).toEqual(c.actions);
    expect(s.placement).toEqual(c.placement);
  });
}

describe("scheduled units that must go (phase 1)", () => {
  run([
    {
      name: "desired state inactive",
      state: cluster(ms(2), [unit("a.service", { state: "inactive" }), unit("b.service")], { "a.service": "m0", "b.service": "m1" }),
      actions: ["-a.service@m0: desired state inactive"],
      placement: { "b.service": "m1" },
    },
    {
      name: "the unit was destroyed",
      state: cluster(ms(1), [], { "gone.service": "m0" }),
      actions: ["-gone.service@m0: unit no longer exists"],
      placement: {},
    },
    {
      name: "its machine went away: moved to the least loaded machine in the same plan",
      state: cluster(ms(2), [unit("a.service"), unit("b.service")], { "a.service": "m9", "b.service": "m0" }),
      actions: ["-a.service@m9: machine m9 went away", "+a.service@m1: least loaded fitting machine"],
      placement: { "a.service": "m1", "b.service": "m0" },
    },
    {
      name: "the machine's metadata changed",
      state: cluster([machine("m0", { region: "us" }), machine("m1", { region: "eu" })], [unit("a.service", { metadata: { region: ["eu"] } })], {
        "a.service": "m0",
      }),
      actions: ["-a.service@m0: machine m0 no longer fits: lacks MachineMetadata region=eu", "+a.service@m1: least loaded fitting machine"],
      placement: { "a.service": "m1" },
    },
    {
      name: "its MachineID changed",
      state: cluster(ms(2), [unit("a.service", { machineId: "m1" })], { "a.service": "m0" }),
      actions: ["-a.service@m0: machine m0 no longer fits: MachineID=m1 does not match", "+a.service@m1: MachineID=m1"],
      placement: { "a.service": "m1" },
    },
    {
      name: "two conflicting units on one machine (a race): the first by name stays",
      state: cluster(ms(2), [unit("a.service", { conflicts: ["b.service"] }), unit("b.service")], { "a.service": "m0", "b.service": "m0" }),
      actions: [
        "-b.service@m0: machine m0 no longer fits: runs a unit with Conflicts=b.service (a.service)",
        "+b.service@m1: least loaded fitting machine",
      ],
      placement: { "a.service": "m0", "b.service": "m1" },
    },
    {
      name: "its MachineOf target became inactive: the follower waits",
      state: cluster(ms(2), [unit("db.service", { state: "inactive" }), unit("app.service", { machineOf: ["db.service"] })], {
        "db.service": "m0",
        "app.service": "m0",
      }),
      actions: [
        "-app.service@m0: MachineOf=db.service left machine m0",
        "-db.service@m0: desired state inactive",
        "?app.service: no machine fits: MachineOf=db.service is not scheduled",
      ],
      placement: {},
    },
    {
      name: "its MachineOf target had to move: the follower moves with it in the same plan",
      state: cluster(
        [machine("m0", { role: "web" }), machine("m1", { role: "db" })],
        [unit("db.service", { metadata: { role: ["db"] } }), unit("app.service", { machineOf: ["db.service"] })],
        { "db.service": "m0", "app.service": "m0" },
      ),
      actions: [
        "-app.service@m0: MachineOf=db.service left machine m0",
        "-db.service@m0: machine m0 no longer fits: lacks MachineMetadata role=db",
        "+app.service@m1: MachineOf=db.service runs there",
        "+db.service@m1: least loaded fitting machine",
      ],
      placement: { "app.service": "m1", "db.service": "m1" },
    },
    {
      name: "a drained machine's units leave it and it gets nothing new",
      state: cluster([machine("m0", {}, true), machine("m1")], [unit("a.service"), unit("b.service")], { "a.service": "m0" }),
      actions: ["-a.service@m0: machine m0 is drained", "+a.service@m1: least loaded fitting machine", "+b.service@m1: least loaded fitting machine"],
      placement: { "a.service": "m1", "b.service": "m1" },
    },
    {
      name: "a machine whose daemon stopped keeps its units but gets nothing new, though it is the least loaded",
      state: cluster([{ id: "m0", metadata: {}, stopped: true }, machine("m1")], [unit("a.service"), unit("b.service"), unit("c.service")], { "a.service": "m0", "b.service": "m1" }),
      actions: ["+c.service@m1: least loaded fitting machine"],
      placement: { "a.service": "m0", "b.service": "m1", "c.service": "m1" },
    },
    {
      name: "a unit that fits only where the daemon stopped waits, and says why",
      state: cluster([{ id: "m0", metadata: {}, stopped: true }, machine("m1")], [unit("a.service", { machineId: "m0" })]),
      actions: ["?a.service: no machine fits: 1 has its fleet daemon stopped"],
      placement: {},
    },
    {
      name: "a unit scheduled twice keeps the first machine that fits",
      state: cluster(ms(3), [unit("a.service")], { "a.service": "m1,m2" }),
      actions: ["-a.service@m2: duplicate placement (kept on m1)"],
      placement: { "a.service": "m1" },
    },
    {
      name: "a unit scheduled twice where the first machine no longer fits",
      state: cluster([machine("m0"), machine("m1", { x: "y" })], [unit("a.service", { metadata: { x: ["y"] } })], { "a.service": "m0,m1" }),
      actions: ["-a.service@m0: machine m0 no longer fits: lacks MachineMetadata x=y"],
      placement: { "a.service": "m1" },
    },
  ]);

  test("a stale entry (unit file or desired state changed) is updated in place", () => {
    const st: ClusterState = {
      machines: ms(2),
      units: [unit("a.service", { hash: "h2" }), unit("b.service", { hash: "h1", state: "loaded" }), unit("c.service", { hash: "h1" })],
      schedule: [
        { unit: "a.service", machine: "m0", hash: "h1", desiredState: "loaded" },
        { unit: "b.service", machine: "m1", hash: "h1", desiredState: "launched" },
        { unit: "c.service", machine: "m1", hash: "h1", desiredState: "launched" },
      ],
    };
    const s = settle(st);
    expect(brief(s.actions)).toEqual([
      "~a.service@m0: unit file changed; desired state launched (was loaded)",
      "~b.service@m1: desired state loaded (was launched)",
    ]);
  });
});

describe("least loaded, ties by machine id", () => {
  run([
    {
      name: "spread over empty machines, then round again",
      state: cluster(ms(3), ["a", "b", "c", "d"].map((n) => unit(`${n}.service`))),
      actions: [
        "+a.service@m0: least loaded fitting machine",
        "+b.service@m1: least loaded fitting machine",
        "+c.service@m2: least loaded fitting machine",
        "+d.service@m0: least loaded fitting machine",
      ],
      placement: { "a.service": "m0", "b.service": "m1", "c.service": "m2", "d.service": "m0" },
    },
    {
      name: "global units count toward load; inactive units do not",
      state: cluster(
        [machine("m0", { g: "y" }), machine("m1"), machine("m2")],
        [unit("g.service", { global: true, metadata: { g: ["y"] } }), unit("idle.service", { state: "inactive" }), unit("a.service")],
        { "g.service": "m0", "idle.service": "m1" },
      ),
      actions: ["-idle.service@m1: desired state inactive", "+a.service@m1: least loaded fitting machine"],
      placement: { "a.service": "m1", "g.service": "m0" },
    },
    {
      name: "no rebalancing: a new machine stays empty until new units arrive",
      state: cluster(ms(3), [unit("a.service"), unit("b.service")], { "a.service": "m0", "b.service": "m0" }),
      actions: [],
      placement: { "a.service": "m0", "b.service": "m0" },
    },
  ]);
});

describe("MachineOf", () => {
  run([
    {
      name: "followers are placed with their target in the same plan, whatever the names",
      state: cluster(ms(3), [unit("x.service"), unit("a-app.service", { machineOf: ["z-db.service"] }), unit("z-db.service")], { "x.service": "m0" }),
      actions: ["+a-app.service@m1: MachineOf=z-db.service runs there", "+z-db.service@m1: least loaded fitting machine"],
      placement: { "a-app.service": "m1", "x.service": "m0", "z-db.service": "m1" },
    },
    {
      name: "a chain A <- B <- C lands on one machine",
      state: cluster(ms(2), [unit("a.service", { machineOf: ["b.service"] }), unit("b.service", { machineOf: ["c.service"] }), unit("c.service")]),
      actions: [
        "+a.service@m0: MachineOf=b.service runs there",
        "+b.service@m0: MachineOf=c.service runs there",
        "+c.service@m0: least loaded fitting machine",
      ],
      placement: { "a.service": "m0", "b.service": "m0", "c.service": "m0" },
    },
    {
      name: "a cycle A <-> B never schedules, and says so",
      state: cluster(ms(2), [unit("a.service", { machineOf: ["b.service"] }), unit("b.service", { machineOf: ["a.service"] })]),
      actions: [
        "?a.service: no machine fits: MachineOf cycle a.service -> b.service -> a.service",
        "?b.service: no machine fits: MachineOf cycle b.service -> a.service -> b.service",
      ],
      placement: {},
    },
    {
      name: "a cycle already scheduled is taken down",
      state: cluster(ms(1), [unit("a.service", { machineOf: ["b.service"] }), unit("b.service", { machineOf: ["a.service"] })], {
        "a.service": "m0",
        "b.service": "m0",
      }),
      actions: [
        "-a.service@m0: MachineOf=b.service left machine m0",
        "-b.service@m0: MachineOf=a.service left machine m0",
        "?a.service: no machine fits: MachineOf cycle a.service -> b.service -> a.service",
        "?b.service: no machine fits: MachineOf cycle b.service -> a.service -> b.service",
      ],
      placement: {},
    },
    {
      name: "a follower whose target cannot be placed waits for it",
      state: cluster(ms(2), [unit("db.service", { machineId: "m7" }), unit("app.service", { machineOf: ["db.service"] })]),
      actions: [
        "?app.service: no machine fits: MachineOf=db.service is not scheduled",
        "?db.service: no machine fits: MachineID=m7 is not a live machine",
      ],
      placement: {},
    },
  ]);
});

describe("Conflicts", () => {
  run([
    {
      name: "5 mutually conflicting units on 3 machines: 3 run, 2 wait (TestScheduleConflicts)",
      state: cluster(ms(3), [0, 1, 2, 3, 4].map((i) => unit(`conflict.${i}.service`, { conflicts: ["conflict*"] }))),
      actions: [
        "+conflict.0.service@m0: least loaded fitting machine",
        "+conflict.1.service@m1: least loaded fitting machine",
        "+conflict.2.service@m2: least loaded fitting machine",
        "?conflict.3.service: no machine fits: 3 run a unit matching Conflicts=conflict* (conflict.0.service, conflict.1.service, conflict.2.service)",
        "?conflict.4.service: no machine fits: 3 run a unit matching Conflicts=conflict* (conflict.0.service, conflict.1.service, conflict.2.service)",
      ],
      placement: { "conflict.0.service": "m0", "conflict.1.service": "m1", "conflict.2.service": "m2" },
    },
    {
      name: "one-way conflicts keep both sides apart",
      state: cluster(ms(1), [unit("conflicts-with-hello.service", { conflicts: ["hello.service"] }), unit("hello.service")], {
        "conflicts-with-hello.service": "m0",
      }),
      actions: ["?hello.service: no machine fits: 1 runs a unit with Conflicts=hello.service (conflicts-with-hello.service)"],
      placement: { "conflicts-with-hello.service": "m0" },
    },
    {
      name: "the one-way conflict destroyed: hello starts",
      state: cluster(ms(1), [unit("hello.service")], { "conflicts-with-hello.service": "m0" }, {
        "hello.service": "no machine fits: 1 runs a unit with Conflicts=hello.service (conflicts-with-hello.service)",
      }),
      actions: ["-conflicts-with-hello.service@m0: unit no longer exists", "+hello.service@m0: least loaded fitting machine", "!hello.service"],
      placement: { "hello.service": "m0" },
    },
  ]);
});

describe("global units", () => {
  run([
    {
      name: "one entry per machine with its metadata",
      state: cluster([machine("m0", { role: "web" }), machine("m1", { role: "db" }), machine("m2", { role: "web" })], [unit("g.service", { global: true, metadata: { role: ["web"] } })]),
      actions: ["+g.service@m0: global unit, machine fits", "+g.service@m2: global unit, machine fits"],
      placement: { "g.service": "m0,m2" },
    },
    {
      name: "inactive: unscheduled everywhere",
      state: cluster(ms(2), [unit("g.service", { global: true, state: "inactive" })], { "g.service": "m0,m1" }),
      actions: ["-g.service@m0: desired state inactive", "-g.service@m1: desired state inactive"],
      placement: {},
    },
    {
      name: "a lost machine's entry is dropped",
      state: cluster(ms(2), [unit("g.service", { global: true })], { "g.service": "m0,m1,m9" }),
      actions: ["-g.service@m9: machine m9 went away"],
      placement: { "g.service": "m0,m1" },
    },
    {
      name: "a machine whose metadata changed loses it",
      state: cluster([machine("m0", { role: "web" }), machine("m1", { role: "db" })], [unit("g.service", { global: true, metadata: { role: ["web"] } })], {
        "g.service": "m0,m1",
      }),
      actions: ["-g.service@m1: machine m1 no longer fits: lacks MachineMetadata role=web"],
      placement: { "g.service": "m0" },
    },
    {
      name: "two conflicting globals: the first by name runs everywhere, the second nowhere (TestScheduleGlobalConflicts)",
      state: cluster(ms(3), [0, 1].map((i) => unit(`conflict-global.${i}.service`, { global: true, conflicts: ["conflict-global.*.service"] }))),
      actions: [
        "+conflict-global.0.service@m0: global unit, machine fits",
        "+conflict-global.0.service@m1: global unit, machine fits",
        "+conflict-global.0.service@m2: global unit, machine fits",
        "?conflict-global.1.service: no machine fits: 3 run a unit matching Conflicts=conflict-global.*.service (conflict-global.0.service)",
      ],
      placement: { "conflict-global.0.service": "m0,m1,m2" },
    },
    {
      name: "a non-global unit already running keeps its machine; the global skips it",
      state: cluster(ms(3), [unit("x.service"), unit("g.service", { global: true, conflicts: ["x.service"] })], { "x.service": "m1" }),
      actions: ["+g.service@m0: global unit, machine fits", "+g.service@m2: global unit, machine fits"],
      placement: { "g.service": "m0,m2", "x.service": "m1" },
    },
    {
      name: "a new non-global unit avoids machines running a conflicting global",
      state: cluster(ms(2), [unit("g.service", { global: true, conflicts: ["y*"] }), unit("y.service")], { "g.service": "m0,m1" }),
      actions: ["?y.service: no machine fits: 2 run a unit with Conflicts=y* (g.service)"],
      placement: { "g.service": "m0,m1" },
    },
    {
      name: "a global and a new conflicting non-global in one plan: the global wins",
      state: cluster(ms(2), [unit("y.service"), unit("g.service", { global: true, conflicts: ["y*"] })]),
      actions: [
        "+g.service@m0: global unit, machine fits",
        "+g.service@m1: global unit, machine fits",
        "?y.service: no machine fits: 2 run a unit with Conflicts=y* (g.service)",
      ],
      placement: { "g.service": "m0,m1" },
    },
    {
      name: "a drained machine keeps its global units but gets no new ones",
      state: cluster([machine("m0", {}, true), machine("m1")], [unit("old.service", { global: true }), unit("new.service", { global: true })], {
        "old.service": "m0,m1",
      }),
      actions: ["+new.service@m1: global unit, machine fits"],
      placement: { "new.service": "m1", "old.service": "m0,m1" },
    },
    {
      name: "a global unit with no machine at all is pending",
      state: cluster([machine("m0", {}, true), machine("m1", {}, true)], [unit("g.service", { global: true })]),
      actions: ["?g.service: no machine fits: 2 are drained"],
      placement: {},
    },
    {
      name: "a follower of a global unit moves when the global leaves its machine",
      state: cluster(
        [machine("m0", { role: "db" }), machine("m1", { role: "web" })],
        [unit("g.service", { global: true, metadata: { role: ["web"] } }), unit("app.service", { machineOf: ["g.service"] })],
        { "g.service": "m0,m1", "app.service": "m0" },
      ),
      actions: [
        "-app.service@m0: MachineOf=g.service left machine m0",
        "-g.service@m0: machine m0 no longer fits: lacks MachineMetadata role=web",
        "+app.service@m1: MachineOf=g.service runs there",
      ],
      placement: { "app.service": "m1", "g.service": "m1" },
    },
  ]);
});

describe("global units and the units around them settle in one plan", () => {
  run([
    {
      name: "a follower leaving frees a machine for one global, which pushes out another and its follower",
      state: cluster(
        [machine("m0", { role: "b" }), machine("m1", { role: "a" })],
        [
          unit("g-peer.service", { global: true, metadata: { role: ["a"] } }),
          unit("f.service", { machineOf: ["g-peer.service"] }),
          unit("a-glob.service", { global: true, conflicts: ["f.service"] }),
          unit("b-glob.service", { global: true, conflicts: ["a-glob.service"] }),
          unit("h.service", { machineOf: ["b-glob.service"] }),
        ],
        { "g-peer.service": "m0,m1", "f.service": "m0", "a-glob.service": "m1", "b-glob.service": "m0", "h.service": "m0" },
      ),
      actions: [
        "-b-glob.service@m0: machine m0 no longer fits: runs a unit matching Conflicts=a-glob.service (a-glob.service)",
        "-f.service@m0: MachineOf=g-peer.service left machine m0",
        "-g-peer.service@m0: machine m0 no longer fits: lacks MachineMetadata role=a",
        "-h.service@m0: MachineOf=b-glob.service left machine m0",
        "+a-glob.service@m0: global unit, machine fits",
        "?b-glob.service: no machine fits: 2 run a unit matching Conflicts=a-glob.service (a-glob.service)",
        "?f.service: no machine fits: 1 does not run MachineOf=g-peer.service; 1 runs a unit with Conflicts=f.service (a-glob.service)",
        "?h.service: no machine fits: MachineOf=b-glob.service is not scheduled",
      ],
      placement: { "a-glob.service": "m0,m1", "g-peer.service": "m1" },
    },
    {
      name: "a Replaces push frees a machine for a global unit",
      state: cluster(ms(2), [unit("x.service"), unit("g.service", { global: true, conflicts: ["x.service"] }), unit("new.service", { replaces: ["x.service"] })], {
        "x.service": "m0",
        "g.service": "m1",
      }),
      actions: [
        "-x.service@m0: replaced by new.service",
        "+g.service@m0: global unit, machine fits",
        "+new.service@m0: takes the machine of x.service (Replaces)",
        "?x.service: no machine fits: 2 run a unit with Conflicts=x.service (g.service)",
      ],
      placement: { "g.service": "m0,m1", "new.service": "m0" },
    },
  ]);
});

describe("Replaces (Q15: the replaced unit moves, with its own constraints)", () => {
  const tsr = (extra: PlacementUnit[] = []) =>
    cluster(
      ms(2),
      [unit("replace.0.service"), unit("replace.1.service"), unit("replace.2.service", { machineOf: ["replace.1.service"] }), ...extra],
      { "replace.0.service": "m0", "replace.1.service": "m1", "replace.2.service": "m1" },
    );
  run([
    {
      name: "TestScheduleReplace: kick0 takes m0, replace.0 moves to m1",
      state: tsr([unit("replace-kick0.service", { replaces: ["replace.0.service"] })]),
      actions: [
        "-replace.0.service@m0: replaced by replace-kick0.service",
        "+replace-kick0.service@m0: takes the machine of replace.0.service (Replaces)",
        "+replace.0.service@m1: least loaded fitting machine",
      ],
      placement: { "replace-kick0.service": "m0", "replace.0.service": "m1", "replace.1.service": "m1", "replace.2.service": "m1" },
    },
    {
      name: "steered to the replaced unit's machine even when it is the busiest",
      state: tsr([unit("replace-kick1.service", { replaces: ["replace.1.service"] })]),
      actions: [
        "-replace.1.service@m1: replaced by replace-kick1.service",
        "-replace.2.service@m1: MachineOf=replace.1.service left machine m1",
        "+replace-kick1.service@m1: takes the machine of replace.1.service (Replaces)",
        "+replace.1.service@m0: least loaded fitting machine",
        "+replace.2.service@m0: MachineOf=replace.1.service runs there",
      ],
      placement: { "replace-kick1.service": "m1", "replace.0.service": "m0", "replace.1.service": "m0", "replace.2.service": "m0" },
    },
    ...(["a-new.service", "z-new.service"] as const).map((replacer) => ({
      name: `already together on one machine, the replaced unit moves (replacer named ${replacer})`,
      state: cluster(ms(2), [unit(replacer, { replaces: ["m-old.service"] }), unit("m-old.service")], { [replacer]: "m0", "m-old.service": "m0" }),
      actions: [`-m-old.service@m0: replaced by ${replacer}`, "+m-old.service@m1: least loaded fitting machine"],
      placement: { [replacer]: "m0", "m-old.service": "m1" },
    })),
    {
      name: "mutual replacement is ignored: no ping-pong",
      state: cluster(ms(2), [unit("a.service", { replaces: ["b.service"] }), unit("b.service", { replaces: ["a.service"] })], {
        "a.service": "m0",
        "b.service": "m0",
      }),
      actions: [],
      placement: { "a.service": "m0", "b.service": "m0" },
    },
    {
      name: "a replaced unit that fits nowhere else becomes pending",
      state: cluster([machine("m0", { disk: "ssd" }), machine("m1")], [unit("old.service", { metadata: { disk: ["ssd"] } }), unit("new.service", { replaces: ["old.service"] })], {
        "old.service": "m0",
      }),
      actions: [
        "-old.service@m0: replaced by new.service",
        "+new.service@m0: takes the machine of old.service (Replaces)",
        "?old.service: no machine fits: 1 lacks MachineMetadata disk=ssd; 1 runs a unit that replaces it (new.service)",
      ],
      placement: { "new.service": "m0" },
    },
    {
      name: "a glob replacing several units takes the least loaded of their machines",
      state: cluster(ms(3), [unit("old@1.service"), unit("old@2.service"), unit("x.service"), unit("new.service", { replaces: ["old@*.service"] })], {
        "old@1.service": "m0",
        "x.service": "m0",
        "old@2.service": "m1",
      }),
      actions: [
        "-old@2.service@m1: replaced by new.service",
        "+new.service@m1: takes the machine of old@2.service (Replaces)",
        "+old@2.service@m2: least loaded fitting machine",
      ],
      placement: { "new.service": "m1", "old@1.service": "m0", "old@2.service": "m2", "x.service": "m0" },
    },
    {
      name: "a replacer already elsewhere moves nothing (no rebalancing)",
      state: cluster(ms(2), [unit("old.service"), unit("new.service", { replaces: ["old.service"] })], { "old.service": "m0", "new.service": "m1" }),
      actions: [],
      placement: { "new.service": "m1", "old.service": "m0" },
    },
  ]);
});

describe("machine loss", () => {
  run([
    {
      name: "followers move with their targets, chains included",
      state: cluster(
        ms(3),
        [unit("x.service"), unit("db.service"), unit("app.service", { machineOf: ["db.service"] }), unit("web.service", { machineOf: ["app.service"] })],
        { "x.service": "m0", "db.service": "m9", "app.service": "m9", "web.service": "m9" },
      ),
      actions: [
        "-app.service@m9: machine m9 went away",
        "-db.service@m9: machine m9 went away",
        "-web.service@m9: machine m9 went away",
        "+app.service@m1: MachineOf=db.service runs there",
        "+db.service@m1: least loaded fitting machine",
        "+web.service@m1: MachineOf=app.service runs there",
      ],
      placement: { "app.service": "m1", "db.service": "m1", "web.service": "m1", "x.service": "m0" },
    },
    {
      name: "a new member takes the unit that has to move; the others stay (TestDynamicClusterNewMemberUnitMigration)",
      state: cluster(
        [machine("m0"), machine("m2"), machine("m3")],
        [0, 1, 2].map((i) => unit(`c${i}.service`, { conflicts: ["c*"] })),
        { "c0.service": "m0", "c1.service": "m1", "c2.service": "m2" },
      ),
      actions: ["-c1.service@m1: machine m1 went away", "+c1.service@m3: least loaded fitting machine"],
      placement: { "c0.service": "m0", "c1.service": "m3", "c2.service": "m2" },
    },
  ]);

  const lost = () =>
    cluster(
      ms(2),
      [unit("db.service"), unit("app.service", { machineOf: ["db.service"] }), unit("other.service"), unit("idle.service", { state: "inactive" }), unit("g.service", { global: true })],
      { "db.service": "m9", "app.service": "m9", "other.service": "m9", "idle.service": "m9", "g.service": "m0,m1,m9" },
    );

  test("the eviction budget moves targets first; followers ride along; the rest wait", () => {
    expect(brief(planSchedule(lost(), { maxEvictions: 1 }))).toEqual([
      "-app.service@m9: machine m9 went away",
      "-db.service@m9: machine m9 went away",
      "-g.service@m9: machine m9 went away",
      "-idle.service@m9: desired state inactive",
      "+app.service@m0: MachineOf=db.service runs there",
      "+db.service@m0: least loaded fitting machine",
      "?other.service: waiting to move off lost machine m9 (eviction rate limit)",
    ]);
  });

  test("with evictions paused, units wait with the engine's reason, followers with their target", () => {
    const hold = "evictions paused: 2 of 3 machines vanished at once";
    const actions = planSchedule(lost(), { maxEvictions: 0, evictionHold: hold });
    expect(brief(actions)).toEqual([
      "-g.service@m9: machine m9 went away",
      "-idle.service@m9: desired state inactive",
      `?app.service: waiting to move off lost machine m9 (${hold})`,
      `?db.service: waiting to move off lost machine m9 (${hold})`,
      `?other.service: waiting to move off lost machine m9 (${hold})`,
    ]);
  });

  test("waiting units move once the budget allows, and their pending reasons are cleared", () => {
    const st = lost();
    st.pending = new Map([["other.service", "waiting to move off lost machine m9 (eviction rate limit)"]]);
    const s = settle(st);
    expect(s.placement).toEqual({ "app.service": "m0", "db.service": "m0", "g.service": "m0,m1", "other.service": "m1" });
    expect(s.pending).toEqual({});
  });
});

describe("units that fit only their lost machine keep their entry and wait for it", () => {
  // A full machine id, so that reasons show the short form fleetctl shows.
  const LOST = "27e8a4f8c0d94b6e9a3b6f1e2d7c5a90";
  const waiting = (why: string) => `waiting for machine 27e8a4f8 to return: no other machine fits: ${why}`;
  const pinned = unit("pin.service", { machineId: "27e8a4f8" });
  const eu = unit("eu.service", { metadata: { region: ["eu"] } });
  const us = [machine("m0", { region: "us" }), machine("m1", { region: "us" })];
  run([
    {
      name: "a unit pinned with MachineID= to the lost machine stays scheduled there",
      state: cluster(ms(2), [pinned], { "pin.service": LOST }),
      actions: [`?pin.service: ${waiting("MachineID=27e8a4f8 is not a live machine")}`],
      placement: { "pin.service": LOST },
    },
    {
      name: "its MachineOf followers stay with it; an unpinned unit and a global unit's entry leave as before",
      state: cluster(
        ms(2),
        [pinned, unit("side.service", { machineOf: ["pin.service"] }), unit("free.service"), unit("g.service", { global: true })],
        { "pin.service": LOST, "side.service": LOST, "free.service": LOST, "g.service": `m0,m1,${LOST}` },
      ),
      actions: [
        `-free.service@${LOST}: machine 27e8a4f8 went away`,
        `-g.service@${LOST}: machine 27e8a4f8 went away`,
        "+free.service@m0: least loaded fitting machine",
        `?pin.service: ${waiting("MachineID=27e8a4f8 is not a live machine")}`,
        `?side.service: ${waiting("MachineOf=pin.service is not scheduled")}`,
      ],
      placement: { "free.service": "m0", "g.service": "m0,m1", "pin.service": LOST, "side.service": LOST },
    },
    {
      name: "a unit whose MachineMetadata no live machine has stays scheduled there",
      state: cluster(us, [eu], { "eu.service": LOST }),
      actions: [`?eu.service: ${waiting("MachineMetadata region=eu matches none of 2 machines")}`],
      placement: { "eu.service": LOST },
    },
    {
      name: "a unit that conflicts with every live machine stays scheduled there",
      state: cluster(ms(1), [unit("c1.service", { conflicts: ["c*"] }), unit("c2.service", { conflicts: ["c*"] })], {
        "c1.service": "m0",
        "c2.service": LOST,
      }),
      actions: [`?c2.service: ${waiting("1 runs a unit matching Conflicts=c* (c1.service)")}`],
      placement: { "c1.service": "m0", "c2.service": LOST },
    },
    {
      name: "with no live machine at all, units stay where they were",
      state: cluster([], [unit("a.service")], { "a.service": LOST }),
      actions: ["?a.service: waiting for machine 27e8a4f8 to return: no other machines are available"],
      placement: { "a.service": LOST },
    },
    {
      name: "a machine that fits appears: the waiting unit moves there",
      state: cluster([...us, machine("m2", { region: "eu" })], [eu], { "eu.service": LOST }, {
        "eu.service": waiting("MachineMetadata region=eu matches none of 2 machines"),
      }),
      actions: [`-eu.service@${LOST}: machine 27e8a4f8 went away`, "+eu.service@m2: least loaded fitting machine", "!eu.service"],
      placement: { "eu.service": "m2" },
    },
    {
      name: "the machine returns: its units stay, only the pending reasons go (nothing for its agent to restart)",
      state: cluster([machine("m0"), machine(LOST)], [pinned, unit("side.service", { machineOf: ["pin.service"] })], {
        "pin.service": LOST,
        "side.service": LOST,
      }, {
        "pin.service": waiting("MachineID=27e8a4f8 is not a live machine"),
        "side.service": waiting("MachineOf=pin.service is not scheduled"),
      }),
      actions: ["!pin.service", "!side.service"],
      placement: { "pin.service": LOST, "side.service": LOST },
    },
  ]);

  const mixed = () => cluster(ms(2), [unit("a-pin.service", { machineId: "m9" }), unit("b.service"), unit("c.service")], {
    "a-pin.service": "m9",
    "b.service": "m9",
    "c.service": "m9",
  });

  test("the eviction budget is spent only on units that have somewhere to go", () => {
    expect(brief(planSchedule(mixed(), { maxEvictions: 1 }))).toEqual([
      "-b.service@m9: machine m9 went away",
      "+b.service@m0: least loaded fitting machine",
      "?a-pin.service: waiting for machine m9 to return: no other machine fits: MachineID=m9 is not a live machine",
      "?c.service: waiting to move off lost machine m9 (eviction rate limit)",
    ]);
  });

  test("with evictions paused, a unit that could move waits for the budget, one that could not waits for its machine", () => {
    expect(brief(planSchedule(mixed(), { maxEvictions: 0, evictionHold: "evictions paused" }))).toEqual([
      "?a-pin.service: waiting for machine m9 to return: no other machine fits: MachineID=m9 is not a live machine",
      "?b.service: waiting to move off lost machine m9 (evictions paused)",
      "?c.service: waiting to move off lost machine m9 (evictions paused)",
    ]);
  });
});

describe("pending bookkeeping", () => {
  const blocked = "no machine fits: MachineID=m7 is not a live machine";
  run([
    {
      name: "an unchanged reason is not rewritten",
      state: cluster(ms(1), [unit("a.service", { machineId: "m7" })], {}, { "a.service": blocked }),
      actions: [],
      placement: {},
    },
    {
      name: "a changed reason is rewritten",
      state: cluster(ms(1), [unit("a.service", { machineId: "m7" })], {}, { "a.service": "no machines are available" }),
      actions: [`?a.service: ${blocked}`],
      placement: {},
    },
    {
      name: "reasons of placed, inactive and destroyed units are cleared",
      state: cluster(ms(1), [unit("a.service"), unit("b.service", { state: "inactive" })], {}, { "a.service": "x", "b.service": "x", "c.service": "x" }),
      actions: ["+a.service@m0: least loaded fitting machine", "!a.service", "!b.service", "!c.service"],
      placement: { "a.service": "m0" },
    },
    {
      name: "no machines at all",
      state: cluster([], [unit("a.service")]),
      actions: ["?a.service: no machines are available"],
      placement: {},
    },
  ]);
});

describe("determinism", () => {
  test("the order of the input does not change the plan", () => {
    const st = cluster(
      [machine("m0", { r: "a" }), machine("m1", { r: "b" }), machine("m2", { r: "a" }, true), machine("m3")],
      [
        unit("web@1.service", { conflicts: ["web@*"] }),
        unit("web@2.service", { conflicts: ["web@*"] }),
        unit("web@3.service", { conflicts: ["web@*"] }),
        unit("db.service", { metadata: { r: ["a", "b"] } }),
        unit("app.service", { machineOf: ["db.service"] }),
        unit("g.service", { global: true, conflicts: ["web@3*"] }),
        unit("new.service", { replaces: ["old.service"] }),
        unit("old.service"),
      ],
      { "web@1.service": "m9", "db.service": "m9", "app.service": "m9", "old.service": "m1", "g.service": "m9" },
    );
    const reversed: ClusterState = { machines: [...st.machines].reverse(), units: [...st.units].reverse(), schedule: [...st.schedule].reverse() };
    const plan = planSchedule(st);
    expect(planSchedule(reversed)).toEqual(plan);
    expect(plan.length).toBeGreaterThan(5);
    settle(st);
  });
});
