// What sequences of systemd's PropertiesChanged signals mean as unit states (the D-Bus side is
// tested against a real systemd in test/functional/systemd-dbus.test.ts).
import { expect, test } from "bun:test";
import { SignalledStates } from "../../src/systemd/signalled-states.ts";
import type { UnitState } from "../../src/systemd/unit-manager.ts";

const v = (value: unknown) => ({ value });

function watched(): { s: SignalledStates; seen: [string, UnitState][] } {
  const s = new SignalledStates();
  const seen: [string, UnitState][] = [];
  s.subscribe((name, state) => seen.push([name, state]));
  return { s, seen };
}

test("a unit started here: its MainPID signalled first is kept, and its first state needs no read", () => {
  const { s, seen } = watched();
  const undo = s.starting("a.service");
  // systemd sends the Service interface's change before the Unit interface's, neither with LoadState.
  s.serviceChanged("a.service", { MainPID: v(4242) });
  expect(seen).toEqual([]);
  expect(s.unitChanged("a.service", { ActiveState: v("active"), SubState: v("running") })).toBeUndefined();
  expect(seen).toEqual([["a.service", { loadState: "loaded", activeState: "active", subState: "running", mainPid: 4242 }]]);
  undo(); // too late to matter: the unit has been seen
  // A restart reported as one state shows as a new pid.
  s.serviceChanged("a.service", { MainPID: v(4243) });
  expect(seen.at(-1)).toEqual(["a.service", { loadState: "loaded", activeState: "active", subState: "running", mainPid: 4243 }]);
  // Stopped: no process, so no pid.
  s.unitChanged("a.service", { ActiveState: v("inactive"), SubState: v("dead") });
  expect(seen.at(-1)).toEqual(["a.service", { loadState: "loaded", activeState: "inactive", subState: "dead" }]);
});

test("a partial change of a unit never seen and not started here asks for a read; a failed start forgets the mark", () => {
  const { s, seen } = watched();
  expect(s.unitChanged("other.service", { ActiveState: v("active"), SubState: v("running") })).toBe("read");
  expect(s.unitChanged("other.service", { Description: v("x") })).toBeUndefined();
  const undo = s.starting("b.service");
  undo();
  s.serviceChanged("b.service", { MainPID: v(7) });
  expect(s.unitChanged("b.service", { ActiveState: v("active"), SubState: v("running") })).toBe("read");
  expect(seen).toEqual([]);
});

test("repeats are dropped; a read begun before a change is told the newer state; forget drops everything", () => {
  const { s, seen } = watched();
  const state = { loadState: "loaded", activeState: "active", subState: "running" };
  s.emit("c.service", state);
  const mark = s.mark();
  expect(s.newerThan("c.service", mark)).toBeUndefined();
  s.emit("c.service", { ...state });
  expect(seen).toHaveLength(1);
  s.emit("c.service", { ...state, activeState: "failed", subState: "failed" });
  expect(s.newerThan("c.service", mark)).toEqual({ loadState: "loaded", activeState: "failed", subState: "failed" });
  expect(s.names()).toEqual(["c.service"]);
  s.forget("c.service");
  expect(s.names()).toEqual([]);
  expect(s.unitChanged("c.service", { ActiveState: v("active"), SubState: v("running") })).toBe("read");
});

test("a listener that throws does not starve the others", () => {
  const s = new SignalledStates();
  const seen: string[] = [];
  s.subscribe(() => {
    throw new Error("boom");
  });
  s.subscribe((name) => seen.push(name));
  s.emit("d.service", { loadState: "loaded", activeState: "active", subState: "running" });
  expect(seen).toEqual(["d.service"]);
});

test("a MainPID signalled while the unit is inactive waits for its change to running", () => {
  const { s, seen } = watched();
  s.starting("e.service");
  // systemd signals a unit it loads for a start as inactive/dead first.
  s.unitChanged("e.service", { ActiveState: v("inactive"), SubState: v("dead") });
  s.serviceChanged("e.service", { MainPID: v(99) });
  s.unitChanged("e.service", { ActiveState: v("active"), SubState: v("running") });
  expect(seen).toEqual([
    ["e.service", { loadState: "loaded", activeState: "inactive", subState: "dead" }],
    ["e.service", { loadState: "loaded", activeState: "active", subState: "running", mainPid: 99 }],
  ]);
});
