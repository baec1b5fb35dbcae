// The cluster as the dashboard knows it: a snapshot read from the v1 API, kept current by the
// events of the event stream applied one by one. Pure: no DOM, no fetch (the page does those).
import { parseRequirements } from "../../unit/requirements.ts";
import type { ApiMachine, ApiOption, ApiRollout, ApiState, ApiUnit, FleetEvent } from "./api-types.ts";
import { RolloutBook } from "./rollouts.ts";

export interface MachineEntry {
  id: string;
  ip: string;
  metadata: Record<string, string>;
  drained: boolean;
  startedAt?: string;
  /** Its lease ended while the page watched (machine.lost); shown until it joins again. */
  lost: boolean;
}

export interface UnitEntry {
  name: string;
  desiredState: string;
  global: boolean;
  /** The unit file's SHA-1, once known (from unit.submitted, or hashed from the options). */
  hash?: string;
  /** The unit file; undefined until read (a unit submitted while the page watched). */
  options?: ApiOption[];
  /** The machines the engine scheduled it on. */
  scheduled: Set<string>;
  pendingReason?: string;
  pendingKind?: string;
}

export interface Snapshot {
  machines: ApiMachine[];
  units: ApiUnit[];
  states: ApiState[];
  rollouts: ApiRollout[];
  /** The etcd revision the snapshot reflects (the smallest X-Fleet-Index of its listings). */
  revision: number;
}

/** What the page must read after an event: the unit's file, the machines' details, or a rollout. */
export interface Followup {
  unit?: string;
  machines?: boolean;
  rollout?: string;
}

/** How many recent events the page keeps (for the unit view's history and the activity list). */
export const RECENT_EVENTS = 1000;

export class ClusterStore {
  readonly machines = new Map<string, MachineEntry>();
  readonly units = new Map<string, UnitEntry>();
  /** By unit, then by machine: what systemd there reports. */
  readonly states = new Map<string, Map<string, ApiState>>();
  readonly rollouts = new RolloutBook();
  /** The engine leader when an event told it; undefined when unknown. */
  leader: string | null | undefined;
  /** Events seen, oldest first, at most RECENT_EVENTS. */
  readonly recent: FleetEvent[] = [];
  /** The revision the store reflects. */
  revision = 0;
  /** Bumped on every change: the page renders when it moved. */
  version = 0;

  load(s: Snapshot): void {
    this.machines.clear();
    this.units.clear();
    this.states.clear();
    for (const m of s.machines) this.machines.set(m.id, machineEntry(m, false));
    for (const u of s.units) {
      this.units.set(u.name, {
        name: u.name,
        desiredState: u.desiredState,
        global: isGlobal(u.name, u.options),
        options: u.options,
        scheduled: new Set(u.machineID ? [u.machineID] : []),
        pendingReason: u.pendingReason,
        pendingKind: u.pendingKind,
      });
    }
    for (const st of s.states) this.stateMap(st.name).set(st.machineID, st);
    this.rollouts.load(s.rollouts);
    this.revision = s.revision;
    this.version += 1;
  }

  /** Replaces one unit's file and details (read after unit.submitted, or for the unit view). */
  loadUnit(u: ApiUnit): void {
    const entry = this.units.get(u.name);
    if (!entry) return;
    entry.options = u.options;
    entry.global = isGlobal(u.name, u.options);
    this.version += 1;
  }

  /** Takes a rollout read after its events (see RolloutBook.loadOne); false when it must be read again. */
  loadRollout(unit: string, r: ApiRollout | undefined, mark: number): boolean {
    if (!this.rollouts.loadOne(unit, r, mark)) return false;
    this.version += 1;
    return true;
  }

  /** Replaces the machines' details (startedAt, metadata) without touching which are lost. */
  loadMachines(list: ApiMachine[]): void {
    for (const m of list) {
      const was = this.machines.get(m.id);
      this.machines.set(m.id, machineEntry(m, false, was));
    }
    this.version += 1;
  }

