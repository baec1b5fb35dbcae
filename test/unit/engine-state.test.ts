// The engine's pure glue: informer caches to planner input, actions to the registry's writes, batches,
// the eviction count and the unit files nobody refers to.
import { describe, expect, test } from "bun:test";
import { keySpace } from "../../src/registry/keys.ts";
import type { DrainRecord, MachineRecord, PendingRecord, ScheduleEntry, UnitRecord } from "../../src/registry/models.ts";
import {
  evictionsIn, movesIn, nextPlanAt, snapshotOf, unplacedByType, unreferencedFiles, writeFor, writeOrder, type EngineCaches, type EngineSnapshot, type Move,
} from "../../src/engine/state.ts";
import { batches, prepareWrite, transactions } from "../../src/registry/engine-writes.ts";
import { planSchedule } from "../../src/scheduler/plan.ts";
import type { EngineAction } from "../../src/scheduler/types.ts";
import { emptyRequirements, type DesiredState } from "../../src/unit/types.ts";

const k = keySpace("/fleet/");

/** The etcd operation an action becomes: what to write (the engine), then the record (the registry). */
function opFor(keys: typeof k, a: EngineAction, snap: EngineSnapshot, epoch: number, now: number, move?: Move) {
  const w = writeFor(a, snap, move);
  return w && prepareWrite(keys, w, epoch, now).op;
}

function unit(name: string, opts: Partial<UnitRecord> & { machineOf?: string[]; machineId?: string } = {}): [string, UnitRecord] {
  const requirements = { ...emptyRequirements(), machineOf: opts.machineOf ?? [], global: opts.global ?? false };
  if (opts.machineId) requirements.machineId = opts.machineId;
  return [k.unit(name), { name, hash: opts.hash ?? `h-${name}`, desiredState: opts.desiredState ?? "launched", global: opts.global ?? false, requirements, description: "" }];
}

function machine(id: string, metadata: Record<string, string> = {}, drained?: boolean): [string, MachineRecord] {
  const m: MachineRecord = { id, publicIP: "10.0.0.1", metadata, version: "t", startedAt: "2024-01-01T00:00:00Z" };
  if (drained) m.drained = true;
  return [k.machine(id), m];
}

function entry(u: string, m: string, hash = `h-${u}`, desiredState: Exclude<DesiredState, "inactive"> = "launched"): [string, ScheduleEntry] {
  return [k.schedule(m, u), { hash, desiredState, epoch: "7" }];
}

function caches(c: Partial<Record<keyof EngineCaches, [string, unknown][]>>): EngineCaches {
  return {
    units: (c.units ?? []) as [string, UnitRecord][],
    machines: (c.machines ?? []) as [string, MachineRecord][],
    metadata: (c.metadata ?? []) as [string, Record<string, string>][],
    schedule: (c.schedule ?? []) as [string, ScheduleEntry][],
    pending: (c.pending ?? []) as [string, PendingRecord][],
    drains: (c.drains ?? []) as [string, DrainRecord][],
  };
}

describe("snapshotOf", () => {
  test("merges dynamic metadata, keeps drain, and names machines and units by their keys", () => {
    const snap = snapshotOf(k, caches({
      machines: [machine("m1", { region: "eu", role: "web" }, true), machine("m2")],
      metadata: [[k.metadata("m1"), { role: "db", region: "" }]],
      units: [unit("a.service")],
      schedule: [entry("a.service", "m1"), entry("gone.service", "m9"), ["/fleet/schedule/bad-key", { hash: "x", desiredState: "launched", epoch: "1" }]],
      pending: [[k.pending("b.service"), { reason: "why", since: "t" }]],
    }));
    expect(snap.state.machines).toEqual([{ id: "m1", metadata: { role: "db" }, drained: true }, { id: "m2", metadata: {} }]);
    expect(snap.state.schedule).toEqual([
      { unit: "a.service", machine: "m1", hash: "h-a.service", desiredState: "launched" },
      { unit: "gone.service", machine: "m9", hash: "h-gone.service", desiredState: "launched" },
    ]);
    expect(snap.state.pending).toEqual(new Map([["b.service", "why"]]));
    expect([...snap.live]).toEqual(["m1", "m2"]);
    // m9 only holds an entry of a unit that no longer exists: nothing would move.
    expect(snap.lost.size).toBe(0);
  });

  test("lost machines are those holding entries of active non-global units", () => {
    const snap = snapshotOf(k, caches({
      machines: [machine("m1")],
      units: [unit("a.service"), unit("g.service", { global: true }), unit("off.service", { desiredState: "inactive" })],
      schedule: [entry("a.service", "m2"), entry("g.service", "m3"), entry("off.service", "m4")],
    }));
    expect([...snap.lost]).toEqual(["m2"]);
  });
});

