// What the dashboard's views show, derived from the store: rows of units, the units on a machine,
// a unit's instances, and the tone (colour) of a state. Pure, so it is tested without a browser.
import { shortId } from "../../lib/short-id.ts";
import { deriveUnitStatus } from "../../registry/unit-views.ts";
import type { ScheduleEntry } from "../../registry/models.ts";
import type { RolloutState } from "../../rollout/types.ts";
import { globMatch, isValidGlob } from "../../unit/glob.ts";
import type { ApiState } from "./api-types.ts";
import type { ClusterStore, MachineEntry, UnitEntry } from "./store.ts";

/** The colour of a state: running, changing, failed (or refused), waiting for a machine, off. */
export type Tone = "ok" | "busy" | "failed" | "pending" | "off";

export const TONES: readonly Tone[] = ["ok", "busy", "failed", "pending", "off"];

export const TONE_LABEL: Record<Tone, string> = {
  ok: "active",
  busy: "changing",
  failed: "failed",
  pending: "pending",
  off: "inactive",
};

export interface InstanceRow {
  machine: string;
  /** The engine scheduled the unit there (a global unit, or the one machine of another unit). */
  scheduled: boolean;
  state?: ApiState;
  tone: Tone;
}

export interface UnitRow {
  name: string;
  description: string;
  desiredState: string;
  /** fleet's currentState (launched, loaded, inactive); "-" for global units. */
  currentState: string;
  global: boolean;
  /** The one machine of a unit that is not global; undefined when it is not scheduled. */
  machine?: string;
  instances: InstanceRow[];
  load: string;
  active: string;
  sub: string;
  /** The unit file's hash, when known. */
  hash?: string;
  /** Hashes its machines run, when one differs from the unit file's (an update on its way). */
  otherHashes: string[];
  pendingReason?: string;
  /** Why a machine refused it (the agent's reason). */
  refused?: string;
  /** The state of a rollout of it (or of its template) that the engine still works on. */
  rollout?: RolloutState;
  tone: Tone;
}

/** The tone of what systemd reports. */
export function stateTone(s: ApiState | undefined): Tone {
  if (!s) return "off";
  if (s.reason || s.systemdActiveState === "failed" || s.systemdLoadState === "error" || s.systemdLoadState === "not-found") return "failed";
  if (s.systemdActiveState === "active") return "ok";
  if (["activating", "deactivating", "reloading", "refreshing"].includes(s.systemdActiveState)) return "busy";
  return "off";
}

const WORST: readonly Tone[] = ["failed", "pending", "busy", "off", "ok"];

function worst(tones: readonly Tone[]): Tone {
  for (const t of WORST) if (tones.includes(t)) return t;
  return "off";
}

export function unitDescription(u: UnitEntry): string {
  let text = "";
  for (const o of u.options ?? []) if (o.section === "Unit" && o.name === "Description") text = o.value;
  return text;
}

export function unitRow(store: ClusterStore, u: UnitEntry): UnitRow {
  const states = store.states.get(u.name) ?? new Map<string, ApiState>();
  const machines = [...new Set([...u.scheduled, ...states.keys()])].sort();
  const instances = machines.map((m): InstanceRow => {
    const state = states.get(m);
    return { machine: m, scheduled: u.scheduled.has(m), state, tone: stateTone(state) };
  });
  const row: UnitRow = {
    name: u.name,
    description: unitDescription(u),
    desiredState: u.desiredState,
    currentState: "-",
    global: u.global,
    instances,
    load: "-",
    active: "-",
    sub: "-",
    hash: u.hash,
    otherHashes: [...new Set([...states.values()].map((s) => s.hash).filter((h) => u.hash !== undefined && h !== u.hash))],
    pendingReason: u.pendingReason,
    refused: [...states.values()].find((s) => s.reason)?.reason,
    rollout: store.rollouts.activeFor(u.name),
    tone: "off",
  };
  if (u.global) {
    const counts = new Map<string, number>();
    for (const i of instances) if (i.state) counts.set(i.state.systemdActiveState, (counts.get(i.state.systemdActiveState) ?? 0) + 1);
    row.active = [...counts].map(([state, n]) => (counts.size === 1 ? state : `${n} ${state}`)).join(", ") || "-";
    row.tone = instances.length ? worst(instances.map((i) => i.tone)) : u.desiredState === "launched" ? "pending" : "off";
  } else {
    const entries = new Map<string, ScheduleEntry>();
    const desired = u.desiredState === "inactive" ? "loaded" : (u.desiredState as ScheduleEntry["desiredState"]);
    for (const m of u.scheduled) entries.set(m, { hash: u.hash ?? "", desiredState: desired, epoch: "" });
    const status = deriveUnitStatus(false, entries, new Set(states.keys()));
    row.currentState = status.currentState ?? "inactive";
    row.machine = status.machineID;
    const state = status.machineID === undefined ? undefined : states.get(status.machineID);
    if (state) {
      row.load = state.systemdLoadState;
      row.active = state.systemdActiveState;
      row.sub = state.systemdSubState;
    }
    row.tone = u.scheduled.size === 0 && u.desiredState !== "inactive" ? "pending" : stateTone(state);
  }
  if (row.refused) row.tone = "failed";
  return row;
}

export function unitRows(store: ClusterStore): UnitRow[] {
  return [...store.units.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((u) => unitRow(store, u));
}

/** The units a machine runs or is given, with the tone of what it reports for each. */
export function unitsOnMachine(rows: readonly UnitRow[], machine: string): { row: UnitRow; instance: InstanceRow }[] {
  const out: { row: UnitRow; instance: InstanceRow }[] = [];
  for (const row of rows) {
    const instance = row.instances.find((i) => i.machine === machine);
    if (instance) out.push({ row, instance });
  }
  return out;
}

export interface UnitFilter {
  /** A substring of the name, description, machine or address; a glob (`web@*`) matches names. */
  text: string;
  tone: Tone | "";
  machine: string;
}

export function filterRows(rows: readonly UnitRow[], f: UnitFilter, machines: ReadonlyMap<string, MachineEntry>): UnitRow[] {
  const text = f.text.trim().toLowerCase();
  const glob = /[*?[]/.test(text) && isValidGlob(text);
  return rows.filter((r) => {
    if (f.tone && r.tone !== f.tone) return false;
    if (f.machine && !r.instances.some((i) => i.machine === f.machine)) return false;
    if (!text) return true;
    if (glob) return globMatch(text, r.name.toLowerCase());
    const ips = r.instances.map((i) => machines.get(i.machine)?.ip ?? "");
    return [r.name, r.description, ...r.instances.map((i) => i.machine), ...ips].some((s) => s.toLowerCase().includes(text));
  });
}

/** A machine's name in the views: its short id, and its hostname metadata when it has one. */
export function machineLabel(id: string, machines: ReadonlyMap<string, MachineEntry>): string {
  const host = machines.get(id)?.metadata.hostname;
  return host ? `${shortId(id)} (${host})` : shortId(id);
}

export interface MachineRow {
  machine: MachineEntry;
  counts: Record<Tone, number>;
  total: number;
}

export function machineRows(store: ClusterStore, rows: readonly UnitRow[]): MachineRow[] {
  return [...store.machines.values()]
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((machine) => {
      const counts: Record<Tone, number> = { ok: 0, busy: 0, failed: 0, pending: 0, off: 0 };
      const on = unitsOnMachine(rows, machine.id);
      for (const { instance } of on) counts[instance.tone] += 1;
      return { machine, counts, total: on.length };
    });
}

/** A duration for people: `45s`, `12m`, `3h 5m`, `2d 4h`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}
