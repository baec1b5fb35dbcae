// Request paths: decoding, Go ServeMux's cleaning (301 to the clean path), and the route table
// of compatibility.md §7.2, mounted under both /fleet/v1 and /v1-alpha.
import { ApiError } from "./errors.ts";

export const API_PREFIXES: readonly string[] = ["/fleet/v1", "/v1-alpha"];

export type Route =
  | { kind: "root" }
  | { kind: "prefix" }
  | { kind: "discovery" }
  | { kind: "machines" }
  /** Extension: `machines/<id>/drain` (PUT drains, DELETE undrains). */
  | { kind: "drain"; machineId: string }
  | { kind: "units" }
  | { kind: "unit"; name: string }
  | { kind: "states" }
  | { kind: "state"; name: string }
  /** Extension: `units/<name>/journal`, the unit's journal on this daemon's machine. */
  | { kind: "journal"; name: string }
  /** Extension: the event stream (Server-Sent Events). */
  | { kind: "events" }
  /** Extension: rolling updates (`rollouts`, `rollouts/<unit>`, `rollouts/<unit>/<action>`). */
  | { kind: "rollouts" }
  | { kind: "rollout"; name: string }
  | { kind: "rolloutAction"; name: string; action: string }
  | { kind: "metrics" }
  | { kind: "notFound" };

/** Go's path.Clean: one slash between elements, no `.` elements, `..` resolved, rooted. */
export function cleanGoPath(p: string): string {
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return `/${out.join("/")}`;
}

/** ServeMux's cleanPath: path.Clean, keeping a trailing slash the request had. */
export function cleanRequestPath(p: string): string {
  if (p === "") return "/";
  const rooted = p.startsWith("/") ? p : `/${p}`;
  const clean = cleanGoPath(rooted);
  return rooted.endsWith("/") && clean !== "/" ? `${clean}/` : clean;
}

/** The decoded path of a request (`%40` is `@`), as Go's URL.Path. */
export function decodeRequestPath(rawPath: string): string {
  try {
    return decodeURIComponent(rawPath);
  } catch {
    const bad = /%(?![0-9a-fA-F]{2}).{0,2}/.exec(rawPath)?.[0] ?? rawPath;
    throw new ApiError(400, `invalid URL escape ${JSON.stringify(bad)}`);
  }
}

/** Percent-encodes a decoded path again for a Location header (Go's URL.EscapedPath). */
export function encodeRequestPath(p: string): string {
  return p
    .split("/")
    .map((seg) => encodeURIComponent(seg).replace(/%(24|26|2B|2C|3A|3B|3D|40)/gi, (m) => decodeURIComponent(m)))
    .join("/");
}

/** Which handler serves a clean, decoded path. */
export function matchRoute(path: string): Route {
  if (path === "/metrics") return { kind: "metrics" };
  for (const prefix of API_PREFIXES) {
    if (path === prefix) return { kind: "prefix" };
    if (!path.startsWith(`${prefix}/`)) continue;
    const rest = path.slice(prefix.length + 1);
    if (rest === "discovery") return { kind: "discovery" };
    if (rest === "machines") return { kind: "machines" };
    if (rest === "units") return { kind: "units" };
    if (rest === "state") return { kind: "states" };
    if (rest === "events") return { kind: "events" };
    if (rest === "rollouts") return { kind: "rollouts" };
    const rollout = /^rollouts\/([^/]+)(?:\/([^/]+))?$/.exec(rest);
    if (rollout !== null) return rollout[2] === undefined ? { kind: "rollout", name: rollout[1]! } : { kind: "rolloutAction", name: rollout[1]!, action: rollout[2] };
    const drain = /^machines\/([^/]+)\/drain$/.exec(rest);
    if (drain !== null) return { kind: "drain", machineId: drain[1]! };
    const journal = /^units\/([^/]+)\/journal$/.exec(rest);
    if (journal !== null) return { kind: "journal", name: journal[1]! };
    const item = itemOf(rest, "units/") ?? itemOf(rest, "state/");
    if (item === undefined) break;
    return rest.startsWith("units/") ? { kind: "unit", name: item } : { kind: "state", name: item };
  }
  return path === "/" ? { kind: "root" } : { kind: "notFound" };
}

/** The item name of `<collection>/<item>`; undefined for `units/`, `units/a/b` and the like. */
function itemOf(rest: string, collection: string): string | undefined {
  if (!rest.startsWith(collection)) return undefined;
  const item = rest.slice(collection.length);
  return item === "" || item.includes("/") ? undefined : item;
}
