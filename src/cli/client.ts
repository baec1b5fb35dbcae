// The one interface every fleetctl command talks to. Two drivers implement it: the HTTP API
// (api-driver.ts) and etcd through the registry (etcd-driver.ts). Shapes follow the v1 API's
// entities (compatibility.md §7.3) so the API driver maps JSON one to one.
import type { MachineCapacity } from "../registry/models.ts";
import type { FleetEvent } from "../events/types.ts";
import type { ControlRequest } from "../rollout/control.ts";
import type { RolloutView } from "../rollout/view.ts";

export type { RolloutView };

/** The policy values `fleet ctl update` was given (the API body's fields; absent: the unit's or the default). */
export interface RolloutPolicyFlags {
  maxParallel?: number;
  minHealthyTime?: string;
  deadline?: string;
  autoRevert?: boolean;
}
import type { DesiredState, UnitOption } from "../unit/types.ts";

export type CurrentState = DesiredState;

export interface Unit {
  name: string;
  options: UnitOption[];
  desiredState: DesiredState;
  /** Derived by the server; absent for global units. */
  currentState?: CurrentState;
  /** The machine the unit is scheduled to (non-global units). */
  machineID?: string;
  /** Why the engine cannot place the unit right now (our API extension). */
  pendingReason?: string;
  /** The kind of that reason, when the engine stored it (see scheduler/reasons.ts). */
  pendingKind?: string;
  /** The machine the unit keeps its entry on while it waits (a lost or drained one). */
  pendingMachineID?: string;
  /** Why the engine placed the unit on its machine (our API extension). */
  placementReason?: string;
}

export interface UnitState {
  name: string;
  machineID: string;
  hash: string;
  systemdLoadState: string;
  systemdActiveState: string;
  systemdSubState: string;
  /** Extension: why the machine's agent refused the unit (it did not reach systemd). */
  reason?: string;
}

export interface Machine {
  id: string;
  primaryIP: string;
  metadata: Record<string, string>;
  /** The fleet version the machine runs (etcd driver only; the API does not report it). */
  version?: string;
  /** Extension: the machine is drained for maintenance. */
  drained?: boolean;
  /** Extension: the CPUs and memory it reports, total and allocatable (absent from older daemons). */
  capacity?: MachineCapacity;
  /** Extension: when the machine's daemon started (RFC 3339). */
  startedAt?: string;
}

export interface StateFilter {
  unitName?: string;
  machineID?: string;
}

/**
 * An answer and an etcd revision it reflects at least (the API's `X-Fleet-Index`), to wait past
 * with the next read; undefined when the server does not tell it (an older daemon, the etcd
 * driver), and a waiting command then polls.
 */
export interface Indexed<T> {
  value: T;
  index?: number;
}

/** A blocking read: answer once something it depends on changed after `index`, or after `waitMs`. */
export interface After {
  index: number;
  waitMs: number;
  /** Ends the wait early (the command no longer needs the answer). */
  signal?: AbortSignal;
}

export interface UnitQuery {
  /** Only these units (unknown names are left out); every unit when undefined. */
  names?: readonly string[];
  after?: After;
}

/** What `fleet ctl events` asks the event stream (docs/api.md, "Events"). */
export interface EventStreamQuery {
  /** An event id, a revision, or `oldest` (the daemon's buffer); from now when undefined. */
  since?: string;
  /** End the stream once it has told what happened before it opened. */
  until?: "now";
  units?: readonly string[];
  machines?: readonly string[];
  kinds?: readonly string[];
}

/** One message of the event stream: an event, or the stream's own open, reset and end. */
export type StreamMessage =
  | FleetEvent
  | { kind: "open"; id: string; revision: number; until?: number }
  | { kind: "reset"; id: string; revision: number; reason: string }
  /** `done`: the stream told everything until=now asked for (otherwise: reconnect after the last id). */
  | { kind: "end"; reason: string; done?: boolean };

export interface FleetClient {
  /** The endpoint as the user gave it, for error messages. */
  readonly endpoint: string;
  listUnits(): Promise<Unit[]>;
  /**
   * The units asked for, sorted by name, with the revision the answer reflects when the server
   * tells it; with `after`, first waits until something about them changed after that revision.
   */
  readUnits(q: UnitQuery): Promise<Indexed<Unit[]>>;
  /** undefined when the unit does not exist. */
  getUnit(name: string): Promise<Unit | undefined>;
  /** Creates a unit (desired state inactive) or replaces one whose options differ. */
  createUnit(name: string, options: UnitOption[]): Promise<void>;
  setUnitDesiredState(name: string, state: DesiredState): Promise<void>;
  /** false when the unit did not exist. */
  destroyUnit(name: string): Promise<boolean>;
  listUnitStates(filter?: StateFilter): Promise<UnitState[]>;
  listMachines(): Promise<Machine[]>;
  /**
   * One connection of the event stream, message by message; it ends when the server ends it (the
   * caller resumes after the last id), and fails with a ClientError when it cannot be opened or
   * breaks.
   */
  events(q: EventStreamQuery, signal: AbortSignal): AsyncIterable<StreamMessage>;
  /** Drains a live machine (idempotent); a ClientError when no such machine is live. */
  drainMachine(id: string): Promise<void>;
  /** false when the machine was not drained. */
  undrainMachine(id: string): Promise<boolean>;
  /** Starts a rolling update of a unit, global unit or template (extension); a ClientError says why not. */
  startRollout(unit: string, options: UnitOption[], policy: RolloutPolicyFlags): Promise<RolloutView>;
  /** undefined when there is no rollout of the unit. */
  getRollout(unit: string): Promise<RolloutView | undefined>;
  listRollouts(): Promise<RolloutView[]>;
  /** Pauses, resumes or aborts a rollout; a ClientError when there is none or it cannot be. */
  controlRollout(unit: string, action: ControlRequest): Promise<RolloutView>;
  close(): Promise<void>;
}

/**
 * A failure talking to fleet. `message` is what fleetctl prints after its own prefix, e.g.
 * `googleapi: Error 400: cannot activate template "foo@.service"`.
 */
export class ClientError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    /** The server failed (5xx) or the connection broke: the same request may well work again. */
    readonly transient = status !== undefined && status >= 500 && status !== 501,
  ) {
    super(message);
    this.name = "ClientError";
  }
}
