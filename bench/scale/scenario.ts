// The scale benchmark's cluster (pure): hollow machine identities and the unit mix of the issue,
// scaled from its 10,000-unit shape (9,090 plain, 500 in Conflicts groups, 400 with
// MachineMetadata, 10 global), so every size exercises the same rules in the same proportions.
import { createHash } from "node:crypto";
import type { MachineCapacity } from "../../src/registry/models.ts";
import type { UnitOption } from "../../src/unit/types.ts";

export interface ScaleSize {
  machines: number;
  units: number;
}

export interface UnitMix {
  plain: number;
  conflicts: number;
  metadata: number;
  global: number;
}

export type UnitKind = keyof UnitMix;

export interface UnitSpec {
  name: string;
  kind: UnitKind;
  options: UnitOption[];
}

export interface HollowMachineSpec {
  id: string;
  publicIP: string;
  metadata: Record<string, string>;
  /** The capacity the machine reports (resources variant only). */
  capacity?: MachineCapacity;
}

/** What each hollow machine of the resources variant offers: 4 CPUs, 8G, 7.5G allocatable. */
export const HOLLOW_CAPACITY: MachineCapacity = {
  cpuMillis: 4000, memoryBytes: 8 * 2 ** 30, allocatableCpuMillis: 4000, allocatableMemoryBytes: 7.5 * 2 ** 30,
};

/**
 * The resources variant (issue 16, `--resources`): machines in two availability zones (`az=a|b`,
 * besides `zone`), half the units with requests (read from [Service] limits or [X-Fleet]
 * MemoryRequest=/CPURequest=), and each Conflicts group spread across the two zones.
 */
export interface ScenarioOptions {
  resources?: boolean;
}

/** The two availability zones of the resources variant. */
export const AZS = ["a", "b"] as const;

/** Units per Conflicts group: each group's members must run on distinct machines. */
export const CONFLICT_GROUP = 5;
/** Machines carry `zone=z0..z3`; a metadata unit asks for one zone. */
export const ZONES = 4;

/** The proportions at any size: 5 % Conflicts, 4 % metadata, 0.1 % global (at least one). */
export function unitMix(units: number): UnitMix {
  if (!Number.isInteger(units) || units < 10) throw new Error(`Invalid unit count ${units}: must be an integer of at least 10`);
  const conflicts = Math.round((units * 0.05) / CONFLICT_GROUP) * CONFLICT_GROUP;
  const metadata = Math.round(units * 0.04);
  const global = Math.max(1, Math.round(units * 0.001));
  return { plain: units - conflicts - metadata - global, conflicts, metadata, global };
}

/** Unit instances that run once everything is placed: each global unit runs on every machine. */
export function expectedInstances(size: ScaleSize, machinesAlive = size.machines): number {
  const mix = unitMix(size.units);
  return mix.plain + mix.conflicts + mix.metadata + mix.global * machinesAlive;
}

/** A 32-hex-digit id like /etc/machine-id, stable for an index. */
export function machineId(index: number): string {
  return createHash("md5").update(`fleet-hollow-machine-${index}`).digest("hex");
}

export function hollowMachines(count: number, opts: ScenarioOptions = {}): HollowMachineSpec[] {
  const out: HollowMachineSpec[] = [];
  for (let i = 0; i < count; i++) {
    const metadata: Record<string, string> = { zone: `z${i % ZONES}`, hollow: "true" };
    // Halves of the index range, so zone (i % 4) and az do not line up.
    if (opts.resources) metadata.az = AZS[Math.min(1, Math.floor((i * 2) / count))]!;
    const spec: HollowMachineSpec = { id: machineId(i), publicIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, metadata };
    if (opts.resources) spec.capacity = { ...HOLLOW_CAPACITY };
    out.push(spec);
  }
  return out;
}

/** The resource options of the n-th unit of a kind with requests: each way of asking, in turn. */
const REQUESTS: readonly [string, string, string][][] = [
  [["Service", "MemoryMax", "256M"]],
  [["Service", "CPUQuota", "50%"]],
  [["X-Fleet", "MemoryRequest", "512M"], ["X-Fleet", "CPURequest", "0.25"]],
  [["Service", "MemoryHigh", "128M"], ["Service", "CPUWeight", "200"]],
];

/** Every other unit of each kind asks for resources; the rest ask for none. */
function requestsOf(index: number): [string, string, string][] {
  return index % 2 === 0 ? REQUESTS[(index / 2) % REQUESTS.length]! : [];
}

const pad = (n: number) => String(n).padStart(5, "0");

/** Every unit of the mix, in submission order (kinds interleaved, as a real workload would be). */
export function scaleUnits(units: number, opts: ScenarioOptions = {}): UnitSpec[] {
  const mix = unitMix(units);
  const lists: UnitSpec[][] = [[], [], [], []];
  const extra = (i: number): [string, string, string][] => (opts.resources ? requestsOf(i) : []);
  for (let i = 0; i < mix.plain; i++) lists[0]!.push(unit(`plain-${pad(i)}.service`, "plain", [], extra(i)));
  for (let i = 0; i < mix.conflicts; i++) {
    const group = Math.floor(i / CONFLICT_GROUP);
    const pattern = `conflict-g${pad(group)}-*.service`;
    const spread: [string, string, string][] = opts.resources ? [["X-Fleet", "Spread", `az ${pattern}`]] : [];
    lists[1]!.push(unit(`conflict-g${pad(group)}-${i % CONFLICT_GROUP}.service`, "conflicts", [["Conflicts", pattern]], [...extra(i), ...spread]));
  }
  for (let i = 0; i < mix.metadata; i++) {
    lists[2]!.push(unit(`meta-${pad(i)}.service`, "metadata", [["MachineMetadata", `zone=z${i % ZONES}`]], extra(i)));
  }
  for (let i = 0; i < mix.global; i++) lists[3]!.push(unit(`global-${pad(i)}.service`, "global", [["Global", "true"]], extra(i)));
  // Round-robin by share, so a partial submission already holds every kind.
  const out: UnitSpec[] = [];
  const cursors = [0, 0, 0, 0];
  for (let n = 0; n < units; n++) {
    let best = -1;
    let bestLag = -Infinity;
    for (let k = 0; k < 4; k++) {
      const list = lists[k]!;
      if (cursors[k]! >= list.length) continue;
      const lag = (n + 1) * (list.length / units) - cursors[k]!;
      if (lag > bestLag) {
        bestLag = lag;
        best = k;
      }
    }
    out.push(lists[best]![cursors[best]!++]!);
  }
  return out;
}

function unit(name: string, kind: UnitKind, fleet: [string, string][], extra: [string, string, string][] = []): UnitSpec {
  const options: UnitOption[] = [
    { section: "Unit", name: "Description", value: `scale benchmark ${kind} unit ${name}` },
    { section: "Service", name: "ExecStart", value: "/bin/sleep infinity" },
  ];
  for (const [section, name, value] of extra) if (section === "Service") options.push({ section, name, value });
  for (const [name, value] of fleet) options.push({ section: "X-Fleet", name, value });
  for (const [section, name, value] of extra) if (section === "X-Fleet") options.push({ section, name, value });
  return { name, kind, options };
}

/** Which machines the kill phase stops: `count` of them, spread evenly over the index range. */
export function killIndices(machines: number, count: number): number[] {
  if (count <= 0) return [];
  if (count > machines) throw new Error(`Cannot kill ${count} machines of ${machines}`);
  const out: number[] = [];
  for (let k = 0; k < count; k++) out.push(Math.floor(((k + 0.5) * machines) / count));
  return out;
}
