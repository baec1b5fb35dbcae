// What the planner believes each live machine runs (compatibility.md §4.2): the non-global
// units placed there with desired state ≠ inactive, plus the global units that apply there.
// A machine's load is the size of that set; with resources (once any active unit states some,
// docs/placement.md) machines rank by utilisation first. Counters per machine (requests, shares)
// and per spread group and value are kept up to date as units come and go, so no decision adds
// anything up again. The planner mutates its own view while deciding, so later decisions see
// earlier ones; callers' data is never modified.
import { MachineUse } from "./machine-use.ts";
import { anyRequests, weightOf, type Amounts, type UnitWeight } from "./resources.ts";
import type { Matcher } from "./rules.ts";
import { conflictBetween, newMatcher } from "./rules.ts";
import type { ConflictHit } from "./rules.ts";
import type { ClusterState, PlacementMachine, PlacementUnit } from "./types.ts";
import type { SpreadRule } from "../unit/types.ts";
import { compareStrings } from "../lib/compare.ts";

const EMPTY: ReadonlySet<string> = new Set();

const NO_AMOUNTS: Amounts = { cpu: 0, memory: 0 };

const spreadGroup = (s: SpreadRule): string => `${s.key}\0${s.pattern}`;

export class PlacementView {
  /** Live machines by id. */
  readonly machines: ReadonlyMap<string, PlacementMachine>;
  /** Live machine ids, sorted. */
  readonly machineIds: readonly string[];
  readonly units: ReadonlyMap<string, PlacementUnit>;
  readonly match: Matcher;
  private readonly sets = new Map<string, Set<string>>();
  /** Per machine, the units that declare Conflicts (the only ones that can object to a newcomer). */
  private readonly objectors = new Map<string, Set<string>>();
  private readonly hosts = new Map<string, Set<string>>();
  /**
   * Live machine ids by load: buckets[n] holds, sorted, the machines running n units. Built on
   * the first leastLoaded() (a plan that places nothing never needs it), then kept up to date by
   * add/remove, so finding the least-loaded fitting machine does not sort every machine for
   * every placement (that sort was most of a plan's time at 1,000+ machines).
   */
  private buckets: (string[] | undefined)[] | undefined;
  /** Whether machines rank by utilisation: some active unit states resources. */
  readonly byResources: boolean;
  /** With resources: what each machine's units add up to, and the ranking (machine-use.ts). */
  private readonly use: MachineUse | undefined;
  /** Each live machine's position in machineIds. */
  private readonly position = new Map<string, number>();
  private readonly weights = new Map<string, UnitWeight>();
  /** Spread group -> metadata value -> how many of the group run on machines with that value. */
  private readonly spread = new Map<string, Map<string, number>>();
  /** Metadata key -> the values live machines have for it. */
  private readonly valuesOf = new Map<string, ReadonlySet<string>>();

  constructor(machines: Iterable<PlacementMachine>, units: Iterable<PlacementUnit>, match: Matcher = newMatcher()) {
    const byId = new Map<string, PlacementMachine>();
    // §4.1: entries with an empty id are skipped; a duplicate id keeps its first record.
    for (const m of machines) if (m.id !== "" && !byId.has(m.id)) byId.set(m.id, m);
    this.machineIds = [...byId.keys()].sort();
    this.machines = new Map(this.machineIds.map((id) => [id, byId.get(id)!] as const));
    const byName = new Map<string, PlacementUnit>();
    for (const u of units) if (!byName.has(u.name)) byName.set(u.name, u);
    this.units = byName;
    this.match = match;
    for (const [i, id] of this.machineIds.entries()) {
      this.sets.set(id, new Set());
      this.objectors.set(id, new Set());
      this.position.set(id, i);
    }
    this.byResources = anyRequests(byName.values());
    if (this.byResources) this.use = new MachineUse([...this.machines.values()]);
  }

