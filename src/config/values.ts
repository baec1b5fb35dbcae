// Coercion of one raw value (a TOML value from the file, or a string from the environment)
// into its typed form. Each function throws BadValue with a message meant to follow
// "<key>: ", e.g. `"abc" is not an integer`.
import { isIP } from "node:net";
import { OWN_DIRECTORY_WHY, unitsDirectoryProblem } from "../systemd/unit-paths.ts";
import { MACHINE_ID_RULE, machineIdProblem } from "../registry/record-values.ts";
import { durationProblem, parseDuration } from "./duration.ts";
import type { ListenAddress, ResourceAmounts } from "./types.ts";
import { parseCpu, parseSize } from "../unit/quantities.ts";

export class BadValue extends Error {}

/** How a raw value is quoted in an error message. */
export function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v instanceof Date) return "a date";
  if (Array.isArray(v)) return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? String(x) : x));
  if (v && typeof v === "object") return "a table";
  return String(v);
}

export function asString(v: unknown): string {
  if (typeof v !== "string") throw new BadValue(`${show(v)} is not a string (quote it)`);
  return v.trim();
}

/** A string that must not be echoed back (passwords). */
export function asSecret(v: unknown): string {
  if (typeof v !== "string") throw new BadValue("the value is not a string (quote it)");
  return v;
}

const TRUE = new Set(["true", "1", "yes"]);
const FALSE = new Set(["false", "0", "no"]);

export function asBool(v: unknown): boolean {
  if (typeof v === "boolean") return v;
  if (v === 0 || v === 1) return v === 1;
  if (typeof v === "string") {
    const s = v.trim().toLowerCase();
    if (TRUE.has(s)) return true;
    if (FALSE.has(s)) return false;
  }
  throw new BadValue(`${show(v)} is not a boolean (true, false, 1, 0, yes or no)`);
}

export function asInt(v: unknown, min: number, max: number): number {
  let n: number | undefined;
  if (typeof v === "number" && Number.isInteger(v)) n = v;
  else if (typeof v === "bigint") n = Number(v);
  else if (typeof v === "string" && /^[+-]?\d+$/.test(v.trim())) n = Number(v.trim());
  if (n === undefined) throw new BadValue(`${show(v)} is not an integer`);
  if (n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `${min} to ${max}`;
    throw new BadValue(`${show(v)} is out of range (${range})`);
  }
  return n;
}

const MAX_DURATION_MS = 24 * 3_600_000; // timers overflow past ~24.8 days; a day is plenty

function checkDuration(v: unknown, ms: number, minMs: number, why: string): number {
  if (!(ms >= minMs)) throw new BadValue(`${show(v)} is too short (${why})`);
  if (ms > MAX_DURATION_MS) throw new BadValue(`${show(v)} is too long (at most 24h)`);
  return ms;
}

/** A duration string only (agent_ttl). */
export function asDuration(v: unknown, minMs: number, why: string): number {
  if (typeof v !== "string") throw new BadValue(`${show(v)} is not a duration (e.g. "30s", "1m30s")`);
  let ms: number;
  try {
    ms = parseDuration(v.trim());
  } catch {
    throw new BadValue(durationProblem(v));
  }
  return checkDuration(v, ms, minMs, why);
}

const SECONDS = /^[+-]?(\d+\.?\d*|\.\d+)$/;

/** Seconds as a number or numeric string (the original's float seconds), or a duration string. */
export function asSeconds(v: unknown, minMs: number, why: string): number {
  let ms: number | undefined;
  if (typeof v === "number" && Number.isFinite(v)) ms = v * 1000;
  else if (typeof v === "bigint") ms = Number(v) * 1000;
  else if (typeof v === "string") {
    const s = v.trim();
    if (SECONDS.test(s)) ms = Number(s) * 1000;
    else {
      try {
        ms = parseDuration(s);
      } catch {
        ms = undefined;
      }
    }
  }
  if (ms === undefined) {
    throw new BadValue(`${show(v)} is not a number of seconds or a duration (e.g. 1.5 or "1500ms")`);
  }
  return checkDuration(v, ms, minMs, why);
}

