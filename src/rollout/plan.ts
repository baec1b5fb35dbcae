// The rollout reconciler's decision as a pure function: the rollout record, the instances it
// covers (their unit records, schedule entries and reported states) and the clock's now in; the
// steps taken (as data, each rendered into the engine's why by describe.ts), the record to store
// and the unit records to move to the new version out. The engine writes the record; the
// placement planner then gives each instance the hash the record says it runs (hashes.ts), and
// the agent restarts an instance whose hash changed.
//
// A round: the targets are brought up to date (new instances join, gone ones leave), the
// instances in flight are judged (health.ts), then, by state:
//  running: a failure stops it (failed, or reverting with auto-revert); otherwise up to
//    maxParallel instances are in flight at once; when every instance is updated it succeeded,
//    and every unit record takes the new hash in the same write.
//  paused: as running, but nothing new is replaced.
//  reverting/aborting: instances on the new version go back to `from`, maxParallel at a time,
//    failed ones first, each waited for like a replacement (but a revert that does not come up
//    is given up on, not retried); then it ends reverted/aborted.
// Ends (succeeded, failed, reverted, aborted) are left alone.
import { judgeHealth, type InstancePlace, type ObservedState } from "./health.ts";
import { appendLog } from "./log.ts";
import { targetHash, targetKey } from "./hashes.ts";
import type { FinishReason, RolloutEvent, RolloutRecord, RolloutState, RolloutTarget } from "./types.ts";
import { compareStrings } from "../lib/compare.ts";
import type { DesiredState } from "../unit/types.ts";

/** One unit the rollout covers (the unit itself, or an instance of the template). */
export interface RolloutUnit {
  name: string;
  hash: string;
  desiredState: DesiredState;
  global: boolean;
}

export interface RolloutInput {
  record: RolloutRecord;
  units: readonly RolloutUnit[];
  /** Schedule entries of those units: where each runs (global units: every machine). */
  entries: readonly { unit: string; machine: string }[];
  /** Reported states of those units, by unit and machine. */
  states: readonly ({ unit: string; machine: string } & ObservedState)[];
  now: number;
}

export interface RolloutPlan {
  /** What happened this round, in order (also appended to the record's log). */
  steps: RolloutEvent[];
  /** The record to store; undefined when nothing changed. */
  record: RolloutRecord | undefined;
  /** Unit records to set to the new hash, written with the record (only when it succeeds). */
  unitHashes: { unit: string; hash: string }[];
  /** When to plan again at the latest (a health wait or a deadline), if ever. */
  wakeAt?: number;
}

type Phase = RolloutTarget["phase"];
const NEW_VERSION: readonly Phase[] = ["updating", "updated", "failed"];

