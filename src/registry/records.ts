// One decoder per kind of record in the keyspace (architecture.md §3). Every reader of etcd (the
// engine's and the agent's informers, Registry, and through it the API and the CLI's etcd driver)
// decodes here, and every writer encodes here, so nothing is stored that a reader would refuse.
// A decoder checks the shape and the values (names, ids, hashes, states, times, addresses) and
// that the key agrees with the record, and returns the record or a failure saying why: data,
// never a throw.
import { parseUnitFile, UnitFileError } from "../unit/unit-file.ts";
import { validateUnitName } from "../unit/unit-name.ts";
import { DESIRED_STATES, type Requirements, type ResourceRequest, type SpreadRule, type UnitOption } from "../unit/types.ts";
import { childName, childPair, type KeySpace } from "./keys.ts";
import type {
  DrainRecord, LeaderRecord, MachineCapacity, MachineRecord, PendingRecord, ScheduleEntry, UnitRecord, UnitStateRecord,
} from "./models.ts";
import {
  amountField, asObject, booleanField, check, describeJson, field, oneOf, optionalAmountField, optionalBooleanField, optionalOneOf,
  optionalStringField, ShapeError, stringField, stringListField, stringListMap, stringMap, type JsonObject,
} from "./record-shape.ts";
import { epochProblem, hashProblem, machineIdProblem, publicIpProblem, show, timeProblem } from "./record-values.ts";
import { sha1Hex } from "../lib/sha1.ts";
import type { RolloutRecord } from "../rollout/types.ts";
import { readRollout } from "./rollout-record.ts";
import { PENDING_KINDS } from "../scheduler/reasons.ts";

/** The key families of the keyspace; also the `kind` label of the invalid-records metric. */
export const RECORD_KINDS = [
  "units", "unitfiles", "schedule", "pending", "machines", "metadata", "drain", "states", "leader", "version", "rollouts",
] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

/** Why one stored record was refused. */
export interface RecordFailure {
  /** "unknown" only when a decoder outside this module failed. */
  kind: RecordKind | "unknown";
  key: string;
  reason: string;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; failure: RecordFailure };

/** The parts of an etcd key-value a decoder reads. */
export interface StoredValue {
  key: string;
  value: string;
}

/** A unit file, checked against its name (the hash of its text) and parsed. */
export interface UnitFileRecord {
  hash: string;
  text: string;
  options: UnitOption[];
}

/** What systemd may say (closed sets as of systemd 257); sub-states depend on the unit type. */
export const LOAD_STATES = ["stub", "loaded", "not-found", "bad-setting", "error", "merged", "masked"] as const;
export const ACTIVE_STATES = ["active", "reloading", "inactive", "failed", "activating", "deactivating", "maintenance", "refreshing"] as const;
const SUB_STATE = /^[a-z][a-z0-9-]{0,63}$/;

export interface RecordTypes {
  units: UnitRecord;
  unitfiles: UnitFileRecord;
  schedule: ScheduleEntry;
  pending: PendingRecord;
  machines: MachineRecord;
  metadata: Record<string, string>;
  drain: DrainRecord;
  states: UnitStateRecord;
  leader: LeaderRecord;
  version: number;
  rollouts: RolloutRecord;
}

type Decoder<K extends RecordKind> = (keys: KeySpace, kv: StoredValue) => Decoded<RecordTypes[K]>;

/** A failure for `kind` at `key`. */
export function recordFailure(kind: RecordKind, key: string, reason: string): { ok: false; failure: RecordFailure } {
  return { ok: false, failure: { kind, key, reason } };
}

/** Runs `read` on the parsed JSON, turning a ShapeError into the typed failure. */
function json<K extends RecordKind>(kind: K, kv: StoredValue, read: (v: unknown) => RecordTypes[K]): Decoded<RecordTypes[K]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(kv.value);
  } catch (e) {
    return recordFailure(kind, kv.key, `not JSON: ${kv.value === "" ? "the value is empty" : (e as Error).message}`);
  }
  try {
    return { ok: true, value: read(parsed) };
  } catch (e) {
    if (e instanceof ShapeError) return recordFailure(kind, kv.key, e.message);
    throw e;
  }
}

