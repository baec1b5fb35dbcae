import { describe, expect, test } from "bun:test";
import { controlRollout } from "../../src/rollout/control.ts";
import { describeEvent } from "../../src/rollout/describe.ts";
import { rolloutHashes } from "../../src/rollout/hashes.ts";
import { H1, H2, H3, T0, World } from "../support/unit/rollout-world.ts";

/** Instances not active on their entry's version, at most: what max-parallel bounds. */
function notServing(w: World): number {
  let n = 0;
  for (const [unit, ms] of w.entries) {
    for (const m of ms) {
      const s = w.states.get(`${unit}/${m}`);
      const fresh = w.record.targets.some((t) => t.instance === unit && (t.machine ?? m) === m && t.phase === "updating");
      if (!s || s.activeState !== "active" || fresh) n++;
    }
  }
  return n;
}

describe("a plain unit", () => {
  test("is replaced, waits the minimum healthy time, and the unit record moves to the new hash with the end", () => {
    const w = new World("hello.service").addUnit("hello.service", ["m1"]);
    const first = w.round();
    expect(first.steps.map((s) => s.kind)).toEqual(["started", "replace"]);
    expect(w.running(H2)).toEqual(["hello.service@m1"]);
    expect(w.units.get("hello.service")!.hash).toBe(H1);
    // The engine sees it active (it starts the wait from then).
    w.now += 1000;
    expect(w.round().steps).toEqual([]);
    w.now += 9_999;
    expect(w.round().steps).toEqual([]);
    expect(w.record.state).toBe("running");
    w.now += 1;
    const last = w.round();
    expect(last.steps.map((s) => s.kind)).toEqual(["healthy", "finished"]);
    expect(last.unitHashes).toEqual([{ unit: "hello.service", hash: H2 }]);
    expect(w.record.state).toBe("succeeded");
    expect(w.units.get("hello.service")!.hash).toBe(H2);
    expect(w.entryHash("hello.service", "m1")).toBe(H2);
  });

  test("says when it will look again: at the end of the healthy wait", () => {
    const w = new World("hello.service").addUnit("hello.service", ["m1"]);
    w.round();
    w.now += 1000;
    const p = w.round();
    expect(p.wakeAt).toBe(T0 + 1000 + 10_000);
  });

  test("a unit already on the new version succeeds at once with nothing to do", () => {
    const w = new World("hello.service").addUnit("hello.service", ["m1"], { hash: H2 });
    const p = w.round();
    expect(p.steps.map((s) => (s.kind === "finished" ? `${s.kind} ${s.why.kind}` : s.kind))).toEqual(["started", "finished nothing-to-do"]);
    expect(p.unitHashes).toEqual([]);
  });

  test("a unit that is only loaded is done once its new file is loaded", () => {
    const w = new World("hello.service").addUnit("hello.service", ["m1"], { desiredState: "loaded" });
    w.round();
    w.round();
    expect(w.record.state).toBe("succeeded");
  });

  test("an inactive unit (nothing runs it) is replaced at once", () => {
    const w = new World("hello.service").addUnit("hello.service", [], { desiredState: "inactive" });
    const p = w.round();
    expect(p.steps.map((s) => s.kind)).toEqual(["started", "replace", "healthy", "finished"]);
    expect(p.unitHashes).toEqual([{ unit: "hello.service", hash: H2 }]);
  });
});