export function planRollout(input: RolloutInput): RolloutPlan {
  const { record: rec, now } = input;
  if (!["running", "paused", "reverting", "aborting"].includes(rec.state)) return { steps: [], record: undefined, unitHashes: [] };
  const steps: RolloutEvent[] = [];
  const iso = new Date(now).toISOString();
  const units = new Map(input.units.map((u) => [u.name, u]));
  let state: RolloutState = rec.state;
  let wakeAt = Infinity;
  const wake = (t: number) => (wakeAt = Math.min(wakeAt, t));

  // 1. Targets: every instance found now, in order; those no longer found leave. A new instance
  // (or a global unit's new machine) joins on whatever its unit record says: on an old version
  // it waits its turn, on the new one it is watched like a replacement. An instance whose unit
  // was given another file meanwhile (neither version) is no longer the rollout's.
  const found = foundTargets(input);
  const old = new Map(rec.targets.map((t) => [targetKey(t.instance, t.machine), t]));
  const known = new Set([...rec.targets.map((t) => t.from), rec.to]);
  const targets: RolloutTarget[] = [];
  const gone = new Set<string>();
  for (const f of found) {
    const u = units.get(f.instance)!;
    const key = targetKey(f.instance, f.machine);
    const t = old.get(key);
    if (t !== undefined && (u.hash === t.from || u.hash === rec.to)) {
      targets.push({ ...t });
    } else if (t !== undefined) {
      steps.push({ kind: "left", instance: t.instance, ...m(t.machine), why: "hash-changed" });
      gone.add(key);
    } else if (!rec.started || known.has(u.hash)) {
      const nt: RolloutTarget = { instance: f.instance, ...m(f.machine), from: u.hash, phase: "old" };
      if (rec.started && u.hash === rec.to) Object.assign(nt, { phase: "updating", changedAt: iso });
      if (rec.started) steps.push({ kind: "joined", instance: f.instance, ...m(f.machine), from: u.hash });
      targets.push(nt);
    }
  }
  const kept = new Set(targets.map((t) => targetKey(t.instance, t.machine)));
  for (const t of rec.targets) {
    const key = targetKey(t.instance, t.machine);
    if (kept.has(key) || gone.has(key)) continue;
    steps.push({ kind: "left", instance: t.instance, ...m(t.machine), why: units.has(t.instance) ? "machine-gone" : "unit-gone" });
  }
  if (!rec.started) steps.push({ kind: "started", targets: targets.length, to: rec.to });

  const finish = (end: Exclude<RolloutState, "running" | "paused" | "reverting" | "aborting">, why: FinishReason): RolloutPlan => {
    steps.push({ kind: "finished", state: end, why });
    // Every unit of the rollout moves to the new version: those with instances, and a global
    // unit that runs nowhere now; not one given another file meanwhile (a hash it never knew).
    const ours = (u: RolloutUnit) => u.hash !== rec.to && (known.has(u.hash) || !rec.started);
    const unitHashes = end === "succeeded"
      ? input.units.filter(ours).map((u) => u.name).sort(compareStrings).map((unit) => ({ unit, hash: rec.to }))
      : [];
    return { steps, record: store(end), unitHashes };
  };
  const store = (s: RolloutState): RolloutRecord => appendLog({ ...rec, state: s, started: true, targets }, steps, now);

  if (input.units.length === 0) return finish("aborted", { kind: "unit-gone" });

  // 2. Judge the instances in flight.
  const placeOf = placesOf(input);
  for (const t of targets) {
    if (t.phase !== "updating" && t.phase !== "reverting") continue;
    const v = judgeHealth(t, targetHash(t, rec.to), placeOf(t), rec.policy, now);
    if (v.kind === "waiting") {
      if (v.seen === undefined) delete t.seen;
      else t.seen = v.seen;
      wake(v.wakeAt);
      continue;
    }
    delete t.seen;
    if (t.phase === "reverting") {
      t.phase = "reverted";
      steps.push({ kind: "reverted", instance: t.instance, ...m(t.machine), healthy: v.kind === "healthy" });
    } else if (v.kind === "healthy") {
      t.phase = "updated";
      steps.push({ kind: "healthy", instance: t.instance, ...m(t.machine), minHealthyMs: rec.policy.minHealthyMs });
    } else {
      t.phase = "failed";
      steps.push({ kind: "unhealthy", instance: t.instance, ...m(t.machine), problem: v.problem });
    }
  }

  // 3. Move on, by state.
  if (state === "running" || state === "paused") {
    const failed = targets.find((t) => t.phase === "failed");
    if (failed !== undefined && !rec.policy.autoRevert) return finish("failed", { kind: "instance-failed", instance: failed.instance, ...m(failed.machine) });
    if (failed !== undefined) state = "reverting";
  }
  if (state === "running") {
    const waiting = targets.filter((t) => t.phase === "old");
    // An instance already on the new version (from == to) has nothing to replace.
    for (const t of waiting.filter((x) => x.from === rec.to)) t.phase = "updated";
    const todo = waiting.filter((t) => t.from !== rec.to);
    let inFlight = targets.filter((t) => t.phase === "updating").length;
    const total = targets.filter((t) => t.from !== rec.to || t.phase !== "updated").length;
    for (const t of todo) {
      if (inFlight >= rec.policy.maxParallel) break;
      Object.assign(t, { phase: "updating", changedAt: iso });
      delete t.seen;
      inFlight++;
      const done = targets.filter((x) => x.phase !== "old" && (x.from !== rec.to || x === t)).length;
      steps.push({ kind: "replace", instance: t.instance, ...m(t.machine), from: t.from, to: rec.to, done, total });
      // Judged at once: an instance nothing runs is done now.
      const v = judgeHealth(t, rec.to, placeOf(t), rec.policy, now);
      if (v.kind === "healthy") {
        t.phase = "updated";
        inFlight--;
        steps.push({ kind: "healthy", instance: t.instance, ...m(t.machine), minHealthyMs: rec.policy.minHealthyMs });
      } else if (v.kind === "waiting") wake(v.wakeAt);
    }
    if (targets.every((t) => t.phase === "updated")) {
      const count = targets.filter((t) => t.from !== rec.to).length;
      return finish("succeeded", count === 0 ? { kind: "nothing-to-do" } : { kind: "all-replaced", count });
    }
  }
  if (state === "reverting" || state === "aborting") {
    let inFlight = targets.filter((t) => t.phase === "reverting").length;
    const rank = (p: Phase): number => ["failed", "updating", "updated"].indexOf(p);
    const back = targets.filter((t) => NEW_VERSION.includes(t.phase)).sort((a, b) => rank(a.phase) - rank(b.phase));
    for (const t of back) {
      if (t.from === rec.to) {
        // Started on the new version: it has no older one to go back to.
        t.phase = "reverted";
        continue;
      }
      if (inFlight >= rec.policy.maxParallel) break;
      Object.assign(t, { phase: "reverting", changedAt: iso });
      delete t.seen;
      inFlight++;
      steps.push({ kind: "revert", instance: t.instance, ...m(t.machine), to: t.from });
      const v = judgeHealth(t, t.from, placeOf(t), rec.policy, now);
      if (v.kind === "healthy") {
        t.phase = "reverted";
        inFlight--;
        steps.push({ kind: "reverted", instance: t.instance, ...m(t.machine), healthy: true });
      } else if (v.kind === "waiting") wake(v.wakeAt);
    }
    if (!targets.some((t) => NEW_VERSION.includes(t.phase) || t.phase === "reverting")) {
      if (state === "aborting") return finish("aborted", { kind: "aborted" });
      const culprit = [...rec.log.map((l) => l.event), ...steps].findLast((e) => e.kind === "unhealthy");
      return finish("reverted", culprit?.kind === "unhealthy" ? { kind: "instance-failed", instance: culprit.instance, ...m(culprit.machine) } : { kind: "aborted" });
    }
  }
  const changed = steps.length > 0 || state !== rec.state || JSON.stringify(targets) !== JSON.stringify(rec.targets);
  return {
    steps,
    record: changed ? store(state) : undefined,
    unitHashes: [],
    ...(wakeAt !== Infinity ? { wakeAt } : {}),
  };
}

