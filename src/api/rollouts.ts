// Extension: rolling updates. PUT /rollouts/{unit} starts one (the new unit file's options and
// the policy), GET /rollouts and /rollouts/{unit} show them, POST /rollouts/{unit}/{pause,
// resume,abort} asks the engine to. The engine leader does the work (engine/rollouts.ts); these
// only read and write `<p>/rollouts/`. Every refusal is an ApiError naming the unit and why.
import type { Registry } from "../registry/registry.ts";
import { RolloutStore, type RolloutWriteResult } from "../registry/rollout-store.ts";
import type { ControlRequest } from "../rollout/control.ts";
import type { PolicyInput } from "../rollout/policy.ts";
import { prepareRollout, rolloutNameProblem } from "../rollout/prepare.ts";
import { rolloutView } from "../rollout/view.ts";
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

function checkName(name: string): void {
  const problem = rolloutNameProblem(name);
  if (problem !== undefined) throw new ApiError(400, problem);
}

export async function listRollouts(ctx: RolloutsContext): Promise<Response> {
  const all = await new RolloutStore(ctx.registry).list();
  return jsonResponse(200, { rollouts: all.map(rolloutView) });
}

export async function getRollout(ctx: RolloutsContext, name: string): Promise<Response> {
  checkName(name);
  const r = await new RolloutStore(ctx.registry).get(name);
  if (!r) throw new ApiError(404, `there is no rollout of ${name}`);
  return jsonResponse(200, rolloutView(r.record));
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
  const given = policyOf(text);
  const store = new RolloutStore(ctx.registry);
  const instances = body.options.length === 0 ? [] : await store.instances(name);
  const p = prepareRollout(name, body.options, given, instances, ctx.now?.() ?? Date.now(), describeForApi);
  if (!p.ok) throw new ApiError(p.kind === "missing" ? 404 : 400, p.problem);
  return answer(await store.create(p.record, p.text), 201);
}

const ACTIONS: readonly ControlRequest[] = ["pause", "resume", "abort"];

export async function controlRolloutRequest(ctx: RolloutsContext, name: string, action: string): Promise<Response> {
  checkName(name);
  if (!(ACTIONS as readonly string[]).includes(action)) throw new ApiError(404, `unknown rollout action ${goQuote(action)}: expect pause, resume or abort`);
  const r = await new RolloutStore(ctx.registry).control(name, action as ControlRequest, ctx.now ?? Date.now);
  return answer(r, 200);
}

function answer(r: RolloutWriteResult, status: number): Response {
  if (r.ok) return jsonResponse(status, rolloutView(r.record));
  throw new ApiError(r.kind === "gone" ? 404 : 409, r.problem);
}
