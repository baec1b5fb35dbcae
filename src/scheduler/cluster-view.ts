// What the planner believes each live machine runs (fleet-reference.md §4.2): the non-global
// units placed there with desired state ≠ inactive, plus the global units that apply there.
// A machine's load is the size of that set. The planner mutates its own view while deciding,
// so later decisions see earlier ones; callers' data is never modified.
import type { Matcher } from "./rules.ts";
import { conflictBetween, newMatcher } from "./rules.ts";
import type { ConflictHit } from "./rules.ts";
import type { ClusterState, PlacementMachine, PlacementUnit } from "./types.ts";
import { compareStrings } from "../lib/compare.ts";

const EMPTY: ReadonlySet<string> = new Set();

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
    for (const id of this.machineIds) {
      this.sets.set(id, new Set());
      this.objectors.set(id, new Set());
    }
  }

  /** Records that `unit` runs on `machine`; ignored for machines that are not live. */
  add(unit: string, machine: string): void {
    const set = this.sets.get(machine);
    if (set === undefined) return;
    if (!set.has(unit)) {
      set.add(unit);
      if (this.buckets) this.moveBucket(this.buckets, machine, set.size - 1, set.size);
    }
    if ((this.units.get(unit)?.requirements.conflicts.length ?? 0) > 0) this.objectors.get(machine)!.add(unit);
    let where = this.hosts.get(unit);
    if (where === undefined) this.hosts.set(unit, (where = new Set()));
    where.add(machine);
  }

  remove(unit: string, machine: string): void {
    const set = this.sets.get(machine);
    if (set?.delete(unit) && this.buckets) this.moveBucket(this.buckets, machine, set.size + 1, set.size);
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

  /** Live machine ids by (load ascending, id ascending): the least-loaded preference. */
  byLoad(ids: readonly string[] = this.machineIds): string[] {
    return [...ids].sort((a, b) => this.load(a) - this.load(b) || compareStrings(a, b));
  }

  /**
   * Every live machine id in byLoad() order, lazily, so a search that stops at the first fit
   * costs what it looks at. The view must not change while this is iterated.
   */
  *leastLoaded(): IterableIterator<string> {
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