function m(machine: string | undefined): { machine?: string } {
  return machine === undefined ? {} : { machine };
}

/** The instances the rollout covers now: one per unit, or per machine of a global unit. */
function foundTargets(input: RolloutInput): { instance: string; machine?: string }[] {
  const out: { instance: string; machine?: string }[] = [];
  const units = [...input.units].sort((a, b) => compareStrings(a.name, b.name));
  for (const u of units) {
    if (!u.global) {
      out.push({ instance: u.name });
      continue;
    }
    const machines = input.entries.filter((e) => e.unit === u.name).map((e) => e.machine).sort(compareStrings);
    for (const machine of new Set(machines)) out.push({ instance: u.name, machine });
  }
  return out;
}

function placesOf(input: RolloutInput): (t: RolloutTarget) => InstancePlace {
  const units = new Map(input.units.map((u) => [u.name, u]));
  return (t) => {
    const u = units.get(t.instance)!;
    const machine = t.machine ?? input.entries.find((e) => e.unit === t.instance)?.machine;
    const place: InstancePlace = { desiredState: u.desiredState };
    if (machine === undefined) return place;
    place.machine = machine;
    const s = input.states.find((x) => x.unit === t.instance && x.machine === machine);
    if (s !== undefined) place.state = s;
    return place;
  };
}
