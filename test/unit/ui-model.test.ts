// The dashboard's pure parts: reading Server-Sent Events, applying events to the store, the rows
// and tones the views show, filters, the action table and event sentences.
import { describe, expect, test } from "bun:test";
import { ACTIONS, actionsFor } from "../../src/ui/model/actions.ts";
import type { ApiUnit, FleetEvent } from "../../src/ui/model/api-types.ts";
import { describeEvent, eventConcerns } from "../../src/ui/model/describe.ts";
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

function loaded(units: ApiUnit[] = []): ClusterStore {
  const s = new ClusterStore();
  s.load({
    machines: [{ id: M1, primaryIP: "10.0.0.1", metadata: { hostname: "m1" } }, { id: M2, primaryIP: "10.0.0.2" }],
    units,
    states: [{ name: "a.service", machineID: M1, hash: "h1", systemdLoadState: "loaded", systemdActiveState: "active", systemdSubState: "running" }],
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
    const req = Object.fromEntries(ACTIONS.map((a) => [a.id, a.request(a.target === "machine" ? M1 : "web@1.service")]));
    expect(req).toEqual({
      start: { method: "PUT", path: "/fleet/v1/units/web%401.service", body: { name: "web@1.service", desiredState: "launched" } },
      stop: { method: "PUT", path: "/fleet/v1/units/web%401.service", body: { name: "web@1.service", desiredState: "loaded" } },
      unload: { method: "PUT", path: "/fleet/v1/units/web%401.service", body: { name: "web@1.service", desiredState: "inactive" } },
      destroy: { method: "DELETE", path: "/fleet/v1/units/web%401.service" },
      drain: { method: "PUT", path: `/fleet/v1/machines/${M1}/drain` },
      undrain: { method: "DELETE", path: `/fleet/v1/machines/${M1}/drain` },
    });
  });

  test("offered by state; rollout actions do not exist yet", () => {
    expect(actionsFor("unit", { desiredState: "launched" }).map((a) => a.id)).toEqual(["stop", "unload", "destroy"]);
    expect(actionsFor("unit", { desiredState: "inactive" }).map((a) => a.id)).toEqual(["start", "destroy"]);
    expect(actionsFor("machine", { drained: false }).map((a) => a.id)).toEqual(["drain"]);
    expect(actionsFor("machine", { drained: true }).map((a) => a.id)).toEqual(["undrain"]);
    expect(actionsFor("machine", { lost: true }).map((a) => a.id)).toEqual([]);
    expect(actionsFor("rollout", {})).toEqual([]);
  });
});

describe("words", () => {
  const name = (id: string) => id.slice(0, 8);
  test("events in sentences; which events concern a unit or a machine", () => {
    const moved = ev({ kind: "unit.moved", unit: "a.service", from: M1, to: M2, reason: "machine 11111111 went away" });
    expect(describeEvent(moved, name)).toBe("Unit a.service moved from 11111111 to 22222222: machine 11111111 went away");
    expect(describeEvent(ev({ kind: "leader.changed", machine: null }), name)).toBe("No engine leader");
    expect([eventConcerns(moved, { unit: "a.service" }), eventConcerns(moved, { machine: M2 }), eventConcerns(moved, { unit: "b.service" })]).toEqual([true, true, false]);
    expect([formatAge(5_000), formatAge(125_000), formatAge(3_780_000), formatAge(90_000_000)]).toEqual(["5s", "2m", "1h 3m", "1d 1h"]);
  });
});
