// Reasons as data, and the one place they become text. The planner decides with data: why a
// machine cannot take a unit (a Blocker), why no machine can (a NoFit: the rules that blocked,
// with how many machines each blocked and the units involved), why a unit waits (a
// PendingReason) and why a schedule entry goes (an UnscheduleReason). The renderers below turn
// each into the line people read (pending/<unit>, the engine's log, fleet ctl); readers that
// need to tell reasons apart (the engine's metrics, fleet ctl drain) use the kind, never the
// text. Why a unit went where it went (a PlacedReason) is rendered here too.
import { shortId } from "../lib/short-id.ts";
import { formatBytes, formatCpus } from "../unit/quantities.ts";
import type { Amounts, Resource } from "./resources.ts";

/** The first rule that keeps a unit off one machine, in the order they are checked. */
export type Blocker =
  | { rule: "machine-id"; id: string }
  | { rule: "metadata"; key: string; values: readonly string[] }
  | { rule: "machine-of"; peer: string }
  | { rule: "conflicts"; unit: string; pattern: string; own: boolean }
  | { rule: "replaced"; by: string }
  /** Too little of the `short` resources free for the unit's request. */
  | { rule: "capacity"; short: readonly Resource[]; request: Amounts; free: Amounts; allocatable: Amounts }
  /** The unit states a request and the machine reports no capacity (an older daemon). */
  | { rule: "no-capacity" }
  | { rule: "drained" }
  | { rule: "stopped" };

/**
 * One rule, with one value, and the live machines it kept a unit off: how many, and the units
 * involved (sorted, each once). `scheduled` says whether a MachineOf peer runs anywhere at all.
 * (MachineID never forms a group: it either blocks every machine or leaves only one of interest.)
 */
export type BlockedGroup =
  | { rule: "metadata"; key: string; values: readonly string[]; machines: number }
  | { rule: "machine-of"; peer: string; scheduled: boolean; machines: number }
  | { rule: "conflicts"; pattern: string; own: boolean; units: readonly string[]; machines: number }
  | { rule: "replaced"; units: readonly string[]; machines: number }
  /**
   * Machines with too little of one resource for the request: the most any of them has free, and
   * the most any has allocatable at all (less than the request: it fits none of them even empty).
   * A machine short of both resources is in both groups.
   */
  | { rule: "capacity"; resource: Resource; request: number; mostFree: number; mostAllocatable: number; machines: number }
  | { rule: "no-capacity"; machines: number }
  | { rule: "drained"; machines: number }
  | { rule: "stopped"; machines: number };

/** Why no live machine takes a unit. */
export type NoFit =
  | { kind: "no-machines" }
  | { kind: "machine-of-cycle"; cycle: readonly string[] }
  /** MachineID names no live machine. */
  | { kind: "machine-id-not-live"; id: string }
  /** The required metadata (every key) matches none of the `machines` considered. */
  | { kind: "metadata-matches-none"; required: Readonly<Record<string, readonly string[]>>; machines: number }
  /** Each rule that blocked some machines, biggest group first. */
  | { kind: "blocked"; groups: readonly BlockedGroup[] };

/** The kinds of pending reason, as stored in `pending/<unit>` beside the text. */
export const PENDING_KINDS = ["no-fit", "awaiting-return", "eviction-held", "drain-held", "drain-blocked", "partial"] as const;
export type PendingKind = (typeof PENDING_KINDS)[number];

/** Why a unit waits. `machine` is the full id of the machine the unit keeps its entry on. */
export type PendingReason =
  /** No live machine takes the unit (a global unit: none at all). */
  | { kind: "no-fit"; noFit: NoFit }
  /** The unit keeps its entry on lost `machine`: no live machine takes it. */
  | { kind: "awaiting-return"; machine: string; noFit: NoFit }
  /** The unit keeps its entry on lost `machine`: it could move, but `hold` (the eviction budget). */
  | { kind: "eviction-held"; machine: string; hold: string }
  /** The unit stays on drained `machine` for now: `hold` (the eviction budget, or room freed late). */
  | { kind: "drain-held"; machine: string; hold: string }
  /** The unit stays on drained `machine`: it, or `movesWith` (the unit it must move with), fits no other. */
  | { kind: "drain-blocked"; machine: string; noFit: NoFit; movesWith?: string }
  /** A global unit runs on `machines` machines but lacks room on others that match it (`noFit`). */
  | { kind: "partial"; machines: number; noFit: NoFit };

/** Why the planner chose a machine among those that fit (the first part of a placement's reason). */
export type PlacedBy =
  | { kind: "machine-id"; id: string }
  | { kind: "machine-of"; peers: readonly string[] }
  | { kind: "replaces"; units: readonly string[] }
  | { kind: "least-loaded" }
  /** The machine's units' shares, and its allocatable capacity (absent: it reports none). */
  | { kind: "least-utilised"; shares: Amounts; capacity?: Amounts };

