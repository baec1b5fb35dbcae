// The event stream's derivation: etcd changes (with the values they replaced) to fleet's events,
// for every kind, numbered per revision; and the pure pieces around it (ids, filters, the ring).
import { describe, expect, test } from "bun:test";
import type { KeyValue, WatchEvent } from "../../src/registry/etcd/index.ts";
import { keySpace } from "../../src/registry/keys.ts";
import type { ScheduleEntry, UnitRecord, UnitStateRecord } from "../../src/registry/models.ts";
import { byRevision, deriveEvents } from "../../src/events/derive.ts";
import { matches, type EventFilter } from "../../src/events/filter.ts";
import { EventRing, type RevisionBatch } from "../../src/events/ring.ts";
import { cursorId, isAfter, parseCursor, type FleetEvent } from "../../src/events/types.ts";
import { emptyRequirements } from "../../src/unit/types.ts";

const k = keySpace("/fleet/");
const M1 = "1111111111111111aaaaaaaaaaaaaaaa";
const M2 = "2222222222222222bbbbbbbbbbbbbbbb";
const H1 = "1".repeat(40);
const H2 = "2".repeat(40);
const T = "2024-05-01T12:00:00.000Z";
const REV = 100;

function kv(key: string, value: unknown, opts: { version?: number; rev?: number } = {}): KeyValue {
  const rev = opts.rev ?? REV;
  const version = opts.version ?? 1;
  return { key, value: typeof value === "string" ? value : JSON.stringify(value), createRevision: version === 1 ? rev : rev - 10, modRevision: rev, version, lease: "0" };
}

/** A put of `value` at `key`; `prev` makes it an update (version 2) of that earlier value. */
function put(key: string, value: unknown, prev?: unknown, rev = REV): WatchEvent {
  const e: WatchEvent = { type: "put", kv: kv(key, value, { version: prev === undefined ? 1 : 2, rev }) };
  if (prev !== undefined) e.prevKv = kv(key, prev, { rev: rev - 5 });
  return e;
}

function del(key: string, prev?: unknown, rev = REV): WatchEvent {
  const e: WatchEvent = { type: "delete", kv: { key, value: "", createRevision: 0, modRevision: rev, version: 0, lease: "0" } };
  if (prev !== undefined) e.prevKv = kv(key, prev, { rev: rev - 5 });
  return e;
}

function unit(name: string, over: Partial<UnitRecord> = {}): UnitRecord {
  return { name, hash: H1, desiredState: "launched", global: false, requirements: emptyRequirements(), description: "", ...over };
}

function entry(over: Partial<ScheduleEntry> = {}): ScheduleEntry {
  return { hash: H1, desiredState: "launched", epoch: "7", ...over };
}

function state(over: Partial<UnitStateRecord> = {}): UnitStateRecord {
  return { loadState: "loaded", activeState: "active", subState: "running", hash: H1, since: T, ...over };
}

const derive = (...changes: WatchEvent[]) => deriveEvents(k, REV, changes).events;
const bodies = (...changes: WatchEvent[]) => derive(...changes).map(({ id: _id, revision: _r, ...rest }) => rest);

