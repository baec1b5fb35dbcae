import { describe, expect, test } from "bun:test";
import type { After, FleetClient, Machine, Unit, UnitState } from "../../src/cli/client.ts";
import { restartPlan } from "../../src/cli/cmd-restart.ts";
import { stopAction, unloadAction } from "../../src/cli/cmd-stop.ts";
import { QuietStatusTracker, statusLine, type WaitReporter } from "../../src/cli/progress.ts";
import { waitForUnits } from "../../src/cli/wait.ts";
import { attemptsBudgetMs, blockAttempts, decide, type Observation, type WaitGoal } from "../../src/cli/wait-logic.ts";
import { ManualClock } from "../support/manual-clock.ts";

const M = "113f16a7a7b84d3f8c9ab6d33b0b7d4e";
const machines: Machine[] = [{ id: M, primaryIP: "172.17.8.103", metadata: {} }];
const opts = [{ section: "Service", name: "ExecStart", value: "/bin/true" }];
const globalOpts = [...opts, { section: "X-Fleet", name: "Global", value: "true" }];

function unit(over: Partial<Unit>): Unit {
  return { name: "hello.service", options: opts, desiredState: "launched", currentState: "inactive", ...over };
}
function state(over: Partial<UnitState> = {}): UnitState {
  return { name: "hello.service", machineID: M, hash: "", systemdLoadState: "loaded", systemdActiveState: "active", systemdSubState: "running", ...over };
}
const obs = (u: Unit | undefined, states: UnitState[] = []): Observation => ({ unit: u, states, machines });

describe("decide: fleet states", () => {
  const launched = { kind: "state", state: "launched" } as const;

  test("reached: a unit that states resources or Spread= also says why it went where it went", () => {
    const why = "least utilised fitting machine (3% of its CPU and 25% of its memory requested)";
    const sized = [...opts, { section: "X-Fleet", name: "MemoryRequest", value: "1G" }];
    expect(decide("hello.service", launched, obs(unit({ options: sized, currentState: "launched", machineID: M, placementReason: why })))).toEqual({
      done: true, line: "Unit hello.service launched on 113f16a7.../172.17.8.103", note: `Unit hello.service placed on 113f16a7.../172.17.8.103: ${why}`,
    });
    // A unit without either is reported as it always was.
    expect(decide("hello.service", launched, obs(unit({ currentState: "launched", machineID: M, placementReason: why })))).toEqual({
      done: true, line: "Unit hello.service launched on 113f16a7.../172.17.8.103",
    });
  });

  test("reached: the line names the machine when it is known", () => {
    expect(decide("hello.service", launched, obs(unit({ currentState: "launched", machineID: M })))).toEqual({
      done: true, line: "Unit hello.service launched on 113f16a7.../172.17.8.103",
    });
    expect(decide("hello.service", launched, obs(unit({ currentState: "launched", machineID: "other" })))).toEqual({
      done: true, line: "Unit hello.service launched",
    });
    expect(decide("hello.service", { kind: "state", state: "inactive" }, obs(unit({ desiredState: "inactive" })))).toEqual({
      done: true, line: "Unit hello.service inactive",
    });
  });

  test("global units compare the desired state and never name a machine", () => {
    expect(decide("g.service", launched, obs(unit({ name: "g.service", options: globalOpts, currentState: undefined })))).toEqual({
      done: true, line: "Unit g.service launched",
    });
  });

  test("a missing unit is an error, not a silent wait", () => {
    expect(decide("hello.service", launched, obs(undefined))).toEqual({ done: false, fatal: "Unit hello.service not found" });
  });

  test("the engine's pending reason is reported while the unit is unscheduled", () => {
    const v = decide("web@3.service", launched, obs(unit({ name: "web@3.service", pendingReason: "no machine fits: 2 run a unit matching Conflicts=web@*.service" })));
    expect(v).toEqual({
      done: false,
      why: "Unit web@3.service is pending: no machine fits: 2 run a unit matching Conflicts=web@*.service",
      pending: "no machine fits: 2 run a unit matching Conflicts=web@*.service",
    });
  });

  test("other reasons to wait are explained", () => {
    expect(decide("hello.service", launched, obs(unit({})))).toEqual({ done: false, why: "waiting for the engine to schedule hello.service" });
    expect(decide("hello.service", launched, obs(unit({ machineID: "gone-machine" })))).toEqual({
      done: false, why: "hello.service is scheduled on gone-machine, which is not in the cluster",
    });
    expect(decide("hello.service", launched, obs(unit({ machineID: M, currentState: "loaded" })))).toEqual({
      done: false, why: "waiting for 113f16a7.../172.17.8.103 to report hello.service launched (now loaded)",
    });
    expect(decide("hello.service", launched, obs(unit({ desiredState: "loaded" })))).toMatchObject({
      done: false, why: "desired state of hello.service is now loaded, not launched",
    });
  });

  test("the creation wait ends at once when the server kept another desired state", () => {
    expect(decide("hello.service", { kind: "state", state: "inactive", creation: true }, obs(unit({ currentState: "launched" })))).toEqual({ done: true });
  });
});

