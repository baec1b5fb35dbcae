// The registry's decoders: every kind of record of the keyspace, checked for shape and values,
// with the key agreeing with the record; a refusal is a typed failure naming the key and why.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { keySpace } from "../../src/registry/keys.ts";
import type { MachineRecord, PendingRecord, ScheduleEntry } from "../../src/registry/models.ts";
import {
  decodeRecord, encodeRecord, encodeUnitFile, InvalidRecordError, kindOfKey, RECORD_KINDS, type RecordKind,
} from "../../src/registry/records.ts";
import { emptyRequirements } from "../../src/unit/types.ts";

const k = keySpace("/fleet/");
const M = "0123456789abcdef0123456789abcdef";
const H = "a".repeat(40);
const NOW = "2024-05-01T12:00:00.000Z";
const TEXT = "[Service]\nExecStart=/bin/true\n";
const TEXT_HASH = createHash("sha1").update(TEXT).digest("hex");

const good: Record<RecordKind, { key: string; value: unknown }> = {
  units: {
    key: k.unit("web@1.service"),
    value: { name: "web@1.service", hash: H, desiredState: "launched", global: false, requirements: emptyRequirements(), description: "Web" },
  },
  unitfiles: { key: k.unitFile(TEXT_HASH), value: TEXT },
  schedule: { key: k.schedule(M, "web@1.service"), value: { hash: H, desiredState: "loaded", epoch: "17" } },
  pending: { key: k.pending("web@1.service"), value: { reason: "no machine fits", since: NOW } },
  machines: { key: k.machine(M), value: { id: M, publicIP: "10.0.0.1", metadata: { region: "eu" }, version: "1.0.0", startedAt: NOW, disableEngine: true } },
  metadata: { key: k.metadata(M), value: { role: "db", region: "" } },
  drain: { key: k.drain(M), value: { since: NOW } },
  states: { key: k.state("web@1.service", M), value: { loadState: "loaded", activeState: "active", subState: "running", hash: H, since: NOW } },
  leader: { key: k.leader, value: { machineID: M, since: NOW } },
  version: { key: k.version, value: 1 },
  rollouts: {
    key: k.rollout("web@.service"),
    value: {
      unit: "web@.service", to: H, description: "Web", policy: { maxParallel: 2, minHealthyMs: 1000, deadlineMs: 60_000, autoRevert: true }, state: "running",
      createdAt: NOW, targets: [{ instance: "web@1.service", from: H, phase: "updating", changedAt: NOW, seen: { pid: 7, since: NOW } }], started: true,
      log: [{ n: 1, at: NOW, event: { kind: "started", targets: 1, to: H } }],
    },
  },
};

function stored(kind: RecordKind, value: unknown = good[kind].value, key = good[kind].key) {
  return { key, value: typeof value === "string" && kind === "unitfiles" ? value : JSON.stringify(value) };
}

function reason(kind: RecordKind, value: unknown, key?: string, raw = false): string | undefined {
  const kv = raw ? { key: key ?? good[kind].key, value: value as string } : stored(kind, value, key);
  const d = decodeRecord(kind, k, kv);
  if (d.ok) return undefined;
  expect(d.failure.kind).toBe(kind);
  expect(d.failure.key).toBe(kv.key);
  return d.failure.reason;
}

describe("every kind of record", () => {
  test.each(RECORD_KINDS)("a well-formed %s record decodes, and its key is known to be of its kind", (kind) => {
    const d = decodeRecord(kind, k, stored(kind));
    expect(d.ok).toBe(true);
    expect(kindOfKey(k, good[kind].key)).toBe(kind);
  });

  test.each(RECORD_KINDS.filter((kind) => kind !== "unitfiles"))("%s: null, a list, a number, truncated and empty values are refused", (kind) => {
    expect(reason(kind, null)).toMatch(/null/);
    expect(reason(kind, [])).toMatch(/an array|not a/);
    if (kind !== "version") expect(reason(kind, 7)).toBe("the value is the number 7, not a JSON object");
    const json = JSON.stringify(good[kind].value);
    expect(reason(kind, json.slice(0, json.length - 1), undefined, true)).toStartWith("not JSON: ");
    expect(reason(kind, "", undefined, true)).toBe("not JSON: the value is empty");
  });

  test("a decoded record carries only the fields it knows, copied", () => {
    const d = decodeRecord("machines", k, stored("machines", { ...(good.machines.value as object), extra: "x" }));
    expect(d.ok && Object.keys(d.value)).toEqual(["id", "publicIP", "metadata", "version", "startedAt", "disableEngine"]);
  });
});

