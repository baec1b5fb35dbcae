// The engine's whole reconcile decision as a pure function: cluster state in, typed actions
// with reasons out. Steps, each deterministic (units in Relations order, machines by id):
//  1. Entries that go for reasons of their own: unit destroyed, desired inactive, machine gone
//     (global units: dropped; non-global units: decided in step 4).
//  2. Keep pass: each scheduled non-global unit stays if it still fits where it is, judged
//     against the units kept before it; so of two conflicting units on one machine the one
//     decided first stays (the one the agent already runs), drained machines included.
//  3. Global units, in name order, on every machine where they fit next to the kept units;
//     followers of a global unit that no longer runs there are moved.
//  4. Placement pass: every non-global unit without a machine, least loaded first. A unit with
//     Replaces= takes its victim's machine and the victim (with its followers) is placed after
//     it, on a machine that satisfies the victim's own constraints, or becomes pending.
//     Steps 3 and 4 repeat when a push freed room (rarely more than once).
//     A unit whose only entry is on a lost machine moves only when another machine fits it and
//     the eviction budget allows (its followers ride along for free). One that fits nowhere else
//     keeps that entry and waits for the machine: when it returns, its agent finds the entry and
//     adopts the unit it still runs instead of stopping and restarting it.
//     A non-global unit kept on a drained machine leaves it, in the same order, with the
//     followers kept there with it (drain.ts): the group moves when all of it fits elsewhere
//     and the eviction budget allows (one unit of budget per group, shared with lost machines),
//     and otherwise stays where it runs, pending with the reason it cannot leave.
// Global units are expanded here: one schedule entry per (global unit, machine), keyed by the
// same unit name (design.md §3), so the planner emits schedule/unschedule per machine for them.
// Precedence on one machine: non-global units already there, then global units by name, then
// newly placed non-global units (the original's agent-state order, §4.2).
// Drain stops new placement of every kind (non-global, follower, global) and moves the
// non-global units off; global units stay on a drained machine (like DaemonSets under kubectl
// drain).
// Actions come out as: unschedule, schedule, update, pending, clear-pending, each sorted by unit
// then machine, so the engine can write removals before additions.
import { PlacementView } from "./cluster-view.ts";
import { relationsOf } from "./order.ts";
import type { GlobalTargets } from "./place.ts";
import { leavingGroup, tryLeave } from "./drain.ts";
import { blockerOn, globalSummary, globalTargets, placeUnit } from "./place.ts";
import type { Blocker } from "./reasons.ts";
import { awaitingLine, blockerText, leavingHoldLine, leavingLine } from "./reasons.ts";
import { shortId } from "../lib/short-id.ts";
import type { ClusterState, EngineAction, Placement, PlanOptions, PlacementUnit } from "./types.ts";
import { byName, compareStrings } from "../lib/compare.ts";

const DEFAULT_HOLD = "eviction rate limit";
const GLOBAL_REASON = "global unit, machine fits";
const MAX_ROUNDS = 4;

const key = (unit: string, machine: string): string => `${unit}\0${machine}`;
const wentAway = (machine: string): string => `machine ${shortId(machine)} went away`;

