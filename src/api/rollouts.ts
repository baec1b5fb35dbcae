// Extension: rolling updates. PUT /rollouts/{unit} starts one (the new unit file's options and
// the policy), GET /rollouts and /rollouts/{unit} show them, POST /rollouts/{unit}/{pause,
// resume,abort} asks the engine to. The engine leader does the work (engine/rollouts.ts); these
// only read and write `<p>/rollouts/`. Every refusal is an ApiError naming the unit and why.
import type { Registry } from "../registry/registry.ts";
import { RolloutStore, type RolloutWriteResult } from "../registry/rollout-store.ts";
import { rolloutProblem } from "../rollout/check.ts";
import { newRollout, type ControlRequest } from "../rollout/control.ts";
import { describeEvent, describeRollout } from "../rollout/describe.ts";
import { targetHash } from "../rollout/hashes.ts";
import { formatMs, policyOptions, resolvePolicy, RolloutPolicyError, type PolicyInput } from "../rollout/policy.ts";
import type { RolloutRecord } from "../rollout/types.ts";
import { unitNameInfo, validateUnitName } from "../unit/unit-name.ts";
import { goQuote } from "../unit/go-text.ts";
import { describeForApi } from "./describe-for-api.ts";
import { ApiError } from "./errors.ts";
import { jsonResponse } from "./json.ts";
import { checkJsonContentType, decodeUnitBody, readRequestBody } from "./request-body.ts";

export interface RolloutsContext {
  registry: Registry;
  maxRequestBytes: number;
  now?: () => number;
}

/** A rollout as the API shows it: the record, with each step's words and the policy's durations. */
export function apiRollout(r: RolloutRecord): Record<string, unknown> {
  return {
    unit: r.unit,
    state: r.state,
    summary: describeRollout(r),
    to: r.to,
    description: r.description,
    createdAt: r.createdAt,
    policy: {
      maxParallel: r.policy.maxParallel,
      minHealthyTime: formatMs(r.policy.minHealthyMs),
      deadline: formatMs(r.policy.deadlineMs),
      autoRevert: r.policy.autoRevert,
    },
    instances: r.targets.map((t) => ({
      name: t.instance, ...(t.machine !== undefined ? { machineID: t.machine } : {}), phase: t.phase, from: t.from, hash: targetHash(t, r.to),
    })),
    log: r.log.map((l) => ({ n: l.n, at: l.at, kind: l.event.kind, text: describeEvent(l.event) })),
  };
}

function checkName(name: string): void {
  const invalid = validateUnitName(name);
  if (invalid !== undefined) throw new ApiError(400, invalid);
  if (unitNameInfo(name)?.isInstance) {
    throw new ApiError(400, `${goQuote(name)} is an instance: roll out its template (${unitNameInfo(name)!.template}) to update every instance`);
  }
}

export async function listRollouts(ctx: RolloutsContext): Promise<Response> {
  const all = await new RolloutStore(ctx.registry).list();
  return jsonResponse(200, { rollouts: all.map(apiRollout) });
}

export async function getRollout(ctx: RolloutsContext, name: string): Promise<Response> {
  checkName(name);
  const r = await new RolloutStore(ctx.registry).get(name);
  if (!r) throw new ApiError(404, `there is no rollout of ${name}`);
  return jsonResponse(200, apiRollout(r.record));
}

/** The policy fields of a PUT body; each must be of its type (the values are checked by resolvePolicy). */
function policyOf(text: string): PolicyInput {
  let v: unknown;
  try {
    v = text.trim() === "" ? {} : JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `unable to decode body: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new ApiError(400, "unable to decode body: not a JSON object");
  const o = v as Record<string, unknown>;
  const out: PolicyInput = {};
  const typed = (key: string, type: string): unknown => {
    const x = o[key];
    if (x === undefined || x === null) return undefined;
    if (typeof x !== type) throw new ApiError(400, `unable to decode body: field "${key}" is not a ${type}`);
    return x;
  };
  const mp = typed("maxParallel", "number");
  if (mp !== undefined) out.maxParallel = mp as number;
  const mh = typed("minHealthyTime", "string");
  if (mh !== undefined) out.minHealthyTime = mh as string;
  const dl = typed("deadline", "string");
  if (dl !== undefined) out.deadline = dl as string;
  const ar = typed("autoRevert", "boolean");
  if (ar !== undefined) out.autoRevert = ar as boolean;
  return out;
}

export async function putRollout(ctx: RolloutsContext, name: string, req: Request): Promise<Response> {
  checkName(name);
  checkJsonContentType(req.headers);
  const text = await readRequestBody(req, ctx.maxRequestBytes);
  const body = decodeUnitBody(text);
  if (body.options.length === 0) throw new ApiError(400, `the new version of ${name} has no options (the unit file is empty)`);
  const given = policyOf(text);
  const unit = describeForApi(name, body.options);
  const store = new RolloutStore(ctx.registry);
  const instances = await store.instances(name);
  if (instances.length === 0) throw new ApiError(404, `there is no submitted ${unitNameInfo(name)?.isTemplate ? `instance of ${name}` : `unit ${name}`} to update`);
  const problem = rolloutProblem(name, instances, unit.options);
  if (problem !== undefined) throw new ApiError(400, `Cannot update ${name}: ${problem}`);
  let policy;
  try {
    policy = resolvePolicy(given, policyOptions(unit.options), name);
  } catch (e) {
    if (e instanceof RolloutPolicyError) throw new ApiError(400, e.message);
    throw e;
  }
  const now = ctx.now?.() ?? Date.now();
  return answer(await store.create(newRollout(name, unit.hash, unit.description, policy, now), unit.text), 201);
}

const ACTIONS: readonly ControlRequest[] = ["pause", "resume", "abort"];

export async function controlRolloutRequest(ctx: RolloutsContext, name: string, action: string): Promise<Response> {
  checkName(name);
  if (!(ACTIONS as readonly string[]).includes(action)) throw new ApiError(404, `unknown rollout action ${goQuote(action)}: expect pause, resume or abort`);
  const r = await new RolloutStore(ctx.registry).control(name, action as ControlRequest, ctx.now ?? Date.now);
  return answer(r, 200);
}

function answer(r: RolloutWriteResult, status: number): Response {
  if (r.ok) return jsonResponse(status, apiRollout(r.record));
  throw new ApiError(r.kind === "gone" ? 404 : 409, r.problem);
}
