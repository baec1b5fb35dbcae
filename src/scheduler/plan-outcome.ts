// The last two steps of a plan (plan.ts): why each unit left without a machine waits, and the
// decision as actions, each with its reason as data and as the text reasons.ts renders from it.
import { leavingGroup, tryLeave } from "./drain.ts";
import { noFitOf } from "./no-fit.ts";
import { blockerOn, globalNoFit, globalTargets, placeUnit } from "./place.ts";
import type { Decisions, Entries, PlanInput, Round } from "./plan-state.ts";
import { drop, entryKey } from "./plan-state.ts";
import type { Blocker, PendingReason, UnscheduleReason } from "./reasons.ts";
import { pendingText, unscheduleText } from "./reasons.ts";
import type { ClusterState, EngineAction, Placement, PlacementUnit } from "./types.ts";

const GLOBAL_REASON = "global unit, machine fits";
/** The hold of a drained-machine group that could leave only after room was freed later in the plan. */
const ROOM_FREED_LATE = "room was freed after it tried";

/**
 * Step 5. The pending reason of every unit still without a machine, taken from the final view so
 * the next plan words it the same way. A unit still away fits no live machine: it keeps its
 * entry (and keeps running there if the machine only lost its lease) until the machine returns
 * or another one fits. Groups that stay on drained machines say why; a global unit's entries on
 * machines that no longer fit it go, and one that runs nowhere says why.
 */
export function explainWaiting(input: PlanInput, entries: Entries, d: Decisions, round: Round): void {
  for (const name of input.rel.order) {
    if (!d.needs.has(name)) continue;
    const r = placeUnit(input.units.get(name)!, d.view, input.rel);
    const from = d.away.get(name);
    if (from !== undefined) d.stuck.set(name, from);
    if ("noFit" in r) {
      d.pending.set(name, from === undefined ? { kind: "no-fit", noFit: r.noFit } : { kind: "awaiting-return", machine: from, noFit: r.noFit });
    }
  }
  for (const [root, from] of round.held) {
    if (d.kept.get(root) !== from) continue;
    for (const x of leavingGroup(root, from, d.kept, input.followers, input.rel)) {
      d.pending.set(x, { kind: "drain-held", machine: from, hold: input.hold });
    }
  }
  for (const [root, from] of round.stays) {
    if (d.kept.get(root) !== from) continue;
    const group = leavingGroup(root, from, d.kept, input.followers, input.rel);
    const t = tryLeave(group, from, d.view, input.rel, true);
    for (const x of group) {
      // Unblocked only when the last round freed room after this group tried: the next plan moves it.
      if (t.blocked === undefined) d.pending.set(x, { kind: "drain-held", machine: from, hold: ROOM_FREED_LATE });
      else if (x === t.blocked.unit) d.pending.set(x, { kind: "drain-blocked", machine: from, noFit: t.blocked.noFit });
      else d.pending.set(x, { kind: "drain-blocked", machine: from, noFit: t.blocked.noFit, movesWith: t.blocked.unit });
    }
  }
  for (const g of input.globals) {
    const t = d.targets.get(g.name)!;
    const now = entries.globalsNow.get(g.name);
    for (const m of now ?? []) {
      const b = t.blocked.get(m);
      if (b !== undefined) drop(d, g.name, m, { kind: "no-longer-fits", machine: m, blocker: b });
    }
    if (t.machines.length === 0) {
      d.pending.set(g.name, { kind: "no-fit", noFit: globalNoFit(g, globalTargets(g, d.view, now), d.view) });
    } else {
      // Runs, but some machines it matches lack room for its request: say which and why, from
      // the final view (as for no-fit), so the next plan words it the same way.
      const short: Blocker[] = [];
      for (const m of t.blocked.keys()) {
        const b = blockerOn(g, m, d.view, undefined, { staying: now?.has(m) === true });
        if (b?.rule === "capacity" || b?.rule === "no-capacity") short.push(b);
      }
      if (short.length > 0) d.pending.set(g.name, { kind: "partial", machines: t.machines.length, noFit: noFitOf(g, short, { scheduled: () => true }) });
    }
  }
}