describe("unreadable schedule and pending records (the engine owns both)", () => {
  const failure = (key: string) => [key, { kind: "schedule", key, reason: "not JSON: null" }] as [string, { kind: "schedule"; key: string; reason: string }];

  test("an unreadable entry of a unit that runs there is rewritten in place, not moved", () => {
    const snap = snapshotOf(k, {
      ...caches({ machines: [machine("m1"), machine("m2")], units: [unit("a.service"), unit("b.service", { hash: "b".repeat(40) })], schedule: [entry("a.service", "m1")] }),
      // b's entry on m2 reads as null: the cache may still hold its last good value.
      invalidSchedule: [failure(k.schedule("m2", "b.service"))],
    });
    expect(snap.state.schedule).toContainEqual({ unit: "b.service", machine: "m2", unreadable: "not JSON: null" });
    const actions = planSchedule(snap.state);
    expect(actions).toEqual([{ kind: "update", unit: "b.service", machine: "m2", reason: "the stored entry is unreadable (not JSON: null)" }]);
    expect(opFor(k, actions[0]!, snap, 9, 0)).toEqual({
      type: "put", key: k.schedule("m2", "b.service"), value: JSON.stringify({ hash: "b".repeat(40), desiredState: "launched", epoch: "9" }),
    });
  });

  test("an unreadable entry on another machine than the unit's readable one is the duplicate that goes", () => {
    const snap = snapshotOf(k, {
      ...caches({ machines: [machine("m1"), machine("m2")], units: [unit("a.service")], schedule: [entry("a.service", "m2")] }),
      invalidSchedule: [failure(k.schedule("m1", "a.service"))],
    });
    expect(planSchedule(snap.state)).toEqual([
      { kind: "unschedule", unit: "a.service", machine: "m1", reason: "duplicate placement (kept on m2)", why: { kind: "duplicate", keptOn: "m2" } },
    ]);
  });

  test("of two unreadable entries, the one that held a good value stays: a stray never moves the unit, whatever ids sort first", () => {
    // a runs on m2; garbage lands on its entry there (the informer keeps the last good value)
    // and on a stray key on m1 before the engine plans. m1 sorts first: it must still go.
    const snap = snapshotOf(k, {
      ...caches({ machines: [machine("m1"), machine("m2")], units: [unit("a.service")], schedule: [entry("a.service", "m2")] }),
      invalidSchedule: [failure(k.schedule("m1", "a.service")), failure(k.schedule("m2", "a.service"))],
    });
    expect(snap.state.schedule).toEqual([
      { unit: "a.service", machine: "m2", hash: "h-a.service", desiredState: "launched", unreadable: "not JSON: null", lastGood: true },
      { unit: "a.service", machine: "m1", unreadable: "not JSON: null" },
    ]);
    expect(planSchedule(snap.state)).toEqual([
      { kind: "unschedule", unit: "a.service", machine: "m1", reason: "duplicate placement (kept on m2)", why: { kind: "duplicate", keptOn: "m2" } },
      { kind: "update", unit: "a.service", machine: "m2", reason: "the stored entry is unreadable (not JSON: null)" },
    ]);
  });

  test("of two unreadable entries with no good value known (a new leader lists them so), the one created first stays", () => {
    // a's entry on m2 (created at 10) and a stray on m1 (created at 20) both hold garbage.
    const created = new Map([[k.schedule("m2", "a.service"), 10], [k.schedule("m1", "a.service"), 20]]);
    const snap = snapshotOf(k, {
      ...caches({ machines: [machine("m1"), machine("m2")], units: [unit("a.service")] }),
      invalidSchedule: [failure(k.schedule("m1", "a.service")), failure(k.schedule("m2", "a.service"))],
      scheduleCreated: (key) => created.get(key),
    });
    expect(planSchedule(snap.state)).toEqual([
      { kind: "unschedule", unit: "a.service", machine: "m1", reason: "duplicate placement (kept on m2)", why: { kind: "duplicate", keptOn: "m2" } },
      { kind: "update", unit: "a.service", machine: "m2", reason: "the stored entry is unreadable (not JSON: null)" },
    ]);
  });

  test("an unreadable entry of a unit that is gone is deleted; one whose key names no valid unit or machine is left alone", () => {
    const snap = snapshotOf(k, {
      ...caches({ machines: [machine("m1")], units: [unit("a.service")] }),
      invalidSchedule: [failure(k.schedule("m1", "gone.service")), failure(k.schedule("m1", "-x.service")), failure(k.schedule("a b", "a.service"))],
    });
    const actions = planSchedule(snap.state).filter((a) => a.kind !== "schedule");
    expect(actions).toEqual([{ kind: "unschedule", unit: "gone.service", machine: "m1", reason: "unit no longer exists", why: { kind: "unit-gone" } }]);
  });

  test("an unreadable pending reason is rewritten while the unit waits, cleared once it is placed", () => {
    const snap = snapshotOf(k, {
      ...caches({ machines: [machine("m1")], units: [unit("a.service"), unit("pinned.service", { machineId: "m9" })] }),
      invalidPending: [failure(k.pending("a.service")), failure(k.pending("pinned.service")), failure(k.pending("-bad.service"))],
    });
    expect(snap.state.pending).toEqual(new Map([["a.service", ""], ["pinned.service", ""]]));
    const actions = planSchedule(snap.state);
    expect(actions.filter((a) => a.kind === "clear-pending")).toEqual([{ kind: "clear-pending", unit: "a.service" }]);
    expect(actions.filter((a) => a.kind === "pending").map((a) => a.unit)).toEqual(["pinned.service"]);
  });
});