describe("units", () => {
  test("a new unit record is submitted; a new unit file under the same name is submitted again (replaced)", () => {
    expect(derive(put(k.unit("a.service"), unit("a.service")))).toEqual([
      { id: "100-0", revision: 100, kind: "unit.submitted", unit: "a.service", hash: H1, desiredState: "launched", global: false },
    ]);
    expect(bodies(put(k.unit("a.service"), unit("a.service", { hash: H2, desiredState: "inactive" }), unit("a.service")))).toEqual([
      { kind: "unit.submitted", unit: "a.service", hash: H2, desiredState: "inactive", global: false, replaced: true },
    ]);
  });

  test("a record that replaces an unreadable one submits the unit again", () => {
    expect(bodies(put(k.unit("a.service"), unit("a.service"), "{not json"))).toEqual([
      { kind: "unit.submitted", unit: "a.service", hash: H1, desiredState: "launched", global: false, replaced: true },
    ]);
  });

  test("a desired state change says what it was; without the old record (compacted) it cannot", () => {
    expect(bodies(put(k.unit("a.service"), unit("a.service", { desiredState: "loaded" }), unit("a.service")))).toEqual([
      { kind: "unit.desired", unit: "a.service", desiredState: "loaded", previous: "launched" },
    ]);
    const noPrev: WatchEvent = { type: "put", kv: kv(k.unit("a.service"), unit("a.service"), { version: 3 }) };
    expect(bodies(noPrev)).toEqual([{ kind: "unit.desired", unit: "a.service", desiredState: "launched" }]);
  });

  test("a rewrite that changes nothing is silent; a delete destroys", () => {
    expect(derive(put(k.unit("a.service"), unit("a.service"), unit("a.service")))).toEqual([]);
    expect(bodies(del(k.unit("a.service"), unit("a.service")))).toEqual([{ kind: "unit.destroyed", unit: "a.service" }]);
    // etcd may no longer hold the old value: the key says enough.
    expect(bodies(del(k.unit("a.service")))).toEqual([{ kind: "unit.destroyed", unit: "a.service" }]);
  });
});

describe("schedule", () => {
  test("a new entry is a placement with the engine's reason; an old engine's entry has none", () => {
    expect(bodies(put(k.schedule(M1, "a.service"), entry({ reason: "least loaded fitting machine" })))).toEqual([
      { kind: "unit.placed", unit: "a.service", machine: M1, reason: "least loaded fitting machine" },
    ]);
    expect(bodies(put(k.schedule(M1, "a.service"), entry()))).toEqual([{ kind: "unit.placed", unit: "a.service", machine: M1 }]);
  });

  test("a move: the removal and the new entry of one transaction are one event, where the entry was written", () => {
    const moved = entry({ reason: "least loaded fitting machine", moved: { from: M1, reason: "machine 11111111 went away" } });
    expect(derive(
      del(k.schedule(M1, "a.service"), entry()),
      del(k.schedule(M1, "gone.service"), entry()),
      put(k.schedule(M2, "a.service"), moved),
      put(k.pending("b.service"), { reason: "no machine fits", since: T }),
    )).toEqual([
      { id: "100-0", revision: 100, kind: "unit.unscheduled", unit: "gone.service", machine: M1 },
      { id: "100-1", revision: 100, kind: "unit.moved", unit: "a.service", from: M1, to: M2, reason: "machine 11111111 went away", placedReason: "least loaded fitting machine" },
      { id: "100-2", revision: 100, kind: "unit.pending", unit: "b.service", reason: "no machine fits" },
    ]);
  });

  test("a move whose removal came in an earlier revision is still a move (and that removal an unschedule)", () => {
    const moved = entry({ moved: { from: M1, reason: "machine 11111111 is drained" } });
    expect(bodies(put(k.schedule(M2, "a.service"), moved))).toEqual([
      { kind: "unit.moved", unit: "a.service", from: M1, to: M2, reason: "machine 11111111 is drained" },
    ]);
    expect(bodies(del(k.schedule(M1, "a.service")))).toEqual([{ kind: "unit.unscheduled", unit: "a.service", machine: M1 }]);
  });

  test("a global unit taken off one machine and put on another in one write did not move", () => {
    expect(bodies(del(k.schedule(M1, "g.service"), entry()), put(k.schedule(M2, "g.service"), entry({ reason: "global unit, machine fits" })))).toEqual([
      { kind: "unit.unscheduled", unit: "g.service", machine: M1 },
      { kind: "unit.placed", unit: "g.service", machine: M2, reason: "global unit, machine fits" },
    ]);
  });

  test("a rewritten entry (new file, desired state, repair) and an unreadable one say nothing; the failure is returned", () => {
    expect(derive(put(k.schedule(M1, "a.service"), entry({ desiredState: "loaded" }), entry()))).toEqual([]);
    const d = deriveEvents(k, REV, [put(k.schedule(M1, "a.service"), { hash: "x" })]);
    expect(d.events).toEqual([]);
    expect(d.failures.map((f) => [f.failure.kind, f.failure.key, f.revision])).toEqual([["schedule", k.schedule(M1, "a.service"), REV]]);
  });
});

