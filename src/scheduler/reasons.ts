// Reasons for people: why a machine cannot take a unit (a Blocker), and why no machine can
// (a summary naming the rule, the value, how many machines it blocked and which units).
import type { PlacementUnit } from "./types.ts";

/** The first rule that keeps a unit off one machine, in the order they are checked. */
export type Blocker =
  | { rule: "machine-id"; id: string }
  | { rule: "metadata"; key: string; values: readonly string[] }
  | { rule: "machine-of"; peer: string }
  | { rule: "conflicts"; unit: string; pattern: string; own: boolean }
  | { rule: "replaced"; by: string }
  | { rule: "drained" };

const RULE_RANK: Record<Blocker["rule"], number> = {
  "machine-id": 0,
  metadata: 1,
  "machine-of": 2,
  conflicts: 3,
  replaced: 4,
  drained: 5,
};

/** Longer unit lists are cut so a reason stays one readable line. */
const MAX_LISTED = 5;

export const NO_MACHINES = "no machines are available";
export const NO_FIT = "no machine fits";

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
    case "drained":
      return "is drained";
  }
}

function listUnits(names: Iterable<string>): string {
  const sorted = [...new Set(names)].sort();
  const shown = sorted.slice(0, MAX_LISTED).join(", ");
  return sorted.length > MAX_LISTED ? `${shown}, and ${sorted.length - MAX_LISTED} more` : shown;
}

/** "1 runs" / "3 run": the count is the subject. */
function verb(n: number, singular: string, plural: string): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

interface Part {
  count: number;
  rank: number;
  text: string;
}

export interface SummaryContext {
  /** Whether a MachineOf peer runs anywhere at all. */
  scheduled(peer: string): boolean;
}

/**
 * Turns the blockers of every live machine (one each) into reason parts, biggest group first.
 * A rule that blocks every machine for the same value becomes a single statement about the
 * value (`MachineID=x is not a live machine`, `MachineOf=db.service is not scheduled`).
 */
export function summarise(unit: PlacementUnit, blockers: readonly Blocker[], ctx: SummaryContext): string[] {
  if (blockers.length === 0) return [NO_MACHINES];
  if (blockers.every((b) => b.rule === "machine-id")) {
    return [`MachineID=${unit.requirements.machineId ?? ""} is not a live machine`];
  }
  // With MachineID set only the matching machine is interesting; the others never were.
  const rest = blockers.filter((b) => b.rule !== "machine-id");

  const metadata = rest.filter((b) => b.rule === "metadata");
  if (metadata.length > 0 && metadata.length === rest.length) {
    const required = unit.requirements.machineMetadata;
    const clause = Object.keys(required)
      .sort()
      .map((k) => metadataText(k, required[k] ?? []))
      .join(" ");
    const n = rest.length;
    return [`MachineMetadata ${clause} matches none of ${n} machine${n === 1 ? "" : "s"}`];
  }

  const groups = new Map<string, { b: Blocker; count: number; units: string[] }>();
  for (const b of rest) {
    const key =
      b.rule === "metadata"
        ? `metadata\0${b.key}`
        : b.rule === "machine-of"
          ? `machine-of\0${b.peer}`
          : b.rule === "conflicts"
            ? `conflicts\0${b.own}\0${b.pattern}`
            : b.rule;
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = { b, count: 0, units: [] }));
    g.count++;
    if (b.rule === "conflicts") g.units.push(b.unit);
    if (b.rule === "replaced") g.units.push(b.by);
  }
  const parts: Part[] = [];
  for (const { b, count: n, units } of groups.values()) {
    parts.push({ count: n, rank: RULE_RANK[b.rule], text: groupText(b, n, units, ctx) });
  }
  parts.sort((a, b) => b.count - a.count || a.rank - b.rank || (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  return parts.map((p) => p.text);
}

function groupText(b: Blocker, n: number, units: string[], ctx: SummaryContext): string {
  switch (b.rule) {
    case "machine-id":
      return `MachineID=${b.id} is not a live machine`;
    case "metadata":
      return `${verb(n, "lacks", "lack")} MachineMetadata ${metadataText(b.key, b.values)}`;
    case "machine-of":
      return ctx.scheduled(b.peer)
        ? `${verb(n, "does", "do")} not run MachineOf=${b.peer}`
        : `MachineOf=${b.peer} is not scheduled`;
    case "conflicts":
      return b.own
        ? `${verb(n, "runs", "run")} a unit matching Conflicts=${b.pattern} (${listUnits(units)})`
        : `${verb(n, "runs", "run")} a unit with Conflicts=${b.pattern} (${listUnits(units)})`;
    case "replaced":
      return `${verb(n, "runs", "run")} a unit that replaces it (${listUnits(units)})`;
    case "drained":
      return `${verb(n, "is", "are")} drained`;
  }
}

/** The one-line form stored in `pending/<unit>`. */
export function summaryLine(parts: readonly string[]): string {
  if (parts.length === 1 && parts[0] === NO_MACHINES) return NO_MACHINES;
  return `${NO_FIT}: ${parts.join("; ")}`;
}

/**
 * The pending line of a unit that keeps its entry on a lost machine because no live machine
 * fits it: `machine` is the short id, `parts` what placeUnit found on the live machines.
 */
export function awaitingLine(machine: string, parts: readonly string[]): string {
  const why = parts.length === 1 && parts[0] === NO_MACHINES ? "no other machines are available" : `no other machine fits: ${parts.join("; ")}`;
  return `waiting for machine ${machine} to return: ${why}`;
}

/**
 * The pending line of a unit that stays on drained machine `machine` (the short id) because it,
 * or the MachineOf target or follower it must move with (`unit`), fits no other machine.
 */
export function leavingLine(machine: string, parts: readonly string[], unit?: string): string {
  const none = parts.length === 1 && parts[0] === NO_MACHINES;
  const why = unit === undefined
    ? none ? "no other machines are available" : `no other machine fits: ${parts.join("; ")}`
    : none ? `moves with ${unit}, and no other machines are available` : `moves with ${unit}, and no other machine fits it: ${parts.join("; ")}`;
  return `waiting to leave drained machine ${machine}: ${why}`;
}

/** The pending line of a unit held on a drained machine by the eviction budget. */
export function leavingHoldLine(machine: string, hold: string): string {
  return `waiting to leave drained machine ${machine} (${hold})`;
}