describe("evictionsIn", () => {
  test("counts units moved off lost machines; a follower moving with its target is free", () => {
    const snap = snapshotOf(k, caches({
      machines: [machine("m1")],
      units: [unit("a.service"), unit("f.service", { machineOf: ["a.service"] }), unit("b.service"), unit("g.service", { global: true })],
      schedule: [entry("a.service", "m2"), entry("f.service", "m2"), entry("b.service", "m3"), entry("g.service", "m2")],
    }));
    const actions = planSchedule(snap.state);
    expect(actions.filter((a) => a.kind === "unschedule").length).toBe(4);
    expect(evictionsIn(actions, snap)).toBe(2);
  });

  test("units leaving a drained machine count like evictions; followers, globals and inactive ones do not", () => {
    const snap = snapshotOf(k, caches({
      machines: [machine("m1"), machine("m2")],
      drains: [[k.drain("m1"), { since: "2024-01-01T00:00:00Z" }], [k.drain("gone"), { since: "2024-01-01T00:00:00Z" }]],
      units: [
        unit("a.service"), unit("f.service", { machineOf: ["a.service"] }), unit("b.service"), unit("g.service", { global: true }),
        unit("off.service", { desiredState: "inactive" }),
      ],
      schedule: [entry("a.service", "m1"), entry("f.service", "m1"), entry("b.service", "m1"), entry("g.service", "m1"), entry("off.service", "m1")],
    }));
    expect(snap.state.machines).toEqual([{ id: "m1", metadata: {}, drained: true }, { id: "m2", metadata: {} }]);
    expect(snap.draining).toEqual(new Set(["m1"]));
    const actions = planSchedule(snap.state);
    expect(actions.filter((a) => a.kind === "unschedule").map((a) => a.unit)).toEqual(["a.service", "b.service", "f.service", "off.service"]);
    expect(evictionsIn(actions, snap)).toBe(2);
  });
});