export function planSchedule(state: ClusterState, opts: PlanOptions = {}): EngineAction[] {
  const view = new PlacementView(state.machines, state.units);
  const units = view.units;
  const rel = relationsOf(units.values(), view.match);
  const active = (u: PlacementUnit): boolean => u.desiredState !== "inactive";
  const isGlobalUnit = (name: string): boolean => units.get(name)?.global === true;

  const original = new Map<string, Placement>();
  const entriesOf = new Map<string, string[]>();
  for (const e of state.schedule) {
    const k = key(e.unit, e.machine);
    if (original.has(k)) continue;
    original.set(k, e);
    push(entriesOf, e.unit, e.machine);
  }
  const dropReason = new Map<string, string>();
  const drop = (unit: string, machine: string, reason: string): void => {
    if (original.has(key(unit, machine))) dropReason.set(key(unit, machine), reason);
  };

  // Step 1.
  const globalsNow = new Map<string, Set<string>>();
  const liveEntries = new Map<string, string[]>();
  const lostEntries = new Map<string, string[]>();
  // An unreadable entry without a last good value comes after the others, so a unit is kept
  // where an agent reads (or still holds) that it runs, and a stray unreadable entry elsewhere is
  // the duplicate that goes, whichever machine id sorts first.
  const unreadable = (unit: string, m: string): number => {
    const e = original.get(key(unit, m));
    return e?.unreadable === undefined || e.lastGood === true ? 0 : 1;
  };
  for (const [name, machines] of entriesOf) {
    const u = units.get(name);
    machines.sort((a, b) => unreadable(name, a) - unreadable(name, b) || compareStrings(a, b));
    for (const m of machines) {
      if (u === undefined) drop(name, m, "unit no longer exists");
      else if (!active(u)) drop(name, m, "desired state inactive");
      else if (!view.machines.has(m)) {
        if (u.global) drop(name, m, wentAway(m));
        else push(lostEntries, name, m);
      } else if (u.global) {
        let set = globalsNow.get(name);
        if (set === undefined) globalsNow.set(name, (set = new Set()));
        set.add(m);
      } else push(liveEntries, name, m);
    }
  }

  // Step 2.
  const kept = new Map<string, string>();
  /** Units that keep their entry on a lost machine: held by the eviction budget, or fit nowhere else. */
  const stuck = new Map<string, string>();
  /** Units whose only entry is on a lost machine, until step 4 moves or keeps them. */
  const away = new Map<string, string>();
  const movedOffLost = new Map<string, string>();
  const needs = new Set<string>();
  const pendingOut = new Map<string, string>();
  let budget = opts.maxEvictions ?? Number.POSITIVE_INFINITY;
  const hold = opts.evictionHold ?? DEFAULT_HOLD;

  const evictionReason = (b: Blocker, m: string): string => {
    if (b.rule === "replaced") return `replaced by ${b.by}`;
    if (b.rule === "machine-of" && (entriesOf.get(b.peer) ?? []).includes(m)) {
      return `MachineOf=${b.peer} left machine ${shortId(m)}`;
    }
    return `machine ${shortId(m)} no longer fits: ${blockerText(b)}`;
  };
  const holdOn = (name: string, m: string): void => {
    needs.delete(name);
    away.delete(name);
    stuck.set(name, m);
    pendingOut.set(name, `waiting to move off lost machine ${shortId(m)} (${hold})`);
  };
  const evict = (name: string, m: string, reason: string): void => {
    view.remove(name, m);
    kept.delete(name);
    needs.add(name);
    drop(name, m, reason);
  };

  for (const name of rel.order) {
    const u = units.get(name)!;
    const liveMs = liveEntries.get(name) ?? [];
    const lostMs = lostEntries.get(name) ?? [];
    if (liveMs.length > 0) {
      for (const m of lostMs) drop(name, m, wentAway(m));
      for (const m of liveMs) {
        const home = kept.get(name);
        if (home !== undefined) {
          drop(name, m, `duplicate placement (kept on ${shortId(home)})`);
          continue;
        }
        const b = blockerOn(u, m, view, rel, { allowDrained: true, checkPeer: (p) => !isGlobalUnit(p) });
        if (b === undefined) {
          view.add(name, m);
          kept.set(name, m);
        } else drop(name, m, evictionReason(b, m));
      }
      if (!kept.has(name)) needs.add(name);
      continue;
    }
    needs.add(name);
    const lost = lostMs[0];
    if (lost === undefined) continue;
    for (const m of lostMs.slice(1)) drop(name, m, wentAway(m));
    away.set(name, lost);
  }

  // Steps 3 and 4 repeat while a Replaces push freed room a global unit may now take (the next
  // plan would otherwise take it, and a plan applied must leave nothing to do). Each round
  // normally settles at once; the bound only guards pathological inputs, and whatever is left
  // is decided by the next plan.
  const globals = [...units.values()].filter((u) => u.global && active(u)).sort(byName);
  const followers = followersOf(units.values());
  const placedReason = new Map<string, string>();
  let targets = new Map<string, GlobalTargets>();
  let pushed = false;
  /** Per round: groups (by root) that stay on their drained machine, and those the budget holds. */
  let stays = new Map<string, string>();
  let held = new Map<string, string>();
  const leave = (name: string): void => {
    const d = kept.get(name);
    if (d === undefined || view.machines.get(d)?.drained !== true) return;
    // A follower leaves with its target.
    if (units.get(name)!.requirements.machineOf.some((p) => p !== name && kept.get(p) === d)) return;
    const group = leavingGroup(name, d, kept, followers, rel);
    if (budget <= 0) {
      held.set(name, d);
      return;
    }
    const t = tryLeave(group, d, view, rel);
    if (t.blocked !== undefined) {
      stays.set(name, d);
      return;
    }
    budget--;
    for (const [x, to] of t.moved) {
      drop(x, d, `machine ${shortId(d)} is drained`);
      kept.set(x, to.machine);
      placedReason.set(key(x, to.machine), to.reason);
    }
    for (const [x, to] of t.moved) {
      for (const v of rel.replaces(x)) if (view.runs(to.machine, v)) pushAway(v, to.machine, `replaced by ${x}`);
    }
  };
  const pushAway = (x: string, m: string, reason: string): void => {
    evict(x, m, reason);
    pushed = true;
    for (const f of followers.get(x) ?? []) {
      if (view.runs(m, f)) pushAway(f, m, `MachineOf=${x} left machine ${shortId(m)}`);
    }
  };
  for (let round = 0; round < MAX_ROUNDS; round++) {
    // Step 3. Evicting a follower can free a machine for a global unit, which can in turn push
    // out a later global; repeat until stable (each pass only shrinks the kept set).
    for (;;) {
      for (const [g, t] of targets) for (const m of t.machines) view.remove(g, m);
      targets = new Map();
      for (const g of globals) {
        const t = globalTargets(g, view, globalsNow.get(g.name));
        targets.set(g.name, t);
        for (const m of t.machines) view.add(g.name, m);
      }
      let evicted = false;
      for (const name of rel.order) {
        const m = kept.get(name);
        if (m === undefined) continue;
        const missing = units.get(name)!.requirements.machineOf.find((p) => !view.runs(m, p));
        if (missing !== undefined) {
          evict(name, m, evictionReason({ rule: "machine-of", peer: missing }, m));
          evicted = true;
        }
      }
      if (!evicted) break;
    }

    // Step 4. Units pushed away are later in the order than their replacer, so this same pass
    // places them (and their followers after them).
    pushed = false;
    stays = new Map();
    held = new Map();
    for (const name of rel.order) {
      if (!needs.has(name)) {
        leave(name);
        continue;
      }
      const u = units.get(name)!;
      const from = away.get(name);
      // A follower goes wherever its target goes: with it, or waiting with it.
      const peersThere = from === undefined ? [] : u.requirements.machineOf.filter((p) => (entriesOf.get(p) ?? []).includes(from));
      if (from !== undefined && peersThere.some((p) => stuck.get(p) === from)) {
        holdOn(name, from);
        continue;
      }
      const r = placeUnit(u, view, rel);
      if ("reasons" in r) continue;
      if (from !== undefined) {
        // Only a unit that has somewhere to go spends the budget.
        if (!peersThere.some((p) => movedOffLost.get(p) === from)) {
          if (budget <= 0) {
            holdOn(name, from);
            continue;
          }
          budget--;
        }
        away.delete(name);
        drop(name, from, wentAway(from));
        movedOffLost.set(name, from);
      }
      needs.delete(name);
      view.add(name, r.machine);
      kept.set(name, r.machine);
      placedReason.set(key(name, r.machine), r.reason);
      for (const x of rel.replaces(name)) {
        if (view.runs(r.machine, x)) pushAway(x, r.machine, `replaced by ${name}`);
      }
    }
    if (!pushed) break;
  }

  // Pending reasons are taken from the final view, so the next plan words them the same way.
  // A unit still away fits no live machine: it keeps its entry (and keeps running there if the
  // machine only lost its lease) until the machine returns or another one fits.
  for (const name of rel.order) {
    if (!needs.has(name)) continue;
    const r = placeUnit(units.get(name)!, view, rel);
    const from = away.get(name);
    if (from !== undefined) stuck.set(name, from);
    if ("reasons" in r) pendingOut.set(name, from === undefined ? r.summary : awaitingLine(shortId(from), r.reasons));
  }
  for (const [root, d] of held) {
    if (kept.get(root) !== d) continue;
    for (const x of leavingGroup(root, d, kept, followers, rel)) pendingOut.set(x, leavingHoldLine(shortId(d), hold));
  }
  for (const [root, d] of stays) {
    if (kept.get(root) !== d) continue;
    const group = leavingGroup(root, d, kept, followers, rel);
    const t = tryLeave(group, d, view, rel, true);
    // Unblocked only when the last round freed room after this group tried: the next plan moves it.
    const line = t.blocked === undefined
      ? leavingHoldLine(shortId(d), "room was freed after it tried")
      : (x: string) => leavingLine(shortId(d), t.blocked!.reasons, x === t.blocked!.unit ? undefined : t.blocked!.unit);
    for (const x of group) pendingOut.set(x, typeof line === "string" ? line : line(x));
  }
  for (const g of globals) {
    const t = targets.get(g.name)!;
    for (const m of globalsNow.get(g.name) ?? []) {
      const b = t.blocked.get(m);
      if (b !== undefined) drop(g.name, m, `machine ${shortId(m)} no longer fits: ${blockerText(b)}`);
    }
    if (t.machines.length === 0) {
      pendingOut.set(g.name, globalSummary(g, globalTargets(g, view, globalsNow.get(g.name)), view));
    }
  }

  // The decision, as differences from the schedule we were given.
  const final = new Map<string, { unit: string; machine: string }>();
  const keep = (unit: string, machine: string): void => void final.set(key(unit, machine), { unit, machine });
  for (const [u, m] of kept) keep(u, m);
  for (const [u, m] of stuck) keep(u, m);
  for (const [g, t] of targets) for (const m of t.machines) keep(g, m);

  const unschedule: EngineAction[] = [];
  const schedule: EngineAction[] = [];
  const update: EngineAction[] = [];
  for (const [k, e] of original) {
    if (!final.has(k)) {
      unschedule.push({ kind: "unschedule", unit: e.unit, machine: e.machine, reason: dropReason.get(k) ?? "no longer scheduled here" });
    } else if (view.machines.has(e.machine)) {
      const reason = staleness(e, units.get(e.unit)!);
      if (reason !== undefined) update.push({ kind: "update", unit: e.unit, machine: e.machine, reason });
    }
  }
  for (const [k, p] of final) {
    if (original.has(k)) continue;
    const reason = isGlobalUnit(p.unit) ? GLOBAL_REASON : placedReason.get(k)!;
    schedule.push({ kind: "schedule", unit: p.unit, machine: p.machine, reason });
  }
  const pending: EngineAction[] = [];
  for (const [unit, reason] of pendingOut) {
    if (state.pending?.get(unit) !== reason) pending.push({ kind: "pending", unit, reason });
  }
  const cleared: EngineAction[] = [];
  for (const unit of state.pending?.keys() ?? []) {
    if (!pendingOut.has(unit)) cleared.push({ kind: "clear-pending", unit });
  }
  return [...sortActions(unschedule), ...sortActions(schedule), ...sortActions(update), ...sortActions(pending), ...sortActions(cleared)];
}

