// /units and /units/{name} (compatibility.md §7.4), with every path validated (quirk Q12).
import type { Registry } from "../registry/registry.ts";
import type { PendingRecord, UnitRecord } from "../registry/models.ts";
import type { Logger } from "../log/logger.ts";
import { goQuote } from "../unit/go-text.ts";
import { unitNameInfo, validateUnitName } from "../unit/unit-name.ts";
import type { DesiredState } from "../unit/types.ts";
import { DESIRED_STATES } from "../unit/types.ts";
import { deriveUnitStatus, publishersByUnit, unitRecord } from "../registry/unit-views.ts";
import { apiPage, apiUnit, type ApiUnitInput } from "./entities.ts";
import { ApiError } from "./errors.ts";
import { jsonResponse } from "./json.ts";
import { paginate, requestedPage } from "./page-token.ts";
import { checkJsonContentType, decodeUnitBody, readRequestBody, type UnitBody } from "./request-body.ts";
import { describeForApi } from "./describe-for-api.ts";
import type { DescribedUnit } from "../unit/describe-unit.ts";
import type { UnitFileCache } from "./unit-file-cache.ts";
import type { ListingSnapshots } from "./listing-snapshots.ts";
import { unitParam } from "./blocking.ts";
import { unitMatches } from "../events/filter.ts";

export interface UnitsContext {
  registry: Registry;
  tokenLimit: number;
  maxRequestBytes: number;
  log: Logger;
  files: UnitFileCache;
  snapshots: ListingSnapshots;
}

const NOT_FOUND = "unit does not exist";

export async function listUnits(ctx: UnitsContext, params: URLSearchParams): Promise<Response> {
  const tok = requestedPage(params, ctx.tokenLimit);
  // Extension: only the units named (or matching globs), as the event stream filters them.
  const only = unitParam(params);
  const { registry } = ctx;
  const { all, schedule, pending, publishedBy } = await ctx.snapshots.get("units", tok.page, async () => {
    const [all, schedule, pending, states] = await Promise.all([
      registry.listUnits(), registry.listSchedule(), registry.listPending(), registry.listStates(),
    ]);
    return { all, schedule, pending, publishedBy: publishersByUnit(states) };
  });
  const page = paginate(only ? all.filter((u) => unitMatches(only, u.name)) : all, tok);
  const options = await Promise.all(page.items.map((u) => ctx.files.options(u.hash)));
  const units = [];
  for (const [i, u] of page.items.entries()) {
    const opts = options[i];
    if (!opts) {
      // A unit replaced between the two reads can point at a file already collected.
      ctx.log.warn(`Skipping unit ${u.name} in the unit list: its unit file ${u.hash} is missing`);
      continue;
    }
    const status = deriveUnitStatus(u.global, schedule.get(u.name), publishedBy.get(u.name) ?? new Set());
    units.push(apiUnit({ ...u, ...status, options: opts, ...pendingFields(pending.get(u.name)) }));
  }
  return jsonResponse(200, apiPage("tokenFirst", "units", units, page.nextPageToken));
}

export async function getUnit(ctx: UnitsContext, name: string): Promise<Response> {
  const { registry } = ctx;
  const u = await registry.getUnit(name);
  if (!u) throw new ApiError(404, NOT_FOUND);
  const [options, schedule, states, pending] = await Promise.all([
    ctx.files.options(u.hash),
    u.global ? Promise.resolve(undefined) : registry.listSchedule().then((s) => s.get(name)),
    u.global ? Promise.resolve([]) : registry.listStates({ units: [name] }),
    registry.getPending(name),
  ]);
  if (!options) throw new Error(`Unit file ${u.hash} of unit ${name} is missing from the registry`);
  const status = deriveUnitStatus(u.global, schedule, new Set(states.map((s) => s.machineId)));
  return jsonResponse(200, apiUnit({ ...u, ...status, options, ...pendingFields(pending) }));
}

