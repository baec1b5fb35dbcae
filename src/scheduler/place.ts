// Placement of one unit against a view: the filters of architecture.md §4 (MachineID,
// MachineMetadata, MachineOf, Conflicts, Replaces, capacity, drain), then the best ranked fitting
// machine (least loaded, or least utilised once units state resources; ties broken by machine id),
// preferring for a unit with Spread= the machines whose value of its key has the fewest of its
// group.
import type { PlacementView } from "./cluster-view.ts";
import type { Relations } from "./order.ts";
import { relationsOf } from "./order.ts";
import { noFitOf } from "./no-fit.ts";
import type { Blocker, NoFit, PlacedBy, PlacedReason } from "./reasons.ts";
import { noFitText, placedText } from "./reasons.ts";
import { shortOf, type Amounts } from "./resources.ts";
import { machineIdMatches, missingMetadata } from "./rules.ts";
import type { PlacementUnit } from "./types.ts";

export interface FitOptions {
  /** Units to disregard for Conflicts and Replaces: those a replacing unit would push away. */
  ignore?: ReadonlySet<string>;
  /**
   * The unit already runs on the machine and may stay: drain, a stopped daemon and capacity only
   * stop new placement (a unit is not moved because its request, or the machine's capacity, changed).
   */
  staying?: boolean;
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
  if (opts.staying !== true) {
    const b = capacityBlocker(unit, machine, view, ignore);
    if (b !== undefined) return b;
  }
  if (m.drained === true && opts.staying !== true) return { rule: "drained" };
  if (m.stopped === true && opts.staying !== true) return { rule: "stopped" };
  return undefined;
}

/** Whether the unit's request fits in what `machine` has free (the units in `ignore` gone). */
function capacityBlocker(unit: PlacementUnit, machine: string, view: PlacementView, ignore: ReadonlySet<string>): Blocker | undefined {
  if (unit.requirements.resources === undefined) return undefined;
  const request = view.weight(unit).request;
  if (request === undefined) return undefined;
  const allocatable = view.machines.get(machine)!.capacity;
  if (allocatable === undefined) return { rule: "no-capacity" };
  const free = freeOn(machine, view, ignore);
  const short = shortOf(request, free);
  if (short.length === 0) return undefined;
  return { rule: "capacity", short, request, free, allocatable: { cpu: allocatable.cpuMillis, memory: allocatable.memoryBytes } };
}

function freeOn(machine: string, view: PlacementView, ignore: ReadonlySet<string> = NO_IGNORE): Amounts {
  const c = view.machines.get(machine)!.capacity;
  const used = view.requested(machine, ignore);
  return c === undefined ? { cpu: 0, memory: 0 } : { cpu: c.cpuMillis - used.cpu, memory: c.memoryBytes - used.memory };
}

export type PlaceResult =
  /** `reason` is `why` as text (reasons.ts, placedText). */
  | { machine: string; reason: string; why: PlacedReason }
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

  // The first fit in rank order wins (with Spread=, the first on a value with the fewest of its
  // group); blockers are only gathered in full when none fits.
  const blockers: Blocker[] = [];
  const spread = unit.requirements.spread;
  const floor = spread === undefined ? 0 : view.fewestSpread(spread);
  let best: { id: string; count: number } | undefined;
  for (const id of view.leastLoaded()) {
    const count = spread === undefined ? 0 : view.spreadCount(spread, id);
    // Once a machine fits, one whose value has as many of the group cannot do better.
    if (best !== undefined && count >= best.count) continue;
    const b = blockerOn(unit, id, view, relations);
    if (b !== undefined) {
      blockers.push(b);
      continue;
    }
    best = { id, count };
    if (count <= floor) break;
  }
  if (best !== undefined) return placed(unit, best.id, view, byOf(unit, best.id, view));
  return unplaced(noFitOf(unit, blockers, { scheduled: (peer) => view.hostsOf(peer).length > 0 }));
}

/** Placed on `machine` because of `by`, with what the unit's request and Spread= found there. */
function placed(unit: PlacementUnit, machine: string, view: PlacementView, by: PlacedBy, ignore?: ReadonlySet<string>): PlaceResult {
  const why: PlacedReason = { by };
  const request = unit.requirements.resources === undefined ? undefined : view.weight(unit).request;
  if (request !== undefined) why.fit = { request, free: freeOn(machine, view, ignore) };
  const s = unit.requirements.spread;
  if (s !== undefined) {
    const md = view.machines.get(machine)!.metadata;
    const count = view.spreadCount(s, machine);
    why.spread = Object.hasOwn(md, s.key)
      ? { key: s.key, value: md[s.key]!, count, fewest: count <= view.fewestSpread(s) }
      : { key: s.key, count: 0, fewest: false };
  }
  return { machine, reason: placedText(why), why };
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
    const ignore = new Set(pushed);
    if (blockerOn(unit, id, view, rel, { ignore }) === undefined) {
      return placed(unit, id, view, { kind: "replaces", units: pushed.sort() }, ignore);
    }
  }
  return undefined;
}

/** Why the machine chosen among those that fit: the unit's own pin, its peers, or the rank. */
function byOf(unit: PlacementUnit, machine: string, view: PlacementView): PlacedBy {
  const req = unit.requirements;
  if (req.machineId !== undefined) return { kind: "machine-id", id: req.machineId };
  if (req.machineOf.length > 0) return { kind: "machine-of", peers: [...new Set(req.machineOf)] };
  if (!view.byResources) return { kind: "least-loaded" };
  const c = view.machines.get(machine)!.capacity;
  const shares = view.shares(machine);
  return c === undefined ? { kind: "least-utilised", shares } : { kind: "least-utilised", shares, capacity: { cpu: c.cpuMillis, memory: c.memoryBytes } };
}

export interface GlobalTargets {
  /** Machines the global unit runs on, sorted by id. */
  machines: string[];
  /** Why each other live machine does not run it. */
  blocked: Map<string, Blocker>;
}

/**
 * The machines a global unit runs on (compatibility.md §4.6): those with its MachineMetadata where
 * it does not conflict with what already runs there. The planner asks in name order after adding
 * the non-global units that stay, so non-global units and earlier globals take precedence, and of
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
    const b = blockerOn(unit, id, view, undefined, { staying: current.has(id) });
    if (b === undefined) machines.push(id);
    else blocked.set(id, b);
  }
  return { machines, blocked };
}

/** Why a global unit runs nowhere. */
export function globalNoFit(unit: PlacementUnit, targets: GlobalTargets, view: PlacementView): NoFit {
  return noFitOf(unit, [...targets.blocked.values()], { scheduled: (peer) => view.hostsOf(peer).length > 0 });
}
