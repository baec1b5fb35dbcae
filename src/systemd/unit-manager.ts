// The port through which the agent drives systemd. Implementations: DbusUnitManager (real,
// over D-Bus) and FakeUnitManager (in memory, for pure tests and benchmarks only).
import { isValidUnitName } from "../unit/unit-name.ts";
import { sha1Hex } from "../lib/sha1.ts";

/** Where fleet writes the unit files it manages (runtime, gone at reboot). */
export const DEFAULT_UNITS_DIRECTORY = "/run/fleet/units";

/** systemd's view of one unit, as ListUnitsByNames and the unit's properties report it. */
export interface UnitState {
  loadState: string;
  activeState: string;
  subState: string;
  /**
   * A service's MainPID while it has one (absent otherwise, and for other unit types): a
   * rollout tells a unit that stayed up from one that restarted by it.
   */
  mainPid?: number;
}

export interface ManagedUnitFile {
  name: string;
  /** SHA-1 (hex) of the file's content, which is the unit's canonical text. */
  hash: string;
}

export type StateListener = (name: string, state: UnitState) => void;

export interface UnitManager {
  readonly unitsDirectory: string;
  /** Writes (atomically) the unit file into unitsDirectory. */
  writeUnit(name: string, text: string): Promise<void>;
  /** Links the files as runtime units (forced); enables those listed in `enable` (they have [Install]). */
  linkUnits(names: string[], opts?: { enable?: string[] }): Promise<void>;
  /** daemon-reload: once per batch of changed files. */
  reload(): Promise<void>;
  /** Queues a start job (mode "replace"); the outcome arrives through subscribe/states. */
  start(name: string): Promise<void>;
  /** Queues a stop job (mode "replace"). */
  stop(name: string): Promise<void>;
  /**
   * Stops each unit and waits for it, disables it, resets its failed state, removes its file and
   * link, then reloads once. Units that systemd does not know are not an error.
   */
  unload(names: string[]): Promise<void>;
  /** The unit files in unitsDirectory with the hash of their content. */
  listManaged(): Promise<ManagedUnitFile[]>;
  /** Current states; a unit systemd does not know reports loadState "not-found". */
  states(names: string[]): Promise<Map<string, UnitState>>;
  /** Calls the listener on every change of any unit's state (repeats are dropped). */
  subscribe(listener: StateListener): Promise<() => void>;
  /** Manager.SystemState: "running", "degraded", "starting", "stopping", ... */
  systemState(): Promise<string>;
  /** Who systemd would load each name from, asked before fleet writes its own file under it. */
  inspectNames(names: string[]): Promise<Map<string, NameUse>>;
  /** MainPID of a service, undefined when it has none or the unit is not loaded. */
  mainPid(name: string): Promise<number | undefined>;
  close(): Promise<void>;
}

/**
 * Who defines a unit name on this host, as systemd would load it.
 * - `nobody`: no file anywhere. systemd (246 and later) loads the file fleet then links when the
 *   unit is first started, without a daemon-reload; older ones answer NoSuchUnit until one.
 * - `fleet`: fleet's own file, linked (systemd may hold an older text of it until a reload).
 * - `host`: the host's own: the path of its unit file, `masked`, or `loaded by systemd without a
 *   unit file` (a mount, a device).
 */
export type NameUse = { by: "nobody" } | { by: "fleet" } | { by: "host"; definition: string };

/** systemd's D-Bus error for a unit it has no file for, or has not loaded ("Unit x not found"). */
export const NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit";

/** systemd's answer to a unit it has no file for. */
export function isNoSuchUnit(err: unknown): boolean {
  return err instanceof UnitManagerError && err.dbusName === NO_SUCH_UNIT;
}

export type UnitManagerErrorKind = "invalid-name" | "dbus" | "timeout" | "disconnected" | "io";

/**
 * A failed operation, naming the unit and systemd's own error, e.g.
 * `Cannot start web@1.service: org.freedesktop.systemd1.NoSuchUnit: Unit web@1.service not found`.
 */
export class UnitManagerError extends Error {
  constructor(
    readonly operation: string,
    readonly unit: string | undefined,
    readonly kind: UnitManagerErrorKind,
    /** The D-Bus error name when systemd answered with an error. */
    readonly dbusName: string | undefined,
    detail: string,
  ) {
    // systemd ends its messages with a period; ours do not.
    super(`Cannot ${operation}${unit ? ` ${unit}` : ""}: ${dbusName ? `${dbusName}: ` : ""}${detail.replace(/\.$/, "")}`);
    this.name = "UnitManagerError";
  }
}

// The one unit name rule, shared with the API and the engine: what the API accepts, the agent can run.
export { isValidUnitName };

export function assertUnitName(operation: string, name: string): void {
  if (!isValidUnitName(name)) throw new UnitManagerError(operation, name, "invalid-name", undefined, "not a valid unit name");
}

/** The hash a unit file on disk is compared by: the same SHA-1 as its content address. */
export const contentHash = sha1Hex;

export function sameState(a: UnitState | undefined, b: UnitState): boolean {
  return a !== undefined && a.loadState === b.loadState && a.activeState === b.activeState && a.subState === b.subState && a.mainPid === b.mainPid;
}
