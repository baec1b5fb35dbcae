// What fleetctl needs to know about a unit from its options: whether it is global, and the
// checks a new unit must pass before it is created (compatibility.md §1.1, §3.4).
import { describeUnitOptions, type DescribedUnit } from "../unit/describe-unit.ts";
import { isTruthy, parseRequirements, RequirementsError, splitMultivalue, X_FLEET_SECTION } from "../unit/requirements.ts";
import type { UnitOption } from "../unit/types.ts";
import { UnitFileError } from "../unit/unit-file.ts";
import { UnitNameError } from "../unit/unit-name.ts";

/** Global=true in [X-Fleet]: the last value wins (compatibility.md §3.2). */
export function isGlobalUnit(unit: { options: readonly UnitOption[] }): boolean {
  const values = unit.options
    .filter((o) => o.section === X_FLEET_SECTION && o.name === "Global")
    .flatMap((o) => splitMultivalue(o.value));
  const last = values.at(-1);
  return last !== undefined && isTruthy(last);
}

/**
 * Whether the unit states resources or Spread= (docs/placement.md): for such a unit, start and
 * load also say why it went where it went.
 */
export function placedByResources(unit: { name: string; options: readonly UnitOption[] }): boolean {
  try {
    const r = parseRequirements(unit.options, unit.name).requirements;
    return r.resources !== undefined || r.spread !== undefined;
  } catch (err) {
    // The server accepted it, so this client's older or stricter rules are no reason to fail.
    if (err instanceof RequirementsError) return false;
    throw err;
  }
}

/**
 * The canonical unit for a create, or the original's message for the first problem (invalid
 * name, options that do not survive a round trip, impossible [X-Fleet] combinations).
 */
export function checkUnit(name: string, options: readonly UnitOption[]): { unit: DescribedUnit } | { problem: string } {
  try {
    return { unit: describeUnitOptions(name, options) };
  } catch (err) {
    if (err instanceof UnitNameError || err instanceof UnitFileError) return { problem: err.reason };
    if (err instanceof RequirementsError) return { problem: err.message };
    throw err;
  }
}
