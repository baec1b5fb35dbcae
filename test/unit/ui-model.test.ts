// The dashboard's pure parts: reading Server-Sent Events, applying events to the store, the rows
// and tones the views show, filters, the action table and event sentences.
import { describe, expect, test } from "bun:test";
import { describeEvent as describeRolloutStep } from "../../src/rollout/describe.ts";
import { ROLLOUT_STATES, type RolloutEvent, type RolloutRecord } from "../../src/rollout/types.ts";
import { rolloutView } from "../../src/rollout/view.ts";
import { ACTIONS, actionsFor, targetText } from "../../src/ui/model/actions.ts";
import type { ApiRollout, ApiUnit, FleetEvent } from "../../src/ui/model/api-types.ts";
import { eventText } from "../../src/events/text.ts";
import { eventConcerns } from "../../src/ui/model/describe.ts";
import { rolloutFrom, rolloutProgress, rolloutTone } from "../../src/ui/model/rollouts.ts";
import { SseParser } from "../../src/ui/model/sse.ts";
import { ClusterStore } from "../../src/ui/model/store.ts";
import { filterRows, formatAge, machineRows, unitRows } from "../../src/ui/model/view.ts";

const M1 = "1111111111111111aaaaaaaaaaaaaaaa";
const M2 = "2222222222222222bbbbbbbbbbbbbbbb";
const opts = (desc: string, xfleet: [string, string][] = []) => [
  { section: "Unit", name: "Description", value: desc },
  { section: "Service", name: "ExecStart", value: "/bin/true" },
  ...xfleet.map(([name, value]) => ({ section: "X-Fleet", name, value })),
];
let rev = 100;
const ev = (body: Record<string, unknown>): FleetEvent => ({ id: `${++rev}-0`, revision: rev, ...body }) as FleetEvent;

function loaded(units: ApiUnit[] = [], rollouts: ApiRollout[] = []): ClusterStore {
  const s = new ClusterStore();
  s.load({
    machines: [{ id: M1, primaryIP: "10.0.0.1", metadata: { hostname: "m1" } }, { id: M2, primaryIP: "10.0.0.2" }],
    units,
    states: [{ name: "a.service", machineID: M1, hash: "h1", systemdLoadState: "loaded", systemdActiveState: "active", systemdSubState: "running" }],
    rollouts,
    revision: 100,
  });
  return s;
}

describe("SseParser", () => {
  const stream = "retry: 2000\nid: 7\ndata: {\"kind\":\"open\"}\n\n: heartbeat\n\nid: 8-0\r\ndata: a\r\ndata: b\r\n\r\nid: 9-1\rdata: c\r\r";

  test("reads messages, ids and retry whatever the chunks and line ends", () => {
    // Every way of cutting the stream in two gives the same messages.
    for (let cut = 0; cut <= stream.length; cut++) {
      const p = new SseParser();
      const got = [...p.push(stream.slice(0, cut)), ...p.push(stream.slice(cut))];
      expect(got).toEqual([
        { lastEventId: "7", data: '{"kind":"open"}' },
        { lastEventId: "8-0", data: "a\nb" },
        { lastEventId: "9-1", data: "c" },
      ]);
      expect(p.retryMs).toBe(2000);
    }
  });

  test("a comment or an id alone makes no message", () => {
    const p = new SseParser();
    expect(p.push(": heartbeat\n\nid: 5\n\n")).toEqual([]);
    expect(p.lastEventId).toBe("5");
  });
});

