// Everything the API and fleetctl need to know about a unit before creating it, in one call:
// the canonical file, its hash, the validated name and the validated [X-Fleet] requirements.
import type { Requirements, UnitOption } from "./types.ts";
import { loadUnitFile, unitDescription, unitFileFromOptions, type UnitFile } from "./unit-file.ts";
import { assertValidUnitName } from "./unit-name.ts";
import { parseRequirements, validateRequirements } from "./requirements.ts";

export interface DescribedUnit {
  name: string;
  /** Canonical options (sections grouped, names and values trimmed). */
  options: UnitOption[];
  /** Canonical text, as stored and as agents write it. */
  text: string;
  /** SHA-1 of `text`. */
  hash: string;
  requirements: Requirements;
  global: boolean;
  /** `[Unit] Description` (the first one), or "". */
  description: string;
  /** Non-fatal problems, e.g. unknown [X-Fleet] keys; fleetctl prints them as warnings. */
  warnings: string[];
}

function describe(name: string, file: UnitFile): DescribedUnit {
  const { requirements, warnings } = parseRequirements(file.options, name);
  validateRequirements(requirements, name);
  return {
    name,
    options: file.options,
    text: file.text,
    hash: file.hash,
    requirements,
    global: requirements.global,
    description: unitDescription(file.options),
    warnings,
  };
}

/**
 * A unit file read from disk, in fleetctl's order: the file must parse (UnitFileError), then the
 * name must be valid (UnitNameError), then the requirements (RequirementsError).
 */
export function describeUnit(name: string, text: string): DescribedUnit {
  const file = loadUnitFile(text, name);
  assertValidUnitName(name);
  return describe(name, file);
}

/**
 * Options from the API's JSON body, in the API's order: the name first (UnitNameError), then
 * the options must survive serialising and parsing again (UnitFileError), then the
 * requirements (RequirementsError).
 */
export function describeUnitOptions(name: string, options: readonly UnitOption[]): DescribedUnit {
  assertValidUnitName(name);
  return describe(name, unitFileFromOptions(options, name));
}