function keyUnit(name: string | undefined): string {
  if (name === undefined) throw new ShapeError("the key is not <prefix>/<kind>/<name>");
  const problem = validateUnitName(name);
  if (problem !== undefined) throw new ShapeError(`the key names an invalid unit ${show(name)}: ${problem}`);
  return name;
}

function keyMachine(id: string | undefined): string {
  if (id === undefined) throw new ShapeError("the key is not <prefix>/<kind>/<machine id>");
  const problem = machineIdProblem(id);
  if (problem !== undefined) throw new ShapeError(`the key names an invalid machine: ${problem}`);
  return id;
}

/** Fails before parsing when the key itself is wrong: no value can make it readable. */
function withKey<K extends RecordKind, P>(kind: K, kv: StoredValue, parts: () => P, read: (v: unknown, parts: P) => RecordTypes[K]): Decoded<RecordTypes[K]> {
  let p: P;
  try {
    p = parts();
  } catch (e) {
    if (e instanceof ShapeError) return recordFailure(kind, kv.key, e.message);
    throw e;
  }
  return json(kind, kv, (v) => read(v, p));
}

function requirements(v: unknown): Requirements {
  const o = asObject(v, 'field "requirements"');
  const out: Requirements = {
    machineOf: stringListField(o, "machineOf"),
    machineMetadata: stringListMap(field(o, "machineMetadata"), 'field "machineMetadata"'),
    conflicts: stringListField(o, "conflicts"),
    replaces: stringListField(o, "replaces"),
    global: booleanField(o, "global"),
  };
  const machineId = optionalStringField(o, "machineId");
  if (machineId !== undefined) out.machineId = machineId;
  // Both absent in records written before requests and spreading existed.
  if (field(o, "resources") !== undefined) out.resources = nested("resources", () => resourceRequest(field(o, "resources")));
  if (field(o, "spread") !== undefined) out.spread = nested("spread", () => spreadRule(field(o, "spread")));
  return out;
}

/** Reads a field of a nested object, naming that object in a failure. */
function nested<T>(name: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof ShapeError) throw new ShapeError(`field "${name}": ${e.message}`);
    throw e;
  }
}

function resourceRequest(v: unknown): ResourceRequest {
  const o = asObject(v, "the value");
  const out: ResourceRequest = {};
  const cpu = optionalAmountField(o, "cpuMillis");
  const memory = optionalAmountField(o, "memoryBytes");
  const weight = optionalAmountField(o, "cpuWeight");
  if (cpu !== undefined) out.cpuMillis = cpu;
  if (memory !== undefined) out.memoryBytes = memory;
  if (weight !== undefined) out.cpuWeight = weight;
  return out;
}

function spreadRule(v: unknown): SpreadRule {
  const o = asObject(v, "the value");
  return { key: stringField(o, "key", { nonEmpty: true }), pattern: stringField(o, "pattern", { nonEmpty: true }) };
}

function capacity(v: unknown): MachineCapacity {
  const o = asObject(v, "the value");
  const c: MachineCapacity = {
    cpuMillis: amountField(o, "cpuMillis"),
    memoryBytes: amountField(o, "memoryBytes"),
    allocatableCpuMillis: amountField(o, "allocatableCpuMillis"),
    allocatableMemoryBytes: amountField(o, "allocatableMemoryBytes"),
  };
  if (c.allocatableCpuMillis > c.cpuMillis) throw new ShapeError('field "allocatableCpuMillis" is more than field "cpuMillis"');
  if (c.allocatableMemoryBytes > c.memoryBytes) throw new ShapeError('field "allocatableMemoryBytes" is more than field "memoryBytes"');
  return c;
}

function hashField(o: JsonObject): string {
  const hash = stringField(o, "hash");
  check(hashProblem(hash), "hash");
  return hash;
}

function timeField(o: JsonObject, name: string): string {
  const t = stringField(o, name);
  check(timeProblem(t), name);
  return t;
}

