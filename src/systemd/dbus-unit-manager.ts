// The UnitManager that drives the host's systemd over D-Bus (dbus-next, loaded lazily).
import { lstatSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  CallError, DbusConnection, MANAGER_IFACE, MANAGER_PATH, PRIVATE_SOCKET, PROPERTIES_IFACE, type Signal, SYSTEM_BUS_SOCKET,
} from "./dbus-connection.ts";
import { JobTracker } from "./job-tracker.ts";
import { type ChangedProperties, hasProcess, SignalledStates } from "./signalled-states.ts";
import { unitNameFromPath } from "./object-path.ts";
import {
  assertUnitName, contentHash, DEFAULT_UNITS_DIRECTORY, isValidUnitName, type ManagedUnitFile,
  type NameUse, type StateListener, type UnitManager, UnitManagerError, type UnitState,
} from "./unit-manager.ts";
import { prepareUnitsDirectory, readUnitFile, removeUnitFile, unitFileNames, writeUnitFile } from "./units-directory.ts";

export interface DbusUnitManagerOptions {
  unitsDirectory?: string;
  /** A D-Bus address; by default DBUS_SYSTEM_BUS_ADDRESS or the system bus, then (as root) systemd's private socket. */
  address?: string;
  /** Deadline for every D-Bus call (default 15 s). */
  callTimeoutMs?: number;
  /** Calls in flight at once (default 32; dbus-daemon refuses more than 128 pending per connection). */
  maxInFlight?: number;
  /** How long unload waits for a unit to stop before removing it anyway (default 100 s). */
  stopTimeoutMs?: number;
  /** Where linked runtime units live (default /run/systemd/system). */
  runtimeUnitDirectory?: string;
}

const UNIT_IFACE = "org.freedesktop.systemd1.Unit";
const SERVICE_IFACE = "org.freedesktop.systemd1.Service";
const NOT_LOADED = /NoSuchUnit|not loaded|not found|does not exist/i;
const STATES_BATCH = 256;
const MATCH_PROPERTIES = "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path_namespace='/org/freedesktop/systemd1/unit'";
const MATCH_JOB_REMOVED = "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'";

export class DbusUnitManager implements UnitManager {
  readonly unitsDirectory: string;
  private readonly signalled = new SignalledStates();
  private readonly jobs = new JobTracker();
  private reconnecting: Promise<DbusConnection> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  private constructor(
    private conn: DbusConnection,
    private readonly opts: Required<Omit<DbusUnitManagerOptions, "address">> & { address?: string },
  ) {
    this.unitsDirectory = opts.unitsDirectory;
  }

  /** The D-Bus address in use (the system bus, or systemd's private socket as a fallback). */
  get address(): string {
    return this.conn.address;
  }

  static async connect(options: DbusUnitManagerOptions = {}): Promise<DbusUnitManager> {
    const opts = {
      unitsDirectory: options.unitsDirectory ?? DEFAULT_UNITS_DIRECTORY,
      address: options.address,
      callTimeoutMs: options.callTimeoutMs ?? 15_000,
      maxInFlight: options.maxInFlight ?? 32,
      stopTimeoutMs: options.stopTimeoutMs ?? 100_000,
      runtimeUnitDirectory: options.runtimeUnitDirectory ?? "/run/systemd/system",
    };
    // Before anything is written or removed there: the directory must be fleet's own.
    prepareUnitsDirectory(opts.unitsDirectory);
    const manager = new DbusUnitManager(await DbusUnitManager.open(opts), opts);
    await manager.prepare(manager.conn);
    return manager;
  }

  /** The first address that answers: the given one, else the system bus, else (as root) the private socket. */
  private static async open(opts: { address?: string; callTimeoutMs: number; maxInFlight: number }): Promise<DbusConnection> {
    const addresses = opts.address
      ? [opts.address]
      : [process.env.DBUS_SYSTEM_BUS_ADDRESS || SYSTEM_BUS_SOCKET, ...(process.getuid?.() === 0 ? [PRIVATE_SOCKET] : [])];
    const failures: string[] = [];
    for (const address of addresses) {
      try {
        return await DbusConnection.open({ callTimeoutMs: opts.callTimeoutMs, maxInFlight: opts.maxInFlight }, address);
      } catch (err) {
        failures.push(`${address}: ${(err as Error).message}`);
      }
    }
    throw new UnitManagerError("connect to systemd", undefined, "disconnected", undefined, failures.join("; "));
  }

