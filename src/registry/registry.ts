// Typed reads and writes of fleet's records in etcd, shared by the API, the CLI's etcd driver,
// the engine and the agent. Raw etcd stays in src/registry/etcd/; JSON shapes in models.ts;
// every value read or written goes through its decoder in records.ts. A stored record that
// fails its decoder is treated as absent (told about once, see invalid-records.ts): it never
// fails a listing or a lookup of other records, and a write of the same key replaces it.
import type { Logger } from "../log/logger.ts";
import type { EtcdClient } from "./etcd/client.ts";
import type { KeyValue } from "./etcd/types.ts";
import { cmp, op } from "./etcd/txn.ts";
import { invalidRecords, type InvalidRecords } from "./invalid-records.ts";
import { childName, childPair, keySpace, type KeySpace } from "./keys.ts";
import type {
  DrainRecord, LeaderRecord, MachineRecord, PendingRecord, ScheduleEntry, UnitRecord, UnitStateRecord,
} from "./models.ts";
import { decodeRecord, encodeRecord, encodeUnitFile, type RecordKind, type RecordTypes, type UnitFileRecord } from "./records.ts";
import type { DesiredState } from "../unit/types.ts";
import { byName } from "../lib/compare.ts";
import { compareStrings } from "../lib/compare.ts";

/** A registry operation that could not complete (too many concurrent changes). */
export class RegistryError extends Error {
  constructor(message: string, readonly key?: string) {
    super(message);
    this.name = "RegistryError";
  }
}

export interface RegistryOptions {
  /** Where a skipped record is told about (the daemon's logger, or fleetctl's stderr). */
  log?: Pick<Logger, "warn">;
  invalid?: InvalidRecords;
}

export interface MachineView extends MachineRecord {
  /** Config metadata with the dynamic metadata merged over it (an empty value deletes a key). */
  metadata: Record<string, string>;
}

export interface UnitStateView extends UnitStateRecord {
  name: string;
  machineId: string;
}

export class Registry {
  readonly keys: KeySpace;
  /** Where this registry's readers tell about skipped records; the engine and agent share it. */
  readonly invalid: InvalidRecords;

  constructor(readonly etcd: EtcdClient, prefix: string, private readonly opts: RegistryOptions = {}) {
    this.keys = keySpace(prefix);
    this.invalid = opts.invalid ?? invalidRecords;
  }

  /** The decoded record, or undefined (told about once) when its decoder refuses it. */
  read<K extends RecordKind>(kind: K, kv: KeyValue): RecordTypes[K] | undefined {
    const decoded = decodeRecord(kind, this.keys, kv);
    if (decoded.ok) return decoded.value;
    this.invalid.report(decoded.failure, kv.modRevision, this.opts.log);
    return undefined;
  }

  /** Each readable record with its key, in key order. */
  private readAll<K extends RecordKind>(kind: K, kvs: readonly KeyValue[]): [KeyValue, RecordTypes[K]][] {
    const out: [KeyValue, RecordTypes[K]][] = [];
    for (const kv of kvs) {
      const value = this.read(kind, kv);
      if (value !== undefined) out.push([kv, value]);
    }
    return out;
  }

  private unitOps(unit: UnitRecord, text: string) {
    const key = this.keys.unit(unit.name);
    return {
      key,
      file: op.put(this.keys.unitFile(unit.hash), encodeUnitFile(this.keys, unit.hash, text)),
      record: op.put(key, encodeRecord("units", this.keys, key, unit)),
    };
  }

  // ---- units and unit files ------------------------------------------------------------

  async getUnit(name: string): Promise<UnitRecord | undefined> {
    const kv = await this.etcd.get(this.keys.unit(name));
    return kv ? this.read("units", kv) : undefined;
  }

  async listUnits(): Promise<UnitRecord[]> {
    const { kvs } = await this.etcd.range(this.keys.units, { prefix: true });
    return this.readAll("units", kvs).map(([, u]) => u).sort(byName);
  }

  /** The unit file with this hash: its text (which hashes to it) and its options. */
  async getUnitFile(hash: string): Promise<UnitFileRecord | undefined> {
    const kv = await this.etcd.get(this.keys.unitFile(hash));
    return kv ? this.read("unitfiles", kv) : undefined;
  }

  /**
   * Creates a unit and its content-addressed file in one transaction. Returns false, writing
   * nothing, when a unit of that name already exists.
   */
  async createUnit(unit: UnitRecord, text: string): Promise<boolean> {
    return (await this.createUnitOrGet(unit, text)).created;
  }

