// /machines (compatibility.md §7.6): the live machines, and PATCH of dynamic metadata.
import { patchLiveMetadata } from "../registry/metadata-patch.ts";
import type { Registry } from "../registry/registry.ts";
import { apiMachine, apiPage } from "./entities.ts";
import { ApiError, clientErrorOf } from "./errors.ts";
import { jsonResponse } from "./json.ts";
import type { ListingSnapshots } from "./listing-snapshots.ts";
import { paginate, requestedPage } from "./page-token.ts";
import { decodeMetadataOps, type MetadataOp } from "./request-body.ts";
import { errorText } from "../lib/error-text.ts";

export async function listMachines(registry: Registry, tokenLimit: number, params: URLSearchParams, snapshots: ListingSnapshots): Promise<Response> {
  const tok = requestedPage(params, tokenLimit);
  const page = paginate(await snapshots.get("machines", tok.page, () => registry.listMachines()), tok);
  return jsonResponse(200, apiPage("itemsFirst", "machines", page.items.map(apiMachine), page.nextPageToken));
}

/** The most operations one PATCH may carry: 2,000 ids used to take 2.8 s of one-by-one writes. */
export const MAX_METADATA_OPS = 1000;

/**
 * Applies the operations in order, to live machines only: an id that is not a live machine is
 * a 404 naming it, and nothing is written (metadata of ids that need not exist used to pile up
 * in etcd forever). `remove` stores an empty value, which also hides a config key of that name.
 * Each machine's changes are folded and written in one atomic update (the same end state as
 * applying them one by one), 64 machines per transaction; a registry failure is a 500 that
 * names it, and machines already updated stay updated, as in the original.
 */
export async function patchMachines(registry: Registry, body: string): Promise<Response> {
  const ops = decodeMetadataOps(body);
  if (ops.length > MAX_METADATA_OPS) {
    throw new ApiError(400, `too many operations: ${ops.length}, at most ${MAX_METADATA_OPS} per request`);
  }
  let notLive: string[];
  try {
    ({ notLive } = await patchLiveMetadata(registry, foldByMachine(ops)));
  } catch (err) {
    throw clientErrorOf(err) ?? new ApiError(500, errorText(err));
  }
  if (notLive.length > 0) throw new ApiError(404, notLiveMessage(notLive));
  return new Response(null, { status: 204, headers: { "Content-Type": "application/json" } });
}

function notLiveMessage(ids: readonly string[]): string {
  const shown = ids.slice(0, 5).map((id) => JSON.stringify(id)).join(", ");
  const more = ids.length > 5 ? ` and ${ids.length - 5} more` : "";
  return ids.length === 1
    ? `machine ${shown} does not exist (metadata can be set on live machines only)`
    : `machines ${shown}${more} do not exist (metadata can be set on live machines only)`;
}

/**
 * Extension: drains a live machine (idempotent; a machine drained already keeps its `since`).
 * The engine then moves its non-global units elsewhere and places nothing new there.
 */
export async function drainMachine(registry: Registry, machineId: string): Promise<Response> {
  const live = await registry.listMachines();
  if (!live.some((m) => m.id === machineId)) throw new ApiError(404, "machine does not exist");
  await registry.setDrain(machineId);
  return noContent();
}

/** Extension: ends a drain; the machine may be gone by now. Nothing moves back. */
export async function undrainMachine(registry: Registry, machineId: string): Promise<Response> {
  if (!(await registry.clearDrain(machineId))) throw new ApiError(404, "machine is not drained");
  return noContent();
}

function noContent(): Response {
  return new Response(null, { status: 204, headers: { "Content-Type": "application/json" } });
}

/** Per machine (in order of first appearance), the last value each key is given. */
export function foldByMachine(ops: readonly MetadataOp[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const op of ops) {
    let changes = out.get(op.machineId);
    if (!changes) out.set(op.machineId, (changes = {}));
    changes[op.key] = op.value;
  }
  return out;
}