describe("ClusterStore", () => {
  test("a snapshot: units with their machine, global units, states", () => {
    const s = loaded([
      { name: "a.service", desiredState: "launched", currentState: "launched", machineID: M1, options: opts("A") },
      { name: "g.service", desiredState: "launched", options: opts("G", [["Global", "true"]]) },
      { name: "p.service", desiredState: "launched", currentState: "inactive", options: opts("P"), pendingReason: "no machine fits" },
    ]);
    const rows = unitRows(s);
    expect(rows.map((r) => [r.name, r.tone, r.machine ?? "-", r.active, r.currentState])).toEqual([
      ["a.service", "ok", M1, "active", "launched"],
      ["g.service", "pending", "-", "-", "-"],
      ["p.service", "pending", "-", "-", "inactive"],
    ]);
    expect(rows[0]!.description).toBe("A");
    expect(rows[2]!.pendingReason).toBe("no machine fits");
    expect(s.units.get("g.service")!.global).toBe(true);
  });

  test("events: submitted asks for the file, placed and moved clear pending, state, lost, drained, destroyed", () => {
    const s = loaded([{ name: "a.service", desiredState: "launched", currentState: "launched", machineID: M1, options: opts("A") }]);
    expect(s.apply(ev({ kind: "unit.submitted", unit: "b.service", hash: "f".repeat(40), desiredState: "launched", global: false }))).toEqual({ unit: "b.service" });
    expect(s.apply(ev({ kind: "unit.pending", unit: "b.service", reason: "no machine fits" }))).toEqual({});
    expect(unitRows(s).find((r) => r.name === "b.service")!.tone).toBe("pending");
    s.apply(ev({ kind: "unit.placed", unit: "b.service", machine: M2, reason: "least loaded fitting machine" }));
    s.apply(ev({ kind: "unit.state", unit: "b.service", machine: M2, loadState: "loaded", activeState: "activating", subState: "start", hash: "f".repeat(40) }));
    let b = unitRows(s).find((r) => r.name === "b.service")!;
    expect([b.machine, b.tone, b.pendingReason, b.sub]).toEqual([M2, "busy", undefined, "start"]);
    s.apply(ev({ kind: "unit.moved", unit: "b.service", from: M2, to: M1, reason: "machine 22222222 went away" }));
    s.apply(ev({ kind: "unit.state-removed", unit: "b.service", machine: M2 }));
    s.apply(ev({ kind: "unit.state", unit: "b.service", machine: M1, loadState: "loaded", activeState: "failed", subState: "failed", hash: "f".repeat(40) }));
    b = unitRows(s).find((r) => r.name === "b.service")!;
    expect([b.machine, b.tone, b.instances.map((i) => i.machine)]).toEqual([M1, "failed", [M1]]);

    expect(s.apply(ev({ kind: "machine.lost", machine: M2 }))).toEqual({});
    expect(s.apply(ev({ kind: "machine.drained", machine: M1, since: "2026-01-01T00:00:00Z" }))).toEqual({});
    expect([s.machines.get(M2)!.lost, s.machines.get(M1)!.drained]).toEqual([true, true]);
    expect(s.apply(ev({ kind: "machine.joined", machine: M2, publicIP: "10.0.0.2", metadata: {} }))).toEqual({ machines: true });
    expect(s.machines.get(M2)!.lost).toBe(false);

    s.apply(ev({ kind: "unit.destroyed", unit: "a.service" }));
    expect(s.units.has("a.service")).toBe(false);
    expect(s.revision).toBe(rev);
    expect(s.recent.length).toBe(11);
  });

  test("desired inactive clears the pending reason; a submission seen twice asks for the file once", () => {
    const s = loaded([{ name: "p.service", desiredState: "launched", options: opts("P"), pendingReason: "no machine fits" }]);
    s.apply(ev({ kind: "unit.desired", unit: "p.service", desiredState: "inactive", previous: "launched" }));
    expect(unitRows(s)[0]!.tone).toBe("off");
    expect(unitRows(s)[0]!.pendingReason).toBeUndefined();
    const sub = { kind: "unit.submitted", unit: "p.service", hash: "a".repeat(40), desiredState: "inactive", global: false };
    expect(s.apply(ev(sub))).toEqual({ unit: "p.service" });
    s.loadUnit({ name: "p.service", desiredState: "inactive", options: opts("P2") });
    expect(s.apply(ev(sub))).toEqual({});
    expect(unitRows(s)[0]!.description).toBe("P2");
  });

  test("a machine refusing a unit makes it failed, with the reason", () => {
    const s = loaded([{ name: "sshd.service", desiredState: "launched", machineID: M1, options: opts("S") }]);
    s.apply(ev({ kind: "unit.state", unit: "sshd.service", machine: M1, loadState: "loaded", activeState: "failed", subState: "shadowed", hash: "h", reason: "the machine defines sshd.service itself" }));
    const r = unitRows(s)[0]!;
    expect([r.tone, r.refused]).toEqual(["failed", "the machine defines sshd.service itself"]);
  });

  test("a global unit: one instance per machine, the worst tone, a summary of active states", () => {
    const s = loaded([{ name: "g.service", desiredState: "launched", options: opts("G", [["Global", "true"]]) }]);
    s.apply(ev({ kind: "unit.state", unit: "g.service", machine: M1, loadState: "loaded", activeState: "active", subState: "running", hash: "h" }));
    s.apply(ev({ kind: "unit.state", unit: "g.service", machine: M2, loadState: "loaded", activeState: "activating", subState: "start", hash: "h" }));
    const r = unitRows(s)[0]!;
    expect([r.tone, r.active, r.instances.length]).toEqual(["busy", "1 active, 1 activating", 2]);
    expect(machineRows(s, unitRows(s)).map((m) => [m.machine.id, m.total, m.counts.busy])).toEqual([[M1, 1, 0], [M2, 1, 1]]);
  });
});

