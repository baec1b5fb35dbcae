// Small builders for the scheduler's table-driven tests.
import { expect } from "bun:test";
import { applyActions } from "../../../src/scheduler/apply.ts";
import { planSchedule } from "../../../src/scheduler/plan.ts";
import type { ClusterState, EngineAction, PlacementMachine, PlacementUnit, PlanOptions } from "../../../src/scheduler/types.ts";
import type { DesiredState } from "../../../src/unit/types.ts";

export interface UnitSpec {
  state?: DesiredState;
  global?: boolean;
  machineId?: string;
  machineOf?: string[];
  metadata?: Record<string, string[]>;
  conflicts?: string[];
  replaces?: string[];
  hash?: string;
}

export function unit(name: string, spec: UnitSpec = {}): PlacementUnit {
  const u: PlacementUnit = {
    name,
    desiredState: spec.state ?? "launched",
    global: spec.global ?? false,
    requirements: {
      machineOf: spec.machineOf ?? [],
      machineMetadata: spec.metadata ?? {},
      conflicts: spec.conflicts ?? [],
      replaces: spec.replaces ?? [],
      global: spec.global ?? false,
    },
  };
  if (spec.machineId !== undefined) u.requirements.machineId = spec.machineId;
  if (spec.hash !== undefined) u.hash = spec.hash;
  return u;
}

export function machine(id: string, metadata: Record<string, string> = {}, drained = false): PlacementMachine {
  return drained ? { id, metadata, drained } : { id, metadata };
}

/** `placed` maps a unit to its machine, or a comma-separated list (global units). */
export function cluster(
  machines: PlacementMachine[],
  units: PlacementUnit[],
  placed: Record<string, string> = {},
  pending?: Record<string, string>,
): ClusterState {
  const byName = new Map(units.map((u) => [u.name, u] as const));
  const schedule = Object.entries(placed).flatMap(([name, where]) =>
    where.split(",").map((m) => {
      const u = byName.get(name);
      return u === undefined || u.desiredState === "inactive"
        ? { unit: name, machine: m }
        : { unit: name, machine: m, desiredState: u.desiredState, ...(u.hash !== undefined ? { hash: u.hash } : {}) };
    }),
  );
  const st: ClusterState = { machines, units, schedule };
  if (pending !== undefined) st.pending = new Map(Object.entries(pending));
  return st;
}

/** unit -> its machines, sorted and comma-joined, for compact comparisons. */
export function placementOf(st: ClusterState): Record<string, string> {
  const out = new Map<string, string[]>();
  for (const e of st.schedule) out.set(e.unit, [...(out.get(e.unit) ?? []), e.machine]);
  return Object.fromEntries([...out.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([u, ms]) => [u, ms.sort().join(",")]));
}

export function pendingOf(st: ClusterState): Record<string, string> {
  return Object.fromEntries([...(st.pending ?? new Map()).entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
}

export interface Settled {
  actions: EngineAction[];
  next: ClusterState;
  placement: Record<string, string>;
  pending: Record<string, string>;
}

/** Plans once, applies, and checks that planning again on the result changes nothing. */
export function settle(st: ClusterState, opts?: PlanOptions): Settled {
  const actions = planSchedule(st, opts);
  const next = applyActions(st, actions);
  expect(planSchedule(next, opts)).toEqual([]);
  return { actions, next, placement: placementOf(next), pending: pendingOf(next) };
}

/** Actions as short strings: "+unit@m: reason", "-unit@m: reason", "~unit@m: reason", "?unit: reason", "!unit". */
export function brief(actions: readonly EngineAction[]): string[] {
  return actions.map((a) => {
    switch (a.kind) {
      case "schedule":
        return `+${a.unit}@${a.machine}: ${a.reason}`;
      case "unschedule":
        return `-${a.unit}@${a.machine}: ${a.reason}`;
      case "update":
        return `~${a.unit}@${a.machine}: ${a.reason}`;
      case "pending":
        return `?${a.unit}: ${a.reason}`;
      case "clear-pending":
        return `!${a.unit}`;
    }
  });
}
