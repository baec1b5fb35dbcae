// Generated clusters (a fixed seed per case, so every failure is reproducible) checked against
// properties every plan must have: applied, it satisfies every rule, leaves nothing to do, and
// does not depend on input order.
import { describe, expect, test } from "bun:test";
import { applyActions } from "../../src/scheduler/apply.ts";
import { relationsOf } from "../../src/scheduler/order.ts";
import { planSchedule } from "../../src/scheduler/plan.ts";
import { conflictBetween, machineIdMatches, missingMetadata, newMatcher } from "../../src/scheduler/rules.ts";
import { shortId } from "../../src/lib/short-id.ts";
import type { ClusterState, Placement, PlacementMachine, PlacementUnit } from "../../src/scheduler/types.ts";
import type { DesiredState } from "../../src/unit/types.ts";
import { unit } from "../support/unit/scheduler-fixtures.ts";
import { SeededRandom } from "../support/seeded-random.ts";

function generate(seed: number): ClusterState {
  const rnd = new SeededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => rnd.pick(xs);
  const chance = (p: number): boolean => rnd.chance(p);

  const machines: PlacementMachine[] = [];
  const machineCount = Math.floor(rnd.next() * 6);
  for (let i = 0; i < machineCount; i++) {
    const metadata: Record<string, string> = chance(0.7) ? { region: pick(["a", "b"]) } : {};
    machines.push(chance(0.15) ? { id: `m${i}`, metadata, drained: true } : { id: `m${i}`, metadata });
  }
  const anyMachine = ["m0", "m1", "m2", "m3", "m4", "m7", "m8"]; // m7, m8: lost machines

  const names = Array.from({ length: 4 + Math.floor(rnd.next() * 12) }, (_, i) => `${pick(["web", "db", "app", "log"])}@${i}.service`);
  const units: PlacementUnit[] = names.map((name) => {
    const global = chance(0.15);
    const state: DesiredState = pick(["launched", "launched", "launched", "loaded", "inactive"]);
    const spec: Parameters<typeof unit>[1] = { state, global };
    if (!global && chance(0.1)) spec.machineId = pick(anyMachine);
    if (chance(0.25)) spec.metadata = { region: chance(0.5) ? ["a"] : ["a", "b"] };
    if (!global && chance(0.25)) spec.machineOf = chance(0.8) ? [pick(names)] : [pick(names), pick(names)];
    if (chance(0.3)) spec.conflicts = [pick(["web@*", "db@*.service", "log*", pick(names)])];
    if (!global && chance(0.15)) spec.replaces = [pick(["app@*", pick(names)])];
    return unit(name, spec);
  });

  const schedule: Placement[] = [];
  for (const u of units) {
    if (u.global) {
      for (const m of anyMachine) if (chance(0.4)) schedule.push({ unit: u.name, machine: m });
    } else if (chance(0.6)) {
      schedule.push({ unit: u.name, machine: pick(anyMachine) });
      if (chance(0.05)) schedule.push({ unit: u.name, machine: pick(anyMachine) });
    }
  }
  if (chance(0.2)) schedule.push({ unit: "destroyed.service", machine: pick(anyMachine) });
  return { machines, units, schedule };
}

/**
 * Every rule holds for every entry of `after`; `before` tells which entries were not new. An
 * entry on a lost machine is allowed only for a unit that fits no live machine: it waits there.
 */