describe("rollouts", () => {
  const OLD = "a".repeat(40);
  const NEW = "b".repeat(40);
  const webRollout = (state: RolloutRecord["state"], phases: RolloutRecord["targets"][number]["phase"][]): ApiRollout =>
    rolloutView({
      unit: "web@.service", to: NEW, description: "Web", state, createdAt: "2026-12-05T02:30:00.000Z", started: true,
      policy: { maxParallel: 1, minHealthyMs: 600_000, deadlineMs: 900_000, autoRevert: false },
      targets: phases.map((phase, i) => ({ instance: `web@${i + 1}.service`, from: OLD, phase })),
      log: [{ n: 1, at: "2026-12-05T02:30:00.100Z", event: { kind: "started", targets: phases.length, to: NEW } }],
    });
  const units: ApiUnit[] = [
    { name: "web@1.service", desiredState: "launched", options: opts("Web") },
    { name: "web@2.service", desiredState: "launched", options: opts("Web") },
    { name: "a.service", desiredState: "launched", machineID: M1, options: opts("A") },
  ];
  const step = (n: number, body: RolloutEvent) => ev({ kind: body.kind === "finished" ? "rollout.finished" : "rollout.step", unit: "web@.service", n, step: body });

  test("a snapshot's rollout covers the template's instances: their rows are marked while it is active, progress counts the new version", () => {
    const s = loaded(units, [webRollout("running", ["updated", "updating", "old"])]);
    expect(unitRows(s).map((r) => [r.name, r.rollout])).toEqual([["a.service", undefined], ["web@1.service", "running"], ["web@2.service", "running"]]);
    const r = s.rollouts.forUnit("web@2.service")!;
    expect([r.unit, rolloutProgress(r), rolloutFrom(r), rolloutTone(r.state)]).toEqual(["web@.service", { onNew: 2, total: 3 }, [OLD], "busy"]);
    expect(s.rollouts.forUnit("a.service")).toBeUndefined();
    // An ended rollout is still the unit's last one, but no longer marks it.
    const ended = loaded(units, [webRollout("succeeded", ["updated", "updated"])]);
    expect(ended.rollouts.forUnit("web@1.service")!.state).toBe("succeeded");
    expect(unitRows(ended).map((r) => r.rollout)).toEqual([undefined, undefined, undefined]);
  });

  test("events: a pause, resume or abort request sets the state with the step in the describer's words; steps that move instances, a start and the end ask for the rollout", () => {
    const s = loaded(units, [webRollout("running", ["updated", "updating"])]);
    expect(s.apply(step(2, { kind: "paused" }))).toEqual({});
    const paused = s.rollouts.byUnit.get("web@.service")!;
    expect(paused.state).toBe("paused");
    expect(paused.log.at(-1)).toEqual({ n: 2, at: "", kind: "paused", text: describeRolloutStep({ kind: "paused" }) });
    expect(unitRows(s).find((r) => r.name === "web@1.service")!.rollout).toBe("paused");
    // A step the store already has (the snapshot, or a repeat) changes nothing.
    expect(s.apply(step(2, { kind: "resumed" }))).toEqual({});
    expect(s.rollouts.byUnit.get("web@.service")!.state).toBe("paused");
    expect(s.apply(step(3, { kind: "resumed" }))).toEqual({});
    expect(s.rollouts.byUnit.get("web@.service")!.state).toBe("running");
    expect(s.apply(step(4, { kind: "healthy", instance: "web@2.service", minHealthyMs: 600_000 }))).toEqual({ rollout: "web@.service" });
    expect(s.apply(step(5, { kind: "abort-requested" }))).toEqual({});
    expect(s.rollouts.byUnit.get("web@.service")!.state).toBe("aborting");
    expect(s.apply(step(6, { kind: "finished", state: "aborted", why: { kind: "aborted" } }))).toEqual({ rollout: "web@.service" });
    expect(s.rollouts.byUnit.get("web@.service")!.state).toBe("aborted");
    expect(unitRows(s).map((r) => r.rollout)).toEqual([undefined, undefined, undefined]);
    expect(s.rollouts.byUnit.get("web@.service")!.log.map((l) => l.n)).toEqual([1, 2, 3, 4, 5, 6]);

    // A new rollout over the ended one starts afresh; a step of a rollout the store does not know asks for it.
    expect(s.apply(ev({ kind: "rollout.started", unit: "web@.service", to: OLD, maxParallel: 2, autoRevert: true }))).toEqual({ rollout: "web@.service" });
    const fresh = s.rollouts.byUnit.get("web@.service")!;
    expect([fresh.state, fresh.to, fresh.policy.maxParallel, fresh.log]).toEqual(["running", OLD, 2, []]);
    expect(s.apply(ev({ kind: "rollout.step", unit: "x.service", n: 7, step: { kind: "paused" } }))).toEqual({ rollout: "x.service" });
    expect(s.rollouts.byUnit.has("x.service")).toBe(false);
  });

  test("a rollout read is taken unless an event came after the read was sent; a 404 drops it", () => {
    const s = loaded(units, [webRollout("running", ["updating", "old"])]);
    const before = s.rollouts.mark("web@.service");
    s.apply(step(2, { kind: "paused" }));
    // The read sent before the pause may answer the rollout still running: not taken.
    expect(s.loadRollout("web@.service", webRollout("running", ["updated", "old"]), before)).toBe(false);
    expect(s.rollouts.byUnit.get("web@.service")!.state).toBe("paused");
    const version = s.version;
    expect(s.loadRollout("web@.service", webRollout("paused", ["updated", "old"]), s.rollouts.mark("web@.service"))).toBe(true);
    expect(rolloutProgress(s.rollouts.byUnit.get("web@.service")!)).toEqual({ onNew: 1, total: 2 });
    expect(s.version).toBeGreaterThan(version);
    expect(s.loadRollout("web@.service", undefined, s.rollouts.mark("web@.service"))).toBe(true);
    expect(s.rollouts.forUnit("web@1.service")).toBeUndefined();
  });

  test("the tone of each state", () => {
    expect(ROLLOUT_STATES.map((st) => rolloutTone(st))).toEqual(["busy", "pending", "busy", "busy", "ok", "failed", "off", "off"]);
  });
});