/** Why a unit was placed on a machine. */
export interface PlacedReason {
  by: PlacedBy;
  /** The unit's request and what the machine had free for it, when the unit states one. */
  fit?: { request: Amounts; free: Amounts };
  /**
   * Spread=: how many of the unit's group ran on machines with the chosen machine's `value` of
   * `key` (absent: the machine has no such key), and whether no value had fewer.
   */
  spread?: { key: string; value?: string; count: number; fewest: boolean };
}

/** Why a schedule entry goes. `machine` is the full id of a machine involved. */
export type UnscheduleReason =
  | { kind: "unit-gone" }
  | { kind: "inactive" }
  | { kind: "machine-gone"; machine: string }
  | { kind: "duplicate"; keptOn: string }
  | { kind: "replaced"; by: string }
  /** The unit's MachineOf target `peer` no longer runs on `machine`. */
  | { kind: "peer-left"; peer: string; machine: string }
  | { kind: "no-longer-fits"; machine: string; blocker: Blocker }
  | { kind: "drained"; machine: string }
  /** The plan keeps no entry of the unit here, for no reason of its own. */
  | { kind: "not-scheduled" };

const RESOURCE_NAMES: Record<Resource, string> = { cpu: "CPU", memory: "memory" };

/** `1.5G memory`, `0.5 CPU`; a negative amount (an over-committed machine) shows as none. */
function amountText(r: Resource, n: number): string {
  const v = Math.max(0, n);
  return r === "cpu" ? formatCpus(v) : `${formatBytes(v)} memory`;
}

/** The requested resources of `a`, e.g. `1G memory and 0.5 CPU`. */
function amountsText(a: Amounts, which: readonly Resource[]): string {
  return which.map((r) => amountText(r, a[r])).join(" and ");
}

/** Longer unit lists are cut so a reason stays one readable line. */
const MAX_LISTED = 5;

const NO_MACHINES = "no machines are available";
const NO_FIT = "no machine fits";

function metadataText(key: string, values: readonly string[]): string {
  return `${key}=${values.join("|")}`;
}

/** How one machine blocks a unit, as a phrase whose subject is the machine. */
export function blockerText(b: Blocker): string {
  switch (b.rule) {
    case "machine-id":
      return `MachineID=${b.id} does not match`;
    case "metadata":
      return `lacks MachineMetadata ${metadataText(b.key, b.values)}`;
    case "machine-of":
      return `does not run MachineOf=${b.peer}`;
    case "conflicts":
      return b.own
        ? `runs a unit matching Conflicts=${b.pattern} (${b.unit})`
        : `runs a unit with Conflicts=${b.pattern} (${b.unit})`;
    case "replaced":
      return `runs a unit that replaces it (${b.by})`;
    case "capacity":
      return `has too little ${b.short.map((r) => RESOURCE_NAMES[r]).join(" and ")} free (it requests ${amountsText(b.request, b.short)}; ${amountsText(b.free, b.short)} free)`;
    case "no-capacity":
      return "reports no capacity";
    case "drained":
      return "is drained";
    case "stopped":
      return "has its fleet daemon stopped";
  }
}

function listUnits(names: readonly string[]): string {
  const shown = names.slice(0, MAX_LISTED).join(", ");
  return names.length > MAX_LISTED ? `${shown}, and ${names.length - MAX_LISTED} more` : shown;
}

/** "1 runs" / "3 run": the count is the subject. */
function verb(n: number, singular: string, plural: string): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/** One group as a phrase whose subject is its machines. */
export function groupText(g: BlockedGroup): string {
  const n = g.machines;
  switch (g.rule) {
    case "metadata":
      return `${verb(n, "lacks", "lack")} MachineMetadata ${metadataText(g.key, g.values)}`;
    case "machine-of":
      return g.scheduled ? `${verb(n, "does", "do")} not run MachineOf=${g.peer}` : `MachineOf=${g.peer} is not scheduled`;
    case "conflicts":
      return g.own
        ? `${verb(n, "runs", "run")} a unit matching Conflicts=${g.pattern} (${listUnits(g.units)})`
        : `${verb(n, "runs", "run")} a unit with Conflicts=${g.pattern} (${listUnits(g.units)})`;
    case "replaced":
      return `${verb(n, "runs", "run")} a unit that replaces it (${listUnits(g.units)})`;
    case "capacity": {
      const name = RESOURCE_NAMES[g.resource];
      const amount = (x: number) => amountText(g.resource, x);
      const most = n === 1 ? "" : "at most ";
      return g.request > g.mostAllocatable
        ? `${verb(n, "has", "have")} less ${name} allocatable than it requests (${amount(g.request)}; ${most}${amount(g.mostAllocatable)} allocatable)`
        : `${verb(n, "has", "have")} too little ${name} free (it requests ${amount(g.request)}; ${most}${amount(g.mostFree)} free)`;
    }
    case "no-capacity":
      return `${verb(n, "reports", "report")} no capacity`;
    case "drained":
      return `${verb(n, "is", "are")} drained`;
    case "stopped":
      return `${verb(n, "has", "have")} its fleet daemon stopped`;
  }
}