export const decodeUnit: Decoder<"units"> = (keys, kv) =>
  withKey("units", kv, () => keyUnit(childName(keys.units, kv.key)), (v, name) => {
    const o = asObject(v);
    const recorded = stringField(o, "name");
    if (recorded !== name) throw new ShapeError(`the key names unit ${show(name)} but the record names ${show(recorded)}`);
    return {
      name,
      hash: hashField(o),
      desiredState: oneOf(o, "desiredState", DESIRED_STATES),
      global: booleanField(o, "global"),
      requirements: requirements(field(o, "requirements")),
      description: stringField(o, "description"),
    };
  });

/** A unit file is plain text, named by the SHA-1 of that text. */
export const decodeUnitFile: Decoder<"unitfiles"> = (keys, kv) => {
  const hash = childName(keys.unitFiles, kv.key);
  if (hash === undefined) return recordFailure("unitfiles", kv.key, "the key is not <prefix>/unitfiles/<hash>");
  const problem = hashProblem(hash);
  if (problem !== undefined) return recordFailure("unitfiles", kv.key, `in the key: ${problem}`);
  const actual = sha1Hex(kv.value);
  if (actual !== hash) return recordFailure("unitfiles", kv.key, `the text does not match its hash (it hashes to ${actual})`);
  try {
    return { ok: true, value: { hash, text: kv.value, options: parseUnitFile(kv.value) } };
  } catch (e) {
    if (e instanceof UnitFileError) return recordFailure("unitfiles", kv.key, `the text is not a unit file: ${e.message}`);
    throw e;
  }
};

/** The two names of a `<base><a>/<b>` key; `shape` says which, for the error. */
function keyPair(base: string, key: string, shape: string): [string, string] {
  const pair = childPair(base, key);
  if (!pair) throw new ShapeError(`the key is not ${shape}`);
  return pair;
}

export const decodeSchedule: Decoder<"schedule"> = (keys, kv) =>
  withKey("schedule", kv, () => {
    const [machine, unit] = keyPair(keys.schedules, kv.key, "<prefix>/schedule/<machine id>/<unit>");
    return [keyMachine(machine), keyUnit(unit)];
  }, (v) => {
    const o = asObject(v);
    const epoch = stringField(o, "epoch");
    check(epochProblem(epoch), "epoch");
    const entry: ScheduleEntry = { hash: hashField(o), desiredState: oneOf(o, "desiredState", ["loaded", "launched"] as const), epoch };
    // Why the engine put it there, and where it moved from: only for the event stream.
    const reason = optionalStringField(o, "reason");
    if (reason !== undefined) entry.reason = reason;
    if (field(o, "moved") !== undefined) entry.moved = movedFrom(field(o, "moved"));
    const text = optionalStringField(o, "text");
    if (text !== undefined) {
      // Content-addressed like unitfiles/: a text that is not the hash's is never run.
      const actual = sha1Hex(text);
      if (actual !== entry.hash) throw new ShapeError(`field "text" does not match field "hash" (it hashes to ${actual})`);
      entry.text = text;
    }
    return entry;
  });

function movedFrom(v: unknown): { from: string; reason: string } {
  const o = asObject(v, 'field "moved"');
  try {
    const from = stringField(o, "from");
    check(machineIdProblem(from), "from");
    return { from, reason: stringField(o, "reason") };
  } catch (e) {
    if (e instanceof ShapeError) throw new ShapeError(`field "moved": ${e.message}`);
    throw e;
  }
}

export const decodePending: Decoder<"pending"> = (keys, kv) =>
  withKey("pending", kv, () => keyUnit(childName(keys.pendings, kv.key)), (v) => {
    const o = asObject(v);
    const out: PendingRecord = { reason: stringField(o, "reason", { nonEmpty: true }), since: timeField(o, "since") };
    const kind = optionalOneOf(o, "kind", PENDING_KINDS);
    const machine = optionalStringField(o, "machine");
    if (machine !== undefined) check(machineIdProblem(machine), "machine");
    // A reason about a machine names it; a unit no machine takes waits about none.
    if (kind === undefined) {
      if (machine !== undefined) throw new ShapeError('field "machine" is set but field "kind" is missing');
      return out;
    }
    const machineless = kind === "no-fit" || kind === "partial";
    if (machineless && machine !== undefined) throw new ShapeError(`field "machine" is set, but a ${show(kind)} reason names no machine`);
    if (!machineless && machine === undefined) throw new ShapeError(`field "machine" is missing: a ${show(kind)} reason names its machine`);
    out.kind = kind;
    if (machine !== undefined) out.machine = machine;
    return out;
  });

