// /state and /state/{name} (compatibility.md §7.5): what systemd reports on each machine.
import type { Registry } from "../registry/registry.ts";
import { apiPage, apiUnitState } from "./entities.ts";
import { ApiError } from "./errors.ts";
import { jsonResponse } from "./json.ts";
import type { ListingSnapshots } from "./listing-snapshots.ts";
import { paginate, requestedPage } from "./page-token.ts";

/** Sorted by (unit name, machine ID), filtered by `machineID` and `unitName`, then paginated. */
export async function listStates(registry: Registry, tokenLimit: number, params: URLSearchParams, snapshots: ListingSnapshots): Promise<Response> {
  const tok = requestedPage(params, tokenLimit);
  // Like Go's Query().Get: only the first value counts, and an empty one does not filter.
  const machineID = params.get("machineID") ?? "";
  const unitName = params.get("unitName") ?? "";
  const states = await snapshots.get(`states\n${unitName}\n${machineID}`, tok.page, () => registry.listStates({
    units: unitName ? [unitName] : undefined,
    machines: machineID ? [machineID] : undefined,
  }));
  const page = paginate(states, tok);
  return jsonResponse(200, apiPage("tokenFirst", "states", page.items.map(apiUnitState), page.nextPageToken));
}

/** One machine's state of the unit: the lowest machine ID when several report it. */
export async function getState(registry: Registry, name: string): Promise<Response> {
  const [first] = await registry.listStates({ units: [name] });
  if (!first) throw new ApiError(404, "unit state does not exist");
  return jsonResponse(200, apiUnitState(first));
}