describe("decide: systemd active and destroyed", () => {
  test("active needs loaded/active from the unit's own machine", () => {
    const u = unit({ currentState: "launched", machineID: M });
    expect(decide("hello.service", { kind: "active" }, obs(u, [state()]))).toEqual({ done: true });
    expect(decide("hello.service", { kind: "active" }, obs(u, [state({ machineID: "other" })]))).toMatchObject({ done: false });
    expect(decide("hello.service", { kind: "active" }, obs(u, [state({ systemdActiveState: "activating", systemdSubState: "start" })]))).toEqual({
      done: false, why: "waiting for systemd on 113f16a7.../172.17.8.103 to report hello.service active (now loaded/activating/start)", stuck: false,
    });
    expect(decide("hello.service", { kind: "active" }, obs(u, [state({ systemdActiveState: "failed", systemdSubState: "failed" })]))).toMatchObject({ stuck: true });
  });

  test("gone: no unit and no machine reporting it", () => {
    expect(decide("hello.service", { kind: "gone" }, obs(undefined))).toEqual({ done: true });
    expect(decide("hello.service", { kind: "gone" }, obs(undefined, [state()]))).toEqual({
      done: false, why: "waiting for 113f16a7.../172.17.8.103 to unload hello.service (systemd reports loaded/active/running)",
    });
    expect(decide("hello.service", { kind: "gone" }, obs(unit({})))).toMatchObject({ done: false });
  });
});

