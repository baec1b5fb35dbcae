// The agent's pure planner, table-driven: every row of compatibility.md §8.6.3, adoption after
// a daemon restart, changed hashes, oneshots that already ran, and failed units kept apart.
import { describe, expect, test } from "bun:test";
import {
  type Action, type DesiredUnit, type LaunchRecord, type PlanInput, planReconcile, type SystemdState,
} from "../../src/agent/plan.ts";

const H1 = "1111111111111111111111111111111111111111";
const H2 = "2222222222222222222222222222222222222222";

const running: SystemdState = { loadState: "loaded", activeState: "active", subState: "running" };
const exited: SystemdState = { loadState: "loaded", activeState: "active", subState: "exited" };
const dead: SystemdState = { loadState: "loaded", activeState: "inactive", subState: "dead" };
const failed: SystemdState = { loadState: "loaded", activeState: "failed", subState: "failed" };
const notFound: SystemdState = { loadState: "not-found", activeState: "inactive", subState: "dead" };

interface Row {
  name: string;
  desired?: DesiredUnit;
  file?: string;
  systemd?: SystemdState;
  record?: LaunchRecord;
  /** "kind unit" for each action, in order (reload shown as "reload"). */
  actions: string[];
  adopt?: string[];
  forget?: boolean;
}

function input(rows: Pick<Row, "desired" | "file" | "systemd" | "record">[], unit = "a.service"): PlanInput {
  const desired = new Map<string, DesiredUnit>();
  const files = new Map<string, string>();
  const systemd = new Map<string, SystemdState>();
  const launched = new Map<string, LaunchRecord>();
  rows.forEach((r, i) => {
    const name = rows.length === 1 ? unit : `u${i}.service`;
    if (r.desired) desired.set(name, r.desired);
    if (r.file) files.set(name, r.file);
    if (r.systemd) systemd.set(name, r.systemd);
    if (r.record) launched.set(name, r.record);
  });
  return { desired, files, systemd, launched };
}

function show(actions: Action[]): string[] {
  return actions.map((a) => (a.kind === "reload" ? "reload" : `${a.kind} ${a.unit}`));
}

const launchedH1: DesiredUnit = { hash: H1, desiredState: "launched" };
const loadedH1: DesiredUnit = { hash: H1, desiredState: "loaded" };

const rows: Row[] = [
  // §8.6.3 row by row.
  { name: "not desired, loaded here: unload", file: H1, systemd: running, record: { state: "launched", hash: H1 }, actions: ["unload a.service", "reload"] },
  { name: "not desired, file without a record: unload", file: H1, systemd: dead, actions: ["unload a.service", "reload"] },
  { name: "not desired, nothing here: nothing", actions: [] },
  { name: "not desired, file gone but recorded and still running: unload", systemd: running, record: { state: "launched", hash: H1 }, actions: ["unload a.service", "reload"] },
  { name: "not desired, file gone, recorded, not running: forget the record", systemd: dead, record: { state: "launched", hash: H1 }, actions: [], forget: true },
  { name: "desired launched, not here: load, reload, start", desired: launchedH1, actions: ["load a.service", "reload", "start a.service"] },
  { name: "desired loaded, not here: load, reload", desired: loadedH1, actions: ["load a.service", "reload"] },
  {
    name: "desired launched, hash differs: unload, load, reload, start",
    desired: launchedH1, file: H2, systemd: running, record: { state: "launched", hash: H2 },
    actions: ["unload a.service", "load a.service", "reload", "start a.service"],
  },
  {
    name: "desired loaded, hash differs: unload, load, reload (no start)",
    desired: loadedH1, file: H2, systemd: running, record: { state: "launched", hash: H2 },
    actions: ["unload a.service", "load a.service", "reload"],
  },
  { name: "launched and recorded launched: nothing", desired: launchedH1, file: H1, systemd: running, record: { state: "launched", hash: H1 }, actions: [] },
  { name: "loaded and recorded loaded: nothing", desired: loadedH1, file: H1, systemd: dead, record: { state: "loaded", hash: H1 }, actions: [] },
  { name: "recorded loaded, desired launched: start only", desired: launchedH1, file: H1, systemd: dead, record: { state: "loaded", hash: H1 }, actions: ["start a.service"] },
  { name: "recorded launched, desired loaded: stop only", desired: loadedH1, file: H1, systemd: running, record: { state: "launched", hash: H1 }, actions: ["stop a.service"] },

  // Adoption after a daemon restart (the original re-issued Load + Start here, §8.6.2).
  { name: "restart: file matches, launched record: nothing, even if systemd is unknown", desired: launchedH1, file: H1, record: { state: "launched", hash: H1 }, actions: [] },
  { name: "restart: running unit without a record is adopted as launched", desired: launchedH1, file: H1, systemd: running, actions: [], adopt: ["a.service launched"] },
  { name: "restart: activating unit without a record is adopted as launched", desired: launchedH1, file: H1, systemd: { loadState: "loaded", activeState: "activating", subState: "start" }, actions: [], adopt: ["a.service launched"] },
  { name: "restart: inactive unit without a record and desired launched is started", desired: launchedH1, file: H1, systemd: dead, actions: ["start a.service"] },
  { name: "restart: failed unit without a record and desired launched is started", desired: launchedH1, file: H1, systemd: failed, actions: ["start a.service"] },
  { name: "restart: loaded unit without a record, desired loaded, is adopted as loaded", desired: loadedH1, file: H1, systemd: dead, actions: [], adopt: ["a.service loaded"] },
  { name: "restart: running unit without a record but desired loaded is stopped", desired: loadedH1, file: H1, systemd: running, actions: ["stop a.service"] },
  { name: "restart: file present but systemd does not know it: load (and start)", desired: launchedH1, file: H1, systemd: notFound, actions: ["load a.service", "reload", "start a.service"] },
  { name: "restart: file present, systemd state unknown, desired loaded: load", desired: loadedH1, file: H1, actions: ["load a.service", "reload"] },
  { name: "a record of an older file is not trusted: running unit adopted", desired: launchedH1, file: H1, systemd: running, record: { state: "loaded", hash: H2 }, actions: [], adopt: ["a.service launched"] },

  // A oneshot that already ran: active/exited or inactive/dead, but recorded as launched.
  { name: "oneshot that ran (inactive/dead) with a launched record is not run again", desired: launchedH1, file: H1, systemd: dead, record: { state: "launched", hash: H1 }, actions: [] },
  { name: "oneshot that ran (active/exited) without a record is adopted", desired: launchedH1, file: H1, systemd: exited, actions: [], adopt: ["a.service launched"] },
  { name: "a failed unit recorded launched is left to its own Restart= policy", desired: launchedH1, file: H1, systemd: failed, record: { state: "launched", hash: H1 }, actions: [] },
];

