// The decoder of `<p>/rollouts/<unit>` (rollout/types.ts), in the style of records.ts: the shape
// and the values checked, the key agreeing with the record, a failure as data. Kept apart from
// records.ts only for its length; records.ts lists it with the other kinds.
import { validateUnitName } from "../unit/unit-name.ts";
import {
  ROLLOUT_STATES, TARGET_PHASES, type RolloutEvent, type RolloutLogEntry, type RolloutPolicy, type RolloutRecord, type RolloutTarget,
} from "../rollout/types.ts";
import { asObject, booleanField, check, field, oneOf, optionalStringField, ShapeError, stringField, type JsonObject } from "./record-shape.ts";
import { hashProblem, machineIdProblem, show, timeProblem } from "./record-values.ts";

function count(o: JsonObject, name: string, min: number): number {
  const v = field(o, name);
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) throw new ShapeError(`field "${name}" is ${JSON.stringify(v) ?? "missing"}, not a whole number of at least ${min}`);
  return v;
}

function hashAt(o: JsonObject, name: string): string {
  const h = stringField(o, name);
  check(hashProblem(h), name);
  return h;
}

function timeAt(o: JsonObject, name: string): string {
  const t = stringField(o, name);
  check(timeProblem(t), name);
  return t;
}

function unitAt(o: JsonObject, name: string): string {
  const u = stringField(o, name);
  const problem = validateUnitName(u);
  if (problem !== undefined) throw new ShapeError(`field "${name}": ${problem}`);
  return u;
}

function optionalMachine(o: JsonObject): { machine?: string } {
  const machine = optionalStringField(o, "machine");
  if (machine === undefined) return {};
  check(machineIdProblem(machine), "machine");
  return { machine };
}

/** Field errors inside a list item name the item: `field "targets" item 2: ...`. */
function items<T>(o: JsonObject, name: string, read: (v: JsonObject) => T): T[] {
  const v = field(o, name);
  if (!Array.isArray(v)) throw new ShapeError(`field "${name}" is ${v === undefined ? "missing" : "not a list"}`);
  return v.map((item, i) => {
    try {
      return read(asObject(item, "it"));
    } catch (e) {
      if (e instanceof ShapeError) throw new ShapeError(`field "${name}" item ${i + 1}: ${e.message}`);
      throw e;
    }
  });
}

function policy(v: unknown): RolloutPolicy {
  const o = asObject(v, 'field "policy"');
  try {
    return {
      maxParallel: count(o, "maxParallel", 1),
      minHealthyMs: count(o, "minHealthyMs", 0),
      deadlineMs: count(o, "deadlineMs", 1),
      autoRevert: booleanField(o, "autoRevert"),
    };
  } catch (e) {
    if (e instanceof ShapeError) throw new ShapeError(`field "policy": ${e.message}`);
    throw e;
  }
}

function target(o: JsonObject): RolloutTarget {
  const t: RolloutTarget = { instance: unitAt(o, "instance"), ...optionalMachine(o), from: hashAt(o, "from"), phase: oneOf(o, "phase", TARGET_PHASES) };
  if (field(o, "changedAt") !== undefined) t.changedAt = timeAt(o, "changedAt");
  if (field(o, "seen") !== undefined) {
    const s = asObject(field(o, "seen"), 'field "seen"');
    t.seen = { pid: count(s, "pid", 0), since: timeAt(s, "since") };
  }
  if (t.phase !== "old" && t.changedAt === undefined) throw new ShapeError(`field "changedAt" is missing for phase ${show(t.phase)}`);
  return t;
}

const EVENT_KINDS = ["started", "joined", "left", "replace", "healthy", "unhealthy", "revert", "reverted", "paused", "resumed", "abort-requested", "finished"] as const;

/**
 * A log entry: its number, time and kind are checked; the event's other fields are only for
 * rendering, and were written by the same code that renders them.
 */
function logEntry(o: JsonObject): RolloutLogEntry {
  const event = asObject(field(o, "event"), 'field "event"');
  oneOf(event, "kind", EVENT_KINDS);
  return { n: count(o, "n", 1), at: timeAt(o, "at"), event: event as unknown as RolloutEvent };
}

/** Reads a rollout record whose key names `name`. Throws ShapeError. */
export function readRollout(v: unknown, name: string): RolloutRecord {
  const o = asObject(v);
  const unit = stringField(o, "unit");
  if (unit !== name) throw new ShapeError(`the key names unit ${show(name)} but the record names ${show(unit)}`);
  const rec: RolloutRecord = {
    unit,
    to: hashAt(o, "to"),
    description: stringField(o, "description"),
    policy: policy(field(o, "policy")),
    state: oneOf(o, "state", ROLLOUT_STATES),
    createdAt: timeAt(o, "createdAt"),
    targets: items(o, "targets", target),
    started: booleanField(o, "started"),
    log: items(o, "log", logEntry),
  };
  if (rec.policy.deadlineMs <= rec.policy.minHealthyMs) throw new ShapeError('field "policy": the deadline is not longer than the minimum healthy time');
  return rec;
}
