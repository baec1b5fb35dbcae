// The engine's whole reconcile decision as a pure function: cluster state in, typed actions
// with reasons out. Named steps over one typed state (plan-state.ts), each deterministic (units
// in Relations order, machines by id):
//  1. sortEntries: entries that go for reasons of their own (unit destroyed, desired inactive,
//     a global unit's machine gone) are dropped; the rest are sorted into global, live and lost.
//  2. keepInPlace: each scheduled non-global unit stays if it still fits where it is, judged
//     against the units kept before it; so of two conflicting units on one machine the one
//     decided first stays (the one the agent already runs), drained machines included.
//  3. placeGlobals: global units, in name order, on every machine where they fit next to the
//     kept units; followers of a global unit that no longer runs there are moved.
//  4. placeRest: every non-global unit without a machine, least loaded first. A unit with
//     Replaces= takes its victim's machine and the victim (with its followers) is placed after
//     it, on a machine that satisfies the victim's own constraints, or becomes pending.
//     A unit whose only entry is on a lost machine moves only when another machine fits it and
//     the eviction budget allows (its followers ride along for free). One that fits nowhere else
//     keeps that entry and waits for the machine: when it returns, its agent finds the entry and
//     adopts the unit it still runs instead of stopping and restarting it.
//     A non-global unit kept on a drained machine leaves it, in the same order, with the
//     followers kept there with it (leaveDrained, drain.ts): the group moves when all of it fits
//     elsewhere and the eviction budget allows (one unit of budget per group, shared with lost
//     machines), and otherwise stays where it runs, pending with the reason it cannot leave.
//     Steps 3 and 4 repeat when a push freed room (rarely more than once).
//  5. explainWaiting (plan-outcome.ts): why each unit left without a machine waits, from the
//     final view; global units' entries on machines that no longer fit them go.
//  6. actionsOf (plan-outcome.ts): the decision as differences from the given schedule.
// Global units are expanded here: one schedule entry per (global unit, machine), keyed by the
// same unit name (architecture.md §3), so the planner emits schedule/unschedule per machine for
// them. Precedence on one machine: non-global units already there, then global units by name, then
// newly placed non-global units (the original's agent-state order, compatibility.md §4.2).
// Drain stops new placement of every kind (non-global, follower, global) and moves the
// non-global units off; global units stay on a drained machine (like DaemonSets under kubectl
// drain).
// Actions come out as: unschedule, schedule, update, pending, clear-pending, each sorted by unit
// then machine, so the engine can write removals before additions. Every reason is decided as
// data (reasons.ts) and rendered there.
import { PlacementView } from "./cluster-view.ts";
import { leavingGroup, tryLeave } from "./drain.ts";
import { blockerOn, globalTargets, placeUnit } from "./place.ts";
import { actionsOf, explainWaiting } from "./plan-outcome.ts";
import type { Decisions, Entries, PlanInput, Round } from "./plan-state.ts";
import {
  drop, emptyDecisions, entryKey, evict, evictionReason, holdOnLost, isActive, keepOn, planInput, push, pushAway,
} from "./plan-state.ts";
import type { ClusterState, EngineAction, PlanOptions } from "./types.ts";
import { compareStrings } from "../lib/compare.ts";

/** Rounds of steps 3 and 4 at most; whatever is left is decided by the next plan. */
const MAX_ROUNDS = 4;

export function planSchedule(state: ClusterState, opts: PlanOptions = {}): EngineAction[] {
  const view = new PlacementView(state.machines, state.units);
  const input = planInput(state, view, opts);
  const d = emptyDecisions(view, opts);
  const entries = sortEntries(input, d);
  keepInPlace(input, entries, d);
  // Steps 3 and 4 repeat while a Replaces push freed room a global unit may now take (the next
  // plan would otherwise take it, and a plan applied must leave nothing to do). Each round
  // normally settles at once; the bound only guards pathological inputs.
  let round: Round;
  let n = 0;
  do {
    placeGlobals(input, entries, d);
    round = placeRest(input, d);
  } while (round.pushed && ++n < MAX_ROUNDS);
  explainWaiting(input, entries, d, round);
  return actionsOf(input, d);
}