function violations(before: ClusterState, after: ClusterState): string[] {
  const out: string[] = [];
  const match = newMatcher();
  const units = new Map(after.units.map((u) => [u.name, u] as const));
  const machines = new Map(after.machines.map((m) => [m.id, m] as const));
  const rel = relationsOf(after.units, match);
  const onMachine = new Map<string, string[]>();
  const entries = new Map<string, string[]>();
  const existed = new Set(before.schedule.map((e) => `${e.unit}@${e.machine}`));
  for (const e of after.schedule) {
    onMachine.set(e.machine, [...(onMachine.get(e.machine) ?? []), e.unit]);
    entries.set(e.unit, [...(entries.get(e.unit) ?? []), e.machine]);
  }
  const leaving = (unit: string, m: string): boolean =>
    after.pending?.get(unit)?.startsWith(`waiting to leave drained machine ${shortId(m)}: `) ?? false;
  /** The rules `u` would break on live machine `m`, next to what runs there in `after`. */
  const broken = (u: PlacementUnit, m: string): string[] => {
    const machine = machines.get(m)!;
    const req = u.requirements;
    const why: string[] = [];
    if (req.machineId !== undefined && !machineIdMatches(req.machineId, m)) why.push("MachineID");
    if (missingMetadata(req.machineMetadata, machine.metadata) !== undefined) why.push("MachineMetadata");
    for (const p of req.machineOf) if (!(onMachine.get(m) ?? []).includes(p)) why.push(`lacks peer ${p}`);
    for (const o of onMachine.get(m) ?? []) {
      const other = units.get(o);
      if (other !== undefined && conflictBetween(u, other, match) !== undefined) why.push(`conflicts with ${o}`);
      if (rel.replacedBy(u.name).includes(o)) why.push(`replaced by ${o}`);
    }
    return why;
  };
  for (const e of after.schedule) {
    const u = units.get(e.unit);
    if (u === undefined || u.desiredState === "inactive") out.push(`${e.unit} is scheduled but not active`);
    if (!machines.has(e.machine)) {
      const fitsElsewhere = u !== undefined && [...machines.values()].some((m) => m.drained !== true && broken(u, m.id).length === 0);
      const waiting = after.pending?.get(e.unit)?.startsWith(`waiting for machine ${shortId(e.machine)} to return: `) ?? false;
      if (u?.global !== false || !existed.has(`${e.unit}@${e.machine}`) || fitsElsewhere || !waiting) {
        out.push(`${e.unit} is on lost machine ${e.machine}`);
      }
    }
    if (machines.get(e.machine)?.drained === true && !existed.has(`${e.unit}@${e.machine}`)) out.push(`${e.unit} newly on drained ${e.machine}`);
    if (machines.get(e.machine)?.drained === true && u !== undefined && !u.global) {
      // A non-global unit stays on a drained machine only while it cannot leave, and says so.
      if (!leaving(e.unit, e.machine)) out.push(`${e.unit} stays on drained ${e.machine} without a reason`);
      const onlyOne = !(onMachine.get(e.machine) ?? []).some(
        (o) => o !== e.unit && units.get(o)?.global !== true && (u.requirements.machineOf.includes(o) || (units.get(o)?.requirements.machineOf.includes(e.unit) ?? false)),
      );
      const fitsElsewhere = [...machines.values()].some((m) => m.drained !== true && broken(u, m.id).length === 0);
      if (onlyOne && fitsElsewhere) out.push(`${e.unit} stays on drained ${e.machine} but fits elsewhere`);
    }
  }
  for (const [name, where] of entries) {
    const u = units.get(name);
    if (u === undefined) continue;
    if (!u.global && where.length > 1) out.push(`${name} is on ${where.join(",")}`);
    for (const m of where) if (machines.has(m)) for (const b of broken(u, m)) out.push(`${name} on ${m} breaks ${b}`);
  }
  for (const u of after.units) {
    const live = (entries.get(u.name) ?? []).some((m) => machines.has(m) && !(machines.get(m)!.drained === true && leaving(u.name, m)));
    const placed = entries.has(u.name);
    const pending = after.pending?.has(u.name) ?? false;
    if (u.desiredState !== "inactive" && !placed && !pending) out.push(`${u.name} is neither placed nor pending`);
    if ((live || u.desiredState === "inactive") && pending) out.push(`${u.name} is pending needlessly`);
  }
  return out;
}

/** How often the generated plans moved a unit off a drained machine, or kept one there. */
const drainSeen = { moved: 0, stayed: 0 };

describe("generated clusters", () => {
  const seeds = Array.from({ length: 400 }, (_, i) => i + 1);
  test.each(seeds)("seed %d: rules hold, nothing left to do, order-independent", (seed) => {
    const st = generate(seed);
    const plan = planSchedule(st);
    const reversed: ClusterState = { machines: [...st.machines].reverse(), units: [...st.units].reverse(), schedule: [...st.schedule].reverse() };
    expect(planSchedule(reversed)).toEqual(plan);
    const next = applyActions(st, plan);
    expect(violations(st, next)).toEqual([]);
    expect(planSchedule(next)).toEqual([]);
    if (plan.some((a) => a.kind === "unschedule" && a.reason.endsWith(" is drained"))) drainSeen.moved++;
    if ([...(next.pending?.values() ?? [])].some((r) => r.startsWith("waiting to leave drained machine"))) drainSeen.stayed++;
  });

  test("the generated clusters move units off drained machines and keep some there", () => {
    expect(drainSeen.moved).toBeGreaterThan(0);
    expect(drainSeen.stayed).toBeGreaterThan(0);
  });
});
