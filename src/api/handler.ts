// The v1 HTTP API as one fetch handler (compatibility.md §7): the availability gate, path
// cleaning, the route table, the Server header, and every error mapped to fleet's JSON body
// in one place. Listeners are wired separately (listeners.ts).
import { DEFAULTS } from "../config/defaults.ts";
import type { Registry } from "../registry/registry.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { fleetMetrics, type FleetMetrics } from "../metrics/fleet.ts";
import { EXPOSITION_CONTENT_TYPE } from "../metrics/metrics.ts";
import { EventHub } from "../events/hub.ts";
import { indexedRead } from "./blocking.ts";
import { DISCOVERY_JSON } from "./discovery.ts";
import { ApiError, errorResponse, toErrorResponse } from "./errors.ts";
import { eventStreamMetrics } from "./event-metrics.ts";
import { streamEvents, type EventsContext } from "./events.ts";
import { type JournalSource, unitJournal } from "./journal.ts";
import { JSON_CONTENT_TYPE } from "./json.ts";
import { ListingSnapshots } from "./listing-snapshots.ts";
import { drainMachine, listMachines, patchMachines, undrainMachine } from "./machines.ts";
import { checkContentLength, readRequestBody } from "./request-body.ts";
import { cleanRequestPath, decodeRequestPath, encodeRequestPath, matchRoute, type Route } from "./routes.ts";
import { getState, listStates } from "./state.ts";
import { isUiPath, serveUi } from "./ui.ts";
import { UnitFileCache } from "./unit-file-cache.ts";
import { deleteUnit, getUnit, listUnits, putUnit, type UnitsContext } from "./units.ts";
import { controlRolloutRequest, getRollout, listRollouts, putRollout, type RolloutsContext } from "./rollouts.ts";

export interface ApiDeps {
  registry: Registry;
  /** Page size and the only limit a page token may carry (config `token_limit`). */
  tokenLimit: number;
  version: string;
  /** The largest request body accepted (config `api_max_request_bytes`); larger ones get 413. */
  maxRequestBytes?: number;
  /** False until this daemon has registered with etcd: every request then gets 503. */
  isReady: () => boolean;
  /** Where requests are counted and /metrics comes from; the daemon's by default. */
  metrics?: FleetMetrics;
  log?: Logger;
  /**
   * The daemon's event hub, behind GET /events and blocking reads; one over the registry's etcd
   * by default. Its owner closes it.
   */
  events?: EventHub;
  /** How often a quiet event stream gets a heartbeat (default 15 s). */
  heartbeatMs?: number;
  /** This daemon's machine and its journal (GET /units/{name}/journal); none: that path is a 404. */
  journal?: JournalSource;
}

export type ApiHandler = (req: Request) => Promise<Response>;

export const UNAVAILABLE_MESSAGE = "fleet server unable to communicate with etcd";