export const decodeMachine: Decoder<"machines"> = (keys, kv) =>
  withKey("machines", kv, () => keyMachine(childName(keys.machines, kv.key)), (v, id) => {
    const o = asObject(v);
    const recorded = stringField(o, "id");
    if (recorded !== id) throw new ShapeError(`the key names machine ${show(id)} but the record names ${show(recorded)}`);
    const publicIP = stringField(o, "publicIP");
    check(publicIpProblem(publicIP), "publicIP");
    const out: MachineRecord = {
      id,
      publicIP,
      metadata: stringMap(field(o, "metadata"), 'field "metadata"'),
      version: stringField(o, "version"),
      startedAt: timeField(o, "startedAt"),
    };
    const drained = optionalBooleanField(o, "drained");
    if (drained !== undefined) out.drained = drained;
    const disableEngine = optionalBooleanField(o, "disableEngine");
    if (disableEngine !== undefined) out.disableEngine = disableEngine;
    if (field(o, "capacity") !== undefined) out.capacity = nested("capacity", () => capacity(field(o, "capacity")));
    const stopped = optionalBooleanField(o, "stopped");
    if (stopped !== undefined) out.stopped = stopped;
    return out;
  });

export const decodeMetadata: Decoder<"metadata"> = (keys, kv) =>
  withKey("metadata", kv, () => keyMachine(childName(keys.metadatas, kv.key)), (v) => stringMap(v, "the value"));

export const decodeDrain: Decoder<"drain"> = (keys, kv) =>
  withKey("drain", kv, () => keyMachine(childName(keys.drains, kv.key)), (v) => ({ since: timeField(asObject(v), "since") }));

export const decodeState: Decoder<"states"> = (keys, kv) =>
  withKey("states", kv, () => {
    const [unit, machine] = keyPair(keys.states, kv.key, "<prefix>/states/<unit>/<machine id>");
    return [keyUnit(unit), keyMachine(machine)];
  }, (v) => {
    const o = asObject(v);
    const subState = stringField(o, "subState");
    if (!SUB_STATE.test(subState)) throw new ShapeError(`field "subState" is ${show(subState)}, not a systemd sub-state`);
    // `reason` is only there when the agent refused the unit (e.g. shadowing a host unit).
    const reason = optionalStringField(o, "reason");
    const mainPid = field(o, "mainPid");
    if (mainPid !== undefined && (typeof mainPid !== "number" || !Number.isSafeInteger(mainPid) || mainPid < 1)) {
      throw new ShapeError(`field "mainPid" is ${describeJson(mainPid)}, not a process ID`);
    }
    return {
      loadState: oneOf(o, "loadState", LOAD_STATES),
      activeState: oneOf(o, "activeState", ACTIVE_STATES),
      subState,
      hash: hashField(o),
      since: timeField(o, "since"),
      ...(reason !== undefined ? { reason } : {}),
      ...(mainPid !== undefined ? { mainPid } : {}),
    };
  });

function leaderValue(v: unknown): LeaderRecord {
  const o = asObject(v);
  const machineID = stringField(o, "machineID");
  check(machineIdProblem(machineID), "machineID");
  return { machineID, since: timeField(o, "since") };
}

export const decodeLeader: Decoder<"leader"> = (keys, kv) =>
  withKey("leader", kv, () => {
    if (kv.key !== keys.leader) throw new ShapeError(`the key is not ${keys.leader}`);
  }, leaderValue);

/** The leader record at the key an election was given (it knows its key, not the key space). */
export function decodeLeaderAt(kv: StoredValue): Decoded<LeaderRecord> {
  return json("leader", kv, leaderValue);
}