describe("max-parallel", () => {
  test("a template's 4 instances at max-parallel 2: never more than 2 in flight, all end on the new version", () => {
    const w = new World("web@.service", { maxParallel: 2 });
    for (let i = 1; i <= 4; i++) w.addUnit(`web@${i}.service`, [`m${i}`]);
    let most = 0;
    w.run(1000, 1000, () => (most = Math.max(most, notServing(w))));
    expect(most).toBe(2);
    expect(w.record.state).toBe("succeeded");
    expect(w.running(H2)).toEqual(["web@1.service@m1", "web@2.service@m2", "web@3.service@m3", "web@4.service@m4"]);
    expect(w.steps().filter((s) => s.startsWith("replace"))).toEqual([
      "replace web@1.service", "replace web@2.service", "replace web@3.service", "replace web@4.service",
    ]);
    expect([...w.units.values()].every((u) => u.hash === H2)).toBe(true);
  });

  test("a global unit across 3 machines one at a time: never fewer than 2 serving", () => {
    const w = new World("agent.service");
    w.addUnit("agent.service", ["m1", "m2", "m3"], { global: true });
    let most = 0;
    w.run(1000, 1000, () => (most = Math.max(most, notServing(w))));
    expect(most).toBe(1);
    expect(w.record.state).toBe("succeeded");
    expect(w.steps().filter((s) => s.startsWith("replace"))).toEqual([
      "replace agent.service@m1", "replace agent.service@m2", "replace agent.service@m3",
    ]);
    expect(w.running(H2)).toEqual(["agent.service@m1", "agent.service@m2", "agent.service@m3"]);
  });

  test("the replace steps count through the total", () => {
    const w = new World("web@.service", { maxParallel: 3 });
    for (let i = 1; i <= 3; i++) w.addUnit(`web@${i}.service`, [`m${i}`]);
    const p = w.round();
    expect(p.steps.flatMap((s) => (s.kind === "replace" ? [`${s.done}/${s.total}`] : []))).toEqual(["1/3", "2/3", "3/3"]);
  });
});

describe("min-healthy-time", () => {
  test("a restart (a new MainPID) starts the wait afresh", () => {
    const w = new World("hello.service").addUnit("hello.service", ["m1"]);
    w.round();
    w.now += 8000;
    w.round();
    w.restart("hello.service", "m1");
    w.now += 4000;
    expect(w.round().steps).toEqual([]);
    expect(w.record.targets[0]!.seen!.since).toBe(new Date(T0 + 12_000).toISOString());
    w.now += 9_999;
    expect(w.round().steps).toEqual([]);
    w.now += 1;
    expect(w.round().steps.map((s) => s.kind)).toEqual(["healthy", "finished"]);
  });

  test("activating is not healthy, however long it lasts before the deadline", () => {
    const w = new World("hello.service", { deadlineMs: 60_000 }).addUnit("hello.service", ["m1"]);
    w.behaviour.set(H2, "stuck");
    w.round();
    w.now += 59_999;
    expect(w.round().steps).toEqual([]);
    expect(w.record.targets[0]!.seen).toBeUndefined();
  });

  test("zero minimum healthy time: healthy when first seen active", () => {
    const w = new World("hello.service", { minHealthyMs: 0 }).addUnit("hello.service", ["m1"]);
    w.round();
    w.round();
    expect(w.record.state).toBe("succeeded");
  });
});