/**
 * Step 1. Drops the entries of destroyed and inactive units and those of global units on lost
 * machines, and sorts the others. Of a unit's entries, an unreadable one without a last good
 * value comes after the others, so a unit is kept where an agent reads (or still holds) that it
 * runs, and a stray unreadable entry elsewhere is the duplicate that goes, whichever machine id
 * sorts first; of unreadable ones alone, the one created first stays.
 */
function sortEntries(input: PlanInput, d: Decisions): Entries {
  const globalsNow = new Map<string, Set<string>>();
  const live = new Map<string, string[]>();
  const lost = new Map<string, string[]>();
  const unreadable = (unit: string, m: string): number => {
    const e = input.original.get(entryKey(unit, m));
    return e?.unreadable === undefined || e.lastGood === true ? 0 : 1;
  };
  const created = (unit: string, m: string): number => input.original.get(entryKey(unit, m))?.created ?? Infinity;
  const byCreation = (unit: string, a: string, b: string): number => {
    if (unreadable(unit, a) === 0 || unreadable(unit, b) === 0) return 0;
    const x = created(unit, a);
    const y = created(unit, b);
    return x === y ? 0 : x < y ? -1 : 1;
  };
  for (const [name, given] of input.entriesOf) {
    const u = input.units.get(name);
    const machines = [...given].sort((a, b) => unreadable(name, a) - unreadable(name, b) || byCreation(name, a, b) || compareStrings(a, b));
    for (const m of machines) {
      if (u === undefined) drop(d, name, m, { kind: "unit-gone" });
      else if (!isActive(u)) drop(d, name, m, { kind: "inactive" });
      else if (!d.view.machines.has(m)) {
        if (u.global) drop(d, name, m, { kind: "machine-gone", machine: m });
        else push(lost, name, m);
      } else if (u.global) {
        let set = globalsNow.get(name);
        if (set === undefined) globalsNow.set(name, (set = new Set()));
        set.add(m);
      } else push(live, name, m);
    }
  }
  return { globalsNow, live, lost };
}

/**
 * Step 2. Keeps each non-global unit on its first live entry where it still fits next to the
 * units kept before it (MachineOf on global peers is checked in step 3, once they are placed);
 * its other entries go. A unit with only lost entries needs a machine, and remembers the first
 * of them (`away`) for step 4.
 */
function keepInPlace(input: PlanInput, entries: Entries, d: Decisions): void {
  const notGlobal = (p: string): boolean => input.units.get(p)?.global !== true;
  for (const name of input.rel.order) {
    const u = input.units.get(name)!;
    const liveMs = entries.live.get(name) ?? [];
    const lostMs = entries.lost.get(name) ?? [];
    if (liveMs.length > 0) {
      for (const m of lostMs) drop(d, name, m, { kind: "machine-gone", machine: m });
      for (const m of liveMs) {
        const home = d.kept.get(name);
        if (home !== undefined) {
          drop(d, name, m, { kind: "duplicate", keptOn: home });
          continue;
        }
        const b = blockerOn(u, m, d.view, input.rel, { staying: true, checkPeer: notGlobal });
        if (b === undefined) keepOn(d, name, m);
        else drop(d, name, m, evictionReason(input, b, m));
      }
      if (!d.kept.has(name)) d.needs.add(name);
      continue;
    }
    d.needs.add(name);
    const first = lostMs[0];
    if (first === undefined) continue;
    for (const m of lostMs.slice(1)) drop(d, name, m, { kind: "machine-gone", machine: m });
    d.away.set(name, first);
  }
}

/**
 * Step 3. Places every global unit, in name order, where it fits next to what is kept (replacing
 * the previous round's targets), then moves the kept followers of a global unit that does not
 * run on their machine. Evicting a follower can free a machine for a global unit, which can in
 * turn push out a later global; so it repeats until stable (each pass only shrinks the kept set).
 */
