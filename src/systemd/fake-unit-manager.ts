// An in-memory UnitManager for pure agent tests and the scale benchmark: starting is instant
// (active/running), and errors mimic systemd's names and texts. Never a stand-in for systemd
// in tests about systemd itself.
import {
  assertUnitName, contentHash, DEFAULT_UNITS_DIRECTORY, type ManagedUnitFile, type NameUse, NO_SUCH_UNIT, sameState, type StateListener,
  type UnitManager, UnitManagerError, type UnitState,
} from "./unit-manager.ts";

const NOT_FOUND: UnitState = { loadState: "not-found", activeState: "inactive", subState: "dead" };

export interface FakeCall {
  op: "write" | "link" | "enable" | "reload" | "start" | "stop" | "unload";
  name?: string;
}

export class FakeUnitManager implements UnitManager {
  readonly unitsDirectory: string;
  /** Every operation in order, for tests that check what the agent asked for. */
  readonly calls: FakeCall[] = [];
  /** Units whose start ends in failed/failed instead of active/running. */
  readonly failingUnits = new Set<string>();
  /** Units the host defines itself (name to unit file path or "masked"), for inspectNames. */
  readonly hostUnits = new Map<string, string>();
  /**
   * systemd 246 and later load a new unit's file when it is first started; set false to act as
   * an older one, where a name inspected before its file existed stays not found until a reload.
   */
  loadsNewUnitsOnStart = true;
  private readonly notFound = new Set<string>();
  /** What systemState() answers. */
  systemStateValue = "running";
  private readonly files = new Map<string, string>();
  private readonly linked = new Set<string>();
  private readonly enabled = new Set<string>();
  /** Units systemd has loaded, with the text it loaded (to detect a needed reload). */
  private readonly loaded = new Map<string, { state: UnitState; text: string; pid?: number }>();
  private readonly listeners = new Set<StateListener>();
  private nextPid = 1000;
  private closed = false;

  constructor(opts: { unitsDirectory?: string } = {}) {
    this.unitsDirectory = opts.unitsDirectory ?? DEFAULT_UNITS_DIRECTORY;
  }

  async writeUnit(name: string, text: string): Promise<void> {
    this.check("write", name);
    this.calls.push({ op: "write", name });
    this.files.set(name, text);
  }

  async linkUnits(names: string[], opts: { enable?: string[] } = {}): Promise<void> {
    for (const name of names) {
      this.check("link", name);
      if (!this.files.has(name)) {
        throw new UnitManagerError("link", name, "dbus", NO_SUCH_UNIT, `Unit file ${this.unitsDirectory}/${name} does not exist.`);
      }
    }
    for (const name of names) {
      this.calls.push({ op: "link", name });
      this.linked.add(name);
    }
    for (const name of opts.enable ?? []) {
      this.calls.push({ op: "enable", name });
      this.enabled.add(name);
    }
  }

  async reload(): Promise<void> {
    this.assertOpen();
    this.calls.push({ op: "reload" });
    this.notFound.clear();
    for (const [name, unit] of this.loaded) {
      const text = this.linked.has(name) ? this.files.get(name) : undefined;
      if (text === undefined) {
        if (unit.state.activeState === "inactive" || unit.state.activeState === "failed") this.loaded.delete(name);
      } else {
        unit.text = text;
      }
    }
  }

  async start(name: string): Promise<void> {
    this.check("start", name);
    this.calls.push({ op: "start", name });
    const text = this.linked.has(name) && !this.notFound.has(name) ? this.files.get(name) : undefined;
    if (text === undefined) throw new UnitManagerError("start", name, "dbus", NO_SUCH_UNIT, `Unit ${name} not found.`);
    const unit = this.loaded.get(name) ?? { state: { ...NOT_FOUND, loadState: "loaded" }, text };
    this.loaded.set(name, unit);
    if (this.failingUnits.has(name)) {
      unit.pid = undefined;
      this.setState(name, unit, { loadState: "loaded", activeState: "failed", subState: "failed" });
    } else {
      unit.pid ??= this.nextPid++;
      this.setState(name, unit, { loadState: "loaded", activeState: "active", subState: "running", mainPid: unit.pid });
    }
  }