/** The JSON of a leader record, checked like encodeRecord. */
export function encodeLeaderAt(key: string, record: LeaderRecord): string {
  const value = JSON.stringify(record);
  const decoded = decodeLeaderAt({ key, value });
  if (!decoded.ok) throw new InvalidRecordError(decoded.failure);
  return value;
}

export const decodeVersion: Decoder<"version"> = (keys, kv) =>
  withKey("version", kv, () => {
    if (kv.key !== keys.version) throw new ShapeError(`the key is not ${keys.version}`);
  }, (v) => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new ShapeError(`the value is ${describeJson(v)}, not a schema version (a positive integer)`);
    return v;
  });

/** `[machine id, unit]` of a schedule key whose parts are valid, whatever its value holds. */
export function scheduleKeyParts(keys: KeySpace, key: string): [string, string] | undefined {
  const pair = childPair(keys.schedules, key);
  if (!pair || machineIdProblem(pair[0]) !== undefined || validateUnitName(pair[1]) !== undefined) return undefined;
  return pair;
}

/** The unit a pending key names, when it is a valid unit name, whatever its value holds. */
export function pendingKeyUnit(keys: KeySpace, key: string): string | undefined {
  const name = childName(keys.pendings, key);
  return name !== undefined && validateUnitName(name) === undefined ? name : undefined;
}

export const decodeRollout: Decoder<"rollouts"> = (keys, kv) =>
  withKey("rollouts", kv, () => keyUnit(childName(keys.rollouts, kv.key)), (v, name) => readRollout(v, name));

export const RECORD_DECODERS: { [K in RecordKind]: Decoder<K> } = {
  units: decodeUnit, unitfiles: decodeUnitFile, schedule: decodeSchedule, pending: decodePending,
  machines: decodeMachine, metadata: decodeMetadata, drain: decodeDrain, states: decodeState,
  leader: decodeLeader, version: decodeVersion, rollouts: decodeRollout,
};

/** Decodes `kv` as a record of `kind`. */
export function decodeRecord<K extends RecordKind>(kind: K, keys: KeySpace, kv: StoredValue): Decoded<RecordTypes[K]> {
  return (RECORD_DECODERS[kind] as unknown as Decoder<K>)(keys, kv);
}

/** The kind of record a key holds, by its family; undefined outside the keyspace. */
export function kindOfKey(keys: KeySpace, key: string): RecordKind | undefined {
  if (key === keys.leader) return "leader";
  if (key === keys.version) return "version";
  const families: [string, RecordKind][] = [
    [keys.units, "units"], [keys.unitFiles, "unitfiles"], [keys.schedules, "schedule"], [keys.pendings, "pending"],
    [keys.machines, "machines"], [keys.metadatas, "metadata"], [keys.drains, "drain"], [keys.states, "states"], [keys.rollouts, "rollouts"],
  ];
  return families.find(([prefix]) => key.startsWith(prefix))?.[1];
}

/** A record a writer was about to store, refused because a reader would refuse it. */
export class InvalidRecordError extends Error {
  override readonly name = "InvalidRecordError";
  constructor(readonly failure: RecordFailure) {
    super(`Refusing to write ${failure.key}: ${failure.reason}`);
  }
}

/**
 * The JSON to store at `key` for `record`, checked by the very decoder that will read it back;
 * throws InvalidRecordError instead of writing what no reader would accept.
 */
export function encodeRecord<K extends Exclude<RecordKind, "unitfiles">>(kind: K, keys: KeySpace, key: string, record: RecordTypes[K]): string {
  const value = JSON.stringify(record);
  const decoded = decodeRecord(kind, keys, { key, value });
  if (!decoded.ok) throw new InvalidRecordError(decoded.failure);
  return value;
}

/** The text to store at `<prefix>/unitfiles/<hash>`, checked like encodeRecord. */
export function encodeUnitFile(keys: KeySpace, hash: string, text: string): string {
  const decoded = decodeUnitFile(keys, { key: keys.unitFile(hash), value: text });
  if (!decoded.ok) throw new InvalidRecordError(decoded.failure);
  return text;
}