  /** Signals first (match rules, then Subscribe), so that no change after this point is lost. */
  private async prepare(conn: DbusConnection): Promise<void> {
    conn.onSignal = (signal) => this.onSignal(signal);
    // Reconnect at once (e.g. dbus-daemon restarted): subscribers must not wait for our next call.
    conn.onBroken = () => this.reconnectSoon(100);
    await conn.addMatch(MATCH_PROPERTIES);
    await conn.addMatch(MATCH_JOB_REMOVED);
    try {
      await conn.call(MANAGER_PATH, MANAGER_IFACE, "Subscribe");
    } catch (err) {
      if (!(err instanceof CallError && /AlreadySubscribed/.test(err.dbusName))) throw err;
    }
  }

  private async connection(): Promise<DbusConnection> {
    if (this.closed) throw new UnitManagerError("talk to systemd", undefined, "disconnected", undefined, "the unit manager is closed");
    if (!this.conn.broken) return this.conn;
    this.reconnecting ??= (async () => {
      const conn = await DbusUnitManager.open(this.opts);
      await this.prepare(conn);
      this.conn = conn;
      void this.resync();
      return conn;
    })().finally(() => {
      this.reconnecting = undefined;
    });
    return this.reconnecting;
  }

  /**
   * Changes while disconnected produced no signals: report every loaded unit's state, and the
   * state of units seen before that are no longer loaded (repeats are dropped by emit).
   */
  private async resync(): Promise<void> {
    try {
      const [rows] = await this.invoke("list units", undefined, (c) => c.call(MANAGER_PATH, MANAGER_IFACE, "ListUnits"));
      const loaded = new Set<string>();
      for (const row of (rows ?? []) as unknown[][]) {
        const name = String(row[0]);
        loaded.add(name);
        this.signalled.emit(name, this.signalled.samePid(name, { loadState: String(row[2]), activeState: String(row[3]), subState: String(row[4]) }));
      }
      const gone = this.signalled.names().filter((n) => !loaded.has(n));
      for (const [name, state] of await this.states(gone)) this.signalled.emit(name, state);
    } catch {
      // the connection broke again: the next reconnect resyncs
    }
  }

