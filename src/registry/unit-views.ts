// A unit as the transports (the API and fleet ctl's etcd driver) read and write it through the
// records: the record stored for a described unit, and the `currentState` and `machineID`
// derived from its schedule entries and published states (architecture.md §3; the original derived
// them from its own keyspace, compatibility.md §5.2). Pure: both drivers answer alike because
// both call these.
import type { DescribedUnit } from "../unit/describe-unit.ts";
import type { DesiredState } from "../unit/types.ts";
import type { ScheduleEntry, UnitRecord } from "./models.ts";

/** The record stored under `<p>/units/<name>` for a described unit. */
export function unitRecord(unit: DescribedUnit, desiredState: DesiredState): UnitRecord {
  return {
    name: unit.name,
    hash: unit.hash,
    desiredState,
    global: unit.global,
    requirements: unit.requirements,
    description: unit.description,
  };
}

export interface UnitStatus {
  /** Absent for global units: they have no single current state (quirk Q21). */
  currentState?: DesiredState;
  /** The machine the unit is scheduled on; absent when unscheduled and for global units. */
  machineID?: string;
  /** Why the engine placed it there, as its schedule entry records (absent after an update rewrite). */
  placementReason?: string;
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
  const why = entry.reason !== undefined && entry.reason !== "" ? { placementReason: entry.reason } : {};
  if (!publishedBy.has(machineID)) return { currentState: "inactive", machineID, ...why };
  return { currentState: entry.desiredState === "launched" ? "launched" : "loaded", machineID, ...why };
}

/** The machines that published a state, by unit name: deriveUnitStatus's `publishedBy` for each unit. */
export function publishersByUnit(states: readonly { name: string; machineId: string }[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const s of states) {
    let set = out.get(s.name);
    if (!set) out.set(s.name, (set = new Set()));
    set.add(s.machineId);
  }
  return out;
}
