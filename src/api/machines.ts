// /machines (fleet-reference.md §7.6): the live machines, and PATCH of dynamic metadata.
import { InvalidRecordError } from "../registry/records.ts";
import type { Registry } from "../registry/registry.ts";
import { apiMachine, apiPage } from "./entities.ts";
import { ApiError } from "./errors.ts";
import { jsonResponse } from "./json.ts";
import type { ListingSnapshots } from "./listing-snapshots.ts";
import { paginate, requestedPage } from "./page-token.ts";
import { decodeMetadataOps, type MetadataOp } from "./request-body.ts";

export async function listMachines(registry: Registry, tokenLimit: number, params: URLSearchParams, snapshots: ListingSnapshots): Promise<Response> {
  const tok = requestedPage(params, tokenLimit);
  const page = paginate(await snapshots.get("machines", tok.page, () => registry.listMachines()), tok);
  return jsonResponse(200, apiPage("itemsFirst", "machines", page.items.map(apiMachine), page.nextPageToken));
}

/**
 * Applies the operations in order. `remove` stores an empty value, which also hides a config
 * key of that name. The machine need not exist. Each machine's changes are folded and written
 * in one atomic update (the same end state as applying them one by one); a registry failure is
 * a 500 that names it, and machines already updated stay updated, as in the original.
 */
export async function patchMachines(registry: Registry, body: string): Promise<Response> {
  const ops = decodeMetadataOps(body);
  for (const [machineId, changes] of foldByMachine(ops)) {
    try {
      await registry.updateDynamicMetadata(machineId, changes);
    } catch (err) {
      if (err instanceof InvalidRecordError) throw err;
      throw new ApiError(500, err instanceof Error ? err.message : String(err));
    }
  }
  return new Response(null, { status: 204, headers: { "Content-Type": "application/json" } });
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