/** A unit's pending record as the entity's extension fields. */
function pendingFields(p: PendingRecord | undefined): Pick<ApiUnitInput, "pendingReason" | "pendingKind" | "pendingMachineID"> {
  return { pendingReason: p?.reason, pendingKind: p?.kind, pendingMachineID: p?.machine };
}

export async function deleteUnit(ctx: UnitsContext, name: string): Promise<Response> {
  // The engine then unschedules it, and the agents stop and unload it.
  if (!(await ctx.registry.destroyUnit(name))) throw new ApiError(404, NOT_FOUND);
  return new Response(null, { status: 204 });
}

/**
 * PUT: create, replace (options differ from the stored unit's), or change the desired state
 * (options absent or identical). Unlike the original, create and replace both validate the
 * options, and every path rejects an invalid desiredState or activating a template.
 */
export async function putUnit(ctx: UnitsContext, urlName: string, req: Request): Promise<Response> {
  checkJsonContentType(req.headers);
  const body = decodeUnitBody(await readRequestBody(req, ctx.maxRequestBytes));
  const name = body.name === "" ? urlName : body.name;
  if (name !== urlName) {
    throw new ApiError(400, `name in URL ${goQuote(urlName)} differs from unit name in request body ${goQuote(name)}`);
  }
  const invalid = validateUnitName(name);
  if (invalid !== undefined) throw new ApiError(400, invalid);

  // With options, try to create first: the transaction that finds the unit existing returns it,
  // so a submission costs etcd one request, not a read and then a write.
  const submitted = body.options.length > 0 ? describeForApi(name, body.options) : undefined;
  // A create that loses a race with another create is decided again against the winner.
  for (let attempt = 0; attempt < 3; attempt++) {
    let existing: UnitRecord | undefined;
    if (submitted) {
      const record = unitRecord(submitted, initialState(name, body.desiredState));
      const r = await ctx.registry.createUnitOrGet(record, submitted.text);
      if (r.created) return new Response(null, { status: 201 });
      if (!r.existing) {
        // The stored record is unreadable (told about in the log): the submission replaces it.
        await ctx.registry.replaceUnit(record, submitted.text);
        return new Response(null, { status: 201 });
      }
      existing = r.existing;
    } else {
      existing = await ctx.registry.getUnit(name);
    }
    const outcome = existing ? await putExisting(ctx, name, body, submitted, existing) : undefined;
    if (outcome) return outcome;
    if (!submitted && !existing) throw new ApiError(409, "unit does not exist and options field empty");
  }
  throw new ApiError(409, `unit ${goQuote(name)} is being changed concurrently, try again`);
}

async function putExisting(
  ctx: UnitsContext, name: string, body: UnitBody, submitted: DescribedUnit | undefined, existing: UnitRecord,
): Promise<Response | undefined> {
  if (submitted && submitted.hash !== existing.hash) {
    await ctx.registry.replaceUnit(unitRecord(submitted, initialState(name, body.desiredState)), submitted.text);
    return new Response(null, { status: 201 });
  }
  if (body.desiredState === "") throw new ApiError(409, "must provide DesiredState to update existing unit");
  const desired = checkedDesiredState(name, body.desiredState);
  if (!(await ctx.registry.setDesiredState(name, desired))) return undefined;
  return new Response(null, { status: 204 });
}

/** A created or replaced unit starts in the body's desired state, or inactive. */
function initialState(name: string, desiredState: string): DesiredState {
  return desiredState === "" ? "inactive" : checkedDesiredState(name, desiredState);
}

function checkedDesiredState(name: string, value: string): DesiredState {
  if (!(DESIRED_STATES as readonly string[]).includes(value)) {
    throw new ApiError(400, `invalid desiredState ${goQuote(value)}: expect inactive, loaded, or launched`);
  }
  if (value !== "inactive" && unitNameInfo(name)?.isTemplate) {
    throw new ApiError(400, `cannot activate template ${goQuote(name)}`);
  }
  return value as DesiredState;
}