  /** What `unit` reserves and weighs (computed once). */
  weight(unit: PlacementUnit): UnitWeight {
    let w = this.weights.get(unit.name);
    if (w === undefined) this.weights.set(unit.name, (w = weightOf(unit)));
    return w;
  }

  /** Records that `unit` runs on `machine`; ignored for machines that are not live. */
  add(unit: string, machine: string): void {
    const set = this.sets.get(machine);
    if (set === undefined) return;
    const u = this.units.get(unit);
    if (!set.has(unit)) {
      set.add(unit);
      this.count(u, machine, 1);
      if (this.buckets) this.moveBucket(this.buckets, machine, set.size - 1, set.size);
    }
    if ((u?.requirements.conflicts.length ?? 0) > 0) this.objectors.get(machine)!.add(unit);
    let where = this.hosts.get(unit);
    if (where === undefined) this.hosts.set(unit, (where = new Set()));
    where.add(machine);
  }

  remove(unit: string, machine: string): void {
    const set = this.sets.get(machine);
    if (set?.delete(unit)) {
      this.count(this.units.get(unit), machine, -1);
      if (this.buckets) this.moveBucket(this.buckets, machine, set.size + 1, set.size);
    }
    this.objectors.get(machine)?.delete(unit);
    this.hosts.get(unit)?.delete(machine);
  }

  runs(machine: string, unit: string): boolean {
    return this.sets.get(machine)?.has(unit) ?? false;
  }

  /** The units on a machine, in no particular order. */
  unitsOn(machine: string): ReadonlySet<string> {
    return this.sets.get(machine) ?? EMPTY;
  }

  /** Machines that run `unit`, sorted by id. */
  hostsOf(unit: string): string[] {
    return [...(this.hosts.get(unit) ?? EMPTY)].sort();
  }

  load(machine: string): number {
    return this.sets.get(machine)?.size ?? 0;
  }

  /** Adds (sign 1) or takes away (-1) what `u` counts for on `machine` (an unknown unit: nothing but itself). */
  private count(u: PlacementUnit | undefined, machine: string, sign: 1 | -1): void {
    if (this.use !== undefined) {
      const w = u === undefined ? undefined : this.weight(u);
      this.use.count(this.position.get(machine)!, w?.request, w?.share ?? NO_AMOUNTS, sign);
    }
    const s = u?.requirements.spread;
    if (s === undefined) return;
    const md = this.machines.get(machine)!.metadata;
    if (!Object.hasOwn(md, s.key)) return;
    const group = spreadGroup(s);
    let byValue = this.spread.get(group);
    if (byValue === undefined) this.spread.set(group, (byValue = new Map()));
    byValue.set(md[s.key]!, (byValue.get(md[s.key]!) ?? 0) + sign);
  }

  /** What the units on `machine` request, less what the units in `ignore` there request. */
  requested(machine: string, ignore: ReadonlySet<string> = EMPTY): Amounts {
    const out = this.use === undefined ? { ...NO_AMOUNTS } : this.use.requested(this.position.get(machine)!);
    for (const name of ignore) {
      const u = this.units.get(name);
      const req = u === undefined || !this.runs(machine, name) ? undefined : this.weight(u).request;
      if (req === undefined) continue;
      out.cpu -= req.cpu;
      out.memory -= req.memory;
    }
    return out;
  }

  /** The shares of the units on `machine` (none without resources). */
  shares(machine: string): Amounts {
    return this.use === undefined ? { ...NO_AMOUNTS } : this.use.shares(this.position.get(machine)!);
  }

  /**
   * How many units of `rule`'s group run on machines with `machine`'s value of its key; Infinity
   * when the machine has no such key (it comes after every machine that has one).
   */
  spreadCount(rule: SpreadRule, machine: string): number {
    const md = this.machines.get(machine)!.metadata;
    if (!Object.hasOwn(md, rule.key)) return Number.POSITIVE_INFINITY;
    return this.spread.get(spreadGroup(rule))?.get(md[rule.key]!) ?? 0;
  }