describe("opFor", () => {
  const abc = "abc".padEnd(40, "0");
  const snap = snapshotOf(k, caches({ units: [unit("a.service", { hash: abc, desiredState: "loaded" }), unit("off.service", { desiredState: "inactive" })] }));

  test("schedule and update write the unit's hash and desired state with the epoch; a new entry says why it is there", () => {
    expect(opFor(k, { kind: "update", unit: "a.service", machine: "m1", reason: "r" }, snap, 42, 0)).toEqual({
      type: "put", key: "/fleet/schedule/m1/a.service", value: JSON.stringify({ hash: abc, desiredState: "loaded", epoch: "42" }),
    });
    expect(opFor(k, { kind: "schedule", unit: "a.service", machine: "m1", reason: "least loaded fitting machine" }, snap, 42, 0)).toEqual({
      type: "put", key: "/fleet/schedule/m1/a.service",
      value: JSON.stringify({ hash: abc, desiredState: "loaded", epoch: "42", reason: "least loaded fitting machine" }),
    });
  });

  test("a moved unit's new entry names the machine it left and why", () => {
    const o = opFor(k, { kind: "schedule", unit: "a.service", machine: "m2", reason: "least loaded fitting machine" }, snap, 42, 0, { from: "m1", reason: "machine m1 went away" });
    expect(o).toEqual({
      type: "put", key: "/fleet/schedule/m2/a.service",
      value: JSON.stringify({ hash: abc, desiredState: "loaded", epoch: "42", reason: "least loaded fitting machine", moved: { from: "m1", reason: "machine m1 went away" } }),
    });
  });

  test("an entry a reader would refuse is not written", () => {
    const bad = snapshotOf(k, caches({ units: [unit("a.service", { hash: "not-a-hash" })] }));
    expect(() => opFor(k, { kind: "schedule", unit: "a.service", machine: "m1", reason: "r" }, bad, 1, 0)).toThrow(
      'Refusing to write /fleet/schedule/m1/a.service: field "hash": "not-a-hash" is not a SHA-1 hash (40 lowercase hex digits)',
    );
  });

  test("a unit gone or inactive since the snapshot writes nothing", () => {
    expect(opFor(k, { kind: "schedule", unit: "nope.service", machine: "m1", reason: "r" }, snap, 1, 0)).toBeUndefined();
    expect(opFor(k, { kind: "schedule", unit: "off.service", machine: "m1", reason: "r" }, snap, 1, 0)).toBeUndefined();
  });

  test("unschedule, pending and clear-pending", () => {
    expect(opFor(k, { kind: "unschedule", unit: "a.service", machine: "m1", reason: "r" }, snap, 1, 0)).toEqual({ type: "delete", key: "/fleet/schedule/m1/a.service" });
    expect(opFor(k, { kind: "pending", unit: "a.service", reason: "no machine fits" }, snap, 1, Date.UTC(2024, 0, 2))).toEqual({
      type: "put", key: "/fleet/pending/a.service", value: JSON.stringify({ reason: "no machine fits", since: "2024-01-02T00:00:00.000Z" }),
    });
    expect(opFor(k, { kind: "clear-pending", unit: "a.service" }, snap, 1, 0)).toEqual({ type: "delete", key: "/fleet/pending/a.service" });
  });
});

describe("batches", () => {
  test("splits at the limit and keeps one op per key, the last", () => {
    const ops = Array.from({ length: 5 }, (_, i) => ({ key: `/k/${i}`, op: { type: "delete" as const, key: `/k/${i}` } }));
    const put = { key: "/k/1", op: { type: "put" as const, key: "/k/1", value: "v" } };
    const out = batches([...ops, put], 2);
    expect(out.map((b) => b.length)).toEqual([2, 2, 1]);
    expect(out.flat().filter((o) => o.key === "/k/1")).toEqual([put]);
  });
});