describe("pending and states", () => {
  test("a pending reason is told when it is new or different, not when rewritten or cleared", () => {
    const p = (reason: string) => ({ reason, since: T });
    expect(bodies(put(k.pending("a.service"), p("no machine fits")))).toEqual([{ kind: "unit.pending", unit: "a.service", reason: "no machine fits" }]);
    expect(bodies(put(k.pending("a.service"), p("b"), p("a")))).toEqual([{ kind: "unit.pending", unit: "a.service", reason: "b" }]);
    expect(derive(put(k.pending("a.service"), p("a"), p("a")))).toEqual([]);
    expect(derive(del(k.pending("a.service"), p("a")))).toEqual([]);
  });

  test("a pending event carries the record's kind and machine; a new kind or machine is a change", () => {
    const held = { reason: "waiting for machine 11111111 to return", since: T, kind: "awaiting-return", machine: M1 };
    expect(derive(put(k.pending("a.service"), held))).toEqual([
      { id: "100-0", revision: 100, kind: "unit.pending", unit: "a.service", reason: held.reason, pendingKind: "awaiting-return", machine: M1 },
    ]);
    // The engine rewrites a record written before kinds existed once: told again, now with its kind.
    expect(bodies(put(k.pending("a.service"), held, { reason: held.reason, since: T }))).toEqual([
      { kind: "unit.pending", unit: "a.service", reason: held.reason, pendingKind: "awaiting-return", machine: M1 },
    ]);
    expect(derive(put(k.pending("a.service"), held, held))).toEqual([]);
    // The machine filter passes it: it names the machine.
    const [e] = derive(put(k.pending("a.service"), held));
    expect(matches({ machines: [M1.slice(0, 8)] }, e!)).toBe(true);
  });

  test("a reported state says what systemd says, and why when the agent refused the unit", () => {
    expect(derive(put(k.state("a.service", M1), state()))).toEqual([
      { id: "100-0", revision: 100, kind: "unit.state", unit: "a.service", machine: M1, loadState: "loaded", activeState: "active", subState: "running", hash: H1 },
    ]);
    const refused = state({ loadState: "error", activeState: "failed", subState: "shadowed", reason: "defined by the host" });
    expect(bodies(put(k.state("a.service", M1), refused, state()))).toEqual([
      { kind: "unit.state", unit: "a.service", machine: M1, loadState: "error", activeState: "failed", subState: "shadowed", hash: H1, reason: "defined by the host" },
    ]);
  });

  test("the same state published again (only its time changed) is silent; a removed state is told", () => {
    expect(derive(put(k.state("a.service", M1), state({ since: "2024-05-01T12:00:01.000Z" }), state()))).toEqual([]);
    expect(bodies(del(k.state("a.service", M1), state()))).toEqual([{ kind: "unit.state-removed", unit: "a.service", machine: M1 }]);
  });
});

describe("machines and the leader", () => {
  const m = { id: M1, publicIP: "10.0.0.1", metadata: { role: "web" }, version: "1", startedAt: T };

  test("a machine joins when its key is created; a record put again under the same lease is the same machine", () => {
    expect(bodies(put(k.machine(M1), m))).toEqual([{ kind: "machine.joined", machine: M1, publicIP: "10.0.0.1", metadata: { role: "web" } }]);
    expect(derive(put(k.machine(M1), { ...m, publicIP: "10.0.0.2" }, m))).toEqual([]);
  });

  test("a lease that ends takes the machine and its states in one revision: lost, then each state removed", () => {
    expect(derive(del(k.machine(M1), m), del(k.state("a.service", M1), state()), del(k.state("b.service", M1)))).toEqual([
      { id: "100-0", revision: 100, kind: "machine.lost", machine: M1 },
      { id: "100-1", revision: 100, kind: "unit.state-removed", unit: "a.service", machine: M1 },
      { id: "100-2", revision: 100, kind: "unit.state-removed", unit: "b.service", machine: M1 },
    ]);
  });

  test("drain and undrain", () => {
    expect(bodies(put(k.drain(M1), { since: T }))).toEqual([{ kind: "machine.drained", machine: M1, since: T }]);
    expect(bodies(del(k.drain(M1), { since: T }))).toEqual([{ kind: "machine.undrained", machine: M1 }]);
  });

  test("leader: won, lost (no leader), taken over, and a leader writing its own record back", () => {
    const l = (machineID: string) => ({ machineID, since: T });
    expect(bodies(put(k.leader, l(M1)))).toEqual([{ kind: "leader.changed", machine: M1 }]);
    expect(bodies(del(k.leader, l(M1)))).toEqual([{ kind: "leader.changed", machine: null, previous: M1 }]);
    expect(bodies(put(k.leader, l(M2), l(M1)))).toEqual([{ kind: "leader.changed", machine: M2, previous: M1 }]);
    expect(derive(put(k.leader, l(M1), l(M1)))).toEqual([]);
  });

  test("unit files, dynamic metadata, the schema version and keys outside the keyspace say nothing", () => {
    expect(derive(
      put(k.unitFile(H1), "[Service]\nExecStart=/bin/true\n"), put(k.metadata(M1), { role: "db" }), put(k.version, 1), put("/elsewhere/x", "y"),
      put(`${k.units}a/b`, unit("a.service")), del(`${k.schedules}bad`),
    )).toEqual([]);
  });
});