describe("block attempts", () => {
  test("--no-block is -1, N > 0 is N, anything else waits without limit", () => {
    expect(blockAttempts(true, 5)).toBe(-1);
    expect(blockAttempts(false, 3)).toBe(3);
    expect(blockAttempts(false, 0)).toBe(0);
    expect(blockAttempts(false, -4)).toBe(0);
    expect(attemptsBudgetMs(2)).toBe(4000);
    expect(attemptsBudgetMs(0)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("stop, unload and restart decisions", () => {
  test("stop: inactive is an error, loaded is skipped, global always set", () => {
    expect(stopAction(unit({ currentState: "inactive" }))).toEqual({ error: "Unable to stop unit hello.service in state inactive" });
    expect(stopAction(unit({ currentState: "loaded" }))).toBe("skip");
    expect(stopAction(unit({ currentState: "launched" }))).toBe("set");
    expect(stopAction(unit({ options: globalOpts, currentState: undefined }))).toBe("set");
  });

  test("quirk Q23 fixed: unload clears a unit desired launched but currently inactive", () => {
    expect(unloadAction(unit({ currentState: "inactive", desiredState: "launched" }))).toBe("set");
    expect(unloadAction(unit({ currentState: "inactive", desiredState: "inactive" }))).toBe("skip");
  });

  test("quirk Q8 fixed: restart waits for loaded, then launched and active", () => {
    expect(restartPlan(unit({ currentState: "launched" }))).toEqual({
      steps: [
        { set: "loaded", goals: [{ kind: "state", state: "loaded" }] },
        { set: "launched", goals: [{ kind: "state", state: "launched" }, { kind: "active" }] },
      ],
      info: "Unit(hello.service) was restarted.",
    });
    expect(restartPlan(unit({ currentState: "loaded" }))).toMatchObject({ steps: [{ set: "launched" }] });
    expect(restartPlan(unit({ currentState: "inactive" }))).toEqual({ skip: "Unable to restart unit hello.service in state inactive" });
  });
});

describe("progress", () => {
  test("a quiet output prints a reason once, after it stayed the same long enough", () => {
    const t = new QuietStatusTracker(1000);
    expect(t.update([{ name: "a", why: "x" }], 0)).toEqual([]);
    expect(t.update([{ name: "a", why: "x" }], 999)).toEqual([]);
    expect(t.update([{ name: "a", why: "x" }], 1000)).toEqual(["Still waiting for a: x"]);
    expect(t.update([{ name: "a", why: "x" }], 5000)).toEqual([]);
    expect(t.update([{ name: "a", why: "y" }], 5001)).toEqual([]);
    expect(t.update([{ name: "a", why: "y" }], 6001)).toEqual(["Still waiting for a: y"]);
  });

  test("the terminal line names the first open unit and counts the rest, cut to the width", () => {
    expect(statusLine([{ name: "a", why: "waiting for a" }, { name: "b", why: "w" }], 80)).toBe("waiting for a (+1 more)");
    expect(statusLine([{ name: "a", why: "x".repeat(100) }], 20)).toBe(`${"x".repeat(16)}...`);
    expect(statusLine([], 80)).toBe("");
  });
});

/**
 * A client whose answers follow a script: each read of the units takes the next answer (the last
 * repeats). With `indexed`, answers carry an index (a daemon with blocking reads) and every read
 * after the first is recorded with what it waited past.
 */
function scripted(answers: (Unit | undefined)[], states: UnitState[] = [], indexed = false) {
  let reads = 0;
  const waits: (After | undefined)[] = [];
  const client: FleetClient = {
    endpoint: "test",
    listUnits: async () => [],
    readUnits: async (q) => {
      waits.push(q.after);
      const u = answers[Math.min(reads, answers.length - 1)];
      reads++;
      return { value: u ? [u] : [], ...(indexed ? { index: 100 + reads } : {}) };
    },
    getUnit: async () => undefined,
    createUnit: async () => {},
    setUnitDesiredState: async () => {},
    destroyUnit: async () => true,
    listUnitStates: async () => states,
    listMachines: async () => machines,
    events: async function* () {},
    drainMachine: async () => {},
    undrainMachine: async () => false,
    startRollout: async () => { throw new Error("not scripted"); },
    getRollout: async () => undefined,
    listRollouts: async () => [],
    controlRollout: async () => { throw new Error("not scripted"); },
    close: async () => {},
  };
  return Object.assign(client, { waits, reads: () => reads });
}

function recorder(): WaitReporter & { lines: string[]; pendings: string[] } {
  const r = {
    lines: [] as string[],
    pendings: [] as string[],
    line: (t: string) => void r.lines.push(t),
    pending: (n: string, why: string) => void r.pendings.push(`${n}: ${why}`),
    status: () => {},
    clear: () => {},
  };
  return r;
}

/** Runs `p` to its end on the manual clock: whenever it waits, time moves to the next timer. */
async function onClock<T>(clock: ManualClock, p: Promise<T>): Promise<T> {
  let done = false;
  void p.finally(() => (done = true)).catch(() => {});
  while (!done) {
    await new Promise((r) => setImmediate(r));
    if (!done) clock.fireNext();
  }
  return p;
}

describe("waitForUnits", () => {
  const run = (client: FleetClient, attempts: number, clock = new ManualClock(), reporter = recorder(), goals: WaitGoal[] = [{ kind: "state", state: "launched" }]) =>
    onClock(clock, waitForUnits([{ name: "hello.service", goals: [...goals] }], {
      client, attempts, reporter, machines: async () => machines, refreshMachines: async () => machines, clock,
    }));

  test("waits through pending and scheduling, prints each pending reason once, then the result", async () => {
    const pending = unit({ pendingReason: "no machine fits" });
    const client = scripted([pending, pending, unit({ machineID: M }), unit({ machineID: M, currentState: "launched" })]);
    const rep = recorder();
    expect(await run(client, 0, new ManualClock(), rep)).toEqual({ ok: true });
    expect(rep.pendings).toEqual(["hello.service: no machine fits"]);
    expect(rep.lines).toEqual(["Unit hello.service launched on 113f16a7.../172.17.8.103"]);
  });

  test("without blocking reads it polls every 250 ms and gives up once N attempts of 2 s have passed, with the original's message", async () => {
    const clock = new ManualClock();
    const start = clock.now();
    const client = scripted([unit({})]);
    expect(await run(client, 1, clock)).toEqual({
      ok: false,
      error: "timed out waiting for unit hello.service to report state launched (waiting for the engine to schedule hello.service)",
      goal: "state",
    });
    expect(clock.now() - start).toBe(2000);
    // The first look, then one every 250 ms up to the end of the attempt.
    expect(client.reads()).toBe(9);
    expect(client.waits.every((w) => w === undefined)).toBe(true);
  });

  test("with blocking reads each read waits past the last answer's index, no longer than the attempts left", async () => {
    const clock = new ManualClock();
    const client = scripted([unit({}), unit({ machineID: M }), unit({ machineID: M, currentState: "launched" })], [], true);
    expect(await run(client, 2, clock)).toEqual({ ok: true });
    expect(client.waits).toEqual([undefined, { index: 101, waitMs: 4000 }, { index: 102, waitMs: 4000 }]);
    // Without a limit, each read asks for at most 30 s.
    const unlimited = scripted([unit({}), unit({ machineID: M, currentState: "launched" })], [], true);
    expect(await run(unlimited, 0)).toEqual({ ok: true });
    expect(unlimited.waits[1]).toEqual({ index: 101, waitMs: 30_000 });
  });

  test("a blocking read that fails is followed by a plain read, and the rest of the wait polls", async () => {
    const clock = new ManualClock();
    const client = scripted([unit({}), unit({}), unit({ machineID: M }), unit({ machineID: M, currentState: "launched" })], [], true);
    const read = client.readUnits;
    let failed = 0;
    client.readUnits = async (q) => {
      if (q.after && failed++ === 0) {
        client.waits.push(q.after);
        throw new Error("connection reset");
      }
      return read(q);
    };
    expect(await run(client, 0, clock)).toEqual({ ok: true });
    expect(client.waits).toEqual([undefined, { index: 101, waitMs: 30_000 }, undefined, undefined, undefined]);
  });

  test("--no-block looks once and never fails", async () => {
    const rep = recorder();
    const client = scripted([unit({})]);
    expect(await run(client, -1, new ManualClock(), rep)).toEqual({ ok: true });
    expect(rep.lines).toEqual([]);
    expect(client.reads()).toBe(1);
  });

  test("goes on to the systemd check on the same reading and fails when systemd keeps reporting failed for an attempt", async () => {
    const clock = new ManualClock();
    const start = clock.now();
    const client = scripted([unit({ machineID: M, currentState: "launched" })], [state({ systemdActiveState: "failed", systemdSubState: "failed" })]);
    const rep = recorder();
    const res = await run(client, 0, clock, rep, [{ kind: "state", state: "launched" }, { kind: "active" }]);
    expect(res.ok).toBe(false);
    expect(res).toMatchObject({ goal: "active" });
    expect((res as { error: string }).error).toContain("Unit hello.service did not become active");
    expect(rep.lines).toEqual(["Unit hello.service launched on 113f16a7.../172.17.8.103"]);
    expect(clock.now() - start).toBe(2000);
  });

  test("launched and active on one reading end the wait after one read", async () => {
    const client = scripted([unit({ machineID: M, currentState: "launched" })], [state()]);
    expect(await run(client, 0, new ManualClock(), recorder(), [{ kind: "state", state: "launched" }, { kind: "active" }])).toEqual({ ok: true });
    expect(client.reads()).toBe(1);
  });

  test("a unit that disappears ends the wait with an error", async () => {
    expect(await run(scripted([undefined]), 0)).toEqual({ ok: false, error: "Unit hello.service not found", goal: "state" });
  });
});

describe("createReporter", () => {
  test("on a terminal: one status line redrawn in place and cleared before results", async () => {
    const { bufferIo } = await import("../../src/cli/io.ts");
    const { createReporter } = await import("../../src/cli/progress.ts");
    const io = bufferIo({ stderrIsTTY: true });
    const r = createReporter(io);
    r.status([{ name: "a.service", why: "waiting for the engine to schedule a.service" }]);
    r.pending("a.service", "no machine fits");
    r.line("Unit a.service launched");
    r.status([]);
    r.clear();
    expect(io.stderr).toBe("waiting for the engine to schedule a.service\r\x1b[2KUnit a.service is pending: no machine fits\n");
    expect(io.stdout).toBe("Unit a.service launched\n");
  });

  test("not on a terminal: no control characters, reasons only once they last", async () => {
    const { bufferIo } = await import("../../src/cli/io.ts");
    const { createReporter } = await import("../../src/cli/progress.ts");
    const io = bufferIo();
    let now = 0;
    const r = createReporter(io, () => now);
    r.status([{ name: "a.service", why: "x" }]);
    now = 10_000;
    r.status([{ name: "a.service", why: "x" }]);
    r.clear();
    expect(io.stderr).toBe("Still waiting for a.service: x\n");
  });
});