describe("values", () => {
  const unit = good.units.value as Record<string, unknown>;
  const machine = good.machines.value as Record<string, unknown>;
  const state = good.states.value as Record<string, unknown>;

  test("units: the name agrees with the key and is a valid unit name; hash, state and shape are checked", () => {
    expect(reason("units", {})).toBe('field "name" is missing, not a string');
    expect(reason("units", { ...unit, name: "other.service" })).toBe('the key names unit "web@1.service" but the record names "other.service"');
    expect(reason("units", { ...unit, name: "a@b@c.service" }, k.unit("a@b@c.service")))
      .toBe('the key names an invalid unit "a@b@c.service": unit name "a@b@c.service" has more than one "@"');
    expect(reason("units", unit, k.unit("x.busname"))).toStartWith('the key names an invalid unit "x.busname": unit type "busname"');
    expect(reason("units", { ...unit, hash: "A".repeat(40) })).toBe(`field "hash": "${"A".repeat(40)}" is not a SHA-1 hash (40 lowercase hex digits)`);
    expect(reason("units", { ...unit, desiredState: "running" })).toBe('field "desiredState" is "running", not one of inactive, loaded, launched');
    expect(reason("units", { ...unit, global: "no" })).toBe('field "global" is the string "no", not true or false');
    expect(reason("units", { ...unit, requirements: null })).toBe('field "requirements" is null, not a JSON object');
    expect(reason("units", { ...unit, requirements: { ...emptyRequirements(), machineOf: [1] } })).toBe('field "machineOf" holds the number 1, not only strings');
    expect(reason("units", { ...unit, requirements: { ...emptyRequirements(), machineMetadata: { r: "eu" } } }))
      .toBe('field "machineMetadata": key "r" is the string "eu", not a list of strings');
  });

  test("unit files: named by the hash of their text, and a unit file", () => {
    expect(reason("unitfiles", "[Service]\nExecStart=/bin/false\n")).toStartWith("the text does not match its hash (it hashes to ");
    expect(reason("unitfiles", TEXT, k.unitFile("zz"))).toBe('in the key: "zz" is not a SHA-1 hash (40 lowercase hex digits)');
    const junk = "[Service\nnot a unit";
    const junkHash = createHash("sha1").update(junk).digest("hex");
    expect(reason("unitfiles", junk, k.unitFile(junkHash))).toStartWith("the text is not a unit file: ");
  });

  test("schedule: the key names a valid machine and unit; hash, desired state and epoch", () => {
    const e = good.schedule.value as Record<string, unknown>;
    expect(reason("schedule", { ...e, desiredState: "inactive" })).toBe('field "desiredState" is "inactive", not one of loaded, launched');
    expect(reason("schedule", { ...e, epoch: 17 })).toBe('field "epoch" is the number 17, not a string');
    expect(reason("schedule", { ...e, epoch: "-1" })).toBe('field "epoch": "-1" is not an engine epoch (a positive revision number)');
    expect(reason("schedule", e, k.schedule("-oProxyCommand=x", "web@1.service")))
      .toStartWith('the key names an invalid machine: "-oProxyCommand=x" is not a machine ID');
    expect(reason("schedule", e, `${k.schedules}${M}/a/b.service`)).toBe("the key is not <prefix>/schedule/<machine id>/<unit>");
  });

  test("schedule: the optional text must be the one the hash names", () => {
    const e = { ...(good.schedule.value as Record<string, unknown>), hash: TEXT_HASH };
    expect(decodeRecord("schedule", k, stored("schedule", { ...e, text: TEXT }))).toEqual({ ok: true, value: { ...e, text: TEXT } as ScheduleEntry });
    expect(reason("schedule", { ...e, text: `${TEXT}# more\n` })).toStartWith('field "text" does not match field "hash" (it hashes to ');
    expect(reason("schedule", { ...e, text: 7 })).toBe('field "text" is the number 7, not a string');
  });

  test("schedule: the optional placement reason and move are checked when present", () => {
    const e = good.schedule.value as Record<string, unknown>;
    const moved = { ...(e as unknown as ScheduleEntry), reason: "least loaded fitting machine", moved: { from: M, reason: "machine 01234567 went away" } };
    expect(decodeRecord("schedule", k, stored("schedule", moved))).toEqual({ ok: true, value: moved });
    expect(reason("schedule", { ...e, reason: 3 })).toBe('field "reason" is the number 3, not a string');
    expect(reason("schedule", { ...e, moved: "m1" })).toBe('field "moved" is the string "m1", not a JSON object');
    expect(reason("schedule", { ...e, moved: { from: "-x", reason: "r" } })).toStartWith('field "moved": field "from": "-x" is not a machine ID');
    expect(reason("schedule", { ...e, moved: { from: M } })).toBe('field "moved": field "reason" is missing, not a string');
  });

  test("machines: the id agrees with the key, the public IP is an address, metadata maps strings to strings", () => {
    expect(reason("machines", { ...machine, id: "someone-else" })).toBe(`the key names machine "${M}" but the record names "someone-else"`);
    for (const ip of ["-oProxyCommand=touch /tmp/x", "example.com", "10.0.0.1 -p 2", "fe80::1%eth0", "1.2.3.4\n"]) {
      expect(reason("machines", { ...machine, publicIP: ip })).toBe(`field "publicIP": ${JSON.stringify(ip)} is not an IP address`);
    }
    for (const ip of ["", "192.168.1.9", "2001:db8::1", "::ffff:10.0.0.1"]) expect(reason("machines", { ...machine, publicIP: ip })).toBeUndefined();
    expect(reason("machines", { ...machine, metadata: { region: 1 } })).toBe('field "metadata": key "region" holds the number 1, not a string');
    expect(reason("machines", { ...machine, startedAt: "yesterday" })).toBe('field "startedAt": "yesterday" is not an ISO 8601 time');
    expect(reason("machines", { ...machine, drained: "yes" })).toBe('field "drained" is the string "yes", not true or false');
    expect(reason("machines", machine, k.machine("a b"))).toStartWith('the key names an invalid machine: "a b" is not a machine ID');
    expect(reason("machines", machine, k.machine("x".repeat(129)))).toMatch(/^the key names an invalid machine: "x{80}"\.\.\. \(129 characters\) is not a machine ID/);
  });

  test("units: a resource request and Spread=, when present, are checked; records without them still decode", () => {
    const req = { ...emptyRequirements(), resources: { cpuMillis: 500, memoryBytes: 2 ** 30, cpuWeight: 200 }, spread: { key: "zone", pattern: "web@*.service" } };
    expect(decodeRecord("units", k, stored("units", { ...unit, requirements: req }))).toEqual({ ok: true, value: { ...unit, requirements: req } as never });
    expect(reason("units", unit)).toBeUndefined();
    expect(reason("units", { ...unit, requirements: { ...emptyRequirements(), resources: { cpuMillis: -1 } } }))
      .toBe('field "resources": field "cpuMillis" is the number -1, not a whole number of 0 or more');
    expect(reason("units", { ...unit, requirements: { ...emptyRequirements(), resources: { memoryBytes: 1.5 } } }))
      .toBe('field "resources": field "memoryBytes" is the number 1.5, not a whole number of 0 or more');
    expect(reason("units", { ...unit, requirements: { ...emptyRequirements(), resources: [] } })).toBe('field "resources": the value is an array, not a JSON object');
    expect(reason("units", { ...unit, requirements: { ...emptyRequirements(), spread: { key: "", pattern: "x" } } })).toBe('field "spread": field "key" is empty');
  });

  test("machines: capacity, when present, is whole amounts with allocatable within the totals", () => {
    const capacity = { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30, allocatableCpuMillis: 3500, allocatableMemoryBytes: 7 * 2 ** 30 };
    expect(decodeRecord("machines", k, stored("machines", { ...machine, capacity }))).toEqual({ ok: true, value: { ...machine, capacity } as never });
    expect(reason("machines", { ...machine, capacity: { ...capacity, allocatableCpuMillis: 5000 } }))
      .toBe('field "capacity": field "allocatableCpuMillis" is more than field "cpuMillis"');
    expect(reason("machines", { ...machine, capacity: { ...capacity, allocatableMemoryBytes: 9 * 2 ** 30 } }))
      .toBe('field "capacity": field "allocatableMemoryBytes" is more than field "memoryBytes"');
    expect(reason("machines", { ...machine, capacity: { cpuMillis: 4000 } })).toBe('field "capacity": field "memoryBytes" is missing, not a whole number of 0 or more');
    expect(reason("machines", { ...machine, capacity: "4 CPUs" })).toBe('field "capacity": the value is the string "4 CPUs", not a JSON object');
  });

  test("metadata, drain, pending, leader and version", () => {
    expect(reason("metadata", { a: ["b"] })).toBe('the value: key "a" holds an array, not a string');
    expect(reason("metadata", { "": "x" })).toBe("the value has an empty key");
    expect(reason("drain", { since: 5 })).toBe('field "since" is the number 5, not a string');
    expect(reason("pending", { reason: "", since: NOW })).toBe('field "reason" is empty');
    expect(reason("pending", good.pending.value, k.pending("-x.service"))).toStartWith('the key names an invalid unit "-x.service"');
    expect(reason("leader", { machineID: "a/b", since: NOW })).toStartWith('field "machineID": "a/b" is not a machine ID');
    expect(reason("version", 0)).toBe("the value is the number 0, not a schema version (a positive integer)");
    expect(reason("version", "1")).toBe('the value is the string "1", not a schema version (a positive integer)');
  });

  test("pending: the reason's kind and machine, when stored, are checked; older records without them still decode", () => {
    const old = decodeRecord("pending", k, stored("pending"));
    expect(old.ok && old.value).toEqual({ reason: "no machine fits", since: NOW });
    for (const value of <PendingRecord[]>[
      { reason: "no machine fits", since: NOW, kind: "no-fit" },
      { reason: "waiting to leave drained machine 01234567: no other machine fits: 1 is drained", since: NOW, kind: "drain-blocked", machine: M },
    ]) {
      const d = decodeRecord("pending", k, stored("pending", value));
      expect(d.ok && d.value).toEqual(value);
      expect(encodeRecord("pending", k, good.pending.key, value)).toBe(JSON.stringify(value));
    }
    const r = { reason: "x", since: NOW };
    expect(reason("pending", { ...r, kind: "stuck" })).toStartWith('field "kind" is "stuck", not one of no-fit, awaiting-return, eviction-held, drain-held, drain-blocked');
    expect(reason("pending", { ...r, kind: 3 })).toBe('field "kind" is the number 3, not a string');
    expect(reason("pending", { ...r, kind: "drain-held" })).toBe('field "machine" is missing: a "drain-held" reason names its machine');
    expect(reason("pending", { ...r, kind: "no-fit", machine: M })).toBe('field "machine" is set, but a "no-fit" reason names no machine');
    expect(reason("pending", { ...r, machine: M })).toBe('field "machine" is set but field "kind" is missing');
    expect(reason("pending", { ...r, kind: "eviction-held", machine: "-x" })).toStartWith('field "machine": "-x" is not a machine ID');
  });

  test("states: systemd's load and active states, a sub-state word, the hash", () => {
    expect(reason("states", { ...state, activeState: "exploded" })).toStartWith('field "activeState" is "exploded", not one of active, reloading, inactive, failed');
    expect(reason("states", { ...state, loadState: "" })).toStartWith('field "loadState" is "", not one of stub, loaded');
    expect(reason("states", { ...state, subState: "$(reboot)" })).toBe('field "subState" is "$(reboot)", not a systemd sub-state');
    expect(reason("states", { ...state, hash: "x" })).toBe('field "hash": "x" is not a SHA-1 hash (40 lowercase hex digits)');
    expect(reason("states", state, `${k.states}web@1.service`)).toBe("the key is not <prefix>/states/<unit>/<machine id>");
  });

  test("states: an agent's refusal keeps its reason; a reason that is not a string is refused", () => {
    const refused = { ...state, loadState: "error", activeState: "failed", subState: "shadowed", reason: "the host defines it" };
    const d = decodeRecord("states", k, stored("states", refused));
    expect(d.ok && d.value.reason).toBe("the host defines it");
    expect(reason("states", { ...state, reason: 7 })).toStartWith('field "reason"');
  });

  test("states: a service's MainPID is kept; one that is not a process ID is refused", () => {
    const d = decodeRecord("states", k, stored("states", { ...state, mainPid: 4242 }));
    expect(d.ok && d.value.mainPid).toBe(4242);
    const without = decodeRecord("states", k, stored("states", state));
    expect(without.ok && "mainPid" in without.value).toBe(false);
    expect(reason("states", { ...state, mainPid: 0 })).toBe('field "mainPid" is the number 0, not a process ID');
    expect(reason("states", { ...state, mainPid: "12" })).toBe('field "mainPid" is the string "12", not a process ID');
  });

  test("a huge value is named, not copied into the reason", () => {
    const r = reason("pending", { reason: "x", since: "9".repeat(100_000) })!;
    expect(r.length).toBeLessThan(200);
    expect(r).toEndWith("... (100000 characters) is not an ISO 8601 time");
  });

  test("__proto__ in a map is an ordinary key, not a prototype", () => {
    const d = decodeRecord("metadata", k, { key: k.metadata(M), value: '{"__proto__":"x","a":"b"}' });
    expect(d.ok && Object.getPrototypeOf(d.value)).toBe(Object.prototype);
    expect(d.ok && Object.keys(d.value)).toEqual(["__proto__", "a"]);
  });
});

