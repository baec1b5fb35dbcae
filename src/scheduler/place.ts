// Placement of one unit against a view: the filters of design.md §4 (MachineID, MachineMetadata,
// MachineOf, Conflicts, Replaces, drain), then least loaded with ties broken by machine id.
import type { PlacementView } from "./cluster-view.ts";
import type { Relations } from "./order.ts";
import { relationsOf } from "./order.ts";
import { noFitOf } from "./no-fit.ts";
import type { Blocker, NoFit } from "./reasons.ts";
import { noFitText } from "./reasons.ts";
import { machineIdMatches, missingMetadata } from "./rules.ts";
import type { PlacementUnit } from "./types.ts";

export interface FitOptions {
  /** Units to disregard for Conflicts and Replaces: those a replacing unit would push away. */
  ignore?: ReadonlySet<string>;
  /** A unit already on a drained machine (or one whose daemon stopped) may stay there: both only stop new placement. */
  allowDrained?: boolean;
  /** Checks only the peers this returns true for (the planner defers global peers). */
  checkPeer?: (peer: string) => boolean;
}

const NO_IGNORE: ReadonlySet<string> = new Set();

/**
 * The first rule that keeps `unit` off `machine`, or undefined when it fits. Drained and a
 * stopped daemon come last, so they are only reported for a machine that would otherwise fit.
 */
export function blockerOn(
  unit: PlacementUnit,
  machine: string,
  view: PlacementView,
  rel: Relations | undefined,
  opts: FitOptions = {},
): Blocker | undefined {
  const m = view.machines.get(machine);
  if (m === undefined) throw new Error(`Cannot place unit ${unit.name}: machine ${machine} is not live`);
  const req = unit.requirements;
  if (req.machineId !== undefined && !machineIdMatches(req.machineId, machine)) {
    return { rule: "machine-id", id: req.machineId };
  }
  const key = missingMetadata(req.machineMetadata, m.metadata);
  if (key !== undefined) return { rule: "metadata", key, values: req.machineMetadata[key] ?? [] };
  for (const peer of req.machineOf) {
    if ((opts.checkPeer?.(peer) ?? true) && !view.runs(machine, peer)) return { rule: "machine-of", peer };
  }
  const ignore = opts.ignore ?? NO_IGNORE;
  const conflict = view.firstConflict(unit, machine, ignore);
  if (conflict !== undefined) {
    return { rule: "conflicts", unit: conflict.unit, pattern: conflict.hit.pattern, own: conflict.hit.own };
  }
  for (const by of rel?.replacedBy(unit.name) ?? []) {
    if (!ignore.has(by) && view.runs(machine, by)) return { rule: "replaced", by };
  }
  if (m.drained === true && opts.allowDrained !== true) return { rule: "drained" };
  if (m.stopped === true && opts.allowDrained !== true) return { rule: "stopped" };
  return undefined;
}

export type PlaceResult =
  | { machine: string; reason: string }
  /** Why no machine takes it; `summary` is that as the line for `pending/<unit>`. */
  | { noFit: NoFit; readonly summary: string };

/** The summary is rendered when asked for: the planner tries many units that fit nowhere yet. */
function unplaced(noFit: NoFit): PlaceResult {
  return {
    noFit,
    get summary() {
      return noFitText(noFit);
    },
  };
}

/**
 * Where a non-global unit should go now, given what the view says runs where. A unit with
 * Replaces= is steered to a machine running a unit it replaces, when its own constraints allow
 * there once that unit is gone; otherwise it is placed like any other unit. (The original only
 * landed there when that machine happened to be least loaded; the docs promise "take the
 * machine of the named unit", so we do it on purpose.) The caller pushes the replaced unit away.
 */
export function placeUnit(unit: PlacementUnit, view: PlacementView, rel?: Relations): PlaceResult {
  const relations = rel ?? relationsOf(view.units.values(), view.match);
  if (view.machineIds.length === 0) return unplaced({ kind: "no-machines" });
  const cycle = relations.cycleOf(unit.name);
  if (cycle !== undefined) return unplaced({ kind: "machine-of-cycle", cycle });

  const steered = steer(unit, view, relations);
  if (steered !== undefined) return steered;

  // The first fit in load order wins; blockers are only gathered in full when none fits.
  const blockers: Blocker[] = [];
  for (const id of view.leastLoaded()) {
    const b = blockerOn(unit, id, view, relations);
    if (b === undefined) return { machine: id, reason: placedReason(unit) };
    blockers.push(b);
  }
  return unplaced(noFitOf(unit, blockers, { scheduled: (peer) => view.hostsOf(peer).length > 0 }));
}

function steer(unit: PlacementUnit, view: PlacementView, rel: Relations): PlaceResult | undefined {
  const victims = rel.replaces(unit.name);
  if (victims.length === 0) return undefined;
  const onMachine = new Map<string, string[]>();
  for (const x of victims) {
    for (const id of view.hostsOf(x)) {
      const list = onMachine.get(id);
      if (list === undefined) onMachine.set(id, [x]);
      else list.push(x);
    }
  }
  for (const id of view.byLoad([...onMachine.keys()])) {
    const pushed = onMachine.get(id)!;
    if (blockerOn(unit, id, view, rel, { ignore: new Set(pushed) }) === undefined) {
      return { machine: id, reason: `takes the machine of ${pushed.sort().join(", ")} (Replaces)` };
    }
  }
  return undefined;
}

function placedReason(unit: PlacementUnit): string {
  const req = unit.requirements;
  if (req.machineId !== undefined) return `MachineID=${req.machineId}`;
  if (req.machineOf.length > 0) return `MachineOf=${[...new Set(req.machineOf)].join(",")} runs there`;
  return "least loaded fitting machine";
}

export interface GlobalTargets {
  /** Machines the global unit runs on, sorted by id. */
  machines: string[];
  /** Why each other live machine does not run it. */
  blocked: Map<string, Blocker>;
}

/**
 * The machines a global unit runs on (§4.6): those with its MachineMetadata where it does not
 * conflict with what already runs there. The planner asks in name order after adding the
 * non-global units that stay, so non-global units and earlier globals take precedence, and of
 * two conflicting globals the first by name runs everywhere. A drained machine keeps a global
 * unit it already runs (`current`) but gets no new one.
 */
export function globalTargets(
  unit: PlacementUnit,
  view: PlacementView,
  current: ReadonlySet<string> = NO_IGNORE,
): GlobalTargets {
  const machines: string[] = [];
  const blocked = new Map<string, Blocker>();
  for (const id of view.machineIds) {
    const b = blockerOn(unit, id, view, undefined, { allowDrained: current.has(id) });
    if (b === undefined) machines.push(id);
    else blocked.set(id, b);
  }
  return { machines, blocked };
}

/** Why a global unit runs nowhere. */
export function globalNoFit(unit: PlacementUnit, targets: GlobalTargets, view: PlacementView): NoFit {
  return noFitOf(unit, [...targets.blocked.values()], { scheduled: (peer) => view.hostsOf(peer).length > 0 });
}
