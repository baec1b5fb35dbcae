// Whether a new version may be rolled out over the running units: a rollout replaces a unit in
// place, so it changes what runs, never where. The [X-Fleet] placement of the new file (as each
// instance reads it, specifiers expanded) must be the one each instance has. Pure.
import { parseRequirements } from "../unit/requirements.ts";
import type { Requirements, UnitOption } from "../unit/types.ts";

/** What an instance's record says about it. */
export interface RolloutInstance {
  name: string;
  global: boolean;
  requirements: Requirements;
}

/** Only the placement rules count (the rollout's own options and Description may change). */
function placement(r: Requirements): string {
  const { global: _g, ...rest } = r;
  return canonical(rest);
}

/** JSON with every object's keys sorted, so equal requirements compare equal as text. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/** Why `options` cannot be rolled out over `instances`, or undefined when it can. */
export function rolloutProblem(unit: string, instances: readonly RolloutInstance[], options: readonly UnitOption[]): string | undefined {
  if (instances.length === 0) return `${unit} has no submitted ${unit.includes("@.") ? "instances" : "unit"} to update; start it first`;
  for (const i of instances) {
    const { requirements } = parseRequirements(options, i.name);
    if (requirements.global !== i.global) {
      return `the new file makes ${i.name} ${requirements.global ? "global" : "not global"}; a rollout cannot change where a unit runs (destroy and start it instead)`;
    }
    if (placement(requirements) !== placement(i.requirements)) {
      return `the new file changes the [X-Fleet] placement of ${i.name}; a rollout cannot change where a unit runs (destroy and start it instead)`;
    }
  }
  return undefined;
}
