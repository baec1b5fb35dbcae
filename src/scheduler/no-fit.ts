// Why no machine takes a unit, as data: the blockers of every live machine (one each) grouped by
// rule and value, with how many machines each group blocked and the units involved, biggest
// group first. reasons.ts renders it.
import type { Blocker, BlockedGroup, NoFit } from "./reasons.ts";
import { groupText } from "./reasons.ts";
import type { Resource } from "./resources.ts";
import type { PlacementUnit } from "./types.ts";

export interface NoFitContext {
  /** Whether a MachineOf peer runs anywhere at all. */
  scheduled(peer: string): boolean;
}

const RULE_RANK: Record<BlockedGroup["rule"], number> = {
  metadata: 1,
  "machine-of": 2,
  conflicts: 3,
  replaced: 4,
  capacity: 5,
  "no-capacity": 6,
  drained: 7,
  stopped: 8,
};

/**
 * A rule that blocks every machine for the same value becomes a single statement about the value
 * (MachineID names no live machine, the metadata matches none); otherwise each rule and value is
 * a group.
 */
export function noFitOf(unit: PlacementUnit, blockers: readonly Blocker[], ctx: NoFitContext): NoFit {
  if (blockers.length === 0) return { kind: "no-machines" };
  if (blockers.every((b) => b.rule === "machine-id")) {
    return { kind: "machine-id-not-live", id: unit.requirements.machineId ?? "" };
  }
  // With MachineID set only the matching machine is interesting; the others never were.
  const rest = blockers.filter((b) => b.rule !== "machine-id");
  if (rest.every((b) => b.rule === "metadata")) {
    return { kind: "metadata-matches-none", required: unit.requirements.machineMetadata, machines: rest.length };
  }

  const found = new Map<string, { b: Exclude<Blocker, { rule: "machine-id" | "capacity" }>; machines: number; units: string[] }>();
  const capacity = new Map<Resource, Extract<BlockedGroup, { rule: "capacity" }>>();
  for (const b of rest) {
    if (b.rule === "capacity") {
      for (const r of b.short) addShort(capacity, r, b);
      continue;
    }
    const key =
      b.rule === "metadata"
        ? `metadata\0${b.key}`
        : b.rule === "machine-of"
          ? `machine-of\0${b.peer}`
          : b.rule === "conflicts"
            ? `conflicts\0${b.own}\0${b.pattern}`
            : b.rule;
    let g = found.get(key);
    if (g === undefined) found.set(key, (g = { b, machines: 0, units: [] }));
    g.machines++;
    if (b.rule === "conflicts") g.units.push(b.unit);
    if (b.rule === "replaced") g.units.push(b.by);
  }
  const groups: BlockedGroup[] = [
    ...[...found.values()].map(({ b, machines, units }) => groupOf(b, machines, [...new Set(units)].sort(), ctx)),
    ...capacity.values(),
  ];
  if (groups.length === 1) return { kind: "blocked", groups };
  // Ties are broken by the text, so the order is the same however the machines were listed.
  const ranked = groups.map((g) => ({ g, text: groupText(g) }));
  ranked.sort((a, b) => b.g.machines - a.g.machines || RULE_RANK[a.g.rule] - RULE_RANK[b.g.rule] || (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  return { kind: "blocked", groups: ranked.map((r) => r.g) };
}

/** Counts a machine short of `r` in its resource's group, keeping the most any such machine has. */
function addShort(groups: Map<Resource, Extract<BlockedGroup, { rule: "capacity" }>>, r: Resource, b: Extract<Blocker, { rule: "capacity" }>): void {
  const g = groups.get(r);
  if (g === undefined) {
    groups.set(r, { rule: "capacity", resource: r, request: b.request[r], mostFree: b.free[r], mostAllocatable: b.allocatable[r], machines: 1 });
    return;
  }
  g.machines++;
  g.mostFree = Math.max(g.mostFree, b.free[r]);
  g.mostAllocatable = Math.max(g.mostAllocatable, b.allocatable[r]);
}

function groupOf(b: Exclude<Blocker, { rule: "machine-id" | "capacity" }>, machines: number, units: string[], ctx: NoFitContext): BlockedGroup {
  switch (b.rule) {
    case "metadata":
      return { rule: "metadata", key: b.key, values: b.values, machines };
    case "machine-of":
      return { rule: "machine-of", peer: b.peer, scheduled: ctx.scheduled(b.peer), machines };
    case "conflicts":
      return { rule: "conflicts", pattern: b.pattern, own: b.own, units, machines };
    case "replaced":
      return { rule: "replaced", units, machines };
    case "no-capacity":
      return { rule: "no-capacity", machines };
    case "drained":
      return { rule: "drained", machines };
    case "stopped":
      return { rule: "stopped", machines };
  }
}
