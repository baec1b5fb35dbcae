// The units' states as systemd's PropertiesChanged signals tell them, kept apart from the D-Bus
// plumbing (dbus-unit-manager.ts) so that what a sequence of signals means is tested alone.
// Repeats are dropped; a change is handed to every listener once.
import { sameState, type StateListener, type UnitState } from "./unit-manager.ts";

/** A signal's changed properties, as dbus-next gives them: name to variant. */
export type ChangedProperties = Record<string, { value?: unknown } | undefined>;

export class SignalledStates {
  private readonly listeners = new Set<StateListener>();
  private readonly last = new Map<string, UnitState>();
  /** Counts emitted changes, and when each unit's last one was: a read older than it is stale. */
  private emitted = 0;
  private readonly emittedAt = new Map<string, number>();
  /**
   * Units started here whose first state has not come. A start succeeds only for a unit systemd
   * loaded, and signals carry no LoadState (a constant property): without this, each new unit's
   * first signal would cost a read of its whole state.
   */
  private readonly startedUnseen = new Set<string>();
  /** A MainPID signalled before the unit's first state (systemd sends the Service interface's change first). */
  private readonly earlyPids = new Map<string, number>();

  subscribe(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  clearListeners(): void {
    this.listeners.clear();
  }

  /** The units whose state has been seen. */
  names(): string[] {
    return [...this.last.keys()];
  }

  /** Called before a start is asked for (its signals may be read before its reply); the returned function undoes it when the start fails. */
  starting(name: string): () => void {
    if (this.last.has(name)) return () => {};
    this.startedUnseen.add(name);
    return () => this.startedUnseen.delete(name);
  }

  /** The unit was removed from systemd: nothing of it is kept. */
  forget(name: string): void {
    this.last.delete(name);
    this.startedUnseen.delete(name);
    this.earlyPids.delete(name);
  }

  /**
   * The Service interface's change: a new MainPID. A restart that systemd reports as one state
   * (active, running) still shows. A pid that comes while the unit is not running (systemd sends
   * it just before the unit's own change to activating) waits for that change.
   */
  serviceChanged(name: string, changed: ChangedProperties): void {
    const pid = changed["MainPID"]?.value;
    if (typeof pid !== "number") return;
    const prev = this.last.get(name);
    if (prev !== undefined && hasProcess(name, prev)) this.emit(name, withPid(prev, pid));
    else if (prev !== undefined || this.startedUnseen.has(name)) this.earlyPids.set(name, pid);
  }

  /**
   * The Unit interface's change. Returns "read" when it is a partial change of a unit never seen:
   * the caller reads its whole state and emits that.
   */
  unitChanged(name: string, changed: ChangedProperties): "read" | undefined {
    const read = (key: string) => (typeof changed[key]?.value === "string" ? (changed[key]?.value as string) : undefined);
    const prev = this.last.get(name);
    const loadState = read("LoadState") ?? prev?.loadState ?? (this.startedUnseen.has(name) ? "loaded" : undefined);
    const activeState = read("ActiveState") ?? prev?.activeState;
    const subState = read("SubState") ?? prev?.subState;
    if (loadState && activeState && subState) {
      this.emit(name, this.samePid(name, { loadState, activeState, subState }));
      return undefined;
    }
    return read("ActiveState") || read("SubState") || read("LoadState") ? "read" : undefined;
  }

  /** A state read without the MainPID (the Unit interface's) keeps the one last seen while the service may still have it. */
  samePid(name: string, state: UnitState): UnitState {
    const pid = this.last.get(name)?.mainPid ?? this.earlyPids.get(name);
    return hasProcess(name, state) && pid !== undefined && pid > 0 ? withPid(state, pid) : state;
  }

  emit(name: string, state: UnitState): void {
    this.startedUnseen.delete(name);
    this.earlyPids.delete(name);
    if (sameState(this.last.get(name), state)) return;
    this.last.set(name, state);
    this.emittedAt.set(name, ++this.emitted);
    for (const listener of this.listeners) {
      try {
        listener(name, { ...state });
      } catch {
        // one listener's failure must not starve the others
      }
    }
  }

  /** A mark to take before reading states; `newerThan` then tells what was signalled meanwhile. */
  mark(): number {
    return this.emitted;
  }

  /** The unit's state when a change was signalled after `mark` (newer than a read begun then). */
  newerThan(name: string, mark: number): UnitState | undefined {
    const last = this.last.get(name);
    return last !== undefined && (this.emittedAt.get(name) ?? 0) > mark ? { ...last } : undefined;
  }
}

/** A service in a state that may have a main process: its MainPID is worth reading. */
export function hasProcess(name: string, s: UnitState): boolean {
  return name.endsWith(".service") && ["active", "reloading", "activating", "deactivating", "refreshing"].includes(s.activeState);
}

function withPid(s: UnitState, pid: number): UnitState {
  const { mainPid: _, ...rest } = s;
  return pid > 0 ? { ...rest, mainPid: pid } : rest;
}