function trimItem(s: string): string {
  // The original trims these characters so that a JSON-looking list in one string works too.
  return s.replace(/^[\s["']+/, "").replace(/[\s\]"']+$/, "");
}

/** A TOML array of strings, or one comma-separated string ("[]" is the empty list). */
export function asList(v: unknown, what = show(v)): string[] {
  let items: string[];
  if (typeof v === "string") items = v.split(",").map(trimItem);
  else if (Array.isArray(v) && v.every((x) => typeof x === "string")) items = v.map((x) => x.trim());
  else throw new BadValue(`${what} is not a list (an array of strings, or a comma-separated string)`);
  return items.filter((s) => s !== "");
}

export function asEtcdServers(v: unknown): string[] {
  const list = asList(v);
  if (list.length === 0) throw new BadValue("needs at least one server");
  return list.map((item) => {
    let url: URL | undefined;
    try {
      url = new URL(item);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.host === "") {
      throw new BadValue(`${show(item)} is not an http:// or https:// URL`);
    }
    return item.replace(/\/+$/, "");
  });
}

export function asKeyPrefix(v: unknown): string {
  const s = asString(v);
  return `${s.startsWith("/") ? "" : "/"}${s}${s.endsWith("/") ? "" : "/"}`;
}

export function asAbsolutePath(v: unknown): string {
  const s = asString(v);
  if (!s.startsWith("/")) throw new BadValue(`${show(s)} is not an absolute path`);
  return s;
}

/** units_directory: an absolute path outside systemd's own unit directories. */
export function asUnitsDirectory(v: unknown): string {
  const s = asAbsolutePath(v);
  const problem = unitsDirectoryProblem(s);
  if (problem) throw new BadValue(`${show(s)} is ${problem} (${OWN_DIRECTORY_WHY})`);
  return s;
}

export function asIp(v: unknown): string {
  const s = asString(v);
  if (isIP(s) === 0) throw new BadValue(`${show(s)} is not an IP address`);
  return s;
}

export function asMachineId(v: unknown): string {
  const s = asString(v);
  // The registry's rule: a machine id its readers would refuse is refused here.
  if (machineIdProblem(s) !== undefined) throw new BadValue(`${show(s)} is not a machine ID (${MACHINE_ID_RULE})`);
  return s;
}

/** "k=v,k2=v2" (split at the first "=", trimmed, last duplicate wins) or a TOML table. */
export function asMetadata(v: unknown): Record<string, string> {
  const out = new Map<string, string>();
  if (typeof v === "string") {
    for (const pair of v.split(",")) {
      if (pair.trim() === "") continue;
      const eq = pair.indexOf("=");
      if (eq < 0) throw new BadValue(`pair ${show(pair.trim())} has no "="`);
      const key = pair.slice(0, eq).trim();
      if (key === "") throw new BadValue(`pair ${show(pair.trim())} has an empty key`);
      out.set(key, pair.slice(eq + 1).trim());
    }
  } else if (v && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date)) {
    for (const [key, val] of Object.entries(v)) {
      if (typeof val !== "string" && typeof val !== "number" && typeof val !== "boolean") {
        throw new BadValue(`${key}: ${show(val)} is not a string`);
      }
      out.set(key, String(val).trim());
    }
  } else {
    throw new BadValue(`${show(v)} is not a list of key=value pairs or a table`);
  }
  return Object.fromEntries(out);
}

const TCP = /^tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[^:/[\]\s]+):(\d{1,5})$/;

export function parseListenAddress(text: string): ListenAddress {
  if (text.startsWith("unix://")) {
    const path = text.slice("unix://".length);
    if (path.startsWith("/") && path.length > 1) return { kind: "unix", path };
  }
  const m = TCP.exec(text);
  const port = Number(m?.[2]);
  if (m && port <= 65535) {
    return { kind: "tcp", host: (m[1] ?? "").replace(/^\[(.*)\]$/, "$1"), port };
  }
  throw new BadValue(`${show(text)} is not a unix:///path or tcp://host:port address`);
}

export function formatListenAddress(a: ListenAddress): string {
  if (a.kind === "unix") return `unix://${a.path}`;
  return `tcp://${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
}

export function asListen(v: unknown): ListenAddress[] {
  return asList(v).map(parseListenAddress);
}

export function asTokens(v: unknown): string[] {
  const tokens = asList(v, "the value");
  // Never echo tokens: they are secrets.
  if (tokens.some((t) => !/^[\x21-\x7e]+$/.test(t))) {
    throw new BadValue("a token contains spaces or characters that are not printable ASCII");
  }
  return tokens;
}

/**
 * `cpu=<CPUs>,memory=<size>` (either may be left out) or a table `{ cpu = 4, memory = "8G" }`:
 * CPUs as `[X-Fleet] CPURequest=` takes them (2, 0.5, 500m), memory as a size (512M, 16G).
 */
export function asResourceAmounts(v: unknown): ResourceAmounts {
  const pairs: [string, unknown][] = [];
  if (typeof v === "string") {
    for (const pair of v.split(",")) {
      if (pair.trim() === "") continue;
      const eq = pair.indexOf("=");
      if (eq < 0) throw new BadValue(`pair ${show(pair.trim())} has no "=" (e.g. "cpu=4,memory=8G")`);
      pairs.push([pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()]);
    }
  } else if (v && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date)) {
    pairs.push(...Object.entries(v));
  } else {
    throw new BadValue(`${show(v)} is not cpu=<CPUs>,memory=<size> pairs or a table`);
  }
  const out: ResourceAmounts = {};
  for (const [key, raw] of pairs) {
    const text = typeof raw === "number" ? String(raw) : typeof raw === "string" ? raw : undefined;
    if (key !== "cpu" && key !== "memory") throw new BadValue(`${show(key)} is not a resource (cpu or memory)`);
    if (text === undefined) throw new BadValue(`${key}: ${show(raw)} is not a string or a number`);
    const p = key === "cpu" ? parseCpu(text) : parseSize(text);
    if (!p.ok) throw new BadValue(`${key}: ${show(text)} ${p.problem}`);
    if (key === "cpu") out.cpuMillis = p.value;
    else out.memoryBytes = p.value;
  }
  return out;
}
