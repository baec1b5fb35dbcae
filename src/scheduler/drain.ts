// Moving units off drained machines (planned maintenance, `fleet ctl drain`). A unit kept on a
// drained machine leaves as a group with the MachineOf followers kept there with it: either the
// whole group finds room elsewhere (every rule checked by placeUnit against the current view)
// or none of it moves, so a follower is never stopped because its target left without it.
// Pure: the planner owns the view and the decision order; this only tries one group at a time.
import type { PlacementView } from "./cluster-view.ts";
import type { Relations } from "./order.ts";
import { placeUnit } from "./place.ts";
import type { NoFit } from "./reasons.ts";

export interface LeaveTrial {
  /** unit -> machine it moved to, with the placement reason; empty when the group stays. */
  moved: Map<string, { machine: string; reason: string }>;
  /** When the group stays: the unit that fits nowhere else and why. */
  blocked?: { unit: string; noFit: NoFit };
}

/**
 * The units that leave drained machine `machine` together with `root`: root first, then its
 * (transitive) followers kept on the same machine, in decision order.
 */
export function leavingGroup(
  root: string,
  machine: string,
  kept: ReadonlyMap<string, string>,
  followers: ReadonlyMap<string, readonly string[]>,
  rel: Relations,
): string[] {
  const inGroup = new Set([root]);
  const queue = [root];
  while (queue.length > 0) {
    for (const f of followers.get(queue.shift()!) ?? []) {
      if (!inGroup.has(f) && kept.get(f) === machine) {
        inGroup.add(f);
        queue.push(f);
      }
    }
  }
  return rel.order.filter((n) => inGroup.has(n));
}

/**
 * Tries to move `group` off `from`. On success the view holds the group on its new machines;
 * on failure (or with `dryRun`) the view is exactly as it was.
 */
export function tryLeave(group: readonly string[], from: string, view: PlacementView, rel: Relations, dryRun = false): LeaveTrial {
  for (const name of group) view.remove(name, from);
  const moved = new Map<string, { machine: string; reason: string }>();
  let blocked: LeaveTrial["blocked"];
  for (const name of group) {
    const r = placeUnit(view.units.get(name)!, view, rel);
    if ("noFit" in r) {
      blocked = { unit: name, noFit: r.noFit };
      break;
    }
    view.add(name, r.machine);
    moved.set(name, r);
  }
  if (blocked === undefined && !dryRun) return { moved };
  for (const [name, to] of moved) view.remove(name, to.machine);
  for (const name of group) view.add(name, from);
  return blocked === undefined ? { moved } : { moved: new Map(), blocked };
}
