// A new rollout from a request (the API's PUT, or fleet ctl's etcd driver): the new file
// described and validated for the unit, the instances it covers checked (rollout/check.ts), the
// policy resolved (flags or body over [X-Fleet] over the defaults). Pure: the caller reads the
// instances and stores the result.
import { describeUnitOptions } from "../unit/describe-unit.ts";
import type { UnitOption } from "../unit/types.ts";
import { unitNameInfo, validateUnitName } from "../unit/unit-name.ts";
import { goQuote } from "../unit/go-text.ts";
import { rolloutProblem, type RolloutInstance } from "./check.ts";
import { newRollout } from "./control.ts";
import { policyOptions, resolvePolicy, RolloutPolicyError, type PolicyInput } from "./policy.ts";
import type { RolloutRecord } from "./types.ts";

export type Prepared =
  | { ok: true; record: RolloutRecord; text: string }
  /** `missing`: nothing to update (a 404); `invalid`: the request is wrong (a 400). */
  | { ok: false; kind: "missing" | "invalid"; problem: string };

/** Why `name` cannot be the name of a rollout, or undefined. */
export function rolloutNameProblem(name: string): string | undefined {
  const invalid = validateUnitName(name);
  if (invalid !== undefined) return invalid;
  const info = unitNameInfo(name);
  if (info?.isInstance) return `${goQuote(name)} is an instance: roll out its template (${info.template}) to update every instance`;
  return undefined;
}

/**
 * The rollout of `options` over `instances`. `describe` turns the options into the canonical
 * unit (the API's and the CLI's own wording of a bad file); its throws pass through.
 */
export function prepareRollout(
  name: string, options: readonly UnitOption[], given: PolicyInput, instances: readonly RolloutInstance[], now: number,
  describe: typeof describeUnitOptions = describeUnitOptions,
): Prepared {
  const bad = (problem: string): Prepared => ({ ok: false, kind: "invalid", problem });
  const nameProblem = rolloutNameProblem(name);
  if (nameProblem !== undefined) return bad(nameProblem);
  if (options.length === 0) return bad(`the new version of ${name} has no options (the unit file is empty)`);
  const unit = describe(name, options);
  if (instances.length === 0) {
    return { ok: false, kind: "missing", problem: `there is no submitted ${unitNameInfo(name)?.isTemplate ? `instance of ${name}` : `unit ${name}`} to update` };
  }
  const problem = rolloutProblem(name, instances, unit.options);
  if (problem !== undefined) return bad(`Cannot update ${name}: ${problem}`);
  try {
    const policy = resolvePolicy(given, policyOptions(unit.options), name);
    return { ok: true, record: newRollout(name, unit.hash, unit.description, policy, now), text: unit.text };
  } catch (e) {
    if (e instanceof RolloutPolicyError) return bad(e.message);
    throw e;
  }
}