describe("transactions", () => {
  const w = (key: string, ...ties: string[]) => ({ write: { key, op: { type: "delete" as const, key } }, ties });
  const keysOf = (chains: { key: string }[][][]) => chains.map((chain) => chain.map((txn) => txn.map((x) => x.key)));

  test("a machine's writes share one transaction; small groups are packed together, each transaction its own chain", () => {
    const writes = [w("a1", "m:a"), w("b1", "m:b"), w("a2", "m:a"), w("c1", "m:c"), w("b2", "m:b"), w("p1"), w("a3", "m:a")];
    expect(keysOf(transactions(writes, 4))).toEqual([[["a1", "a2", "a3"]], [["b1", "b2", "c1", "p1"]]]);
  });

  test("a unit ties its machines: removals stay ahead of the additions they must precede", () => {
    // d leaves m1 and m2 for m3 (not one move): all three machines are one group, in order.
    const writes = [w("-d@m1", "m:m1", "u:d"), w("-d@m2", "m:m2", "u:d"), w("+e@m2", "m:m2", "u:e"), w("+d@m3", "m:m3", "u:d"), w("+f@m4", "m:m4", "u:f")];
    expect(keysOf(transactions(writes, 10))).toEqual([[["-d@m1", "-d@m2", "+e@m2", "+d@m3", "+f@m4"]]]);
    expect(keysOf(transactions(writes, 4))).toEqual([[["-d@m1", "-d@m2", "+e@m2", "+d@m3"]], [["+f@m4"]]]);
  });

  test("a group too big for one transaction is a chain of its own, in order, a move's halves never apart", () => {
    const writes = [w("x1", "m:x"), w("x2", "m:x"), w("x3", "m:x"), w("y1", "m:y"), w("x4", "m:x"), w("x5", "m:x")];
    expect(keysOf(transactions(writes, 2))).toEqual([[["x1", "x2"], ["x3", "x4"], ["x5"]], [["y1"]]]);
    const pair = new Set([writes[1]!.write]);
    expect(keysOf(transactions(writes, 2, pair))).toEqual([[["x1"], ["x2", "x3"], ["x4", "x5"]], [["y1"]]]);
  });

  test("one write per key, the last", () => {
    const writes = [w("a", "m:a"), w("b", "m:b"), { write: { key: "a", op: { type: "put" as const, key: "a", value: "v" } }, ties: ["m:a"] }];
    const out = transactions(writes, 10);
    expect(out.flat(2).filter((x) => x.key === "a").map((x) => x.op.type)).toEqual(["put"]);
  });
});

describe("moves", () => {
  const snap = snapshotOf(k, caches({
    machines: [machine("m2"), machine("m3")],
    units: [unit("a.service"), unit("b.service"), unit("g.service", { global: true }), unit("d.service")],
    schedule: [entry("a.service", "m1"), entry("b.service", "m2"), entry("g.service", "m1"), entry("d.service", "m1"), entry("d.service", "m2")],
  }));
  const actions: EngineAction[] = [
    { kind: "unschedule", unit: "a.service", machine: "m1", reason: "machine m1 went away" },
    { kind: "unschedule", unit: "c.service", machine: "m3", reason: "unit no longer exists" },
    { kind: "unschedule", unit: "d.service", machine: "m1", reason: "machine m1 went away" },
    { kind: "unschedule", unit: "d.service", machine: "m2", reason: "duplicate" },
    { kind: "unschedule", unit: "g.service", machine: "m1", reason: "machine m1 went away" },
    { kind: "schedule", unit: "a.service", machine: "m3", reason: "least loaded fitting machine" },
    { kind: "schedule", unit: "d.service", machine: "m3", reason: "least loaded fitting machine" },
    { kind: "schedule", unit: "e.service", machine: "m2", reason: "least loaded fitting machine" },
    { kind: "schedule", unit: "g.service", machine: "m3", reason: "global unit, machine fits" },
    { kind: "pending", unit: "f.service", reason: "no machine fits" },
  ];

  test("a move is a non-global unit taken off exactly one machine and placed on one other", () => {
    // d left two machines (not one move), g is global (one entry per machine, never a move).
    expect(movesIn(actions, snap)).toEqual(new Map([["a.service", { from: "m1", reason: "machine m1 went away" }]]));
  });

  test("removals first, then each move's halves side by side, then the rest in plan order", () => {
    const ordered = writeOrder(actions, movesIn(actions, snap));
    expect(ordered.map((a) => `${a.kind} ${a.unit}`)).toEqual([
      "unschedule c.service", "unschedule d.service", "unschedule d.service", "unschedule g.service",
      "unschedule a.service", "schedule a.service",
      "schedule d.service", "schedule e.service", "schedule g.service", "pending f.service",
    ]);
  });

  test("batches never split a move's halves over two transactions", () => {
    const ops = Array.from({ length: 5 }, (_, i) => ({ key: `/k/${i}`, op: { type: "delete" as const, key: `/k/${i}` } }));
    // Without the pair, ops 1 and 2 would be cut apart at the limit of 2.
    expect(batches(ops, 2).map((b) => b.map((o) => o.key))).toEqual([["/k/0", "/k/1"], ["/k/2", "/k/3"], ["/k/4"]]);
    expect(batches(ops, 2, new Set([ops[1]!])).map((b) => b.map((o) => o.key))).toEqual([["/k/0"], ["/k/1", "/k/2"], ["/k/3", "/k/4"]]);
  });
});

