// What a blocking command waits for, and the verdict on one observation of a unit
// (compatibility.md §6.5.5, with quirks Q6, Q7 and Q8 fixed). Pure: the runner in wait.ts
// does the reading, the clock and the printing.
import type { DesiredState } from "../unit/types.ts";
import type { Machine, Unit, UnitState } from "./client.ts";
import { machineLegend } from "./list-format.ts";
import { isGlobalUnit, placedByResources } from "./unit-info.ts";

export type WaitGoal =
  /**
   * The unit's current state (desired state for a global unit) equals `state`. `creation`: the
   * wait after creating a unit, which ends early if the desired state is not `inactive`.
   */
  | { kind: "state"; state: DesiredState; creation?: boolean }
  /** systemd on the unit's machine reports it loaded and active (start's second step). */
  | { kind: "active" }
  /** The unit is gone from the registry and no machine reports a state for it (destroy). */
  | { kind: "gone" };

export interface Observation {
  /** undefined: the unit does not exist. */
  unit: Unit | undefined;
  /** The unit's systemd states (fetched for the active and gone goals). */
  states: UnitState[];
  machines: readonly Machine[];
}

export type Verdict =
  /**
   * `line` goes to stdout (e.g. `Unit hello.service launched on 113f16a7.../1.2.3.4`); `note`, to
   * stderr, says why the engine placed a unit that states resources or Spread= there.
   */
  | { done: true; line?: string; note?: string }
  /** Give up now with this error. */
  | { done: false; fatal: string }
  /**
   * Keep waiting. `why` says what is missing; `pending` is the engine's reason when the unit
   * cannot be placed; `stuck` marks a state that will not change by itself (systemd failed).
   */
  | { done: false; why: string; pending?: string; stuck?: boolean };

function legendOf(machineID: string, machines: readonly Machine[]): { legend: string; known: boolean } {
  const m = machines.find((x) => x.id === machineID);
  return { legend: machineLegend(machineID, m?.primaryIP, false), known: m !== undefined };
}

export function decide(name: string, goal: WaitGoal, obs: Observation): Verdict {
  const { unit, states, machines } = obs;
  if (goal.kind === "gone") {
    if (unit) return { done: false, why: `Unit ${name} still exists` };
    if (states.length === 0) return { done: true };
    const s = states[0]!;
    const { legend } = legendOf(s.machineID, machines);
    return { done: false, why: `waiting for ${legend} to unload ${name} (systemd reports ${systemd(s)})` };
  }
  if (!unit) return { done: false, fatal: `Unit ${name} not found` };

  if (goal.kind === "state") {
    const global = isGlobalUnit(unit);
    const current = global ? unit.desiredState : unit.currentState;
    if (current === goal.state) {
      let line = `Unit ${name} ${current}`;
      let note: string | undefined;
      if (!global && unit.machineID) {
        const { legend, known } = legendOf(unit.machineID, machines);
        if (known) line += ` on ${legend}`;
        if (goal.state !== "inactive" && unit.placementReason && placedByResources(unit)) note = `Unit ${name} placed on ${legend}: ${unit.placementReason}`;
      }
      return note === undefined ? { done: true, line } : { done: true, line, note };
    }
    // After a create, a server that kept the unit's desired state has nothing to settle.
    if (goal.creation && unit.desiredState !== goal.state) return { done: true };
    if (unit.desiredState !== goal.state) {
      return { done: false, why: `desired state of ${name} is now ${unit.desiredState}, not ${goal.state}` };
    }
    if (unit.pendingReason && !unit.machineID && goal.state !== "inactive") {
      return { done: false, why: `Unit ${name} is pending: ${unit.pendingReason}`, pending: unit.pendingReason };
    }
    if (!unit.machineID) {
      return goal.state === "inactive"
        ? { done: false, why: `waiting for ${name} to be unscheduled` }
        : { done: false, why: `waiting for the engine to schedule ${name}` };
    }
    const { legend, known } = legendOf(unit.machineID, machines);
    if (!known) return { done: false, why: `${name} is scheduled on ${unit.machineID}, which is not in the cluster` };
    return { done: false, why: `waiting for ${legend} to report ${name} ${goal.state} (now ${unit.currentState ?? "unknown"})` };
  }

  // active: look at the state reported by the machine the unit is scheduled on.
  const own = unit.machineID ? states.filter((s) => s.machineID === unit.machineID) : states;
  const s = own[0];
  const where = unit.machineID ? legendOf(unit.machineID, machines).legend : "its machine";
  if (!s) return { done: false, why: `waiting for ${where} to report the systemd state of ${name}` };
  if (s.systemdLoadState === "loaded" && s.systemdActiveState === "active") return { done: true };
  return {
    done: false,
    why: `waiting for systemd on ${where} to report ${name} active (now ${systemd(s)})`,
    stuck: s.systemdActiveState === "failed",
  };
}

function systemd(s: UnitState): string {
  const states = `${s.systemdLoadState || "-"}/${s.systemdActiveState || "-"}/${s.systemdSubState || "-"}`;
  return s.reason ? `${states}: ${s.reason}` : states;
}

/** The error when a goal's attempts run out (the first wording is the original's). */
export function timeoutError(name: string, goal: WaitGoal, lastWhy: string | undefined): string {
  const because = lastWhy ? ` (${lastWhy})` : "";
  switch (goal.kind) {
    case "state":
      return `timed out waiting for unit ${name} to report state ${goal.state}${because}`;
    case "active":
      return `timed out waiting for unit ${name} to become active${because}`;
    case "gone":
      return `timed out waiting for unit ${name} to be destroyed${because}`;
  }
}

/**
 * One attempt of --block-attempts is 2 s, as fleetctl's 8 polls 250 ms apart (its
 * defaultSleepTime); a wait that cannot follow changes still polls at that interval.
 */
export const ATTEMPT_MS = 2000;
export const POLL_INTERVAL_MS = 250;

/**
 * `--no-block` gives -1 (do not wait), `--block-attempts=N` with N > 0 gives N, anything else
 * 0 (wait without limit).
 */
export function blockAttempts(noBlock: boolean, attempts: number): number {
  if (noBlock) return -1;
  return attempts > 0 ? attempts : 0;
}

/** How long (ms) one goal may take: unlimited for 0 attempts. */
export function attemptsBudgetMs(attempts: number): number {
  return attempts > 0 ? attempts * ATTEMPT_MS : Number.POSITIVE_INFINITY;
}