const ONLY_GET = "only GET supported against this resource";
const KNOWN_METHODS = new Set(["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]);

export function createApiHandler(deps: ApiDeps): ApiHandler {
  if (!Number.isInteger(deps.tokenLimit) || deps.tokenLimit < 1 || deps.tokenLimit > 0xffff) {
    throw new Error(`Invalid token limit ${deps.tokenLimit}: must be an integer from 1 to 65535`);
  }
  const maxRequestBytes = deps.maxRequestBytes ?? DEFAULTS.apiMaxRequestBytes;
  const metrics = deps.metrics ?? fleetMetrics;
  const log = deps.log ?? createLogger({ verbosity: 0 }).child("api");
  const snapshots = new ListingSnapshots();
  const units: UnitsContext = {
    registry: deps.registry,
    tokenLimit: deps.tokenLimit,
    maxRequestBytes,
    log,
    files: new UnitFileCache(deps.registry),
    snapshots,
  };
  const rollouts: RolloutsContext = { registry: deps.registry, maxRequestBytes };
  const server = `fleetd/${deps.version}`;
  const hub = deps.events ?? new EventHub({ etcd: deps.registry.etcd, keys: deps.registry.keys, log, invalid: deps.registry.invalid });
  const events: EventsContext = { hub, metrics: eventStreamMetrics(metrics.registry), heartbeatMs: deps.heartbeatMs };
  const indexed = (req: Request, url: URL, r: Parameters<typeof indexedRead>[3], read: () => Promise<Response>) =>
    indexedRead(hub, deps.registry.keys, req, r, url.searchParams, read);

  const route = async (req: Request, url: URL, r: Route): Promise<Response> => {
    const m = req.method;
    switch (r.kind) {
      case "root":
      case "prefix":
        throw new ApiError(405);
      case "notFound":
        throw new ApiError(404);
      case "metrics":
        if (m !== "GET" && m !== "HEAD") throw new ApiError(405, ONLY_GET);
        return new Response(metrics.registry.expose(), { headers: { "Content-Type": EXPOSITION_CONTENT_TYPE } });
      case "discovery":
        if (m !== "GET") throw new ApiError(400, "only HTTP GET supported against this resource");
        return new Response(DISCOVERY_JSON, { headers: { "Content-Type": JSON_CONTENT_TYPE } });
      case "machines":
        if (m === "GET") return indexed(req, url, r, () => listMachines(deps.registry, deps.tokenLimit, url.searchParams, snapshots));
        if (m === "PATCH") return patchMachines(deps.registry, await readRequestBody(req, maxRequestBytes));
        throw new ApiError(405, "only GET and PATCH supported against this resource");
      case "drain":
        if (m === "PUT") return drainMachine(deps.registry, r.machineId);
        if (m === "DELETE") return undrainMachine(deps.registry, r.machineId);
        throw new ApiError(405, "only PUT and DELETE supported against this resource");
      case "units":
        if (m !== "GET") throw new ApiError(405, ONLY_GET);
        return indexed(req, url, r, () => listUnits(units, url.searchParams));
      case "unit":
        if (m === "GET") return indexed(req, url, r, () => getUnit(units, r.name));
        if (m === "PUT") return putUnit(units, r.name, req);
        if (m === "DELETE") return deleteUnit(units, r.name);
        throw new ApiError(405, "only GET, PUT and DELETE supported against this resource");
      case "states":
        if (m !== "GET") throw new ApiError(405, ONLY_GET);
        return indexed(req, url, r, () => listStates(deps.registry, deps.tokenLimit, url.searchParams, snapshots));
      case "state":
        if (m !== "GET") throw new ApiError(405, ONLY_GET);
        return indexed(req, url, r, () => getState(deps.registry, r.name));
      case "journal":
        if (m !== "GET") throw new ApiError(405, ONLY_GET);
        return unitJournal(deps.journal, deps.registry, r.name, url.searchParams);
      case "events":
        if (m !== "GET") throw new ApiError(405, ONLY_GET);
        return streamEvents(events, req, url.searchParams);
      case "rollouts":
        if (m !== "GET") throw new ApiError(405, ONLY_GET);
        return listRollouts(rollouts);
      case "rollout":
        if (m === "GET") return getRollout(rollouts, r.name);
        if (m === "PUT") return putRollout(rollouts, r.name, req);
        throw new ApiError(405, "only GET and PUT supported against this resource");
      case "rolloutAction":
        if (m !== "POST") throw new ApiError(405, "only POST supported against this resource");
        return controlRolloutRequest(rollouts, r.name, r.action);
    }
  };

  const serve = async (req: Request): Promise<Response> => {
    try {
      // Before routing: a body too large for any route is refused before a byte of it is read.
      checkContentLength(req.headers, maxRequestBytes);
      const url = new URL(req.url);
      const path = decodeRequestPath(url.pathname);
      const clean = cleanRequestPath(path);
      if (clean !== path) return redirect(`${encodeRequestPath(clean)}${url.search}`, req.method);
      if (isUiPath(path)) return await serveUi(req, path, url.search);
      return await route(req, url, matchRoute(path));
    } catch (err) {
      return toErrorResponse(err, (detail) => log.error(`${req.method} ${req.url} failed: ${detail}`));
    }
  };

  return async (req: Request): Promise<Response> => {
    let res: Response;
    if (!deps.isReady()) {
      // The gate answers before the API exists: no Server header, as in the original.
      res = errorResponse(503, UNAVAILABLE_MESSAGE);
    } else {
      res = await serve(req);
      res.headers.set("Server", server);
    }
    if (log.debugEnabled) log.debug(`HTTP ${req.method} ${req.url} ${res.status}`);
    metrics.apiRequestCount.inc({ method: KNOWN_METHODS.has(req.method) ? req.method : "OTHER", code: String(res.status) });
    return res;
  };
}

/** Go's ServeMux redirect to the clean path, with http.Redirect's little HTML body for GET. */
function redirect(location: string, method: string): Response {
  const headers: Record<string, string> = { Location: location };
  if (method !== "GET" && method !== "HEAD") return new Response(null, { status: 301, headers });
  const href = location.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&#34;").replace(/'/g, "&#39;");
  headers["Content-Type"] = "text/html; charset=utf-8";
  return new Response(`<a href="${href}">Moved Permanently</a>.\n\n`, { status: 301, headers });
}
