// A unit's `currentState` and `machineID` as the API reports them, derived from our keyspace
// (design.md §3) the way the original derived them from its own (fleet-reference.md §5.2).
import type { ScheduleEntry } from "../registry/models.ts";
import type { DesiredState } from "../unit/types.ts";

export interface UnitStatus {
  /** Absent for global units: they have no single current state (quirk Q21). */
  currentState?: DesiredState;
  /** The machine the unit is scheduled on; absent when unscheduled and for global units. */
  machineID?: string;
}

/**
 * - global unit: nothing (neither currentState nor machineID);
 * - not scheduled: `inactive`;
 * - scheduled on M, and M has published a state for the unit (it has loaded it): `launched`
 *   when the schedule entry says launched, else `loaded`;
 * - scheduled on M, no state from M yet: `inactive`, with machineID M.
 *
 * While a unit moves, it can briefly have entries on two machines: the one that already
 * reports a state wins, then the lowest machine ID, so the answer does not flicker.
 */
export function deriveUnitStatus(
  global: boolean,
  schedule: ReadonlyMap<string, ScheduleEntry> | undefined,
  publishedBy: ReadonlySet<string>,
): UnitStatus {
  if (global) return {};
  if (!schedule || schedule.size === 0) return { currentState: "inactive" };
  const machines = [...schedule.keys()].sort();
  const machineID = machines.find((m) => publishedBy.has(m)) ?? (machines[0] as string);
  const entry = schedule.get(machineID) as ScheduleEntry;
  if (!publishedBy.has(machineID)) return { currentState: "inactive", machineID };
  return { currentState: entry.desiredState === "launched" ? "launched" : "loaded", machineID };
}
