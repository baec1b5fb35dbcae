// The engine's writes as the event stream tells them, through a real etcd: placements with the
// engine's reason, and each move (off a lost machine, off a drained one) as one event with where
// from, where to and why, even when the engine's transactions are too small for a whole plan.
import { expect, test } from "bun:test";
import { createApiHandler } from "../../src/api/handler.ts";
import { EventHub } from "../../src/events/hub.ts";
import { createFleetMetrics } from "../../src/metrics/fleet.ts";
import { MetricsRegistry } from "../../src/metrics/metrics.ts";
import { Cluster, memoryLog } from "../support/integration/engine-harness.ts";
import { until } from "../support/until.ts";
import { SseReader } from "../support/integration/events-support.ts";

test("placements and moves, each move one event, with transactions of three operations", async () => {
  await using c = await Cluster.start();
  // Four moves are eight operations: with pairs kept whole, no transaction splits one.
  const { engine } = c.engine("e1", { maxOpsPerTxn: 3 });
  const m1 = await c.agent("m1");
  engine.start();
  await until("leadership", () => engine.isLeader());
  const log = memoryLog("api");
  const hub = new EventHub({ etcd: c.client, keys: c.keys, log: log.logger });
  const handler = createApiHandler({
    registry: c.registry, tokenLimit: 100, version: "t", isReady: () => true, events: hub, log: log.logger, metrics: createFleetMetrics(new MetricsRegistry()),
  });
  try {
    const s = new SseReader(await handler(new Request("http://fleet.test/fleet/v1/events?kinds=unit.placed,unit.moved,unit.unscheduled,machine.lost")));
    expect((await s.event()).data.kind).toBe("open");
    const units = ["a.service", "b.service", "c.service", "d.service"];
    for (const u of units) await c.submit(u);
    const placed = await s.events(4);
    expect(placed.map((e) => [e.kind, e.unit, e.machine, e.reason])).toEqual(units.map((u) => ["unit.placed", u, "m1", "least loaded fitting machine"]));

    // m1 goes away: its units move to m2, the only other machine.
    await c.agent("m2");
    await m1.vanish();
    const lost = await s.events(5);
    expect(lost[0]).toMatchObject({ kind: "machine.lost", machine: "m1" });
    expect(lost.slice(1).map((e) => [e.kind, e.unit, e.from, e.to, e.reason, e.placedReason]).sort()).toEqual(
      units.map((u) => ["unit.moved", u, "m1", "m2", "machine m1 went away", "least loaded fitting machine"]),
    );

    // m2 is drained: they move on to m3.
    await c.agent("m3");
    await c.registry.setDrain("m2");
    const drained = await s.events(4);
    expect(drained.map((e) => [e.kind, e.unit, e.from, e.to, e.reason]).sort()).toEqual(
      units.map((u) => ["unit.moved", u, "m2", "m3", "machine m2 is drained"]),
    );
    // Nothing else came: no removal was told apart from its move.
    const destroyed = c.registry.destroyUnit("a.service");
    expect((await s.event()).data).toMatchObject({ kind: "unit.unscheduled", unit: "a.service", machine: "m3" });
    await destroyed;
    await s.close();
  } finally {
    hub.close();
  }
});
