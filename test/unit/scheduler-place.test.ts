import { describe, expect, test } from "bun:test";
import { viewOf } from "../../src/scheduler/cluster-view.ts";
import { globalTargets, placeUnit } from "../../src/scheduler/place.ts";
import type { PlacementMachine, PlacementUnit } from "../../src/scheduler/types.ts";
import { cluster, machine, unit } from "../support/unit/scheduler-fixtures.ts";

const ID1 = "abcd1234ef567890abcd1234ef567890";
const ID2 = "beef0000ef567890abcd1234ef567890";
const three = [machine("m0"), machine("m1"), machine("m2")];

interface Case {
  name: string;
  machines: PlacementMachine[];
  /** Units already in the cluster (placed or not). */
  units?: PlacementUnit[];
  placed?: Record<string, string>;
  /** The unit to place. */
  place: PlacementUnit;
  /** `machine: reason`, or the pending summary. */
  expected: string;
}

function outcome(c: Case): string {
  const st = cluster(c.machines, [...(c.units ?? []), c.place], c.placed ?? {});
  const r = placeUnit(c.place, viewOf(st));
  return "machine" in r ? `${r.machine}: ${r.reason}` : r.summary;
}

const web = (n: number, spec = {}) => unit(`web@${n}.service`, spec);

const cases: Case[] = [
  // Least loaded, ties by machine id.
  { name: "empty machines: the first id", machines: three, place: unit("a.service"), expected: "m0: least loaded fitting machine" },
  {
    name: "the least loaded machine, ties broken by id",
    machines: three,
    units: [unit("x.service"), unit("y.service"), unit("z.service")],
    placed: { "x.service": "m0", "y.service": "m0", "z.service": "m2" },
    place: unit("a.service"),
    expected: "m1: least loaded fitting machine",
  },
  {
    name: "ids compare as strings",
    machines: [machine("m10"), machine("m9")],
    place: unit("a.service"),
    expected: "m10: least loaded fitting machine",
  },
  {
    name: "inactive units do not count toward load",
    machines: [machine("m0"), machine("m1")],
    units: [unit("x.service", { state: "inactive" }), unit("y.service")],
    placed: { "x.service": "m0", "y.service": "m1" },
    place: unit("a.service"),
    expected: "m0: least loaded fitting machine",
  },
  {
    name: "global units count toward load",
    machines: [machine("m0"), machine("m1")],
    units: [unit("g.service", { global: true }), unit("y.service")],
    placed: { "g.service": "m0,m1", "y.service": "m0" },
    place: unit("a.service"),
    expected: "m1: least loaded fitting machine",
  },
  { name: "no machines", machines: [], place: unit("a.service"), expected: "no machines are available" },

  // MachineID.
  { name: "MachineID full id", machines: [machine(ID2), machine(ID1)], place: unit("a.service", { machineId: ID1 }), expected: `${ID1}: MachineID=${ID1}` },
  { name: "MachineID short id", machines: [machine(ID1), machine(ID2)], place: unit("a.service", { machineId: "beef0000" }), expected: `${ID2}: MachineID=beef0000` },
  {
    name: "MachineID of no live machine",
    machines: [machine(ID1), machine(ID2)],
    place: unit("a.service", { machineId: "deadbeef" }),
    expected: "no machine fits: MachineID=deadbeef is not a live machine",
  },
  {
    name: "MachineID of a drained machine",
    machines: [machine(ID1, {}, true), machine(ID2)],
    place: unit("a.service", { machineId: ID1 }),
    expected: "no machine fits: 1 is drained",
  },
  {
    name: "MachineID of a machine without the metadata",
    machines: [machine(ID1, { region: "us" }), machine(ID2, { region: "eu" })],
    place: unit("a.service", { machineId: ID1, metadata: { region: ["eu"] } }),
    expected: "no machine fits: MachineMetadata region=eu matches none of 1 machine",
  },

  // MachineMetadata.
  {
    name: "metadata: OR within a key, AND across keys",
    machines: [machine("m0", { region: "us-east", disk: "hdd" }), machine("m1", { region: "eu", disk: "ssd" }), machine("m2", { region: "us-west", disk: "ssd" })],
    place: unit("a.service", { metadata: { region: ["us-east", "us-west"], disk: ["ssd"] } }),
    expected: "m2: least loaded fitting machine",
  },
  {
    name: "metadata: no machine has the value",
    machines: [machine("m0", { region: "us-west" }), machine("m1", { region: "eu" }), machine("m2")],
    place: unit("a.service", { metadata: { region: ["us-east"] } }),
    expected: "no machine fits: MachineMetadata region=us-east matches none of 3 machines",
  },
  {
    name: "metadata: a whole clause that matches nothing is shown whole",
    machines: [machine("m0", { region: "us-east" }), machine("m1", { disk: "ssd" })],
    place: unit("a.service", { metadata: { region: ["us-east", "us-west"], disk: ["ssd"] } }),
    expected: "no machine fits: MachineMetadata disk=ssd region=us-east|us-west matches none of 2 machines",
  },
  {
    name: "metadata: the machines that have it are busy with a conflict",
    machines: [machine("m0", { region: "us" }), machine("m1"), machine("m2")],
    units: [unit("b.service")],
    placed: { "b.service": "m0" },
    place: unit("a.service", { metadata: { region: ["us"] }, conflicts: ["b.service"] }),
    expected: "no machine fits: 2 lack MachineMetadata region=us; 1 runs a unit matching Conflicts=b.service (b.service)",
  },

  // MachineOf.
  {
    name: "MachineOf: with its peer, wherever the load is",
    machines: three,
    units: [unit("db.service"), unit("x.service")],
    placed: { "db.service": "m2", "x.service": "m2" },
    place: unit("app.service", { machineOf: ["db.service"] }),
    expected: "m2: MachineOf=db.service runs there",
  },
  {
    name: "MachineOf: every peer on one machine",
    machines: three,
    units: [unit("db.service"), unit("cache.service")],
    placed: { "db.service": "m1", "cache.service": "m1" },
    place: unit("app.service", { machineOf: ["db.service", "cache.service"] }),
    expected: "m1: MachineOf=db.service,cache.service runs there",
  },
  {
    name: "MachineOf: peers on different machines",
    machines: three,
    units: [unit("db.service"), unit("cache.service")],
    placed: { "db.service": "m0", "cache.service": "m1" },
    place: unit("app.service", { machineOf: ["db.service", "cache.service"] }),
    expected: "no machine fits: 2 do not run MachineOf=db.service; 1 does not run MachineOf=cache.service",
  },
  {
    name: "MachineOf: a peer that is not scheduled",
    machines: three,
    units: [unit("db.service")],
    place: unit("app.service", { machineOf: ["db.service"] }),
    expected: "no machine fits: MachineOf=db.service is not scheduled",
  },
  {
    name: "MachineOf: a peer that does not exist",
    machines: three,
    place: unit("app.service", { machineOf: ["nope.service"] }),
    expected: "no machine fits: MachineOf=nope.service is not scheduled",
  },
  {
    name: "MachineOf: the peer's machine is drained",
    machines: [machine("m0", {}, true), machine("m1"), machine("m2")],
    units: [unit("db.service")],
    placed: { "db.service": "m0" },
    place: unit("app.service", { machineOf: ["db.service"] }),
    expected: "no machine fits: 2 do not run MachineOf=db.service; 1 is drained",
  },
  {
    name: "MachineOf: a global peer",
    machines: three,
    units: [unit("agent.service", { global: true })],
    placed: { "agent.service": "m1,m2" },
    place: unit("app.service", { machineOf: ["agent.service"] }),
    expected: "m1: MachineOf=agent.service runs there",
  },
  {
    name: "MachineOf: a cycle never schedules",
    machines: three,
    units: [unit("b.service", { machineOf: ["a.service"] })],
    place: unit("a.service", { machineOf: ["b.service"] }),
    expected: "no machine fits: MachineOf cycle a.service -> b.service -> a.service",
  },

  // Conflicts.
  {
    name: "Conflicts: a glob matching every machine's unit",
    machines: three,
    units: [web(1), web(2), web(3)],
    placed: { "web@1.service": "m0", "web@2.service": "m1", "web@3.service": "m2" },
    place: web(4, { conflicts: ["web@*.service"] }),
    expected: "no machine fits: 3 run a unit matching Conflicts=web@*.service (web@1.service, web@2.service, web@3.service)",
  },
  {
    name: "Conflicts: one-way, declared by the unit already there",
    machines: [machine("m0")],
    units: [unit("conflicts-with-hello.service", { conflicts: ["hello.service"] })],
    placed: { "conflicts-with-hello.service": "m0" },
    place: unit("hello.service"),
    expected: "no machine fits: 1 runs a unit with Conflicts=hello.service (conflicts-with-hello.service)",
  },
  {
    name: "Conflicts: several values, the free machine is taken even if more loaded",
    machines: three,
    units: [unit("a.service"), unit("b.service"), unit("c.service"), unit("d.service")],
    placed: { "a.service": "m0", "b.service": "m1", "c.service": "m2", "d.service": "m2" },
    place: unit("x.service", { conflicts: ["a.service", "b.service"] }),
    expected: "m2: least loaded fitting machine",
  },
  {
    name: "Conflicts: first conflicting unit by name per machine, several patterns grouped",
    machines: three,
    units: [unit("a1.service"), unit("a2.service"), unit("a3.service"), unit("b1.service")],
    placed: { "a2.service": "m0", "a1.service": "m0", "b1.service": "m1", "a3.service": "m2" },
    place: unit("x.service", { conflicts: ["a*", "b*"] }),
    expected: "no machine fits: 2 run a unit matching Conflicts=a* (a1.service, a3.service); 1 runs a unit matching Conflicts=b* (b1.service)",
  },
  {
    name: "Conflicts and drain mixed",
    machines: [machine("m0"), machine("m1"), machine("m2", {}, true)],
    units: [web(1), web(2)],
    placed: { "web@1.service": "m0", "web@2.service": "m1" },
    place: web(3, { conflicts: ["web@*.service"] }),
    expected: "no machine fits: 2 run a unit matching Conflicts=web@*.service (web@1.service, web@2.service); 1 is drained",
  },
  {
    name: "Conflicts with a global unit",
    machines: [machine("m0"), machine("m1")],
    units: [unit("log.service", { global: true })],
    placed: { "log.service": "m0,m1" },
    place: unit("a.service", { conflicts: ["log.*"] }),
    expected: "no machine fits: 2 run a unit matching Conflicts=log.* (log.service)",
  },
  {
    name: "Conflicts: long unit lists are cut",
    machines: Array.from({ length: 7 }, (_, i) => machine(`m${i}`)),
    units: Array.from({ length: 7 }, (_, i) => web(i)),
    placed: Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`web@${i}.service`, `m${i}`])),
    place: unit("x.service", { conflicts: ["web@*"] }),
    expected:
      "no machine fits: 7 run a unit matching Conflicts=web@* (web@0.service, web@1.service, web@2.service, web@3.service, web@4.service, and 2 more)",
  },

  // Drain.
  {
    name: "drained machines get nothing new",
    machines: [machine("m0", {}, true), machine("m1")],
    units: [unit("x.service")],
    placed: { "x.service": "m1" },
    place: unit("a.service"),
    expected: "m1: least loaded fitting machine",
  },
  {
    name: "drain is only named when nothing else blocks that machine",
    machines: [machine("m0", { region: "eu" }, true), machine("m1", { region: "eu" }), machine("m2", { region: "us" }, true)],
    units: [unit("b.service")],
    placed: { "b.service": "m1" },
    place: unit("a.service", { metadata: { region: ["us", "eu"] }, conflicts: ["b.service"] }),
    expected: "no machine fits: 2 are drained; 1 runs a unit matching Conflicts=b.service (b.service)",
  },
  {
    name: "a drained machine without the metadata is reported for the metadata",
    machines: [machine("m0", { region: "eu" }, true), machine("m1", { region: "eu" })],
    place: unit("a.service", { metadata: { region: ["us"] } }),
    expected: "no machine fits: MachineMetadata region=us matches none of 2 machines",
  },
  {
    name: "every machine drained",
    machines: [machine("m0", {}, true), machine("m1", {}, true)],
    place: unit("a.service"),
    expected: "no machine fits: 2 are drained",
  },

  // Replaces.
  {
    name: "Replaces: steered to the replaced unit's machine even when it is not least loaded",
    machines: three,
    units: [unit("old.service"), unit("x.service")],
    placed: { "old.service": "m1", "x.service": "m1" },
    place: unit("new.service", { replaces: ["old.service"] }),
    expected: "m1: takes the machine of old.service (Replaces)",
  },
  {
    name: "Replaces: the replaced unit's own Conflicts do not keep the replacer away",
    machines: three,
    units: [unit("old.service", { conflicts: ["new.service"] })],
    placed: { "old.service": "m2" },
    place: unit("new.service", { replaces: ["old.service"] }),
    expected: "m2: takes the machine of old.service (Replaces)",
  },
  {
    name: "Replaces: not steered where the replacer's own constraints fail",
    machines: [machine("m0", { disk: "ssd" }), machine("m1", { disk: "hdd" })],
    units: [unit("old.service")],
    placed: { "old.service": "m1" },
    place: unit("new.service", { replaces: ["old.service"], metadata: { disk: ["ssd"] } }),
    expected: "m0: least loaded fitting machine",
  },
  {
    name: "Replaces: a replaced unit avoids the replacer's machine",
    machines: [machine("m0"), machine("m1")],
    units: [unit("new.service", { replaces: ["old.service"] }), unit("x.service")],
    placed: { "new.service": "m0", "x.service": "m1" },
    place: unit("old.service"),
    expected: "m1: least loaded fitting machine",
  },
  {
    name: "Replaces: a replaced unit pinned to the replacer's machine",
    machines: [machine("m0", { disk: "ssd" }), machine("m1")],
    units: [unit("new.service", { replaces: ["old.service"] })],
    placed: { "new.service": "m0" },
    place: unit("old.service", { metadata: { disk: ["ssd"] } }),
    expected: "no machine fits: 1 lacks MachineMetadata disk=ssd; 1 runs a unit that replaces it (new.service)",
  },
  {
    name: "Replaces: mutual replacement is ignored",
    machines: [machine("m0"), machine("m1")],
    units: [unit("b.service", { replaces: ["a.service"] }), unit("x.service")],
    placed: { "b.service": "m0", "x.service": "m1" },
    place: unit("a.service", { replaces: ["b.service"] }),
    expected: "m0: least loaded fitting machine",
  },
];

