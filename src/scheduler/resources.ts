// What a unit counts for on a machine (docs/placement.md). Two amounts per resource: the request
// it states, which must fit in what the machine has free (a unit that states none fits anywhere,
// as before), and its share in the score, where a unit that states none counts as a small
// default so ten idle sidecars still weigh something next to one database.
import type { PlacementUnit } from "./types.ts";

/** The CPU share (thousandths of a CPU) of a unit without a CPU request, in the score only. */
export const DEFAULT_CPU_MILLIS = 100;
/** The memory share (bytes) of a unit without a memory request, in the score only. */
export const DEFAULT_MEMORY_BYTES = 128 * 1024 * 1024;
/** CPUWeight='s default: a unit of weight w counts as w/100 of the default CPU share. */
const DEFAULT_CPU_WEIGHT = 100;

export type Resource = "cpu" | "memory";
export const RESOURCES: readonly Resource[] = ["cpu", "memory"];

/** An amount of each resource: thousandths of a CPU, bytes. */
export interface Amounts {
  cpu: number;
  memory: number;
}

/** What one unit counts for, computed once per plan. */
export interface UnitWeight {
  /** What it reserves: only what the unit states (0 for the rest); undefined when it states nothing. */
  request: Amounts | undefined;
  /** What it weighs in the score: the request, or the default where it states none. */
  share: Amounts;
}

export function weightOf(unit: PlacementUnit): UnitWeight {
  const r = unit.requirements.resources;
  const cpu = r?.cpuMillis;
  const memory = r?.memoryBytes;
  const request = cpu === undefined && memory === undefined ? undefined : { cpu: cpu ?? 0, memory: memory ?? 0 };
  const weight = r?.cpuWeight ?? DEFAULT_CPU_WEIGHT;
  return {
    request,
    share: {
      cpu: cpu ?? Math.round((DEFAULT_CPU_MILLIS * weight) / DEFAULT_CPU_WEIGHT),
      memory: memory ?? DEFAULT_MEMORY_BYTES,
    },
  };
}

/** Whether any active unit says anything about resources: only then does the score use them. */
export function anyRequests(units: Iterable<PlacementUnit>): boolean {
  for (const u of units) if (u.desiredState !== "inactive" && u.requirements.resources !== undefined) return true;
  return false;
}

/** The resources `request` needs more of than `free` holds, in RESOURCES order. */
export function shortOf(request: Amounts, free: Amounts): Resource[] {
  return RESOURCES.filter((r) => request[r] > 0 && request[r] > free[r]);
}