/** The parts of a NoFit, in order, as the pending line lists them after "no machine fits: ". */
function noFitParts(f: Exclude<NoFit, { kind: "no-machines" }>): string[] {
  switch (f.kind) {
    case "machine-of-cycle":
      return [`MachineOf cycle ${f.cycle.join(" -> ")}`];
    case "machine-id-not-live":
      return [`MachineID=${f.id} is not a live machine`];
    case "metadata-matches-none": {
      const clause = Object.keys(f.required)
        .sort()
        .map((k) => metadataText(k, f.required[k] ?? []))
        .join(" ");
      return [`MachineMetadata ${clause} matches none of ${f.machines} machine${f.machines === 1 ? "" : "s"}`];
    }
    case "blocked":
      return f.groups.map(groupText);
  }
}

/** The line for a unit no machine takes: `no machines are available` or `no machine fits: ...`. */
export function noFitText(f: NoFit): string {
  return f.kind === "no-machines" ? NO_MACHINES : `${NO_FIT}: ${noFitParts(f).join("; ")}`;
}

/** The same, said of the machines other than the one the unit is held on. */
function noOtherText(f: NoFit): string {
  return f.kind === "no-machines" ? "no other machines are available" : `no other machine fits: ${noFitParts(f).join("; ")}`;
}

/** The line stored in `pending/<unit>` and shown as the unit's pending reason. */
export function pendingText(r: PendingReason): string {
  switch (r.kind) {
    case "no-fit":
      return noFitText(r.noFit);
    case "awaiting-return":
      return `waiting for machine ${shortId(r.machine)} to return: ${noOtherText(r.noFit)}`;
    case "eviction-held":
      return `waiting to move off lost machine ${shortId(r.machine)} (${r.hold})`;
    case "drain-held":
      return `waiting to leave drained machine ${shortId(r.machine)} (${r.hold})`;
    case "drain-blocked": {
      const leave = `waiting to leave drained machine ${shortId(r.machine)}: `;
      if (r.movesWith === undefined) return leave + noOtherText(r.noFit);
      return r.noFit.kind === "no-machines"
        ? `${leave}moves with ${r.movesWith}, and no other machines are available`
        : `${leave}moves with ${r.movesWith}, and no other machine fits it: ${noFitParts(r.noFit).join("; ")}`;
    }
    case "partial": {
      const parts = r.noFit.kind === "no-machines" ? [] : noFitParts(r.noFit);
      return `runs on ${r.machines} machine${r.machines === 1 ? "" : "s"}; lacks room on others: ${parts.join("; ")}`;
    }
  }
}

function percent(used: number, total: number): string {
  return total > 0 ? `${Math.round((used / total) * 100)}%` : used > 0 ? "more than 100%" : "0%";
}

function placedByText(by: PlacedBy): string {
  switch (by.kind) {
    case "machine-id":
      return `MachineID=${by.id}`;
    case "machine-of":
      return `MachineOf=${by.peers.join(",")} runs there`;
    case "replaces":
      return `takes the machine of ${by.units.join(", ")} (Replaces)`;
    case "least-loaded":
      return "least loaded fitting machine";
    case "least-utilised":
      if (by.capacity === undefined) return "least utilised fitting machine (it reports no capacity)";
      return `least utilised fitting machine (${percent(by.shares.cpu, by.capacity.cpu)} of its CPU and ${percent(by.shares.memory, by.capacity.memory)} of its memory requested)`;
  }
}

/** The reason stored with a new schedule entry and shown by fleet ctl start. */
export function placedText(r: PlacedReason): string {
  let text = placedByText(r.by);
  const requested = r.fit === undefined ? [] : (["cpu", "memory"] as const).filter((x) => r.fit!.request[x] > 0);
  if (r.fit !== undefined && requested.length > 0) {
    text += `; its request of ${amountsText(r.fit.request, requested)} fits (${amountsText(r.fit.free, requested)} free)`;
  }
  const s = r.spread;
  if (s !== undefined) {
    text += s.value === undefined
      ? `; spread by ${s.key}: no machine with ${s.key} fits`
      : `; spread by ${s.key}: ${s.key}=${s.value} had ${s.count} of its group${s.fewest ? ", the fewest" : " (machines with fewer do not fit)"}`;
  }
  return text;
}

/** The reason logged (and shown) for a schedule entry that goes. */
export function unscheduleText(r: UnscheduleReason): string {
  switch (r.kind) {
    case "unit-gone":
      return "unit no longer exists";
    case "inactive":
      return "desired state inactive";
    case "machine-gone":
      return `machine ${shortId(r.machine)} went away`;
    case "duplicate":
      return `duplicate placement (kept on ${shortId(r.keptOn)})`;
    case "replaced":
      return `replaced by ${r.by}`;
    case "peer-left":
      return `MachineOf=${r.peer} left machine ${shortId(r.machine)}`;
    case "no-longer-fits":
      return `machine ${shortId(r.machine)} no longer fits: ${blockerText(r.blocker)}`;
    case "drained":
      return `machine ${shortId(r.machine)} is drained`;
    case "not-scheduled":
      return "no longer scheduled here";
  }
}
