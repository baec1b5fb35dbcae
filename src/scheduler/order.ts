// The order in which the planner decides non-global units, and the Replaces relation it honours.
//
// Order: a topological order in which every MachineOf target comes before its followers and
// every replacing unit before the units it replaces, ties broken by name. Deciding in that
// order lets a follower move with its target, and a replaced unit be pushed away, within one
// plan. Circular replacement (A replaces B replaces A, or longer) is ignored as a whole, as the
// original ignored mutual pairs (compatibility.md §4.5). A Replaces edge that would contradict
// MachineOf ordering is dropped; units in a MachineOf cycle can never run (§3.3) and go last.
import type { Matcher } from "./rules.ts";
import { namesInReplaces } from "./rules.ts";
import type { PlacementUnit } from "./types.ts";

export interface Relations {
  /** Active non-global unit names in decision order. */
  readonly order: readonly string[];
  /** Units that `name` replaces and that it may push away, sorted by name. */
  replaces(name: string): readonly string[];
  /** Units that replace `name` and keep it off their machine, sorted by name. */
  replacedBy(name: string): readonly string[];
  /** The MachineOf cycle through `name` (first and last element are `name`), if any. */
  cycleOf(name: string): readonly string[] | undefined;
}

const NONE: readonly string[] = [];

/** Builds the relations over the active non-global units (inactive units are never placed). */
export function relationsOf(units: Iterable<PlacementUnit>, match: Matcher): Relations {
  const byName = new Map<string, PlacementUnit>();
  for (const u of units) {
    if (!u.global && u.desiredState !== "inactive") byName.set(u.name, u);
  }
  const names = [...byName.keys()].sort();

  // followers.get(T) = units with MachineOf=T; peers = the reverse, restricted to known units.
  const followers = new Map<string, string[]>();
  const peers = new Map<string, string[]>();
  for (const name of names) {
    const own = [...new Set(byName.get(name)!.requirements.machineOf)].filter((p) => byName.has(p));
    peers.set(name, own.sort());
    for (const p of own) push(followers, p, name);
  }

  const rawReplaces = new Map<string, string[]>();
  for (const name of names) {
    const unit = byName.get(name)!;
    if (unit.requirements.replaces.length === 0) continue;
    const hits = names.filter((x) => namesInReplaces(unit, x, match));
    if (hits.length > 0) rawReplaces.set(name, hits);
  }
  const acyclic = new Map<string, string[]>();
  for (const [r, xs] of rawReplaces) {
    const kept = xs.filter((x) => !reaches(rawReplaces, x, r));
    if (kept.length > 0) acyclic.set(r, kept);
  }

  const order = topoOrder(names, followers, acyclic);
  const rank = new Map(order.map((n, i) => [n, i] as const));
  const replaces = new Map<string, string[]>();
  const replacedBy = new Map<string, string[]>();
  for (const [r, xs] of acyclic) {
    for (const x of xs) {
      if (rank.get(r)! < rank.get(x)!) {
        push(replaces, r, x);
        push(replacedBy, x, r);
      }
    }
  }
  for (const list of replacedBy.values()) list.sort();

  const cycles = new Map<string, readonly string[] | undefined>();
  return {
    order,
    replaces: (name) => replaces.get(name) ?? NONE,
    replacedBy: (name) => replacedBy.get(name) ?? NONE,
    cycleOf: (name) => {
      if (!cycles.has(name)) cycles.set(name, shortestCycle(name, peers));
      return cycles.get(name);
    },
  };
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

function reaches(edges: ReadonlyMap<string, readonly string[]>, from: string, to: string): boolean {
  const seen = new Set([from]);
  const stack = [from];
  while (stack.length > 0) {
    const at = stack.pop()!;
    if (at === to) return true;
    for (const next of edges.get(at) ?? NONE) {
      if (!seen.has(next)) {
        seen.add(next);
        stack.push(next);
      }
    }
  }
  return false;
}

/**
 * Kahn's algorithm, smallest name first. When only cycles mixing MachineOf and Replaces remain,
 * their Replaces edges are dropped and it goes on; pure MachineOf cycles are appended by name.
 */
function topoOrder(
  names: readonly string[],
  followers: ReadonlyMap<string, readonly string[]>,
  replaces: ReadonlyMap<string, readonly string[]>,
): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  const run = (nodes: readonly string[], withReplaces: boolean): string[] => {
    const inSet = new Set(nodes);
    const out = (n: string): string[] => [
      ...(followers.get(n) ?? NONE),
      ...(withReplaces ? (replaces.get(n) ?? NONE) : NONE),
    ];
    const indegree = new Map<string, number>(nodes.map((n) => [n, 0]));
    for (const n of nodes) {
      for (const m of out(n)) if (inSet.has(m)) indegree.set(m, indegree.get(m)! + 1);
    }
    const ready = new NameHeap(nodes.filter((n) => indegree.get(n) === 0));
    for (let n = ready.pop(); n !== undefined; n = ready.pop()) {
      order.push(n);
      done.add(n);
      for (const m of out(n)) {
        if (!inSet.has(m)) continue;
        const d = indegree.get(m)! - 1;
        indegree.set(m, d);
        if (d === 0) ready.push(m);
      }
    }
    return nodes.filter((n) => !done.has(n));
  };
  const stuck = run(names, true);
  const cyclic = stuck.length > 0 ? run(stuck, false) : stuck;
  order.push(...cyclic);
  return order;
}

/** Breadth-first, peers in name order, so the reported cycle is short and deterministic. */
function shortestCycle(start: string, peers: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const at = queue[i]!;
    for (const next of peers.get(at) ?? NONE) {
      if (next === start) {
        const path = [start];
        for (let n = at; n !== start; n = parent.get(n)!) path.push(n);
        path.push(start);
        // The path was collected backwards from `at`; a follower lists its target next.
        return [start, ...path.slice(1, -1).reverse(), start];
      }
      if (!parent.has(next) && next !== start) {
        parent.set(next, at);
        queue.push(next);
      }
    }
  }
  return undefined;
}

/** A binary min-heap of unit names (string order). */
class NameHeap {
  private readonly items: string[] = [];
  constructor(initial: readonly string[]) {
    for (const n of initial) this.push(n);
  }
  push(n: string): void {
    const a = this.items;
    a.push(n);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p]! <= a[i]!) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): string | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]! < a[m]!) m = l;
        if (r < a.length && a[r]! < a[m]!) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}