function placeGlobals(input: PlanInput, entries: Entries, d: Decisions): void {
  for (;;) {
    for (const [g, t] of d.targets) for (const m of t.machines) d.view.remove(g, m);
    d.targets = new Map();
    for (const g of input.globals) {
      const t = globalTargets(g, d.view, entries.globalsNow.get(g.name));
      d.targets.set(g.name, t);
      for (const m of t.machines) d.view.add(g.name, m);
    }
    let evicted = false;
    for (const name of input.rel.order) {
      const m = d.kept.get(name);
      if (m === undefined) continue;
      const missing = input.units.get(name)!.requirements.machineOf.find((p) => !d.view.runs(m, p));
      if (missing !== undefined) {
        evict(d, name, m, evictionReason(input, { rule: "machine-of", peer: missing }, m));
        evicted = true;
      }
    }
    if (!evicted) return;
  }
}

/**
 * Step 4. In decision order: a unit that needs a machine gets one (moving off its lost machine
 * only within the eviction budget, and pushing away the units it replaces there), and a unit
 * kept on a drained machine tries to leave it (leaveDrained). Units pushed away come later in the
 * order than their replacer, so this same pass places them (and their followers after them).
 */
function placeRest(input: PlanInput, d: Decisions): Round {
  const round: Round = { pushed: false, stays: new Map(), held: new Map() };
  for (const name of input.rel.order) {
    if (!d.needs.has(name)) {
      leaveDrained(input, d, round, name);
      continue;
    }
    const u = input.units.get(name)!;
    const from = d.away.get(name);
    // A follower goes wherever its target goes: with it, or waiting with it.
    const peersThere = from === undefined ? [] : u.requirements.machineOf.filter((p) => (input.entriesOf.get(p) ?? []).includes(from));
    if (from !== undefined && peersThere.some((p) => d.stuck.get(p) === from)) {
      holdOnLost(input, d, name, from);
      continue;
    }
    const r = placeUnit(u, d.view, input.rel);
    if ("noFit" in r) continue;
    if (from !== undefined) {
      // Only a unit that has somewhere to go spends the budget.
      if (!peersThere.some((p) => d.movedOffLost.get(p) === from)) {
        if (d.budget <= 0) {
          holdOnLost(input, d, name, from);
          continue;
        }
        d.budget--;
      }
      d.away.delete(name);
      drop(d, name, from, { kind: "machine-gone", machine: from });
      d.movedOffLost.set(name, from);
    }
    keepOn(d, name, r.machine, r.reason);
    for (const x of input.rel.replaces(name)) {
      if (d.view.runs(r.machine, x)) pushAway(input, d, round, x, r.machine, { kind: "replaced", by: name });
    }
  }
  return round;
}

/**
 * Part of step 4, for a unit kept on a drained machine: it leaves with the followers kept there
 * with it, when the whole group fits elsewhere and the budget allows; a follower leaves with its
 * target. A group that cannot leave is noted in the round (`stays`, `held`) for step 5.
 */
function leaveDrained(input: PlanInput, d: Decisions, round: Round, name: string): void {
  const from = d.kept.get(name);
  if (from === undefined || d.view.machines.get(from)?.drained !== true) return;
  if (input.units.get(name)!.requirements.machineOf.some((p) => p !== name && d.kept.get(p) === from)) return;
  const group = leavingGroup(name, from, d.kept, input.followers, input.rel);
  if (d.budget <= 0) {
    round.held.set(name, from);
    return;
  }
  const t = tryLeave(group, from, d.view, input.rel);
  if (t.blocked !== undefined) {
    round.stays.set(name, from);
    return;
  }
  d.budget--;
  for (const [x, to] of t.moved) {
    drop(d, x, from, { kind: "drained", machine: from });
    keepOn(d, x, to.machine, to.reason);
  }
  for (const [x, to] of t.moved) {
    for (const v of input.rel.replaces(x)) {
      if (d.view.runs(to.machine, v)) pushAway(input, d, round, v, to.machine, { kind: "replaced", by: x });
    }
  }
}
