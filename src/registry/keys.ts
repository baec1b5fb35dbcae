// The etcd key layout (architecture.md §3). Every key the project reads or writes is built here.

export interface KeySpace {
  readonly prefix: string;
  unit(name: string): string;
  readonly units: string;
  unitFile(hash: string): string;
  readonly unitFiles: string;
  schedule(machineId: string, unit: string): string;
  machineSchedule(machineId: string): string;
  readonly schedules: string;
  pending(unit: string): string;
  readonly pendings: string;
  machine(id: string): string;
  readonly machines: string;
  metadata(id: string): string;
  readonly metadatas: string;
  drain(id: string): string;
  readonly drains: string;
  state(unit: string, machineId: string): string;
  unitStates(unit: string): string;
  readonly states: string;
  /** A rolling update of a unit, a global unit or a template (rollout/types.ts). */
  rollout(unit: string): string;
  readonly rollouts: string;
  readonly leader: string;
  readonly version: string;
}

/** Builds the key space under `etcd_key_prefix`, normalised to exactly one trailing slash. */
export function keySpace(prefix: string): KeySpace {
  const p = `/${prefix.replace(/^\/+|\/+$/g, "")}/`.replace(/^\/\/$/, "/");
  return {
    prefix: p,
    unit: (name) => `${p}units/${name}`,
    units: `${p}units/`,
    unitFile: (hash) => `${p}unitfiles/${hash}`,
    unitFiles: `${p}unitfiles/`,
    schedule: (machineId, unit) => `${p}schedule/${machineId}/${unit}`,
    machineSchedule: (machineId) => `${p}schedule/${machineId}/`,
    schedules: `${p}schedule/`,
    pending: (unit) => `${p}pending/${unit}`,
    pendings: `${p}pending/`,
    machine: (id) => `${p}machines/${id}`,
    machines: `${p}machines/`,
    metadata: (id) => `${p}metadata/${id}`,
    metadatas: `${p}metadata/`,
    drain: (id) => `${p}drain/${id}`,
    drains: `${p}drain/`,
    state: (unit, machineId) => `${p}states/${unit}/${machineId}`,
    unitStates: (unit) => `${p}states/${unit}/`,
    states: `${p}states/`,
    rollout: (unit) => `${p}rollouts/${unit}`,
    rollouts: `${p}rollouts/`,
    leader: `${p}leader`,
    version: `${p}version`,
  };
}

/** The last path segment after `base`, or undefined when `key` is not directly under it. */
export function childName(base: string, key: string): string | undefined {
  if (!key.startsWith(base)) return undefined;
  const rest = key.slice(base.length);
  return rest === "" || rest.includes("/") ? undefined : rest;
}

/** Splits `<base><a>/<b>` into [a, b]; undefined for any other shape. */
export function childPair(base: string, key: string): [string, string] | undefined {
  if (!key.startsWith(base)) return undefined;
  const parts = key.slice(base.length).split("/");
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return [parts[0], parts[1]];
}