describe("failures", () => {
  test("an instance not healthy by the deadline stops the rollout; without auto-revert it holds both versions", () => {
    const w = new World("web@.service", { deadlineMs: 30_000 });
    for (let i = 1; i <= 3; i++) w.addUnit(`web@${i}.service`, [`m${i}`]);
    w.behaviour.set(H2, "stuck");
    w.round();
    w.now += 30_000;
    const p = w.round();
    expect(p.steps.map((s) => s.kind)).toEqual(["unhealthy", "finished"]);
    const bad = p.steps[0]!;
    expect(bad.kind === "unhealthy" && bad.problem.kind).toBe("deadline");
    expect(w.record.state).toBe("failed");
    expect(w.record.targets.map((t) => t.phase)).toEqual(["failed", "old", "old"]);
    // The failed instance keeps the new version; the others were never touched.
    expect(w.entryHash("web@1.service", "m1")).toBe(H2);
    expect(w.entryHash("web@2.service", "m2")).toBe(H1);
    expect(w.units.get("web@1.service")!.hash).toBe(H1);
    // An end: further rounds change nothing.
    w.now += 100_000;
    expect(w.round().record).toBeUndefined();
  });

  test("systemd failing the new version fails it at once, not at the deadline", () => {
    const w = new World("hello.service").addUnit("hello.service", ["m1"]);
    w.behaviour.set(H2, "bad");
    w.round();
    const p = w.round();
    expect(p.steps[0]).toMatchObject({ kind: "unhealthy", problem: { kind: "failed", activeState: "failed" } });
    expect(w.record.state).toBe("failed");
  });

  test("auto-revert puts every replaced instance back, the failed one first, max-parallel at a time", () => {
    const w = new World("web@.service", { autoRevert: true, maxParallel: 1 });
    for (let i = 1; i <= 4; i++) w.addUnit(`web@${i}.service`, [`m${i}`]);
    // web@1 and web@2 come up fine, web@3 then fails.
    w.run(1000, 25);
    expect(w.record.targets.map((t) => t.phase)).toEqual(["updated", "updated", "updating", "old"]);
    w.states.set("web@3.service/m3", { ...w.states.get("web@3.service/m3")!, activeState: "failed", subState: "failed" });
    let most = 0;
    w.run(1000, 1000, () => (most = Math.max(most, w.record.targets.filter((t) => t.phase === "reverting").length)));
    expect(most).toBe(1);
    expect(w.record.state).toBe("reverted");
    expect(w.steps().filter((s) => s.startsWith("revert "))).toEqual(["revert web@3.service", "revert web@1.service", "revert web@2.service"]);
    expect(w.running(H1)).toEqual(["web@1.service@m1", "web@2.service@m2", "web@3.service@m3", "web@4.service@m4"]);
    expect([...w.units.values()].every((u) => u.hash === H1)).toBe(true);
    expect(rolloutHashes(w.record, w.recordMod, () => ({ hash: H1, modRevision: 1 })).size).toBe(0);
    const end = w.plans.at(-1)!.steps.at(-1)!;
    expect(end).toMatchObject({ kind: "finished", state: "reverted", why: { kind: "instance-failed", instance: "web@3.service" } });
  });

  test("a revert that does not come up is given up on at its deadline, and the revert still ends", () => {
    const w = new World("hello.service", { autoRevert: true, deadlineMs: 20_000 }).addUnit("hello.service", ["m1"]);
    w.behaviour.set(H2, "bad");
    w.behaviour.set(H1, "stuck");
    w.run(1000, 100);
    expect(w.record.state).toBe("reverted");
    expect(w.plans.flatMap((p) => p.steps).find((s) => s.kind === "reverted")).toMatchObject({ healthy: false });
  });
});