describe("planReconcile, one unit", () => {
  for (const row of rows) {
    test(row.name, () => {
      const plan = planReconcile(input([row]));
      expect(show(plan.actions)).toEqual(row.actions);
      expect(plan.adoptions.map((a) => `${a.unit} ${a.state}`)).toEqual(row.adopt ?? []);
      expect(plan.forget).toEqual(row.forget ? ["a.service"] : []);
      expect(plan.deferred).toEqual([]);
      for (const a of plan.actions) expect(a.reason.length).toBeGreaterThan(0);
    });
  }
});

describe("planReconcile, batches", () => {
  test("actions are ordered unload < load < reload < stop < start, then by name, with one reload", () => {
    const plan = planReconcile(input([
      { desired: launchedH1 }, // u0: load + start
      { file: H1, systemd: running, record: { state: "launched", hash: H1 } }, // u1: unload
      { desired: loadedH1, file: H1, systemd: running, record: { state: "launched", hash: H1 } }, // u2: stop
      { desired: launchedH1, file: H2, systemd: running, record: { state: "launched", hash: H2 } }, // u3: unload, load, start
      { desired: launchedH1, file: H1, systemd: dead, record: { state: "loaded", hash: H1 } }, // u4: start
      { desired: loadedH1 }, // u5: load
    ]));
    expect(show(plan.actions)).toEqual([
      "unload u1.service", "unload u3.service",
      "load u0.service", "load u3.service", "load u5.service",
      "reload",
      "stop u2.service",
      "start u0.service", "start u3.service", "start u4.service",
    ]);
    const reload = plan.actions.find((a) => a.kind === "reload");
    expect(reload?.kind === "reload" && reload.units).toEqual(["u0.service", "u1.service", "u3.service", "u5.service"]);
    expect(reload?.reason).toBe("unit files changed (3 loaded, 2 unloaded)");
  });

  test("no reload when nothing is loaded or unloaded", () => {
    const plan = planReconcile(input([
      { desired: loadedH1, file: H1, systemd: running, record: { state: "launched", hash: H1 } },
      { desired: launchedH1, file: H1, systemd: dead, record: { state: "loaded", hash: H1 } },
    ]));
    expect(show(plan.actions)).toEqual(["stop u0.service", "start u1.service"]);
  });

  test("load carries the scheduled hash; the reasons say why", () => {
    const plan = planReconcile(input([{ desired: launchedH1, file: H2, systemd: running, record: { state: "launched", hash: H2 } }]));
    expect(plan.actions).toEqual([
      { kind: "unload", unit: "a.service", reason: "unit loaded but hash differs to expected (2222222 here, 1111111 scheduled)" },
      { kind: "load", unit: "a.service", reason: "unit scheduled here with hash 1111111", hash: H1 },
      { kind: "reload", reason: "unit files changed (1 loaded, 1 unloaded)", units: ["a.service"] },
      { kind: "start", unit: "a.service", reason: "unit reloaded with a new hash and desired state is launched" },
    ]);
  });

  test("a unit backing off after a failure is deferred and does not hold up the others", () => {
    const base = input([{ desired: launchedH1 }, { desired: launchedH1 }, { file: H1, systemd: running }]);
    const plan = planReconcile({ ...base, backingOff: new Set(["u0.service", "u2.service"]) });
    expect(plan.deferred).toEqual(["u0.service", "u2.service"]);
    expect(show(plan.actions)).toEqual(["load u1.service", "reload", "start u1.service"]);
  });

  test("a daemon restart with everything in place plans nothing", () => {
    const desired = new Map<string, DesiredUnit>();
    const files = new Map<string, string>();
    const systemd = new Map<string, SystemdState>();
    const launched = new Map<string, LaunchRecord>();
    for (let i = 0; i < 50; i++) {
      const name = `web${i}.service`;
      const state = i % 3 === 0 ? "loaded" : "launched";
      desired.set(name, { hash: H1, desiredState: state });
      files.set(name, H1);
      systemd.set(name, state === "launched" ? running : dead);
      launched.set(name, { state, hash: H1 });
    }
    const plan = planReconcile({ desired, files, systemd, launched });
    expect(plan).toEqual({ actions: [], adoptions: [], forget: [], deferred: [] });
  });

  test("the planner does not modify its input", () => {
    const inp = input([{ desired: launchedH1, file: H2, record: { state: "launched", hash: H2 } }]);
    const before = JSON.stringify([...inp.desired, ...inp.files, ...inp.launched]);
    planReconcile(inp);
    expect(JSON.stringify([...inp.desired, ...inp.files, ...inp.launched])).toBe(before);
  });
});