/**
 * Step 6. The decision as differences from the given schedule: entries that go (unschedule),
 * new ones (schedule), kept ones whose stored copy is stale (update), and pending reasons that
 * changed or went. A pending reason is unchanged when its text is, and, when the caller says
 * what the stored record holds (`pendingData`), its kind and machine too.
 */
export function actionsOf(input: PlanInput, d: Decisions): EngineAction[] {
  const { state, units } = input;
  const final = new Map<string, { unit: string; machine: string }>();
  const keep = (unit: string, machine: string): void => void final.set(entryKey(unit, machine), { unit, machine });
  for (const [u, m] of d.kept) keep(u, m);
  for (const [u, m] of d.stuck) keep(u, m);
  for (const [g, t] of d.targets) for (const m of t.machines) keep(g, m);

  const unschedule: EngineAction[] = [];
  const schedule: EngineAction[] = [];
  const update: EngineAction[] = [];
  for (const [k, e] of input.original) {
    if (!final.has(k)) {
      unschedule.push(unscheduleAction(e.unit, e.machine, d.dropped.get(k) ?? { kind: "not-scheduled" }));
    } else if (d.view.machines.has(e.machine)) {
      const reason = staleness(e, units.get(e.unit)!);
      if (reason !== undefined) update.push({ kind: "update", unit: e.unit, machine: e.machine, reason });
    }
  }
  for (const [k, p] of final) {
    if (input.original.has(k)) continue;
    const reason = units.get(p.unit)?.global === true ? GLOBAL_REASON : d.placed.get(k)!;
    schedule.push({ kind: "schedule", unit: p.unit, machine: p.machine, reason });
  }
  const pending: EngineAction[] = [];
  for (const [unit, why] of d.pending) {
    const action = pendingAction(unit, why);
    if (!pendingStored(state, unit, action.reason, why)) pending.push(action);
  }
  const cleared: EngineAction[] = [];
  for (const unit of state.pending?.keys() ?? []) {
    if (!d.pending.has(unit)) cleared.push({ kind: "clear-pending", unit });
  }
  return [...sortActions(unschedule), ...sortActions(schedule), ...sortActions(update), ...sortActions(pending), ...sortActions(cleared)];
}

/** Whether `pending/<unit>` already says `text` for `why`. */
function pendingStored(state: ClusterState, unit: string, text: string, why: PendingReason): boolean {
  if (state.pending?.get(unit) !== text) return false;
  if (state.pendingData === undefined) return true;
  const stored = state.pendingData.get(unit);
  return stored?.kind === why.kind && stored.machine === ("machine" in why ? why.machine : undefined);
}

function unscheduleAction(unit: string, machine: string, why: UnscheduleReason): EngineAction {
  return { kind: "unschedule", unit, machine, reason: unscheduleText(why), why };
}

function pendingAction(unit: string, why: PendingReason): Extract<EngineAction, { kind: "pending" }> {
  return { kind: "pending", unit, reason: pendingText(why), why };
}

function staleness(entry: Placement, unit: PlacementUnit): string | undefined {
  const parts: string[] = [];
  if (entry.unreadable !== undefined) parts.push(`the stored entry is unreadable (${entry.unreadable})`);
  const hash = unit.hashOn?.get(entry.machine) ?? unit.hash;
  if (entry.hash !== undefined && hash !== undefined && entry.hash !== hash) parts.push("unit file changed");
  if (entry.desiredState !== undefined && entry.desiredState !== unit.desiredState) {
    parts.push(`desired state ${unit.desiredState} (was ${entry.desiredState})`);
  }
  return parts.length > 0 ? parts.join("; ") : undefined;
}

function sortActions(actions: EngineAction[]): EngineAction[] {
  const machineOf = (a: EngineAction): string => ("machine" in a ? a.machine : "");
  return actions.sort((a, b) =>
    a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : machineOf(a) < machineOf(b) ? -1 : machineOf(a) > machineOf(b) ? 1 : 0,
  );
}