function staleness(entry: Placement, unit: PlacementUnit): string | undefined {
  const parts: string[] = [];
  if (entry.unreadable !== undefined) parts.push(`the stored entry is unreadable (${entry.unreadable})`);
  if (entry.hash !== undefined && unit.hash !== undefined && entry.hash !== unit.hash) parts.push("unit file changed");
  if (entry.desiredState !== undefined && entry.desiredState !== unit.desiredState) {
    parts.push(`desired state ${unit.desiredState} (was ${entry.desiredState})`);
  }
  return parts.length > 0 ? parts.join("; ") : undefined;
}

function followersOf(units: Iterable<PlacementUnit>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const u of [...units].sort(byName)) {
    if (u.global || u.desiredState === "inactive") continue;
    for (const p of new Set(u.requirements.machineOf)) push(out, p, u.name);
  }
  return out;
}

function push(map: Map<string, string[]>, k: string, v: string): void {
  const list = map.get(k);
  if (list === undefined) map.set(k, [v]);
  else list.push(v);
}


function sortActions(actions: EngineAction[]): EngineAction[] {
  const machineOf = (a: EngineAction): string => ("machine" in a ? a.machine : "");
  return actions.sort((a, b) =>
    a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : machineOf(a) < machineOf(b) ? -1 : machineOf(a) > machineOf(b) ? 1 : 0,
  );
}