  /**
   * createUnit() that, when the unit exists, writes nothing and returns the existing record from
   * the same transaction: one request whether it creates or not. `existing` is undefined when
   * the stored record cannot be read (the caller may replace it).
   */
  async createUnitOrGet(unit: UnitRecord, text: string): Promise<{ created: true } | { created: false; existing: UnitRecord | undefined }> {
    const { key, file, record } = this.unitOps(unit, text);
    const res = await this.etcd.txn({
      compare: [cmp.createRevision(key, "=", 0)],
      success: [file, record],
      failure: [op.get(key)],
    });
    if (res.succeeded) return { created: true };
    const got = res.responses[0];
    const kv = got?.type === "range" ? got.kvs[0] : undefined;
    return { created: false, existing: kv ? this.read("units", kv) : undefined };
  }

  /** Overwrites a unit (used by --replace): the file is stored first so readers never miss it. */
  async replaceUnit(unit: UnitRecord, text: string): Promise<void> {
    const { file, record } = this.unitOps(unit, text);
    await this.etcd.txn({ compare: [], success: [file, record] });
  }

  /**
   * Sets a unit's desired state without losing a concurrent change: compare-and-swap on the
   * record's mod revision, retried a few times. Returns false when the unit does not exist.
   */
  async setDesiredState(name: string, desiredState: DesiredState): Promise<boolean> {
    const key = this.keys.unit(name);
    for (let attempt = 0; attempt < 10; attempt++) {
      const kv = await this.etcd.get(key);
      const unit = kv ? this.read("units", kv) : undefined;
      if (!kv || !unit) return false;
      if (unit.desiredState === desiredState) return true;
      const res = await this.etcd.txn({
        compare: [cmp.modRevision(key, "=", kv.modRevision)],
        success: [op.put(key, encodeRecord("units", this.keys, key, { ...unit, desiredState }))],
      });
      if (res.succeeded) return true;
    }
    throw new RegistryError(`Cannot set the desired state of ${name}: too many concurrent changes`, key);
  }

  /** Deletes a unit; the engine then unschedules it and removes its unreferenced file. */
  async destroyUnit(name: string): Promise<boolean> {
    const res = await this.etcd.delete(this.keys.unit(name));
    return res.deleted > 0;
  }

  // ---- machines and metadata -------------------------------------------------------------

  async listMachines(): Promise<MachineView[]> {
    const [machines, dynamic, drains] = await Promise.all([
      this.etcd.range(this.keys.machines, { prefix: true }),
      this.etcd.range(this.keys.metadatas, { prefix: true }),
      this.etcd.range(this.keys.drains, { prefix: true }),
    ]);
    const drained = new Set(this.readAll("drain", drains.kvs).map(([kv]) => childName(this.keys.drains, kv.key)));
    const meta = new Map<string, Record<string, string>>();
    for (const [kv, m] of this.readAll("metadata", dynamic.kvs)) meta.set(childName(this.keys.metadatas, kv.key)!, m);
    return this.readAll("machines", machines.kvs)
      .map(([, m]) => {
        const view: MachineView = { ...m, metadata: mergeMetadata(m.metadata, meta.get(m.id)) };
        // The drain mark lives apart from the lease-bound record; a record's own flag is ignored.
        delete view.drained;
        if (drained.has(m.id)) view.drained = true;
        return view;
      })
      .sort((a, b) => compareStrings(a.id, b.id));
  }

  async getDynamicMetadata(machineId: string): Promise<Record<string, string>> {
    const kv = await this.etcd.get(this.keys.metadata(machineId));
    return (kv && this.read("metadata", kv)) || {};
  }

  /**
   * Sets (or, with value undefined, deletes) dynamic metadata keys of one machine atomically.
   * An empty string is kept: it hides a config key of the same name (compatibility.md §8.3).
   */
  async updateDynamicMetadata(machineId: string, changes: Record<string, string | undefined>): Promise<Record<string, string>> {
    const key = this.keys.metadata(machineId);
    for (let attempt = 0; attempt < 10; attempt++) {
      const kv = await this.etcd.get(key);
      // An unreadable record is replaced: it held nothing anyone could use.
      const current = (kv && this.read("metadata", kv)) || {};
      const next: Record<string, string> = { ...current };
      for (const [k, v] of Object.entries(changes)) {
        if (v === undefined) delete next[k];
        else next[k] = v;
      }
      const res = await this.etcd.txn({
        compare: [kv ? cmp.modRevision(key, "=", kv.modRevision) : cmp.createRevision(key, "=", 0)],
        success: [Object.keys(next).length ? op.put(key, encodeRecord("metadata", this.keys, key, next)) : op.del(key)],
      });
      if (res.succeeded) return next;
    }
    throw new RegistryError(`Cannot update metadata of machine ${machineId}: too many concurrent changes`, key);
  }

