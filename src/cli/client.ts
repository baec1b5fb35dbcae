// The one interface every fleetctl command talks to. Two drivers implement it: the HTTP API
// (api-driver.ts) and etcd through the registry (etcd-driver.ts). Shapes follow the v1 API's
// entities (fleet-reference.md §7.3) so the API driver maps JSON one to one.
import type { MachineCapacity } from "../registry/models.ts";
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
}

export interface StateFilter {
  unitName?: string;
  machineID?: string;
}

export interface FleetClient {
  /** The endpoint as the user gave it, for error messages. */
  readonly endpoint: string;
  listUnits(): Promise<Unit[]>;
  /** undefined when the unit does not exist. */
  getUnit(name: string): Promise<Unit | undefined>;
  /** Creates a unit (desired state inactive) or replaces one whose options differ. */
  createUnit(name: string, options: UnitOption[]): Promise<void>;
  setUnitDesiredState(name: string, state: DesiredState): Promise<void>;
  /** false when the unit did not exist. */
  destroyUnit(name: string): Promise<boolean>;
  listUnitStates(filter?: StateFilter): Promise<UnitState[]>;
  listMachines(): Promise<Machine[]>;
  /** Drains a live machine (idempotent); a ClientError when no such machine is live. */
  drainMachine(id: string): Promise<void>;
  /** false when the machine was not drained. */
  undrainMachine(id: string): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * A failure talking to fleet. `message` is what fleetctl prints after its own prefix, e.g.
 * `googleapi: Error 400: cannot activate template "foo@.service"`.
 */
export class ClientError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = "ClientError";
  }
}