describe("operator requests", () => {
  test("pause stops new replacements but keeps judging those in flight; resume goes on", () => {
    const w = new World("web@.service");
    for (let i = 1; i <= 3; i++) w.addUnit(`web@${i}.service`, [`m${i}`]);
    w.round();
    const paused = controlRollout(w.record, "pause", w.now);
    expect(paused.ok).toBe(true);
    if (paused.ok) w.record = paused.record;
    w.now += 1000;
    w.round();
    w.now += 20_000;
    const p = w.round();
    expect(p.steps.map((s) => s.kind)).toEqual(["healthy"]);
    w.now += 60_000;
    w.round();
    expect(w.record.targets.map((t) => t.phase)).toEqual(["updated", "old", "old"]);
    const resumed = controlRollout(w.record, "resume", w.now);
    if (resumed.ok) w.record = resumed.record;
    w.run();
    expect(w.record.state).toBe("succeeded");
    expect(w.record.log.map((l) => l.event.kind)).toContain("paused");
    expect(w.record.log.map((l) => l.event.kind)).toContain("resumed");
  });

  test("a failure while paused still stops the rollout", () => {
    const w = new World("hello.service").addUnit("hello.service", ["m1"]);
    w.behaviour.set(H2, "bad");
    w.round();
    const r = controlRollout(w.record, "pause", w.now);
    if (r.ok) w.record = r.record;
    w.round();
    expect(w.record.state).toBe("failed");
  });

  test("abort puts the replaced instances back and ends aborted", () => {
    const w = new World("web@.service", { maxParallel: 2 });
    for (let i = 1; i <= 3; i++) w.addUnit(`web@${i}.service`, [`m${i}`]);
    w.round();
    const r = controlRollout(w.record, "abort", w.now);
    if (r.ok) w.record = r.record;
    w.run();
    expect(w.record.state).toBe("aborted");
    expect(w.running(H1)).toEqual(["web@1.service@m1", "web@2.service@m2", "web@3.service@m3"]);
  });

  test("abort of a failed rollout puts its instances back; resume of it is refused", () => {
    const w = new World("hello.service").addUnit("hello.service", ["m1"]);
    w.behaviour.set(H2, "bad");
    w.run();
    expect(w.record.state).toBe("failed");
    expect(controlRollout(w.record, "resume", w.now)).toEqual({ ok: false, problem: "Cannot resume the rollout of hello.service: it is failed" });
    const r = controlRollout(w.record, "abort", w.now);
    if (r.ok) w.record = r.record;
    w.run();
    expect(w.record.state).toBe("aborted");
    expect(w.running(H1)).toEqual(["hello.service@m1"]);
  });

  test("requests on an ended rollout are refused, a repeated one changes nothing", () => {
    const w = new World("hello.service").addUnit("hello.service", ["m1"]);
    w.run();
    expect(controlRollout(w.record, "pause", w.now)).toEqual({ ok: false, problem: "Cannot pause the rollout of hello.service: it is succeeded" });
    expect(controlRollout(w.record, "abort", w.now)).toEqual({ ok: false, problem: "Cannot abort the rollout of hello.service: it already ended (succeeded)" });
    const w2 = new World("hello.service").addUnit("hello.service", ["m1"]);
    const once = controlRollout(w2.record, "pause", w2.now);
    expect(once.ok && controlRollout(once.record, "pause", w2.now)).toMatchObject({ ok: true, changed: false });
  });
});

describe("the cluster changing during a rollout", () => {
  test("a global unit's machine gone mid-rollout leaves it; the rest finish", () => {
    const w = new World("agent.service");
    w.addUnit("agent.service", ["m1", "m2", "m3"], { global: true });
    w.round();
    // m1 is being replaced; m2 vanishes (its entry and state go with it).
    w.entries.set("agent.service", ["m1", "m3"]);
    w.states.delete("agent.service/m2");
    w.run();
    expect(w.record.state).toBe("succeeded");
    expect(w.steps()).toContain("left agent.service@m2");
    expect(w.running(H2)).toEqual(["agent.service@m1", "agent.service@m3"]);
  });

  test("a machine gone while its instance is updating: the instance moves and is judged where it runs now", () => {
    const w = new World("web@.service");
    w.addUnit("web@1.service", ["m1"]).addUnit("web@2.service", ["m2"]);
    w.round();
    w.entries.set("web@1.service", ["m3"]);
    w.states.delete("web@1.service/m1");
    w.settleAgents();
    expect(w.running(H2)).toEqual(["web@1.service@m3"]);
    w.run();
    expect(w.record.state).toBe("succeeded");
    expect(w.running(H2)).toEqual(["web@1.service@m3", "web@2.service@m2"]);
  });

  test("a new machine of a global unit joins on the old version and is replaced in turn", () => {
    const w = new World("agent.service");
    w.addUnit("agent.service", ["m1", "m2"], { global: true });
    w.round();
    w.entries.set("agent.service", ["m1", "m2", "m3"]);
    w.settleAgents();
    expect(w.running(H1)).toEqual(["agent.service@m2", "agent.service@m3"]);
    w.run();
    expect(w.steps()).toContain("joined agent.service@m3");
    expect(w.running(H2)).toEqual(["agent.service@m1", "agent.service@m2", "agent.service@m3"]);
  });

  test("a new instance of the template joins: on the old version it waits its turn, on the new one it is watched", () => {
    const w = new World("web@.service");
    w.addUnit("web@1.service", ["m1"]);
    w.round();
    w.addUnit("web@2.service", ["m2"]);
    w.addUnit("web@3.service", ["m3"], { hash: H2 });
    w.round();
    expect(w.record.targets.map((t) => `${t.instance} ${t.phase}`)).toEqual(["web@1.service updating", "web@2.service old", "web@3.service updating"]);
    w.run();
    expect(w.record.state).toBe("succeeded");
    expect(w.running(H2)).toEqual(["web@1.service@m1", "web@2.service@m2", "web@3.service@m3"]);
  });

  test("an instance given another file meanwhile leaves the rollout and keeps that file", () => {
    const w = new World("web@.service");
    w.addUnit("web@1.service", ["m1"]).addUnit("web@2.service", ["m2"]);
    w.round();
    w.units.set("web@2.service", { ...w.units.get("web@2.service")!, hash: H3, mod: w.mod++ });
    w.settleAgents();
    w.run();
    expect(w.steps()).toContain("left web@2.service");
    expect(w.record.state).toBe("succeeded");
    expect(w.entryHash("web@2.service", "m2")).toBe(H3);
  });

  test("the unit destroyed mid-rollout ends it", () => {
    const w = new World("hello.service").addUnit("hello.service", ["m1"]);
    w.round();
    w.units.clear();
    w.entries.clear();
    const p = w.round();
    expect(p.steps.map((s) => s.kind)).toEqual(["left", "finished"]);
    expect(w.record.state).toBe("aborted");
  });
});

