// The v1 API's JSON entities (compatibility.md §7.3), built with fleet's field order and
// with empty fields left out, as Go's `omitempty` did.
import type { MachineView, UnitStateView } from "../registry/registry.ts";
import type { UnitOption } from "../unit/types.ts";
import { omitEmpty, sortedRecord } from "./json.ts";

export type Json = Record<string, unknown>;

export function apiUnitOption(o: UnitOption): Json {
  return omitEmpty([["name", o.name], ["section", o.section], ["value", o.value]]);
}

export interface ApiUnitInput {
  name: string;
  desiredState: string;
  options: readonly UnitOption[];
  currentState?: string;
  machineID?: string;
  /** Extension: why the engine cannot place the unit now. */
  pendingReason?: string;
  /** Extension: the kind of that reason (absent in records written before it was stored). */
  pendingKind?: string;
  /** Extension: the machine the unit keeps its entry on while it waits (a lost or drained one). */
  pendingMachineID?: string;
  /** Extension: why the engine placed the unit on its machine. */
  placementReason?: string;
}

export function apiUnit(u: ApiUnitInput): Json {
  return omitEmpty([
    ["currentState", u.currentState],
    ["desiredState", u.desiredState],
    ["machineID", u.machineID],
    ["name", u.name],
    ["options", u.options.map(apiUnitOption)],
    ["pendingKind", u.pendingKind],
    ["pendingMachineID", u.pendingMachineID],
    ["pendingReason", u.pendingReason],
    ["placementReason", u.placementReason],
  ]);
}

export function apiUnitState(s: UnitStateView): Json {
  return omitEmpty([
    ["hash", s.hash],
    ["machineID", s.machineId],
    ["name", s.name],
    ["systemdActiveState", s.activeState],
    ["systemdLoadState", s.loadState],
    ["systemdSubState", s.subState],
    // Extension: why the agent refused the unit on that machine (the host defines it itself).
    ["reason", typeof s.reason === "string" ? s.reason : undefined],
  ]);
}

export function apiMachine(m: MachineView): Json {
  return omitEmpty([
    ["id", m.id],
    ["metadata", sortedRecord(m.metadata)],
    ["primaryIP", m.publicIP],
    // Extension: present (true) only on drained machines.
    ["drained", m.drained === true ? true : undefined],
    // Extension: when the machine's daemon started (RFC 3339), for the dashboard's uptime.
    ["startedAt", m.startedAt],
    // Extension: CPUs (thousandths) and memory (bytes), total and allocatable; absent from older daemons.
    ["capacity", m.capacity],
  ]);
}

/** A page object: `{"<name>": [...], "nextPageToken": ...}` in the given key order. */
export function apiPage(order: "itemsFirst" | "tokenFirst", name: string, items: Json[], nextPageToken?: string): Json {
  return order === "itemsFirst"
    ? omitEmpty([[name, items], ["nextPageToken", nextPageToken]])
    : omitEmpty([["nextPageToken", nextPageToken], [name, items]]);
}