describe("revisions and ids", () => {
  test("a watch batch is split by revision, in order", () => {
    const a = put(k.unit("a.service"), unit("a.service"), undefined, 5);
    const b1 = put(k.unit("b.service"), unit("b.service"), undefined, 7);
    const b2 = put(k.pending("b.service"), { reason: "r", since: T }, undefined, 7);
    expect(byRevision([a, b1, b2])).toEqual([[5, [a]], [7, [b1, b2]]]);
  });

  test("ids are <revision>-<index>; a cursor is an id or a revision (after all of it)", () => {
    expect(parseCursor("1234-2")).toEqual({ revision: 1234, index: 2 });
    expect(parseCursor("1234")).toEqual({ revision: 1234, index: Number.POSITIVE_INFINITY });
    expect(parseCursor(" 0 ")).toEqual({ revision: 0, index: Number.POSITIVE_INFINITY });
    for (const bad of ["", "-1", "1-", "1-2-3", "x", "1.5", "99999999999999999"]) expect(parseCursor(bad)).toBeUndefined();
    expect(cursorId({ revision: 9, index: 0 })).toBe("9-0");
    expect(cursorId({ revision: 9, index: Number.POSITIVE_INFINITY })).toBe("9");
    const c = parseCursor("10-1")!;
    expect([isAfter(c, 10, 1), isAfter(c, 10, 2), isAfter(c, 9, 5), isAfter(c, 11, 0)]).toEqual([false, true, false, true]);
    expect(isAfter(parseCursor("10")!, 10, 99)).toBe(false);
  });
});

describe("filters", () => {
  const ev = (body: Record<string, unknown>) => ({ id: "1-0", revision: 1, ...body }) as FleetEvent;
  const placed = ev({ kind: "unit.placed", unit: "web@1.service", machine: M1 });
  const moved = ev({ kind: "unit.moved", unit: "db.service", from: M1, to: M2 });
  const joined = ev({ kind: "machine.joined", machine: M2, publicIP: "", metadata: {} });
  const leader = ev({ kind: "leader.changed", machine: null, previous: M1 });
  const submitted = ev({ kind: "unit.submitted", unit: "web@2.service", hash: H1, desiredState: "launched", global: false });
  const all = [placed, moved, joined, leader, submitted];
  const pass = (f: EventFilter) => all.filter((e) => matches(f, e)).map((e) => e.kind);

  test("unit by name or glob: only events about a matching unit", () => {
    expect(pass({ units: ["web@*.service"] })).toEqual(["unit.placed", "unit.submitted"]);
    expect(pass({ units: ["db.service", "nope.service"] })).toEqual(["unit.moved"]);
  });

  test("machine by id or prefix: events naming it anywhere (from, to, previous leader)", () => {
    expect(pass({ machines: [M1.slice(0, 8)] })).toEqual(["unit.placed", "unit.moved", "leader.changed"]);
    expect(pass({ machines: [M2] })).toEqual(["unit.moved", "machine.joined"]);
  });

  test("kinds, and all filters together", () => {
    expect(pass({ kinds: new Set(["machine.joined", "leader.changed"]) })).toEqual(["machine.joined", "leader.changed"]);
    expect(pass({ units: ["web@*.service"], machines: ["1111"], kinds: new Set(["unit.placed", "unit.submitted"]) })).toEqual(["unit.placed"]);
    expect(pass({})).toEqual(all.map((e) => e.kind));
  });
});