describe("filters", () => {
  const s = loaded([
    { name: "a.service", desiredState: "launched", machineID: M1, options: opts("Alpha") },
    { name: "web@1.service", desiredState: "launched", options: opts("Web") },
    { name: "web@2.service", desiredState: "inactive", options: opts("Web") },
  ]);
  const names = (f: Partial<Parameters<typeof filterRows>[1]>) => filterRows(unitRows(s), { text: "", tone: "", machine: "", ...f }, s.machines).map((r) => r.name);

  test("by text (name, description, machine, IP), glob, tone and machine", () => {
    expect(names({ text: "alp" })).toEqual(["a.service"]);
    expect(names({ text: "10.0.0.1" })).toEqual(["a.service"]);
    expect(names({ text: "web@*" })).toEqual(["web@1.service", "web@2.service"]);
    expect(names({ tone: "pending" })).toEqual(["web@1.service"]);
    expect(names({ machine: M1 })).toEqual(["a.service"]);
    expect(names({ text: "web", tone: "off" })).toEqual(["web@2.service"]);
  });
});

describe("actions", () => {
  test("each is the v1 request fleet ctl makes", () => {
    const req = Object.fromEntries(ACTIONS.map((a) => [a.id, a.request(a.target === "machine" ? M1 : a.target === "rollout" ? "web@.service" : "web@1.service")]));
    expect(req).toEqual({
      start: { method: "PUT", path: "/fleet/v1/units/web%401.service", body: { name: "web@1.service", desiredState: "launched" } },
      stop: { method: "PUT", path: "/fleet/v1/units/web%401.service", body: { name: "web@1.service", desiredState: "loaded" } },
      unload: { method: "PUT", path: "/fleet/v1/units/web%401.service", body: { name: "web@1.service", desiredState: "inactive" } },
      destroy: { method: "DELETE", path: "/fleet/v1/units/web%401.service" },
      drain: { method: "PUT", path: `/fleet/v1/machines/${M1}/drain` },
      undrain: { method: "DELETE", path: `/fleet/v1/machines/${M1}/drain` },
      pause: { method: "POST", path: "/fleet/v1/rollouts/web%40.service/pause" },
      resume: { method: "POST", path: "/fleet/v1/rollouts/web%40.service/resume" },
      abort: { method: "POST", path: "/fleet/v1/rollouts/web%40.service/abort" },
    });
  });

  test("offered by state; a rollout's: pause while running, resume while paused, abort until it ended (or while a failed one holds both versions)", () => {
    expect(actionsFor("unit", { desiredState: "launched" }).map((a) => a.id)).toEqual(["stop", "unload", "destroy"]);
    expect(actionsFor("unit", { desiredState: "inactive" }).map((a) => a.id)).toEqual(["start", "destroy"]);
    expect(actionsFor("machine", { drained: false }).map((a) => a.id)).toEqual(["drain"]);
    expect(actionsFor("machine", { drained: true }).map((a) => a.id)).toEqual(["undrain"]);
    expect(actionsFor("machine", { lost: true }).map((a) => a.id)).toEqual([]);
    const rolloutIds = (rolloutState: string) => actionsFor("rollout", { rolloutState }).map((a) => a.id);
    expect(rolloutIds("running")).toEqual(["pause", "abort"]);
    expect(rolloutIds("paused")).toEqual(["resume", "abort"]);
    expect(rolloutIds("failed")).toEqual(["abort"]);
    for (const ended of ["reverting", "aborting", "succeeded", "reverted", "aborted"]) expect(rolloutIds(ended)).toEqual([]);
    expect(actionsFor("rollout", {})).toEqual([]);
    expect([targetText("unit", "a.service"), targetText("machine", M1), targetText("rollout", "web@.service")]).toEqual(["a.service", "machine 11111111", "the rollout of web@.service"]);
  });
});

describe("words", () => {
  const name = (id: string) => id.slice(0, 8);
  test("events in sentences; which events concern a unit or a machine", () => {
    const moved = ev({ kind: "unit.moved", unit: "a.service", from: M1, to: M2, reason: "machine 11111111 went away" });
    expect(eventText(moved, name)).toBe("Unit a.service moved from 11111111 to 22222222: machine 11111111 went away");
    expect(eventText(ev({ kind: "leader.changed", machine: null }), name)).toBe("No engine leader");
    expect([eventConcerns(moved, { unit: "a.service" }), eventConcerns(moved, { machine: M2 }), eventConcerns(moved, { unit: "b.service" })]).toEqual([true, true, false]);
    expect([formatAge(5_000), formatAge(125_000), formatAge(3_780_000), formatAge(90_000_000)]).toEqual(["5s", "2m", "1h 3m", "1d 1h"]);
  });
});
