// The [X-Fleet] section: recognised keys and their deprecated names (compatibility.md §3.1),
// value parsing (§3.2), and the checks on option combinations (§3.4).
import { globMatch, isValidGlob } from "./glob.ts";
import { goFields, goQuote } from "./go-text.ts";
import { unitNameInfo } from "./unit-name.ts";
import { readResources, REQUEST_KEYS } from "./resources.ts";
import { emptyRequirements, type Requirements, type SpreadRule, type UnitOption } from "./types.ts";
import { canonicalLines } from "./unit-file.ts";

export const X_FLEET_SECTION = "X-Fleet";

/** Every key fleet understands in [X-Fleet], current and deprecated. */
export const REQUIREMENT_KEYS: readonly string[] = [
  "MachineID", "X-ConditionMachineID", "X-ConditionMachineBootID",
  "MachineOf", "X-ConditionMachineOf",
  "Conflicts", "X-Conflicts",
  "MachineMetadata", "X-ConditionMachineMetadata",
  "Global", "Replaces",
  ...REQUEST_KEYS, "Spread",
  // A rollout's per-unit defaults (rollout/policy.ts reads them): not placement requirements.
  "RolloutMaxParallel", "RolloutMinHealthyTime", "RolloutDeadline", "RolloutAutoRevert",
];

/** A problem with a unit's [X-Fleet] section; `message` is meant to be shown as it is. */
export class RequirementsError extends Error {
  override readonly name = "RequirementsError";
  constructor(
    message: string,
    readonly unitName: string,
    /** The [X-Fleet] key at fault, when one key is. */
    readonly option?: string,
    /** The line of that option, when the message names it. */
    readonly line?: number,
  ) {
    super(message);
  }
}

/**
 * `parseMultivalueLine`: a value that starts and ends with `"` is split on spaces outside
 * quotes and loses every `"`; anything else is one value. There is no escaping.
 */
export function splitMultivalue(value: string): string[] {
  if (!value.startsWith('"') || !value.endsWith('"')) return [value];
  const values: string[] = [];
  let current = "";
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') {
      quoted = !quoted;
    } else if (ch === " " && !quoted) {
      values.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  values.push(current);
  return values;
}

/**
 * `unitPrintf`: %n, %N, %p and %i replaced one after another, in that order, with no `%%`
 * escape. Names without a `.` are not unit names, and their values are left alone.
 */
export function expandSpecifiers(value: string, unitName: string): string {
  const info = unitNameInfo(unitName);
  if (info === undefined) return value;
  // Replacer functions, so that a `$` in a name is not read as a replacement pattern.
  return value
    .replaceAll("%n", () => info.fullName)
    .replaceAll("%N", () => info.name)
    .replaceAll("%p", () => info.prefix)
    .replaceAll("%i", () => info.instance);
}

