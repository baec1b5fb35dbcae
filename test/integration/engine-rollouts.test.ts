// The engine driving rollouts through a real etcd: the leader replaces a unit's instances one
// version at a time (the placement writes the hash the rollout gives each), waits for each to
// be healthy as the agents report it, and at the end moves the unit records to the new version
// and collects the old file; a failing version is reverted; a new leader finishes a rollout the
// last one started. The agents here are stand-ins that report each entry's hash as running;
// their machines hold leases long enough that a slow host never loses one mid-test (losing a
// machine during a rollout is the planner's and the e2e tests' business, not these).
import { expect, test } from "bun:test";
import { describeUnit } from "../../src/unit/describe-unit.ts";
import { newRollout } from "../../src/rollout/control.ts";
import { describeEvent } from "../../src/rollout/describe.ts";
import { RolloutStore } from "../../src/registry/rollout-store.ts";
import type { RolloutRecord } from "../../src/rollout/types.ts";
import { encodeRecord } from "../../src/registry/records.ts";
import { Cluster, electOne, unitText } from "../support/integration/engine-harness.ts";
import { until } from "../support/until.ts";
import { createFleetMetrics } from "../../src/metrics/fleet.ts";
import { MetricsRegistry } from "../../src/metrics/metrics.ts";

/** Agents that run whatever hash their entry names: `bad` hashes fail in systemd. */
function standInAgents(c: Cluster, bad: Set<string> = new Set()): { stop(): void; restarts: string[] } {
  let pid = 100;
  let stopped = false;
  const reported = new Map<string, string>();
  const restarts: string[] = [];
  void (async () => {
    while (!stopped) {
      for (const e of await c.entries().catch(() => [])) {
        const key = c.keys.state(e.unit, e.machine);
        if (reported.get(key) === e.entry.hash) continue;
        reported.set(key, e.entry.hash);
        restarts.push(`${e.unit}@${e.machine}`);
        const failed = bad.has(e.entry.hash);
        const state = {
          loadState: "loaded", activeState: failed ? "failed" : "active", subState: failed ? "failed" : "running",
          hash: e.entry.hash, since: new Date().toISOString(), ...(failed ? {} : { mainPid: pid++ }),
        };
        await c.client.put(key, encodeRecord("states", c.keys, key, state)).catch(() => undefined);
      }
      await Bun.sleep(20);
    }
  })();
  return { stop: () => void (stopped = true), restarts };
}

const V2 = "ExecStart=/bin/sleep 2";
const MACHINE_TTL_S = 30;

/** What a rollout did, in one value, so that a failed expectation shows the whole story. */
function story(r: RolloutRecord): { state: string; log: string[] } {
  return { state: r.state, log: r.log.map((l) => describeEvent(l.event)) };
}

async function startRollout(c: Cluster, unit: string, xfleet: string, policy: Partial<RolloutRecord["policy"]> = {}): Promise<RolloutRecord> {
  const d = describeUnit(unit, unitText(xfleet, V2));
  const rec = newRollout(unit, d.hash, d.description, { maxParallel: 1, minHealthyMs: 100, deadlineMs: 30_000, autoRevert: false, ...policy }, Date.now());
  const r = await new RolloutStore(c.registry).create(rec, d.text);
  if (!r.ok) throw new Error(r.problem);
  return rec;
}

async function ended(c: Cluster, unit: string): Promise<RolloutRecord> {
  let seen: RolloutRecord | undefined;
  const what = () => `the rollout of ${unit} to end${seen ? ` (so far: ${Bun.inspect(story(seen))})` : ""}`;
  return until(what, async () => {
    seen = (await new RolloutStore(c.registry).get(unit))?.record;
    return seen && !["running", "paused", "reverting", "aborting"].includes(seen.state) ? seen : undefined;
  }, 30_000);
}

