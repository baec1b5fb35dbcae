// Generated rollouts (a fixed seed per case, so every failure is reproducible): random policies,
// versions that come up, fail or hang, restarts, machines lost and instances moved, new
// instances, and operators pausing, resuming and aborting, each round at a random later time.
// Whatever happens: no more than max-parallel instances are switched at a time, every instance
// runs one of the two versions, the rollout ends, and its end says where every instance is.
import { describe, expect, test } from "bun:test";
import { controlRollout } from "../../src/rollout/control.ts";
import { SeededRandom } from "../support/seeded-random.ts";
import { H1, H2, World, type Behaviour } from "../support/unit/rollout-world.ts";

const SEEDS = Array.from({ length: 300 }, (_, i) => i + 1);
const tried = { rounds: 0, ended: new Map<string, number>(), requests: 0, moves: 0, joins: 0, restarts: 0 };

function run(seed: number): void {
  const rnd = new SeededRandom(seed);
  const global = rnd.chance(0.4);
  const maxParallel = 1 + rnd.int(3);
  const w = new World(global ? "mon.service" : "web@.service", {
    maxParallel, autoRevert: rnd.chance(0.5), minHealthyMs: rnd.pick([0, 1000, 10_000]), deadlineMs: rnd.pick([20_000, 60_000]),
  });
  const machines = ["m1", "m2", "m3", "m4"].slice(0, 2 + rnd.int(3));
  w.behaviour.set(H2, rnd.pick<Behaviour>(["good", "good", "bad", "stuck"]));
  if (global) w.addUnit("mon.service", machines, { global: true });
  else for (let i = 1; i <= 1 + rnd.int(5); i++) w.addUnit(`web@${i}.service`, [rnd.pick(machines)]);
  let next = 10;

  for (let round = 0; round < 400 && ["running", "paused", "reverting", "aborting"].includes(w.record.state); round++) {
    w.round();
    tried.rounds++;
    // Switched by the rollout (not instances that joined on the new version) at most max-parallel at a time.
    const switched = w.record.targets.filter((t) => t.from !== w.record.to);
    expect(switched.filter((t) => t.phase === "updating").length).toBeLessThanOrEqual(maxParallel);
    expect(switched.filter((t) => t.phase === "reverting").length).toBeLessThanOrEqual(maxParallel);
    for (const [unit, ms] of w.entries) for (const m of ms) expect([H1, H2]).toContain(w.entryHash(unit, m));

    w.now += rnd.int(15_000);
    const roll = rnd.next();
    const states = [...w.states.values()];
    if (roll < 0.1 && states.length > 0) {
      const s = rnd.pick(states);
      if (s.activeState === "active") {
        w.restart(s.unit, s.machine);
        tried.restarts++;
      }
    } else if (roll < 0.15) {
      const r = controlRollout(w.record, rnd.pick(["pause", "resume", "resume", "abort"] as const), w.now);
      tried.requests++;
      if (r.ok) w.record = r.record;
    } else if (roll < 0.2 && global && (w.entries.get("mon.service")?.length ?? 0) > 1) {
      // A machine goes away with the copy it ran.
      const ms = w.entries.get("mon.service")!;
      const gone = rnd.pick(ms);
      w.entries.set("mon.service", ms.filter((m) => m !== gone));
      w.states.delete(`mon.service/${gone}`);
      tried.moves++;
    } else if (roll < 0.2 && !global) {
      // An instance moves to another machine (its old one lost or drained).
      const unit = rnd.pick([...w.entries.keys()]);
      const [from] = w.entries.get(unit)!;
      const to = rnd.pick(machines);
      if (from !== undefined && to !== from) {
        w.states.delete(`${unit}/${from}`);
        w.entries.set(unit, [to]);
        w.settleAgents();
        tried.moves++;
      }
    } else if (roll < 0.23 && !global) {
      w.addUnit(`web@${next++}.service`, [rnd.pick(machines)]);
      tried.joins++;
    } else if (roll < 0.23 && global) {
      const ms = w.entries.get("mon.service")!;
      const back = machines.find((m) => !ms.includes(m));
      if (back !== undefined) {
        w.entries.set("mon.service", [...ms, back]);
        w.settleAgents();
        tried.joins++;
      }
    }
  }

  const end = w.record.state;
  tried.ended.set(end, (tried.ended.get(end) ?? 0) + 1);
  expect(["succeeded", "failed", "reverted", "aborted"]).toContain(end);
  const runs = (unit: string, m: string) => w.entryHash(unit, m);
  for (const [unit, ms] of w.entries) {
    for (const m of ms) {
      if (end === "succeeded") expect(runs(unit, m)).toBe(H2);
      if (end === "reverted" || end === "aborted") expect(runs(unit, m)).toBe(H1);
    }
  }
  if (end === "succeeded") for (const u of w.units.values()) expect(u.hash).toBe(H2);
  if (end !== "succeeded") for (const u of w.units.values()) expect(u.hash).toBe(H1);
  if (end === "failed") {
    // It holds each instance where its phase says: the failed ones (and any in flight) on the new version.
    const want = { old: H1, reverted: H1, reverting: H1, updating: H2, updated: H2, failed: H2 };
    for (const t of w.record.targets) expect(runs(t.instance, t.machine ?? w.entries.get(t.instance)![0]!)).toBe(want[t.phase]);
    expect(w.record.targets.some((t) => t.phase === "failed")).toBe(true);
  }
}

describe("generated rollouts", () => {
  test.each(SEEDS)("seed %d: never more than max-parallel switched, it ends, and its end says where every instance is", (seed) => run(seed));

  test("what the seeds tried", () => {
    const ends = [...tried.ended].map(([k, v]) => `${k}=${v}`).sort().join(" ");
    console.log(`rollout fuzz: seeds 1-${SEEDS.length}, ${tried.rounds} rounds, ends ${ends}, ${tried.requests} requests, ${tried.moves} machines lost or instances moved, ${tried.joins} joins, ${tried.restarts} restarts`);
    // Every kind of end came up, so the invariants above were checked for each.
    expect([...tried.ended.keys()].sort()).toEqual(["aborted", "failed", "reverted", "succeeded"]);
  });
});