describe("the hashes the placement gives instances", () => {
  test("a succeeded rollout holds the new hash only while the unit record read is older than it", () => {
    const w = new World("hello.service").addUnit("hello.service", ["m1"]);
    w.run();
    const rec = w.record;
    const mod = w.recordMod;
    // The unit record's watch is behind: it still says H1 at an older revision.
    expect([...rolloutHashes(rec, mod, () => ({ hash: H1, modRevision: mod - 1 }))]).toEqual([["hello.service", H2]]);
    // Caught up: nothing to override.
    expect(rolloutHashes(rec, mod, () => ({ hash: H2, modRevision: mod })).size).toBe(0);
    // Set back to H1 later by someone: that wins.
    expect(rolloutHashes(rec, mod, () => ({ hash: H1, modRevision: mod + 5 })).size).toBe(0);
  });
});

describe("the words", () => {
  test("every step of a full rollout renders without holes", () => {
    const w = new World("web@.service", { autoRevert: true });
    for (let i = 1; i <= 2; i++) w.addUnit(`web@${i}.service`, [`m${i}`]);
    w.behaviour.set(H2, "bad");
    w.run();
    const lines = w.record.log.map((l) => describeEvent(l.event));
    expect(lines).toEqual([
      "Rollout to 2222222 started: 2 instances",
      "Replacing web@1.service: 1111111 -> 2222222 (1 of 2)",
      "web@1.service failed: systemd reports it failed (failed), load state loaded",
      "Reverting web@1.service to 1111111",
      "web@1.service is back on the old version",
      "Rollout reverted: web@1.service did not become healthy",
    ]);
  });
});

describe("a global unit that runs nowhere", () => {
  test("its rollout succeeds at once and its unit record takes the new version", () => {
    const w = new World("mon.service");
    w.addUnit("mon.service", [], { global: true });
    const p = w.round();
    expect(p.steps.map((s) => (s.kind === "finished" ? `${s.state} ${s.why.kind}` : s.kind))).toEqual(["started", "succeeded nothing-to-do"]);
    expect(p.unitHashes).toEqual([{ unit: "mon.service", hash: H2 }]);
  });

  test("one whose machines all left mid-rollout ends succeeded with its unit on the new version", () => {
    const w = new World("mon.service");
    w.addUnit("mon.service", ["m1", "m2"], { global: true });
    w.round();
    w.entries.set("mon.service", []);
    w.states.clear();
    w.round();
    expect(w.record.state).toBe("succeeded");
    expect(w.units.get("mon.service")!.hash).toBe(H2);
  });
});