  async stop(name: string): Promise<void> {
    this.check("stop", name);
    this.calls.push({ op: "stop", name });
    const unit = this.loaded.get(name);
    if (!unit) throw new UnitManagerError("stop", name, "dbus", NO_SUCH_UNIT, `Unit ${name} not loaded.`);
    unit.pid = undefined;
    if (unit.state.activeState !== "failed") this.setState(name, unit, { loadState: "loaded", activeState: "inactive", subState: "dead" });
  }

  async unload(names: string[]): Promise<void> {
    for (const name of names) this.check("unload", name);
    // systemd's unload ends in a reload.
    this.notFound.clear();
    for (const name of names) {
      this.calls.push({ op: "unload", name });
      const unit = this.loaded.get(name);
      if (unit) this.setState(name, unit, { loadState: "loaded", activeState: "inactive", subState: "dead" });
      this.loaded.delete(name);
      this.files.delete(name);
      this.linked.delete(name);
      this.enabled.delete(name);
    }
  }

  async listManaged(): Promise<ManagedUnitFile[]> {
    this.assertOpen();
    return [...this.files].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, text]) => ({ name, hash: contentHash(text) }));
  }

  async states(names: string[]): Promise<Map<string, UnitState>> {
    this.assertOpen();
    return new Map(names.map((n) => [n, { ...(this.loaded.get(n)?.state ?? NOT_FOUND) }]));
  }

  async subscribe(listener: StateListener): Promise<() => void> {
    this.assertOpen();
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async systemState(): Promise<string> {
    this.assertOpen();
    return this.systemStateValue;
  }

  async inspectNames(names: string[]): Promise<Map<string, NameUse>> {
    for (const name of names) this.check("inspect", name);
    return new Map(names.map((n) => [n, this.nameUse(n)]));
  }

  private nameUse(name: string): NameUse {
    const host = this.hostUnits.get(name);
    if (host !== undefined) return { by: "host", definition: host };
    if (this.loaded.has(name) || this.linked.has(name)) return { by: "fleet" };
    // systemd before 246 keeps the not-found unit the inspection loaded until a daemon-reload.
    if (!this.loadsNewUnitsOnStart) this.notFound.add(name);
    return { by: "nobody" };
  }

  async mainPid(name: string): Promise<number | undefined> {
    this.check("read the main pid of", name);
    return this.loaded.get(name)?.pid;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }

  /** True when the linked file differs from what was loaded (systemd's NeedDaemonReload). */
  needsReload(name: string): boolean {
    const unit = this.loaded.get(name);
    return unit !== undefined && this.files.get(name) !== unit.text;
  }

  isEnabled(name: string): boolean {
    return this.enabled.has(name);
  }

  /** Simulates a unit's process exiting on its own (e.g. a crash): active -> failed. */
  crash(name: string): void {
    const unit = this.loaded.get(name);
    if (!unit) throw new Error(`Cannot crash ${name}: the fake has not loaded it`);
    unit.pid = undefined;
    this.setState(name, unit, { loadState: "loaded", activeState: "failed", subState: "failed" });
  }

  private setState(name: string, unit: { state: UnitState }, state: UnitState): void {
    if (sameState(unit.state, state)) return;
    unit.state = state;
    for (const listener of this.listeners) listener(name, { ...state });
  }

  private check(operation: string, name: string): void {
    this.assertOpen();
    assertUnitName(operation, name);
  }

  private assertOpen(): void {
    if (this.closed) throw new UnitManagerError("talk to systemd", undefined, "disconnected", undefined, "the unit manager is closed");
  }
}
