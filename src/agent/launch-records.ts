// What this agent has loaded and launched, persisted in <state_dir>/agent-state.json so that a
// restarted daemon adopts running units and does not run a oneshot that already ran again (the
// original kept this in memory and re-issued StartUnit after a restart, compatibility.md §8.6.2).
import { join } from "node:path";
import type { Logger } from "../log/logger.ts";
import type { LaunchRecord } from "./plan.ts";
import { isRecord, readJsonFile, writeJsonFile } from "./state-file.ts";
import { errorText } from "../lib/error-text.ts";

const FORMAT = 1;

export class LaunchRecords {
  readonly path: string;
  private readonly records = new Map<string, LaunchRecord>();
  private dirty = false;

  constructor(
    stateDir: string,
    private readonly machineId: string,
    private readonly unitsDirectory: string,
    private readonly log: Logger,
  ) {
    this.path = join(stateDir, "agent-state.json");
  }

  /** Reads the file; a missing file, or one of another machine id or units directory, is a fresh start. */
  load(): void {
    this.records.clear();
    const v = readJsonFile(this.path);
    if (v === undefined) return;
    if (!isRecord(v) || v.format !== FORMAT || !isRecord(v.units)) {
      this.log.warn(`Ignoring ${this.path}: not an agent state file this version can read`);
      return;
    }
    if (v.machineId !== this.machineId || v.unitsDirectory !== this.unitsDirectory) {
      this.log.info(`Ignoring ${this.path}: written for machine ${String(v.machineId)} and ${String(v.unitsDirectory)}`);
      return;
    }
    for (const [name, r] of Object.entries(v.units)) {
      if (isRecord(r) && (r.state === "loaded" || r.state === "launched") && typeof r.hash === "string") {
        this.records.set(name, { state: r.state, hash: r.hash });
      }
    }
  }

  get map(): ReadonlyMap<string, LaunchRecord> {
    return this.records;
  }

  set(unit: string, record: LaunchRecord): void {
    const old = this.records.get(unit);
    if (old && old.state === record.state && old.hash === record.hash) return;
    this.records.set(unit, { ...record });
    this.dirty = true;
  }

  delete(unit: string): void {
    if (this.records.delete(unit)) this.dirty = true;
  }

  /** Writes the file if anything changed since the last save. */
  save(): void {
    if (!this.dirty) return;
    const units: Record<string, LaunchRecord> = {};
    for (const name of [...this.records.keys()].sort()) units[name] = this.records.get(name)!;
    try {
      writeJsonFile(this.path, { format: FORMAT, machineId: this.machineId, unitsDirectory: this.unitsDirectory, units });
      this.dirty = false;
    } catch (e) {
      this.log.warn(`Cannot save ${this.path}; a restart may start units again: ${errorText(e)}`);
    }
  }
}
