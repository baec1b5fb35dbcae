// Which version each instance runs while a rollout holds it: the placement planner asks here
// for the hash to put in an instance's schedule entry instead of its unit record's. Pure.
//
// The unit record keeps the old hash until the rollout succeeds (then the same transaction
// moves it to the new one and ends the rollout), so without a rollout nothing changes. While a
// rollout is active, or failed and holding instances on both versions, an instance runs the
// hash its target's phase says, as long as its unit record still names that target's old
// version (a unit given another file meanwhile is no longer the rollout's). A succeeded
// rollout's hashes hold only while the unit record read is older than the rollout record: the
// two are written together, but come through separate watches.
import { unitNameInfo } from "../unit/unit-name.ts";
import { HOLDING_ROLLOUT_STATES, type RolloutRecord, type RolloutTarget } from "./types.ts";

export function targetKey(instance: string, machine: string | undefined): string {
  return machine === undefined ? instance : `${instance}\n${machine}`;
}

/** The hash a target runs in its phase. */
export function targetHash(t: RolloutTarget, to: string): string {
  return t.phase === "updating" || t.phase === "updated" || t.phase === "failed" ? to : t.from;
}

/** A unit record as the placement reads it. */
export interface UnitVersion {
  hash: string;
  /** The etcd mod revision it was read at. */
  modRevision: number;
}

/**
 * The hash each instance of the rollout runs where it differs from its unit record's, keyed by
 * targetKey (global units: per machine).
 */
export function rolloutHashes(rec: RolloutRecord, recModRevision: number, unitOf: (name: string) => UnitVersion | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const holding = HOLDING_ROLLOUT_STATES.includes(rec.state);
  if (!holding && rec.state !== "succeeded") return out;
  for (const t of rec.targets) {
    const u = unitOf(t.instance);
    if (u === undefined || u.hash !== t.from) continue;
    if (!holding && u.modRevision >= recModRevision) continue;
    const hash = holding ? targetHash(t, rec.to) : rec.to;
    if (hash !== u.hash) out.set(targetKey(t.instance, t.machine), hash);
  }
  return out;
}

/** Whether a unit name is covered by a rollout keyed by `rolloutUnit` (a unit, or a template for its instances). */
export function coveredBy(rolloutUnit: string, unit: string): boolean {
  if (rolloutUnit === unit) return true;
  const info = unitNameInfo(unit);
  return info !== undefined && info.isInstance && info.template === rolloutUnit;
}