export function isTruthy(value: string): boolean {
  return ["true", "yes", "1", "on", "t"].includes(value.toLowerCase());
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** A `key=value` pair of MachineMetadata; malformed ones are errors (quirk Q17 fixed). */
function parseMetadataPair(pair: string, unitName: string, option: string): [string, string] {
  const parts = pair.split("=");
  if (parts.length === 2 && parts[0] !== "" && parts[1] !== "") return [parts[0]!, parts[1]!];
  let why = "";
  const fields = goFields(pair);
  if (fields.length > 1 && fields.every((f) => /^[^=]+=[^=]+$/.test(f))) {
    why = ` (quote each pair: ${fields.map((f) => `"${f}"`).join(" ")})`;
  } else if (parts.length > 2) {
    why = ' (more than one "=")';
  } else if (parts.length === 2) {
    why = parts[0] === "" ? " (empty key)" : " (empty value)";
  }
  throw new RequirementsError(
    `Invalid ${option} in ${unitName}: ${goQuote(pair)} is not key=value${why}`,
    unitName,
    option,
  );
}

export interface ParsedRequirements {
  requirements: Requirements;
  /** Problems that do not stop the unit, e.g. unknown keys (fleetctl prints them as warnings). */
  warnings: string[];
}

/**
 * Reads the [X-Fleet] options of the unit named `unitName`: values are split (§3.2 step 1) and
 * expanded for that name (step 2), then combined per key (step 3); and its resource request
 * (resources.ts). Throws RequirementsError for a malformed MachineMetadata pair, Spread= or
 * resource value; `lines` (the line of each option, index for index) places it in the text the
 * options came from, by default the canonical text (`fleet ctl cat`).
 */
export function parseRequirements(
  options: readonly UnitOption[],
  unitName: string,
  lines?: readonly number[],
): ParsedRequirements {
  const byKey = new Map<string, string[]>();
  for (const option of options) {
    if (option.section !== X_FLEET_SECTION) continue;
    const values = byKey.get(option.name) ?? [];
    for (const v of splitMultivalue(option.value)) values.push(expandSpecifiers(v, unitName));
    byKey.set(option.name, values);
  }
  const values = (key: string): string[] => byKey.get(key) ?? [];

  const warnings: string[] = [];
  for (const key of byKey.keys()) {
    if (!REQUIREMENT_KEYS.includes(key)) {
      warnings.push(
        `Unit ${unitName}: unrecognized requirement in [X-Fleet] section: ${goQuote(key)}`,
      );
    }
  }

  const requirements = emptyRequirements();
  for (const key of ["MachineID", "X-ConditionMachineID", "X-ConditionMachineBootID"]) {
    const first = values(key)[0];
    if (first !== undefined) {
      requirements.machineId = first;
      break;
    }
  }
  requirements.machineOf = unique([...values("X-ConditionMachineOf"), ...values("MachineOf")]);
  requirements.conflicts = unique(
    [...values("X-Conflicts"), ...values("Conflicts")].flatMap((v) => goFields(v)),
  );
  requirements.replaces = unique(values("Replaces"));
  for (const key of ["X-ConditionMachineMetadata", "MachineMetadata"]) {
    for (const pair of values(key)) {
      // An empty value (`MachineMetadata=`, or a doubled space between quoted pairs) asks for
      // nothing, as before.
      if (pair === "") continue;
      const [k, v] = parseMetadataPair(pair, unitName, key);
      const allowed = requirements.machineMetadata[k] ?? [];
      if (!allowed.includes(v)) allowed.push(v);
      requirements.machineMetadata[k] = allowed;
    }
  }
  const global = values("Global").at(-1);
  requirements.global = global !== undefined && isTruthy(global);

  // Only a message needs a line: the canonical ones are worked out then.
  let known = lines;
  const lineOf = (i: number): number => (known ??= canonicalLines(options))[i] ?? 1;
  const resources = readResources(options, unitName, lineOf);
  if ("problem" in resources) {
    const p = resources.problem;
    throw new RequirementsError(`Invalid ${p.option} in ${unitName}: line ${p.line}: ${goQuote(p.value)} ${p.problem}`, unitName, p.option, p.line);
  }
  if (resources.request !== undefined) requirements.resources = resources.request;
  const spread = values("Spread").at(-1);
  if (spread !== undefined && spread !== "") {
    const last = options.findLastIndex((o) => o.section === X_FLEET_SECTION && o.name === "Spread");
    const rule = spreadRule(spread, unitName, lineOf(last), warnings);
    if (rule !== undefined) requirements.spread = rule;
  }

  for (const [option, patterns] of [
    ["Conflicts", requirements.conflicts],
    ["Replaces", requirements.replaces],
    ["Spread", requirements.spread !== undefined ? [requirements.spread.pattern] : []],
  ] as const) {
    for (const pattern of patterns) {
      if (!isValidGlob(pattern)) {
        warnings.push(
          `Unit ${unitName}: ${option} pattern ${goQuote(pattern)} in [X-Fleet] section is malformed and matches nothing`,
        );
      }
    }
  }
  return { requirements, warnings };
}

/**
 * `Spread=<metadata key> [<pattern>]`. Without a pattern, the group is the instances of the
 * unit's template; a unit that is no instance is then alone in its group, and is warned about.
 */
function spreadRule(value: string, unitName: string, line: number, warnings: string[]): SpreadRule | undefined {
  const fields = goFields(value);
  const key = fields[0];
  if (key === undefined) return undefined;
  const bad = (why: string): RequirementsError =>
    new RequirementsError(`Invalid Spread in ${unitName}: line ${line}: ${goQuote(value)} ${why}`, unitName, "Spread", line);
  if (fields.length > 2) throw bad("has more than a metadata key and a pattern (e.g. Spread=zone, or Spread=zone web-*.service)");
  if (key.includes("=")) throw bad("names a metadata value, not a key (e.g. Spread=zone, or Spread=zone web-*.service)");
  const pattern = fields[1];
  if (pattern !== undefined) {
    if (isValidGlob(pattern) && !globMatch(pattern, unitName)) {
      warnings.push(`Unit ${unitName}: Spread pattern ${goQuote(pattern)} in [X-Fleet] section does not match the unit's own name`);
    }
    return { key, pattern };
  }
  const info = unitNameInfo(unitName);
  if (info !== undefined && info.template !== "") return { key, pattern: `${info.prefix}@*${info.suffix}` };
  warnings.push(
    `Unit ${unitName}: Spread=${key} in [X-Fleet] section has nothing to spread: the unit is not a template instance, so name its group with a pattern (Spread=${key} <pattern>)`,
  );
  return { key, pattern: unitName };
}

/**
 * The first problem `api.ValidateOptions` would report for these requirements, with its exact
 * message, or undefined. (Its first check, that the canonical text parses again, is done by
 * unitFileFromOptions.)
 */
export function requirementsProblem(req: Requirements): string | undefined {
  for (const peer of unique(req.machineOf)) {
    for (const pattern of unique(req.conflicts)) {
      if (globMatch(pattern, peer)) {
        return `unresolvable requirements: peer ${goQuote(peer)} matches conflict ${goQuote(pattern)}`;
      }
    }
    for (const pattern of unique(req.replaces)) {
      if (globMatch(pattern, peer)) {
        return `unresolvable requirements: peer ${goQuote(peer)} matches replace ${goQuote(pattern)}`;
      }
    }
  }
  const machineId = req.machineId !== undefined;
  const peers = req.machineOf.length > 0;
  const conflicts = req.conflicts.length > 0;
  const replaces = req.replaces.length > 0;
  if (machineId && peers) return "MachineID cannot be used with Peers";
  if (machineId && conflicts) return "MachineID cannot be used with Conflicts";
  if (machineId && req.global) return "MachineID cannot be used with Global";
  if (machineId && replaces) return "MachineID cannot be used with Replaces";
  if (req.global && peers) return "Global cannot be used with Peers";
  if (req.global && replaces) return "Global cannot be used with Replaces";
  if (conflicts && replaces) return "Conflicts cannot be used with Replaces";
  // Our own: one machine, or every machine, leaves nothing to spread.
  if (req.spread !== undefined && machineId) return "MachineID cannot be used with Spread";
  if (req.spread !== undefined && req.global) return "Global cannot be used with Spread";
  return undefined;
}

/** Throws a RequirementsError whose message is the original's, for `Error creating units: ...`. */
export function validateRequirements(req: Requirements, unitName: string): void {
  const problem = requirementsProblem(req);
  if (problem !== undefined) throw new RequirementsError(problem, unitName);
}