describe("placeUnit", () => {
  test.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect(outcome(c)).toBe(c.expected);
  });
});

describe("globalTargets", () => {
  const machines = [machine("m0", { role: "web" }), machine("m1", { role: "db" }), machine("m2", { role: "web" }, true), machine("m3", { role: "web" })];
  const targets = (g: PlacementUnit, others: PlacementUnit[], placed: Record<string, string>, current: string[] = []) => {
    const t = globalTargets(g, viewOf(cluster(machines, [...others, g], placed)), new Set(current));
    return { machines: t.machines, blocked: Object.fromEntries(t.blocked) };
  };

  test("every live machine with its metadata, but no new drained one", () => {
    expect(targets(unit("g.service", { global: true, metadata: { role: ["web"] } }), [], {})).toEqual({
      machines: ["m0", "m3"],
      blocked: { m1: { rule: "metadata", key: "role", values: ["web"] }, m2: { rule: "drained" } },
    });
  });

  test("a drained machine keeps the global unit it already runs", () => {
    expect(targets(unit("g.service", { global: true }), [], {}, ["m2"]).machines).toEqual(["m0", "m1", "m2", "m3"]);
  });

  test("not where a unit conflicts with it, in either direction", () => {
    const others = [unit("a.service", { conflicts: ["g.*"] }), unit("b.service")];
    const t = targets(unit("g.service", { global: true, conflicts: ["b.service"] }), others, { "a.service": "m0", "b.service": "m3" });
    expect(t).toEqual({
      machines: ["m1"],
      blocked: {
        m0: { rule: "conflicts", unit: "a.service", pattern: "g.*", own: false },
        m2: { rule: "drained" },
        m3: { rule: "conflicts", unit: "b.service", pattern: "b.service", own: true },
      },
    });
  });
});