  private reconnectSoon(delayMs: number): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connection().catch(() => this.reconnectSoon(Math.min(delayMs * 2, 5_000)));
    }, delayMs);
    this.retryTimer.unref?.();
  }

  private async invoke<T>(operation: string, unit: string | undefined, fn: (conn: DbusConnection) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.connection());
    } catch (err) {
      if (err instanceof UnitManagerError) throw err;
      if (err instanceof CallError) throw new UnitManagerError(operation, unit, err.kind, err.dbusName || undefined, err.text);
      throw new UnitManagerError(operation, unit, "io", undefined, (err as Error).message);
    }
  }

  async writeUnit(name: string, text: string): Promise<void> {
    assertUnitName("write", name);
    try {
      // Checked again: it may have been removed (and must then be made again) or changed since.
      prepareUnitsDirectory(this.unitsDirectory);
      writeUnitFile(this.unitsDirectory, name, text);
    } catch (err) {
      throw new UnitManagerError("write", name, "io", undefined, (err as Error).message);
    }
  }

  async linkUnits(names: string[], opts: { enable?: string[] } = {}): Promise<void> {
    if (names.length === 0) return;
    for (const name of [...names, ...(opts.enable ?? [])]) assertUnitName("link", name);
    const paths = names.map((n) => join(this.unitsDirectory, n));
    await this.invoke("link", names.join(", "), (c) => c.call(MANAGER_PATH, MANAGER_IFACE, "LinkUnitFiles", "asbb", [paths, true, true]));
    const enable = opts.enable ?? [];
    if (enable.length > 0) {
      await this.invoke("enable", enable.join(", "), (c) => c.call(MANAGER_PATH, MANAGER_IFACE, "EnableUnitFiles", "asbb", [enable, true, true]));
    }
  }

  async reload(): Promise<void> {
    await this.invoke("reload systemd", undefined, (c) => c.call(MANAGER_PATH, MANAGER_IFACE, "Reload"));
  }

  async start(name: string): Promise<void> {
    assertUnitName("start", name);
    // Before the call: its signals may be read before its reply is.
    const undo = this.signalled.starting(name);
    try {
      await this.invoke("start", name, (c) => c.call(MANAGER_PATH, MANAGER_IFACE, "StartUnit", "ss", [name, "replace"]));
    } catch (err) {
      undo();
      throw err;
    }
  }

  async stop(name: string): Promise<void> {
    assertUnitName("stop", name);
    await this.invoke("stop", name, (c) => c.call(MANAGER_PATH, MANAGER_IFACE, "StopUnit", "ss", [name, "replace"]));
  }

  async unload(names: string[]): Promise<void> {
    if (names.length === 0) return;
    for (const name of names) assertUnitName("unload", name);
    await Promise.all(names.map((name) => this.stopAndWait(name)));
    await this.disable(names);
    await Promise.all(
      names.map((name) =>
        this.invoke("reset", name, (c) => c.call(MANAGER_PATH, MANAGER_IFACE, "ResetFailedUnit", "s", [name])).catch(tolerateNotLoaded),
      ),
    );
    for (const name of names) {
      this.removeRuntimeLink(name);
      try {
        // Only a file fleet wrote; a link or directory planted under the name stays.
        removeUnitFile(this.unitsDirectory, name);
      } catch (err) {
        throw new UnitManagerError("remove", name, "io", undefined, (err as Error).message);
      }
      this.signalled.forget(name);
    }
    await this.reload();
  }

  private async stopAndWait(name: string): Promise<void> {
    let job: string;
    try {
      [job] = await this.invoke("stop", name, (c) => c.call(MANAGER_PATH, MANAGER_IFACE, "StopUnit", "ss", [name, "replace"]));
    } catch (err) {
      return tolerateNotLoaded(err);
    }
    // Past the deadline the unit is removed anyway; systemd finishes stopping it on its own.
    await this.jobs.wait(job, this.opts.stopTimeoutMs).catch(() => {});
  }

  private async disable(names: string[]): Promise<void> {
    const call = (batch: string[]) =>
      this.invoke("disable", batch.join(", "), (c) => c.call(MANAGER_PATH, MANAGER_IFACE, "DisableUnitFiles", "asb", [batch, true]));
    try {
      await call(names);
    } catch (err) {
      if (names.length === 1) return tolerateNotLoaded(err);
      // One unknown file fails the whole batch: retry one by one so the others are still disabled.
      await Promise.all(names.map((n) => call([n]).catch(tolerateNotLoaded)));
    }
  }

  /** Removes the runtime symlink to our file, if disabling left it behind. */
  private removeRuntimeLink(name: string): void {
    const link = join(this.opts.runtimeUnitDirectory, name);
    try {
      if (lstatSync(link).isSymbolicLink() && readlinkSync(link) === join(this.unitsDirectory, name)) rmSync(link);
    } catch {
      // no link
    }
  }

  async listManaged(): Promise<ManagedUnitFile[]> {
    let names: string[];
    try {
      names = unitFileNames(this.unitsDirectory, isValidUnitName);
    } catch (err) {
      throw new UnitManagerError("list", this.unitsDirectory, "io", undefined, (err as Error).message);
    }
    const files: ManagedUnitFile[] = [];
    for (const name of names) {
      // Only files fleet wrote: not links (never read through), not what was removed meanwhile.
      const text = readUnitFile(this.unitsDirectory, name);
      if (text !== undefined) files.push({ name, hash: contentHash(text) });
    }
    return files;
  }

  async states(names: string[]): Promise<Map<string, UnitState>> {
    const result = new Map<string, UnitState>();
    const asked = this.signalled.mark();
    for (const row of await this.listByNames("list", names.filter(isValidUnitName))) {
      result.set(String(row[0]), { loadState: String(row[2]), activeState: String(row[3]), subState: String(row[4]) });
    }
    for (const name of names) {
      if (!result.has(name)) result.set(name, { loadState: "not-found", activeState: "inactive", subState: "dead" });
    }
    await Promise.all([...result].filter(([name, s]) => hasProcess(name, s)).map(async ([name, s]) => {
      const pid = await this.mainPid(name).catch(() => undefined);
      if (pid !== undefined) s.mainPid = pid;
    }));
    // A change signalled while this read was on its way is newer than what the read found (a
    // unit that failed right after it started must not be reported active again).
    for (const name of result.keys()) {
      const newer = this.signalled.newerThan(name, asked);
      if (newer) result.set(name, newer);
    }
    return result;
  }

  async subscribe(listener: StateListener): Promise<() => void> {
    await this.connection();
    return this.signalled.subscribe(listener);
  }

  async systemState(): Promise<string> {
    const [variant] = await this.invoke("read the system state", undefined, (c) =>
      c.call(MANAGER_PATH, PROPERTIES_IFACE, "Get", "ss", [MANAGER_IFACE, "SystemState"]),
    );
    return String(variant?.value ?? "unknown");
  }

  async inspectNames(names: string[]): Promise<Map<string, NameUse>> {
    for (const name of names) assertUnitName("inspect", name);
    const uses = new Map<string, NameUse>();
    // ListUnitsByNames loads each name as systemd would to start it: one call for many units.
    await Promise.all((await this.listByNames("inspect", names)).map(async (row) => {
      const name = String(row[0]);
      uses.set(name, await this.nameUse(name, String(row[2]), String(row[6])));
    }));
    for (const name of names) {
      if (!uses.has(name)) throw new UnitManagerError("inspect", name, "dbus", undefined, "systemd did not list the unit");
    }
    return uses;
  }

  /** ListUnitsByNames in batches: a row per unit (name, description, load, active, sub state, followed, path, ...). */
  private async listByNames(operation: string, names: string[]): Promise<unknown[][]> {
    const rows: unknown[][] = [];
    for (let i = 0; i < names.length; i += STATES_BATCH) {
      const batch = names.slice(i, i + STATES_BATCH);
      const [units] = await this.invoke(operation, batch.length === 1 ? batch[0] : `${batch.length} units`, (c) =>
        c.call(MANAGER_PATH, MANAGER_IFACE, "ListUnitsByNames", "as", [batch]),
      );
      rows.push(...((units ?? []) as unknown[][]));
    }
    return rows;
  }

  private async nameUse(name: string, loadState: string, path: string): Promise<NameUse> {
    if (loadState === "not-found") return { by: "nobody" };
    if (loadState === "masked") return { by: "host", definition: "masked" };
    const [variant] = await this.invoke("inspect", name, (c) => c.call(path, PROPERTIES_IFACE, "Get", "ss", [UNIT_IFACE, "FragmentPath"]));
    const fragment = String(variant?.value ?? "");
    if (fragment === "") return { by: "host", definition: "loaded by systemd without a unit file" };
    return this.isOwnFile(name, fragment) ? { by: "fleet" } : { by: "host", definition: fragment };
  }

  /** Our file, or the runtime link LinkUnitFiles made to it (systemd reports either). */
  private isOwnFile(name: string, fragment: string): boolean {
    const own = join(this.unitsDirectory, name);
    if (fragment === own) return true;
    try {
      return fragment === join(this.opts.runtimeUnitDirectory, name) && lstatSync(fragment).isSymbolicLink() && readlinkSync(fragment) === own;
    } catch {
      return false;
    }
  }

  async mainPid(name: string): Promise<number | undefined> {
    assertUnitName("read the main pid of", name);
    let path: string;
    try {
      [path] = await this.invoke("read the main pid of", name, (c) => c.call(MANAGER_PATH, MANAGER_IFACE, "GetUnit", "s", [name]));
    } catch (err) {
      return tolerateNotLoaded(err);
    }
    try {
      const [variant] = await this.invoke("read the main pid of", name, (c) => c.call(path, PROPERTIES_IFACE, "Get", "ss", [SERVICE_IFACE, "MainPID"]));
      const pid = Number(variant?.value ?? 0);
      return pid > 0 ? pid : undefined;
    } catch (err) {
      if (err instanceof UnitManagerError && /UnknownProperty|UnknownInterface|InvalidArgs/.test(err.dbusName ?? "")) return undefined;
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.signalled.clearListeners();
    this.jobs.cancelAll("the unit manager is closed");
    this.conn.close();
  }

  private onSignal(signal: Signal): void {
    if (signal.interface === MANAGER_IFACE && signal.member === "JobRemoved") {
      const [, job, , result] = signal.body as [number, string, string, string];
      this.jobs.removed(job, result);
      return;
    }
    if (signal.interface !== PROPERTIES_IFACE || signal.member !== "PropertiesChanged") return;
    const [iface, changed] = signal.body as [string, ChangedProperties];
    const name = unitNameFromPath(signal.path);
    if (!name) return;
    if (iface === SERVICE_IFACE) this.signalled.serviceChanged(name, changed);
    else if (iface === UNIT_IFACE && this.signalled.unitChanged(name, changed) === "read") {
      void this.states([name]).then((s) => {
        const state = s.get(name);
        if (state) this.signalled.emit(name, state);
      }, () => {});
    }
  }
}

function tolerateNotLoaded(err: unknown): undefined {
  if (err instanceof UnitManagerError && err.kind === "dbus" && NOT_LOADED.test(`${err.dbusName} ${err.message}`)) return undefined;
  throw err;
}
