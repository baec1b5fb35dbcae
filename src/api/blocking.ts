// Blocking reads (docs/api.md): GET of units, state and machines with `waitIndex=REV` answers once
// something the answer depends on changed after etcd revision REV, or after `wait` (default
// 60 s, at most 4 min) with the answer unchanged. Every answer of these GETs carries
// `X-Fleet-Index`: a revision the answer reflects at least, to pass as the next waitIndex.
import { AsyncLocalStorage } from "node:async_hooks";
import { parseDuration } from "../config/duration.ts";
import type { EventHub } from "../events/hub.ts";
import { unitMatches } from "../events/filter.ts";
import { EventQueryError, parseFilter, splitList } from "../events/query.ts";
import { childName, childPair, type KeySpace } from "../registry/keys.ts";
import { allowIdle } from "./connection.ts";
import { ApiError } from "./errors.ts";
import type { Route } from "./routes.ts";

export const INDEX_HEADER = "X-Fleet-Index";
export const DEFAULT_WAIT_MS = 60_000;
/** Below the idle timeout of unix-socket listeners (255 s, listeners.ts), with room to read. */
export const MAX_WAIT_MS = 4 * 60_000;

/** The revision an answer reflects, per request; listing snapshots lower it to their own. */
export const readIndex = new AsyncLocalStorage<{ index: number }>();

export interface WaitQuery {
  waitIndex: number;
  waitMs: number;
}

/** `waitIndex` and `wait` from the query, or a 400 naming the bad one; undefined without waitIndex. */
export function waitQuery(params: URLSearchParams): WaitQuery | undefined {
  const index = params.get("waitIndex");
  const wait = params.get("wait");
  if (index === null) {
    if (wait !== null) throw new ApiError(400, `invalid wait ${JSON.stringify(wait)}: wait needs waitIndex`);
    return undefined;
  }
  if (!/^\d{1,16}$/.test(index) || !Number.isSafeInteger(Number(index))) {
    throw new ApiError(400, `invalid waitIndex ${JSON.stringify(index)}: expected an etcd revision (a whole number, e.g. from X-Fleet-Index)`);
  }
  if (params.has("nextPageToken")) throw new ApiError(400, "invalid waitIndex: a blocking read cannot continue a paged listing (nextPageToken)");
  let waitMs = DEFAULT_WAIT_MS;
  if (wait !== null) {
    try {
      waitMs = parseDuration(wait);
    } catch (e) {
      throw new ApiError(400, `invalid wait ${JSON.stringify(wait)}: ${(e as Error).message}`);
    }
    if (waitMs < 0) throw new ApiError(400, `invalid wait ${JSON.stringify(wait)}: a duration cannot be negative`);
  }
  return { waitIndex: Number(index), waitMs: Math.min(waitMs, MAX_WAIT_MS) };
}

export type ReadRoute = Extract<Route, { kind: "units" | "unit" | "states" | "state" | "machines" }>;

/** Whether a change of `key` can change the answer of the route. */
export function relevance(keys: KeySpace, route: ReadRoute, params: URLSearchParams): (key: string) => boolean {
  switch (route.kind) {
    case "units": {
      const only = unitParam(params);
      if (only) {
        return (key) => {
          const unit = unitOfKey(keys, key);
          return unit !== undefined && unitMatches(only, unit);
        };
      }
      return (key) => [keys.units, keys.schedules, keys.pendings, keys.states].some((p) => key.startsWith(p));
    }
    case "unit": {
      const name = route.name;
      return (key) => key === keys.unit(name) || key === keys.pending(name) || key.startsWith(keys.unitStates(name)) ||
        childPair(keys.schedules, key)?.[1] === name;
    }
    case "states": {
      const unit = params.get("unitName") || undefined;
      const machine = params.get("machineID") || undefined;
      return (key) => {
        const pair = childPair(keys.states, key);
        return pair !== undefined && (unit === undefined || pair[0] === unit) && (machine === undefined || pair[1] === machine);
      };
    }
    case "state":
      return (key) => key.startsWith(keys.unitStates(route.name));
    case "machines":
      return (key) => [keys.machines, keys.metadatas, keys.drains].some((p) => key.startsWith(p));
  }
}

/**
 * The `unit=` filter of GET /units (an extension: names or globs, repeated or comma-separated, as
 * the event stream takes them), or undefined without one; a bad value is a 400 naming it.
 */
export function unitParam(params: URLSearchParams): string[] | undefined {
  try {
    return parseFilter(splitList(params.getAll("unit")), [], []).units as string[] | undefined;
  } catch (e) {
    if (e instanceof EventQueryError) throw new ApiError(400, e.message);
    throw e;
  }
}

/** The unit a key of a unit's records is about: its record, schedule entries, pending reason, states. */
function unitOfKey(keys: KeySpace, key: string): string | undefined {
  return childName(keys.units, key) ?? childName(keys.pendings, key) ?? childPair(keys.states, key)?.[0] ?? childPair(keys.schedules, key)?.[1];
}

/**
 * Runs a GET of the route, first waiting for a relevant change when the query asks, and adds
 * X-Fleet-Index to its answer (a 404 included, so a client can wait for the item to appear).
 */
export async function indexedRead(
  hub: EventHub, keys: KeySpace, req: Request, route: ReadRoute, params: URLSearchParams, read: () => Promise<Response>,
): Promise<Response> {
  const wait = waitQuery(params);
  let changedAt = 0;
  if (wait) {
    // The wait bounds the request; Bun's idle timeout (10 s) must not cut it first.
    allowIdle(req, 0);
    changedAt = (await hub.waitForChange(wait.waitIndex, relevance(keys, route, params), wait.waitMs, req.signal)) ?? 0;
  }
  // A revision known to exist now: every read that starts later reflects at least it.
  const at = { index: Math.max(await hub.knownRevision(), changedAt) };
  let res: Response;
  try {
    res = await readIndex.run(at, read);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) throw new ApiError(404, e.message, { ...e.headers, [INDEX_HEADER]: String(at.index) });
    throw e;
  }
  res.headers.set(INDEX_HEADER, String(at.index));
  return res;
}