  // ---- drain --------------------------------------------------------------------------------

  /**
   * Marks a machine drained. Returns false, writing nothing, when it already was: the first
   * `since` is kept so the time shown is when maintenance began.
   */
  async setDrain(machineId: string, since: Date = new Date()): Promise<boolean> {
    const key = this.keys.drain(machineId);
    const record: DrainRecord = { since: since.toISOString() };
    const res = await this.etcd.txn({
      compare: [cmp.createRevision(key, "=", 0)],
      success: [op.put(key, encodeRecord("drain", this.keys, key, record))],
    });
    return res.succeeded;
  }

  /** Removes a machine's drain mark; false when it was not drained. */
  async clearDrain(machineId: string): Promise<boolean> {
    const res = await this.etcd.delete(this.keys.drain(machineId));
    return res.deleted > 0;
  }

  /** Drained machines (live or not): machine id -> record. */
  async listDrains(): Promise<Map<string, DrainRecord>> {
    const { kvs } = await this.etcd.range(this.keys.drains, { prefix: true });
    const out = new Map<string, DrainRecord>();
    for (const [kv, d] of this.readAll("drain", kvs)) out.set(childName(this.keys.drains, kv.key)!, d);
    return out;
  }

  // ---- schedule, pending, states, leader ------------------------------------------------

  /** Every schedule entry: unit name -> machine id -> entry. */
  async listSchedule(): Promise<Map<string, Map<string, ScheduleEntry>>> {
    const { kvs } = await this.etcd.range(this.keys.schedules, { prefix: true });
    const out = new Map<string, Map<string, ScheduleEntry>>();
    for (const [kv, entry] of this.readAll("schedule", kvs)) {
      const [machineId, unit] = childPair(this.keys.schedules, kv.key)!;
      let m = out.get(unit);
      if (!m) out.set(unit, (m = new Map()));
      m.set(machineId, entry);
    }
    return out;
  }

  async listPending(): Promise<Map<string, PendingRecord>> {
    const { kvs } = await this.etcd.range(this.keys.pendings, { prefix: true });
    const out = new Map<string, PendingRecord>();
    for (const [kv, p] of this.readAll("pending", kvs)) out.set(childName(this.keys.pendings, kv.key)!, p);
    return out;
  }

  async getPending(unit: string): Promise<PendingRecord | undefined> {
    const kv = await this.etcd.get(this.keys.pending(unit));
    return kv ? this.read("pending", kv) : undefined;
  }

  /** Unit states, optionally only those of the given units and/or machines. */
  async listStates(filter: { units?: string[]; machines?: string[] } = {}): Promise<UnitStateView[]> {
    const ranges = filter.units?.length
      ? await Promise.all(filter.units.map((u) => this.etcd.range(this.keys.unitStates(u), { prefix: true })))
      : [await this.etcd.range(this.keys.states, { prefix: true })];
    const machines = filter.machines?.length ? new Set(filter.machines) : undefined;
    const out: UnitStateView[] = [];
    for (const { kvs } of ranges) {
      for (const kv of kvs) {
        const pair = childPair(this.keys.states, kv.key);
        if (!pair || (machines && !machines.has(pair[1]))) continue;
        const state = this.read("states", kv);
        if (state) out.push({ ...state, name: pair[0], machineId: pair[1] });
      }
    }
    return out.sort((a, b) => compareStrings(a.name, b.name) || compareStrings(a.machineId, b.machineId));
  }

  async getLeader(): Promise<(LeaderRecord & { epoch: number }) | undefined> {
    const kv = await this.etcd.get(this.keys.leader);
    const leader = kv && this.read("leader", kv);
    return kv && leader ? { ...leader, epoch: kv.createRevision } : undefined;
  }
}

/** Dynamic metadata over config metadata; an empty dynamic value deletes the key. */
export function mergeMetadata(config: Record<string, string> | undefined, dynamic: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = { ...(config ?? {}) };
  for (const [k, v] of Object.entries(dynamic ?? {})) {
    if (v === "") delete out[k];
    else out[k] = v;
  }
  return out;
}


