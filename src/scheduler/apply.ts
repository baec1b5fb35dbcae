// Applying a plan to plain state, as the engine's writes would: for the engine's in-memory view
// between a write and its watch event, and for tests that plan again on the result.
import type { ClusterState, EngineAction, Placement } from "./types.ts";

export function applyActions(state: ClusterState, actions: readonly EngineAction[]): ClusterState {
  const units = new Map(state.units.map((u) => [u.name, u] as const));
  const schedule = new Map<string, Placement>();
  for (const e of state.schedule) schedule.set(`${e.unit}\0${e.machine}`, e);
  const pending = new Map(state.pending ?? []);
  const written = (unit: string, machine: string): Placement => {
    const u = units.get(unit);
    const entry: Placement = { unit, machine };
    if (u?.hash !== undefined) entry.hash = u.hash;
    if (u !== undefined) entry.desiredState = u.desiredState;
    return entry;
  };
  for (const a of actions) {
    switch (a.kind) {
      case "schedule":
      case "update":
        schedule.set(`${a.unit}\0${a.machine}`, written(a.unit, a.machine));
        break;
      case "unschedule":
        schedule.delete(`${a.unit}\0${a.machine}`);
        break;
      case "pending":
        pending.set(a.unit, a.reason);
        break;
      case "clear-pending":
        pending.delete(a.unit);
        break;
    }
  }
  return { ...state, schedule: [...schedule.values()], pending };
}
