// A unit's resource request, read from the unit file itself (docs/placement.md): the systemd
// resource settings of its own section ([Service] for a service, [Socket] for a socket...) unless
// [X-Fleet] MemoryRequest= or CPURequest= say otherwise. As systemd reads them, a later
// assignment replaces an earlier one and an empty one resets the option. Every assignment is
// checked, so a malformed value is an error naming its option and line, never a silent zero.
import type { ResourceRequest, UnitOption } from "./types.ts";
import { parseCpu, parsePercentOfCpu, parseSize } from "./quantities.ts";

/** The [X-Fleet] options that state a request outright. */
export const REQUEST_KEYS: readonly string[] = ["MemoryRequest", "CPURequest"];

/** Memory limits in the order they become the request: the first with a size wins. */
const MEMORY_LIMITS = ["MemoryMax", "MemoryLimit", "MemoryHigh"] as const;

/** Unit types with resource control (systemd.resource-control(5)), by the section that holds it. */
const RESOURCE_SECTIONS: Readonly<Record<string, string>> = {
  ".service": "Service", ".socket": "Socket", ".mount": "Mount", ".swap": "Swap", ".slice": "Slice", ".scope": "Scope",
};

const CPU_WEIGHT_MAX = 10000;

/** A value one option cannot hold. `line` is 1-based, in the text the options came from. */
export interface ResourceProblem {
  option: string;
  line: number;
  value: string;
  problem: string;
}

/** What one assignment means for the request. */
type Setting =
  | { kind: "amount"; value: number }
  /** A limit that does not state an amount: `infinity`, or a share of the machine's memory. */
  | { kind: "no-amount" }
  | { kind: "reset" };

function amount(value: number): Setting {
  return { kind: "amount", value };
}

function memoryLimit(v: string): Setting | string {
  if (v === "") return { kind: "reset" };
  if (v === "infinity") return { kind: "no-amount" };
  // A share of the machine's memory is a limit, not an amount fleet can reserve everywhere.
  if (/^\d+(\.\d+)?%$/.test(v)) return { kind: "no-amount" };
  const p = parseSize(v);
  return p.ok ? amount(p.value) : "is not a size, a percentage or infinity (e.g. 512M, 1.5G, 50%)";
}

function cpuQuota(v: string): Setting | string {
  if (v === "") return { kind: "reset" };
  const p = parsePercentOfCpu(v);
  if (p === undefined) return "is not a percentage of one CPU (e.g. 50% or 200%)";
  if (!p.ok) return p.problem;
  return p.value > 0 ? amount(p.value) : "is not more than 0%";
}

function cpuWeight(v: string): Setting | string {
  if (v === "") return { kind: "reset" };
  if (v === "idle") return amount(0);
  if (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= CPU_WEIGHT_MAX) return amount(Number(v));
  return `is not a CPU weight (1 to ${CPU_WEIGHT_MAX}, or idle)`;
}

function memoryRequest(v: string): Setting | string {
  if (v === "") return { kind: "reset" };
  if (v === "infinity" || v.endsWith("%")) return "is not an amount of memory: a request reserves a size on every machine, e.g. 512M";
  const p = parseSize(v);
  return p.ok ? amount(p.value) : p.problem;
}

function cpuRequest(v: string): Setting | string {
  if (v === "") return { kind: "reset" };
  const p = parseCpu(v);
  return p.ok ? amount(p.value) : p.problem;
}

type Reader = (value: string) => Setting | string;

const FLEET_READERS: Readonly<Record<string, Reader>> = { MemoryRequest: memoryRequest, CPURequest: cpuRequest };
const LIMIT_READERS: Readonly<Record<string, Reader>> = {
  MemoryMax: memoryLimit, MemoryLimit: memoryLimit, MemoryHigh: memoryLimit, CPUQuota: cpuQuota, CPUWeight: cpuWeight,
};

/**
 * The request of the unit `unitName` from its options (in file order, `lineOf(i)` the line of
 * options[i]), or the first malformed value. Absent when the unit asks for nothing.
 */
export function readResources(
  options: readonly UnitOption[],
  unitName: string,
  lineOf: (index: number) => number,
): { request?: ResourceRequest } | { problem: ResourceProblem } {
  const own = RESOURCE_SECTIONS[unitName.slice(unitName.lastIndexOf("."))];
  let last: Map<string, Setting> | undefined;
  for (let i = 0; i < options.length; i++) {
    const o = options[i]!;
    const readers = o.section === "X-Fleet" ? FLEET_READERS : o.section === own ? LIMIT_READERS : undefined;
    const read = readers !== undefined && Object.hasOwn(readers, o.name) ? readers[o.name] : undefined;
    if (read === undefined) continue;
    // [X-Fleet] values may be quoted, as every [X-Fleet] value may (requirements.ts).
    const value = o.section === "X-Fleet" ? o.value.trim().replace(/^"(.*)"$/, "$1") : o.value.trim();
    const s = read(value);
    if (typeof s === "string") return { problem: { option: o.name, line: lineOf(i), value, problem: s } };
    (last ??= new Map()).set(o.name, s);
  }
  if (last === undefined) return {};
  const given = (key: string): number | undefined => {
    const s = last.get(key);
    return s?.kind === "amount" ? s.value : undefined;
  };
  const request: ResourceRequest = {};
  const memory = given("MemoryRequest") ?? MEMORY_LIMITS.map(given).find((v) => v !== undefined);
  const cpu = given("CPURequest") ?? given("CPUQuota");
  if (memory !== undefined) request.memoryBytes = memory;
  if (cpu !== undefined) request.cpuMillis = cpu;
  const weight = given("CPUWeight");
  if (cpu === undefined && weight !== undefined) request.cpuWeight = weight;
  return Object.keys(request).length > 0 ? { request } : {};
}
