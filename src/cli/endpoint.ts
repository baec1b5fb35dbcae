// Interpreting --endpoint and --driver (compatibility.md §6.2, §6.3). Pure.
import { isLoopbackHost } from "../lib/loopback.ts";
import type { GlobalOptions } from "./global-flags.ts";
import { DEFAULT_ENDPOINT } from "./global-flags.ts";

export type Driver = "api" | "etcd";

export type ApiTarget =
  | { kind: "unix"; endpoint: string; socketPath: string }
  | { kind: "http"; endpoint: string; url: URL };

export type ConnectPlan =
  | { driver: "api"; target: ApiTarget; warnings: string[] }
  | { driver: "etcd"; endpoints: string[]; warnings: string[] };

/** An endpoint or driver that cannot be used: printed as `Unable to initialize client: <msg>`. */
export class InitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InitError";
  }
}

export function splitEndpoints(raw: string): string[] {
  return raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/** The driver: "API"/"etcd" in any case; "" picks etcd when the port is etcd's (2379, 4001). */
export function resolveDriver(driver: string, endpoints: readonly string[]): Driver {
  const d = driver.toLowerCase();
  if (d === "api") return "api";
  if (d === "etcd") return "etcd";
  if (d === "") {
    const first = endpoints[0] ?? "";
    const port = /:(\d+)(\/|$)/.exec(first.replace(/^[a-z]+:\/\//i, ""))?.[1];
    return port === "2379" || port === "4001" ? "etcd" : "api";
  }
  throw new InitError(`unrecognized driver ${JSON.stringify(driver)}`);
}

/** Parses one API endpoint: unix:///path, file:///path, http://host:port[/prefix], https://... */
export function parseApiEndpoint(endpoint: string): ApiTarget {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(endpoint)?.[1]?.toLowerCase();
  if (!scheme) throw new InitError("URL scheme undefined");
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new InitError(`cannot parse endpoint ${JSON.stringify(endpoint)} as a URL`);
  }
  if (scheme === "unix" || scheme === "file") {
    if (url.host !== "") throw new InitError(`unable to connect to host ${JSON.stringify(url.host)} with scheme ${JSON.stringify(scheme)}`);
    const socketPath = decodeURIComponent(url.pathname);
    if (socketPath === "" || socketPath === "/") throw new InitError(`endpoint ${endpoint} names no socket path`);
    return { kind: "unix", endpoint, socketPath };
  }
  if (scheme === "http" || scheme === "https") return { kind: "http", endpoint, url };
  throw new InitError(`unsupported URL scheme ${JSON.stringify(scheme)} in endpoint ${endpoint} (use unix, http or https)`);
}

/** The API root, `<endpoint>/fleet/v1/`, keeping a path prefix already on the endpoint. */
export function apiBaseUrl(target: ApiTarget): string {
  if (target.kind === "unix") return "http://domain-sock/fleet/v1/";
  const base = target.url.href.replace(/[?#].*$/, "").replace(/\/+$/, "");
  return `${base}/fleet/v1/`;
}

export function planConnection(g: GlobalOptions): ConnectPlan {
  let endpoints = splitEndpoints(g.endpoint);
  const driver = resolveDriver(g.driver, endpoints);
  const warnings: string[] = [];
  if (driver === "etcd") {
    // --experimental-api=false with the default endpoint meant "the local etcd" to fleetctl.
    if (!g.experimentalApi && g.endpoint === DEFAULT_ENDPOINT) {
      endpoints = ["http://127.0.0.1:2379", "http://127.0.0.1:4001"];
    }
    if (endpoints.length === 0) throw new InitError("no etcd endpoint given (--endpoint)");
    for (const e of endpoints) {
      if (!/^https?:\/\//i.test(e)) {
        if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(e)) throw new InitError("URL scheme undefined");
        throw new InitError(`the etcd driver needs http or https endpoints, got ${e}`);
      }
    }
    return { driver, endpoints, warnings };
  }
  const first = endpoints[0];
  if (first === undefined) throw new InitError("URL scheme undefined");
  if (endpoints.length > 1) warnings.push(`multiple endpoints provided but only the first (${first}) is used`);
  const target = parseApiEndpoint(first);
  if (g.token) refuseTokenInClear(target);
  return { driver, target, warnings };
}

/**
 * The bearer token goes over plain http:// only to a loopback address, where it never crosses
 * the network (with --tunnel, that is the loopback of the host at the tunnel's far end). Anyone
 * on the path who reads it can run any command as root on every machine.
 */
function refuseTokenInClear(target: ApiTarget): void {
  if (target.kind !== "http" || target.url.protocol !== "http:" || isLoopbackHost(target.url.hostname)) return;
  throw new InitError(
    `refusing to send the bearer token (--token or FLEETCTL_TOKEN) over plain http:// to ${target.endpoint}: anyone on the network path could read it; ` +
      "use an https:// endpoint (with --ca-file), the unix socket, or --tunnel with an endpoint on the far host's loopback",
  );
}
