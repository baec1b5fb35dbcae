import { compareStrings } from "../lib/compare.ts";
// The agent's reconcile planner: desired (this machine's schedule) and actual (unit files on
// disk, what this agent recorded as launched, what systemd says) in, typed actions with a reason
// out. Pure: no I/O, no clock. The task table is compatibility.md §8.6.3, with two changes:
// a unit this agent already runs is adopted instead of re-started after a daemon restart, and a
// unit whose previous action failed is left out (it is retried later) without holding up others.

export type LaunchState = "loaded" | "launched";

/** One schedule entry for this machine, as the planner needs it. */
export interface DesiredUnit {
  hash: string;
  desiredState: LaunchState;
}

/** What systemd reports about a unit. */
export interface SystemdState {
  loadState: string;
  activeState: string;
  subState: string;
}

/** What this agent did to a unit, persisted across daemon restarts (agent-state.json). */
export interface LaunchRecord {
  state: LaunchState;
  /** The hash of the unit file the state applies to. */
  hash: string;
}

export interface PlanInput {
  desired: ReadonlyMap<string, DesiredUnit>;
  /** Unit name -> content hash of its file in units_directory. */
  files: ReadonlyMap<string, string>;
  systemd: ReadonlyMap<string, SystemdState>;
  launched: ReadonlyMap<string, LaunchRecord>;
  /** Units whose last action failed and whose retry is not due yet. */
  backingOff?: ReadonlySet<string>;
}

export type UnitActionKind = "unload" | "load" | "stop" | "start";
export type ActionKind = UnitActionKind | "reload";

export type Action =
  /** `hash` is set for load: the file to write. */
  | { kind: UnitActionKind; unit: string; reason: string; hash?: string }
  /** systemd's daemon-reload, once per batch; `units` are the loads and unloads that need it. */
  | { kind: "reload"; unit?: undefined; reason: string; units: string[] };

/** A record change that needs no systemd call: a unit found already in the desired state. */
export interface Adoption {
  unit: string;
  state: LaunchState;
  hash: string;
  reason: string;
}

export interface Plan {
  /** In execution order: unload < load < reload < stop < start, then by unit name. */
  actions: Action[];
  adoptions: Adoption[];
  /** Records of units that are neither on disk, nor desired, nor running: drop them. */
  forget: string[];
  /** Units left alone this time because they are backing off after a failure. */
  deferred: string[];
}

export const ACTION_ORDER: Readonly<Record<ActionKind, number>> = {
  unload: 1,
  load: 2,
  reload: 3,
  stop: 4,
  start: 5,
};

const RUNNING = new Set(["active", "activating", "reloading", "refreshing"]);

/** Whether systemd has the unit running or on its way there. */
export function isRunning(s: SystemdState | undefined): boolean {
  return s !== undefined && RUNNING.has(s.activeState);
}

function describe(s: SystemdState | undefined): string {
  return s ? `${s.activeState}/${s.subState}` : "unknown";
}

function short(hash: string): string {
  return hash.slice(0, 7);
}

export function planReconcile(input: PlanInput): Plan {
  const { desired, files, systemd, launched } = input;
  const names = [...new Set([...desired.keys(), ...files.keys(), ...launched.keys()])].sort();
  const actions: Action[] = [];
  const adoptions: Adoption[] = [];
  const forget: string[] = [];
  const deferred: string[] = [];
  const add = (kind: UnitActionKind, unit: string, reason: string, hash?: string) =>
    actions.push(hash === undefined ? { kind, unit, reason } : { kind, unit, reason, hash });

  for (const unit of names) {
    if (input.backingOff?.has(unit)) {
      deferred.push(unit);
      continue;
    }
    const d = desired.get(unit);
    const file = files.get(unit);
    const s = systemd.get(unit);
    const record = launched.get(unit);

    if (!d) {
      // A recorded unit whose file was removed behind our back may still be running.
      if (file !== undefined || (record && isRunning(s))) add("unload", unit, "unit loaded but not scheduled here");
      else if (record) forget.push(unit);
      continue;
    }
    const start = d.desiredState === "launched";
    if (file === undefined) {
      add("load", unit, "unit scheduled here but not loaded", d.hash);
      if (start) add("start", unit, "unit newly loaded and desired state is launched");
      continue;
    }
    if (file !== d.hash) {
      add("unload", unit, `unit loaded but hash differs to expected (${short(file)} here, ${short(d.hash)} scheduled)`);
      add("load", unit, `unit scheduled here with hash ${short(d.hash)}`, d.hash);
      if (start) add("start", unit, "unit reloaded with a new hash and desired state is launched");
      continue;
    }

    // The file is the one scheduled. A record of an older file says nothing about this one.
    const rec = record && record.hash === file ? record : undefined;
    if (rec) {
      if (rec.state === d.desiredState) continue;
      if (start) add("start", unit, "unit currently loaded but desired state is launched");
      else add("stop", unit, "unit currently launched but desired state is loaded");
      continue;
    }

    // No record (lost, or the daemon stopped between writing the file and recording it):
    // take what systemd runs as it is rather than restarting it.
    const linked = s !== undefined && s.loadState !== "not-found";
    if (!linked) add("load", unit, "unit file present but not known to systemd", d.hash);
    if (start) {
      if (isRunning(s)) adoptions.push({ unit, state: "launched", hash: file, reason: `unit already ${describe(s)} in systemd` });
      else add("start", unit, `unit desired launched but systemd has it ${describe(s)}`);
    } else if (isRunning(s)) {
      add("stop", unit, `unit ${describe(s)} in systemd but desired state is loaded`);
    } else if (linked) {
      adoptions.push({ unit, state: "loaded", hash: file, reason: `unit already loaded and ${describe(s)} in systemd` });
    }
  }

  const changed = actions.filter((a) => a.kind === "load" || a.kind === "unload").map((a) => a.unit!);
  if (changed.length > 0) {
    const loads = actions.filter((a) => a.kind === "load").length;
    actions.push({
      kind: "reload",
      reason: `unit files changed (${loads} loaded, ${changed.length - loads} unloaded)`,
      units: [...new Set(changed)].sort(),
    });
  }
  actions.sort((a, b) => ACTION_ORDER[a.kind] - ACTION_ORDER[b.kind] || compareStrings(a.unit ?? "", b.unit ?? ""));
  return { actions, adoptions, forget, deferred };
}