describe("ring", () => {
  const batch = (revision: number, events: number, size = 10): RevisionBatch => ({
    revision, keys: [], events: Array.from({ length: events }, (_, i) => ({ event: { id: `${revision}-${i}` } as FleetEvent, json: "x".repeat(size) })),
  });

  test("keeps every revision after its floor; the oldest go first when events or bytes run over", () => {
    const r = new EventRing({ maxEvents: 5, maxBytes: 1_000_000 });
    r.reset(10);
    expect([r.floor, r.head, r.after(10)]).toEqual([10, 10, undefined]);
    r.append(batch(12, 2));
    r.append(batch(15, 2));
    expect(r.after(10)?.revision).toBe(12);
    expect(r.after(12)?.revision).toBe(15);
    expect(r.after(13)?.revision).toBe(15);
    expect(r.append(batch(16, 2))).toBe(12);
    expect([r.floor, r.head, r.events, r.after(0)?.revision]).toEqual([12, 16, 4, 15]);
    const bytes = new EventRing({ maxEvents: 100, maxBytes: 300 });
    bytes.reset(0);
    bytes.append(batch(1, 1, 200));
    expect(bytes.append(batch(2, 1, 200))).toBe(1);
    // The newest revision stays whatever its size.
    expect(bytes.append(batch(3, 1, 5000))).toBe(2);
    expect(bytes.after(2)?.revision).toBe(3);
    expect(() => bytes.append(batch(3, 1))).toThrow("Revision 3 is not after 3");
  });
});

describe("rollout events", () => {
  const base = {
    unit: "web@.service", to: H2, description: "", policy: { maxParallel: 2, minHealthyMs: 0, deadlineMs: 1000, autoRevert: true },
    state: "running", createdAt: T, targets: [], started: false, log: [],
  };
  const later = {
    ...base, started: true,
    targets: [{ instance: "web@1.service", from: H1, phase: "updating", changedAt: T }],
    log: [
      { n: 1, at: T, event: { kind: "started", targets: 1, to: H2 } },
      { n: 2, at: T, event: { kind: "replace", instance: "web@1.service", from: H1, to: H2, done: 1, total: 1 } },
    ],
  };

  test("a new rollout, then one event per step its log gained, in order; the end is rollout.finished", () => {
    const key = k.rollout("web@.service");
    expect(deriveEvents(k, REV, [put(key, base)]).events.map((e) => e.kind)).toEqual(["rollout.started"]);
    const steps = deriveEvents(k, REV, [put(key, later, base)]).events;
    expect(steps.map((e) => e.kind === "rollout.step" && `${e.n} ${e.step.kind}`)).toEqual(["1 started", "2 replace"]);
    const end = { ...later, state: "succeeded", log: [...later.log, { n: 3, at: T, event: { kind: "finished", state: "succeeded", why: { kind: "all-replaced", count: 1 } } }] };
    const last = deriveEvents(k, REV, [put(key, end, later)]).events;
    expect(last).toEqual([{ id: `${REV}-0`, revision: REV, kind: "rollout.finished", unit: "web@.service", n: 3, step: end.log[2]!.event } as FleetEvent]);
    // A write that adds no step (the engine tracking a MainPID) says nothing.
    expect(deriveEvents(k, REV, [put(key, { ...later, targets: [{ ...later.targets[0], seen: { pid: 3, since: T } }] }, later)]).events).toEqual([]);
    // A new rollout put over an ended one starts again.
    expect(deriveEvents(k, REV, [put(key, { ...base, createdAt: "2024-05-02T00:00:00.000Z" }, end)]).events.map((e) => e.kind)).toEqual(["rollout.started"]);
  });
});