test("a global unit is updated on 3 machines one at a time; the unit record and files follow; the end is counted", async () => {
  await using c = await Cluster.start();
  const metrics = createFleetMetrics(new MetricsRegistry());
  const { engine } = c.engine("e1", {}, { metrics });
  for (const m of ["m1", "m2", "m3"]) await c.agent(m, {}, MACHINE_TTL_S);
  engine.start();
  const agents = standInAgents(c);
  try {
    const v1 = await c.submit("mon.service", "Global=true");
    await until("mon on 3 machines", async () => (await c.placements())["mon.service"]?.length === 3);
    const rec = await startRollout(c, "mon.service", "Global=true");
    const done = await ended(c, "mon.service");
    expect(story(done)).toEqual({ ...story(done), state: "succeeded" });
    // One at a time: each replacement comes after the last one was healthy.
    const kinds = done.log.map((l) => l.event.kind);
    expect(kinds).toEqual(["started", "replace", "healthy", "replace", "healthy", "replace", "healthy", "finished"]);
    expect((await c.registry.getUnit("mon.service"))!.hash).toBe(rec.to);
    expect((await c.entries()).map((e) => e.entry.hash)).toEqual([rec.to, rec.to, rec.to]);
    await until("the old file collected", async () => (await c.registry.getUnitFile(v1.hash)) === undefined);
    expect(await c.registry.getUnitFile(rec.to)).toBeDefined();
    // The placement rewrote no entry back to the old version on the way.
    expect(agents.restarts.filter((r) => r.startsWith("mon.service")).length).toBe(6);
    expect(metrics.registry.expose()).toContain('fleet_engine_rollouts_total{outcome="succeeded"} 1\n');
  } finally {
    agents.stop();
  }
}, 60_000);

test("a version that fails is reverted with auto-revert: every instance back on the old hash, the new file collected", async () => {
  await using c = await Cluster.start();
  const { engine } = c.engine("e1");
  for (const m of ["m1", "m2"]) await c.agent(m, {}, MACHINE_TTL_S);
  engine.start();
  const d = describeUnit("web@.service", unitText("", V2));
  const agents = standInAgents(c, new Set([d.hash]));
  try {
    const v1 = await c.submit("web@1.service");
    await c.submit("web@2.service");
    await until("both placed", async () => Object.keys(await c.placements()).length === 2);
    await startRollout(c, "web@.service", "", { autoRevert: true, maxParallel: 2 });
    const done = await ended(c, "web@.service");
    expect(story(done)).toEqual({ ...story(done), state: "reverted" });
    expect(done.log.filter((l) => l.event.kind === "revert").length).toBe(2);
    await until("entries back on v1", async () => (await c.entries()).every((e) => e.entry.hash === v1.hash));
    expect((await c.registry.getUnit("web@1.service"))!.hash).toBe(v1.hash);
    await until("the failed version's file collected", async () => (await c.registry.getUnitFile(d.hash)) === undefined);
  } finally {
    agents.stop();
  }
}, 60_000);

test("a rollout cannot start over a running one; a new leader finishes what the last one started", async () => {
  await using c = await Cluster.start();
  const engines = [c.engine("e1"), c.engine("e2")];
  for (const m of ["m1", "m2", "m3"]) await c.agent(m, {}, MACHINE_TTL_S);
  const { leader } = await electOne(engines);
  const agents = standInAgents(c);
  try {
    await c.submit("mon.service", "Global=true");
    await until("mon on 3 machines", async () => (await c.placements())["mon.service"]?.length === 3);
    // Long enough healthy waits that the leader is stopped mid-rollout.
    const rec = await startRollout(c, "mon.service", "Global=true", { minHealthyMs: 1500 });
    const again = await new RolloutStore(c.registry).create(rec, describeUnit("mon.service", unitText("Global=true", V2)).text);
    expect(again).toEqual({ ok: false, kind: "conflict", problem: "Cannot start a rollout: a rollout of mon.service is running (see fleet ctl rollout status mon.service)" });
    await until("the first replacement", async () => (await new RolloutStore(c.registry).get("mon.service"))?.record.log.some((l) => l.event.kind === "replace"));
    await leader.engine.stop();
    const done = await ended(c, "mon.service");
    const { state, log } = story(done);
    expect({ state, replaced: log.filter((l) => l.startsWith("Replacing")).length, log }).toEqual({ state: "succeeded", replaced: 3, log });
  } finally {
    agents.stop();
  }
}, 60_000);