describe("writers", () => {
  test("encodeRecord stores exactly what its decoder reads back", () => {
    for (const kind of RECORD_KINDS.filter((x) => x !== "unitfiles")) {
      const value = encodeRecord(kind, k, good[kind].key, good[kind].value as never);
      const d = decodeRecord(kind, k, { key: good[kind].key, value });
      expect(d.ok && JSON.stringify(d.value)).toBe(value);
    }
    expect(encodeUnitFile(k, TEXT_HASH, TEXT)).toBe(TEXT);
  });

  test("what a reader would refuse is refused before it is written, naming the key and why", () => {
    let err: unknown;
    try {
      encodeRecord("machines", k, k.machine(M), { ...(good.machines.value as MachineRecord), publicIP: "-oProxyCommand=x" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidRecordError);
    expect((err as InvalidRecordError).failure).toEqual({ kind: "machines", key: k.machine(M), reason: 'field "publicIP": "-oProxyCommand=x" is not an IP address' });
    expect((err as Error).message).toBe(`Refusing to write ${k.machine(M)}: field "publicIP": "-oProxyCommand=x" is not an IP address`);
    expect(() => encodeUnitFile(k, H, TEXT)).toThrow(`Refusing to write ${k.unitFile(H)}: the text does not match its hash`);
  });
});