  /** Keeps an event in the recent list without applying it (one the snapshot already reflects). */
  remember(e: FleetEvent): void {
    this.recent.push(e);
    if (this.recent.length > RECENT_EVENTS) this.recent.splice(0, this.recent.length - RECENT_EVENTS);
  }

  /** Applies one event (newer than the snapshot); says what must be read to complete it. */
  apply(e: FleetEvent): Followup {
    this.remember(e);
    this.revision = Math.max(this.revision, e.revision);
    this.version += 1;
    switch (e.kind) {
      case "unit.submitted": {
        const u = this.unit(e.unit, e.desiredState);
        const changed = u.hash !== e.hash || u.options === undefined;
        u.desiredState = e.desiredState;
        u.global = e.global;
        u.hash = e.hash;
        if (!changed) return {};
        u.options = undefined;
        return { unit: e.unit };
      }
      case "unit.desired": {
        const u = this.unit(e.unit, e.desiredState);
        u.desiredState = e.desiredState;
        if (e.desiredState === "inactive") u.pendingReason = u.pendingKind = undefined;
        return {};
      }
      case "unit.placed":
        this.placed(e.unit, e.machine);
        return {};
      case "unit.moved":
        this.units.get(e.unit)?.scheduled.delete(e.from);
        this.placed(e.unit, e.to);
        return {};
      case "unit.unscheduled":
        this.units.get(e.unit)?.scheduled.delete(e.machine);
        return {};
      case "unit.pending": {
        const u = this.units.get(e.unit);
        if (u) u.pendingReason = e.reason;
        return {};
      }
      case "unit.state":
        this.stateMap(e.unit).set(e.machine, {
          name: e.unit,
          machineID: e.machine,
          hash: e.hash,
          systemdLoadState: e.loadState,
          systemdActiveState: e.activeState,
          systemdSubState: e.subState,
          reason: e.reason,
        });
        return {};
      case "unit.state-removed": {
        const m = this.states.get(e.unit);
        m?.delete(e.machine);
        if (m?.size === 0) this.states.delete(e.unit);
        return {};
      }
      case "unit.destroyed":
        this.units.delete(e.unit);
        return {};
      case "machine.joined": {
        const was = this.machines.get(e.machine);
        this.machines.set(e.machine, { id: e.machine, ip: e.publicIP, metadata: e.metadata, drained: was?.drained ?? false, lost: false });
        return { machines: true };
      }
      case "machine.lost": {
        const m = this.machines.get(e.machine);
        if (m) m.lost = true;
        return {};
      }
      case "machine.drained":
      case "machine.undrained": {
        const m = this.machines.get(e.machine);
        if (m) m.drained = e.kind === "machine.drained";
        return {};
      }
      case "leader.changed":
        this.leader = e.machine;
        return {};
      case "rollout.started":
      case "rollout.step":
      case "rollout.finished":
        return this.rollouts.apply(e) ? { rollout: e.unit } : {};
    }
  }

  private unit(name: string, desiredState: string): UnitEntry {
    let u = this.units.get(name);
    if (!u) this.units.set(name, (u = { name, desiredState, global: false, scheduled: new Set() }));
    return u;
  }

  private placed(name: string, machine: string): void {
    const u = this.units.get(name);
    if (!u) return;
    u.scheduled.add(machine);
    u.pendingReason = u.pendingKind = undefined;
  }

  private stateMap(unit: string): Map<string, ApiState> {
    let m = this.states.get(unit);
    if (!m) this.states.set(unit, (m = new Map()));
    return m;
  }
}

function machineEntry(m: ApiMachine, lost: boolean, was?: MachineEntry): MachineEntry {
  return {
    id: m.id,
    ip: m.primaryIP ?? "",
    metadata: m.metadata ?? {},
    drained: m.drained === true,
    startedAt: m.startedAt ?? was?.startedAt,
    lost,
  };
}

/** Whether the unit's [X-Fleet] section makes it global, read as the engine reads it. */
export function isGlobal(name: string, options: readonly ApiOption[]): boolean {
  try {
    return parseRequirements(options, name).requirements.global;
  } catch {
    // A unit the engine could not read either: it places it nowhere, so not global.
    return false;
  }
}