  /** The fewest units of `rule`'s group on any value of its key that a live machine has. */
  fewestSpread(rule: SpreadRule): number {
    let values = this.valuesOf.get(rule.key);
    if (values === undefined) {
      const set = new Set<string>();
      for (const m of this.machines.values()) if (Object.hasOwn(m.metadata, rule.key)) set.add(m.metadata[rule.key]!);
      this.valuesOf.set(rule.key, (values = set));
    }
    const counts = this.spread.get(spreadGroup(rule));
    let fewest = Number.POSITIVE_INFINITY;
    for (const v of values) fewest = Math.min(fewest, counts?.get(v) ?? 0);
    return fewest;
  }

  /**
   * Live machine ids by preference: (load, id), or with resources (utilisation, load, id), where
   * utilisation is the larger of the CPU and memory shares of what the machine has allocatable.
   */
  byLoad(ids: readonly string[] = this.machineIds): string[] {
    const use = this.use;
    if (use !== undefined) {
      const keyed = ids.map((id) => ({ id, i: this.position.get(id)!, u: use.utilisation(this.position.get(id)!) }));
      // NaN (two machines that report no capacity) falls through to the next key.
      keyed.sort((a, b) => a.u - b.u || this.load(a.id) - this.load(b.id) || a.i - b.i);
      return keyed.map((k) => k.id);
    }
    return [...ids].sort((a, b) => this.load(a) - this.load(b) || compareStrings(a, b));
  }

  /**
   * Every live machine id in byLoad() order, lazily, so a search that stops at the first fit
   * costs what it looks at. The view must not change while this is iterated.
   */
  *leastLoaded(): IterableIterator<string> {
    if (this.use !== undefined) {
      for (const i of this.use.ranking()) yield this.machineIds[i]!;
      return;
    }
    if (!this.buckets) {
      this.buckets = [];
      for (const id of this.machineIds) (this.buckets[this.load(id)] ??= []).push(id);
    }
    for (const bucket of this.buckets) if (bucket !== undefined) yield* bucket;
  }

  private moveBucket(buckets: (string[] | undefined)[], machine: string, from: number, to: number): void {
    const old = buckets[from]!;
    old.splice(sortedIndex(old, machine), 1);
    const bucket = (buckets[to] ??= []);
    bucket.splice(sortedIndex(bucket, machine), 0, machine);
  }

  /**
   * The unit on `machine` that conflicts with `candidate`, first by name, skipping `ignore`.
   * A candidate without patterns is only checked against units that declare some.
   */
  firstConflict(
    candidate: PlacementUnit,
    machine: string,
    ignore: ReadonlySet<string> = EMPTY,
  ): { unit: string; hit: ConflictHit } | undefined {
    const pool = candidate.requirements.conflicts.length > 0 ? this.unitsOn(machine) : (this.objectors.get(machine) ?? EMPTY);
    let best: { unit: string; hit: ConflictHit } | undefined;
    for (const name of pool) {
      if (ignore.has(name) || (best !== undefined && name >= best.unit)) continue;
      const other = this.units.get(name);
      if (other === undefined) continue;
      const hit = conflictBetween(candidate, other, this.match);
      if (hit !== undefined) best = { unit: name, hit };
    }
    return best;
  }
}

/**
 * The view of the state as it stands: every schedule entry of an active unit on a live machine.
 * The planner builds its own view step by step; this is for asking "where would X go now?".
 */
export function viewOf(state: ClusterState, match?: Matcher): PlacementView {
  const view = new PlacementView(state.machines, state.units, match);
  for (const entry of state.schedule) {
    const unit = view.units.get(entry.unit);
    if (unit !== undefined && unit.desiredState !== "inactive") view.add(entry.unit, entry.machine);
  }
  return view;
}

/** Where `id` is, or would go, in the sorted array `ids` (binary search). */
function sortedIndex(ids: readonly string[], id: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
