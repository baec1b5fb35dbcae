// What the dashboard can do, as data: each action is the v1 API request fleet ctl makes for the
// same command, a label, and the question the confirmation asks. The views render the actions of
// a target from this table, so adding an action is one entry here.
// A rollout's actions are named by the rollout's unit (a template's for its instances).
import { shortId } from "../../lib/short-id.ts";

export type ActionTarget = "unit" | "machine" | "rollout";

export interface ApiRequest {
  method: "PUT" | "DELETE" | "POST";
  path: string;
  body?: unknown;
}

export interface Action {
  id: string;
  target: ActionTarget;
  /** The button's text. */
  label: string;
  /** Whether it is offered for this target now (e.g. no "start" for a launched unit). */
  offered: (t: TargetState) => boolean;
  /** The confirmation's question. */
  confirm: (name: string) => string;
  /** Destroy and drain are styled as dangerous. */
  danger?: boolean;
  request: (name: string) => ApiRequest;
}

/** What an action needs to know of its target. */
export interface TargetState {
  desiredState?: string;
  drained?: boolean;
  lost?: boolean;
  /** A rollout's state (running, paused, ...). */
  rolloutState?: string;
}

const unitPath = (name: string) => `/fleet/v1/units/${encodeURIComponent(name)}`;
const machinePath = (id: string) => `/fleet/v1/machines/${encodeURIComponent(id)}/drain`;
const rolloutAction = (what: "pause" | "resume" | "abort") => (unit: string): ApiRequest => ({
  method: "POST",
  path: `/fleet/v1/rollouts/${encodeURIComponent(unit)}/${what}`,
});
const desired = (desiredState: string) => (name: string): ApiRequest => ({ method: "PUT", path: unitPath(name), body: { name, desiredState } });

export const ACTIONS: readonly Action[] = [
  {
    id: "start",
    target: "unit",
    label: "Start",
    offered: (t) => t.desiredState !== "launched",
    confirm: (n) => `Start ${n}? fleet places it on a machine and starts it there (fleetctl start).`,
    request: desired("launched"),
  },
  {
    id: "stop",
    target: "unit",
    label: "Stop",
    offered: (t) => t.desiredState === "launched",
    confirm: (n) => `Stop ${n}? It stays loaded on its machine (fleetctl stop).`,
    request: desired("loaded"),
  },
  {
    id: "unload",
    target: "unit",
    label: "Unload",
    offered: (t) => t.desiredState !== "inactive",
    confirm: (n) => `Unload ${n}? It is stopped and removed from its machine; the unit file stays in fleet (fleetctl unload).`,
    request: desired("inactive"),
  },
  {
    id: "destroy",
    target: "unit",
    label: "Destroy",
    offered: () => true,
    danger: true,
    confirm: (n) => `Destroy ${n}? It is stopped everywhere and its unit file is removed from fleet (fleetctl destroy).`,
    request: (name) => ({ method: "DELETE", path: unitPath(name) }),
  },
  {
    id: "drain",
    target: "machine",
    label: "Drain",
    offered: (t) => !t.drained && !t.lost,
    danger: true,
    confirm: (id) => `Drain machine ${shortId(id)}? Its units that are not global move to other machines, and it gets no new ones (fleetctl drain).`,
    request: (id) => ({ method: "PUT", path: machinePath(id) }),
  },
  {
    id: "undrain",
    target: "machine",
    label: "Undrain",
    offered: (t) => t.drained === true,
    confirm: (id) => `Undrain machine ${shortId(id)}? It gets new units again; nothing moves back (fleetctl undrain).`,
    request: (id) => ({ method: "DELETE", path: machinePath(id) }),
  },
  {
    id: "pause",
    target: "rollout",
    label: "Pause",
    offered: (t) => t.rolloutState === "running",
    confirm: (n) => `Pause the rollout of ${n}? No more instances are replaced until it is resumed; those being replaced are still watched (fleetctl rollout pause).`,
    request: rolloutAction("pause"),
  },
  {
    id: "resume",
    target: "rollout",
    label: "Resume",
    offered: (t) => t.rolloutState === "paused",
    confirm: (n) => `Resume the rollout of ${n}? It goes on replacing instances (fleetctl rollout resume).`,
    request: rolloutAction("resume"),
  },
  {
    id: "abort",
    target: "rollout",
    label: "Abort",
    // A failed rollout holds instances on both versions until it is aborted (docs/api.md).
    offered: (t) => t.rolloutState === "running" || t.rolloutState === "paused" || t.rolloutState === "failed",
    danger: true,
    confirm: (n) => `Abort the rollout of ${n}? Every replaced instance goes back to the old version (fleetctl rollout abort).`,
    request: rolloutAction("abort"),
  },
];

/** The target in words, for buttons and notices: `machine 1a2b3c4d`, `the rollout of web@.service`, a unit's name. */
export function targetText(target: ActionTarget, name: string): string {
  if (target === "machine") return `machine ${shortId(name)}`;
  return target === "rollout" ? `the rollout of ${name}` : name;
}

export function actionsFor(target: ActionTarget, state: TargetState): Action[] {
  return ACTIONS.filter((a) => a.target === target && a.offered(state));
}