describe("unreferencedFiles", () => {
  test("a file is in use while a unit or a schedule entry names its hash", () => {
    const files = ["h1", "h2", "h3", "h4"].map((h) => k.unitFile(h));
    const c = { units: [unit("a.service", { hash: "h1" })], schedule: [entry("b.service", "m1", "h3")] };
    expect(unreferencedFiles(k, files, c)).toEqual(["h2", "h4"]);
  });
});

describe("pending reasons as data: the kind and machine stored beside the text", () => {
  const since = "2024-01-02T00:00:00.000Z";
  const PINNED = "waiting to leave drained machine m0: no other machine fits: 1 is drained";
  const LOST = "no machine fits: MachineID=m9 is not a live machine";
  const state = (pending: [string, PendingRecord][] = []) => snapshotOf(k, caches({
    machines: [machine("m0", {}, true), machine("m1")],
    units: [unit("pinned.service", { machineId: "m0" }), unit("p.service", { machineId: "m9" })],
    schedule: [entry("pinned.service", "m0")],
    pending,
  }));

  test("opFor stores the planner's kind, and the machine of a reason about one", () => {
    const snap = state();
    const writes = planSchedule(snap.state).filter((a) => a.kind === "pending").map((a) => opFor(k, a, snap, 1, Date.parse(since)));
    expect(writes).toEqual([
      { type: "put", key: k.pending("p.service"), value: JSON.stringify({ reason: LOST, since, kind: "no-fit" }) },
      { type: "put", key: k.pending("pinned.service"), value: JSON.stringify({ reason: PINNED, since, kind: "drain-blocked", machine: "m0" }) },
    ]);
  });

  test("a record written before the kind was stored is rewritten once, then left alone", () => {
    const old = state([[k.pending("p.service"), { reason: LOST, since }], [k.pending("pinned.service"), { reason: PINNED, since }]]);
    expect(old.state.pending).toEqual(new Map([["p.service", LOST], ["pinned.service", PINNED]]));
    expect(planSchedule(old.state).map((a) => `${a.kind} ${a.unit}`)).toEqual(["pending p.service", "pending pinned.service"]);
    const current = state([
      [k.pending("p.service"), { reason: LOST, since, kind: "no-fit" }],
      [k.pending("pinned.service"), { reason: PINNED, since, kind: "drain-blocked", machine: "m0" }],
    ]);
    expect(planSchedule(current.state)).toEqual([]);
  });

  test("unplacedByType counts the units left pending by the kind of their reason, never by its text", () => {
    const pending: [string, PendingRecord][] = [
      [k.pending("a.service"), { reason: "r", since, kind: "eviction-held", machine: "m9" }],
      [k.pending("b.service"), { reason: "r", since, kind: "drain-blocked", machine: "m0" }],
      // Reads like a unit held on a lost machine, but says no kind: counted with the constraints.
      [k.pending("c.service"), { reason: "waiting to move off lost machine m9 (eviction rate limit)", since }],
      [k.pending("d.service"), { reason: "r", since, kind: "no-fit" }],
      [k.pending("e.service"), { reason: "r", since, kind: "no-fit" }],
    ];
    const actions: EngineAction[] = [
      { kind: "clear-pending", unit: "d.service" },
      { kind: "pending", unit: "e.service", reason: "r", why: { kind: "drain-held", machine: "m0", hold: "eviction rate limit" } },
      { kind: "pending", unit: "f.service", reason: "r", why: { kind: "awaiting-return", machine: "m9", noFit: { kind: "no-machines" } } },
    ];
    expect(unplacedByType(k, pending, actions)).toEqual(new Map([["machine_away", 1], ["machine_drained", 2], ["constraints", 2]]));
  });

  test("evictionsIn tells a unit leaving a drained machine by the data, not by the text", () => {
    const snap = snapshotOf(k, caches({
      machines: [machine("m1"), machine("m2")], drains: [[k.drain("m1"), { since }]], units: [unit("a.service")], schedule: [entry("a.service", "m1")],
    }));
    const text = { kind: "unschedule" as const, unit: "a.service", machine: "m1", reason: "machine m1 is drained" };
    expect(evictionsIn([text], snap)).toBe(0);
    expect(evictionsIn([{ ...text, why: { kind: "drained", machine: "m1" } }], snap)).toBe(1);
    expect(evictionsIn(planSchedule(snap.state), snap)).toBe(1);
  });
});

describe("nextPlanAt", () => {
  test("the next plan waits five plans' lengths after the last ended: nothing after a quick plan, a second after a 200 ms one, at most 2 s", () => {
    expect(nextPlanAt({ endedAt: 10_000, ms: 2 })).toBe(10_010);
    expect(nextPlanAt({ endedAt: 10_000, ms: 200 })).toBe(11_000);
    expect(nextPlanAt({ endedAt: 10_000, ms: 400 })).toBe(12_000);
    expect(nextPlanAt({ endedAt: 10_000, ms: 2_600 })).toBe(12_000);
  });
});

describe("rollouts in the placement", () => {
  const H1 = "1".repeat(40);
  const H2 = "2".repeat(40);
  const T = "2024-01-01T00:00:00.000Z";
  const rollout = (unitName: string, targets: object[], state = "running") => ({
    record: {
      unit: unitName, to: H2, description: "", policy: { maxParallel: 1, minHealthyMs: 0, deadlineMs: 1000, autoRevert: false },
      state, createdAt: T, targets, started: true, log: [],
    } as never,
    modRevision: 50,
  });

  test("a global unit's copies keep the version the rollout gives each machine: only the one it moved is rewritten, and to the new hash", () => {
    const c = caches({
      machines: [machine("m1"), machine("m2")],
      units: [unit("mon.service", { global: true, hash: H1 })],
      schedule: [entry("mon.service", "m1", H2), entry("mon.service", "m2", H1)],
    });
    c.rollouts = [[k.rollout("mon.service"), rollout("mon.service", [
      { instance: "mon.service", machine: "m1", from: H1, phase: "updated", changedAt: T },
      { instance: "mon.service", machine: "m2", from: H1, phase: "updating", changedAt: T },
    ])]];
    c.unitRevision = () => 10;
    const snap = snapshotOf(k, c);
    const actions = planSchedule(snap.state);
    expect(actions.map((a) => `${a.kind} ${a.unit} ${"machine" in a ? a.machine : ""}`)).toEqual(["update mon.service m2"]);
    expect(writeFor(actions[0]!, snap)).toMatchObject({ kind: "schedule", machine: "m2", hash: H2 });
  });

  test("without the rollout the same entries are rewritten to the unit's hash; a non-global instance placed anew gets the rollout's", () => {
    const c = caches({
      machines: [machine("m1")],
      units: [unit("mon.service", { global: true, hash: H1 }), unit("web@1.service", { hash: H1 })],
      schedule: [entry("mon.service", "m1", H2)],
    });
    expect(planSchedule(snapshotOf(k, c).state).filter((a) => a.kind === "update").map((a) => a.unit)).toEqual(["mon.service"]);
    c.rollouts = [[k.rollout("web@.service"), rollout("web@.service", [{ instance: "web@1.service", from: H1, phase: "updating", changedAt: T }])]];
    const snap = snapshotOf(k, c);
    const placed = planSchedule(snap.state).find((a) => a.kind === "schedule" && a.unit === "web@1.service")!;
    expect(writeFor(placed, snap)).toMatchObject({ kind: "schedule", unit: "web@1.service", hash: H2 });
  });

  test("both versions' files are kept while a rollout holds instances, not after it ended", () => {
    const files = [k.unitFile(H1), k.unitFile(H2)];
    const held = [[k.rollout("web@.service"), rollout("web@.service", [{ instance: "web@1.service", from: H1, phase: "old" }])]] as never;
    expect(unreferencedFiles(k, files, { units: [], schedule: [], rollouts: held })).toEqual([]);
    const ended = [[k.rollout("web@.service"), rollout("web@.service", [{ instance: "web@1.service", from: H1, phase: "reverted", changedAt: T }], "reverted")]] as never;
    expect(unreferencedFiles(k, files, { units: [unit("web@1.service", { hash: H1 })], schedule: [], rollouts: ended })).toEqual([H2]);
  });
});
