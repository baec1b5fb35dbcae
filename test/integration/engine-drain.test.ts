// Drain through a real etcd: the engine's informer on drain/ moves a drained machine's units
// (followers with their targets), leaves global units and units that fit nowhere else, and an
// undrain moves nothing back. The pending records say why as data too (kind and machine).
import { expect, test } from "bun:test";
import { createFleetMetrics } from "../../src/metrics/fleet.ts";
import { MetricsRegistry } from "../../src/metrics/metrics.ts";
import { Cluster, unitRecord, unitText } from "../support/integration/engine-harness.ts";
import { until } from "../support/until.ts";

test("drain moves units off, keeps globals and pinned units with a reason; undrain moves nothing back", async () => {
  await using c = await Cluster.start();
  const { engine } = c.engine("e1");
  await c.agent("m1");
  await c.agent("m2");
  await c.agent("m3");
  engine.start();
  await until("leadership", () => engine.isLeader());

  await c.submit("db.service", "MachineID=m1");
  await c.submit("app.service", "MachineID=m1");
  await c.submit("pinned.service", "MachineID=m1");
  await c.submit("monitor.service", "Global=true");
  await until("everything placed", async () => {
    const p = await c.placements();
    return p["db.service"] && p["app.service"] && p["pinned.service"] && p["monitor.service"]?.length === 3 ? p : undefined;
  });
  // Unpin db and app (their MachineID goes), keeping them on m1 until the drain moves them.
  await c.registry.replaceUnit(unitRecord("db.service", "", "launched"), unitText("", "ExecStart=/bin/true"));
  await c.registry.replaceUnit(unitRecord("app.service", "MachineOf=db.service", "launched"), unitText("MachineOf=db.service", "ExecStart=/bin/true"));
  await until("entries updated", async () => {
    const e = await c.entries();
    return e.filter((x) => x.machine === "m1" && (x.unit === "db.service" || x.unit === "app.service")).length === 2;
  });
  expect((await c.placements())["db.service"]).toEqual(["m1"]);

  expect(await c.registry.setDrain("m1")).toBe(true);
  const moved = await until("db and app off m1", async () => {
    const p = await c.placements();
    return p["db.service"]?.[0] !== "m1" && p["app.service"]?.[0] !== "m1" && p["db.service"] ? p : undefined;
  });
  expect(moved["app.service"]).toEqual(moved["db.service"]!);
  expect(moved["monitor.service"]).toEqual(["m1", "m2", "m3"]);
  expect(moved["pinned.service"]).toEqual(["m1"]);
  const why = await until("pinned's reason", () => c.pending("pinned.service"));
  expect(why.reason).toBe("waiting to leave drained machine m1: no other machine fits: 1 is drained");

  // A new unit avoids the drained machine.
  await c.submit("new.service", "");
  const p2 = await until("new placed", async () => (await c.placements())["new.service"]);
  expect(p2[0]).not.toBe("m1");

  expect(await c.registry.clearDrain("m1")).toBe(true);
  await until("pinned's reason cleared", async () => (await c.pending("pinned.service")) === undefined);
  const after = await c.placements();
  expect(after["db.service"]).toEqual(moved["db.service"]!);
  expect(after["app.service"]).toEqual(moved["app.service"]!);
  expect(after["pinned.service"]).toEqual(["m1"]);
}, 60_000);

test("pending records carry the reason's kind and machine, an older record without them is rewritten, and the metrics count by kind", async () => {
  await using c = await Cluster.start();
  const metrics = createFleetMetrics(new MetricsRegistry());
  const { engine } = c.engine("e1", {}, { metrics });
  await c.agent("m1");
  await c.agent("m2");
  // What an engine from before the kind was stored left behind: the same words, no kind.
  const nowhere = "no machine fits: MachineID=m9 is not a live machine";
  await c.submit("nowhere.service", "MachineID=m9");
  await c.client.put(c.keys.pending("nowhere.service"), JSON.stringify({ reason: nowhere, since: new Date().toISOString() }));
  engine.start();
  await until("leadership", () => engine.isLeader());
  await until("the older record rewritten with its kind", async () => (await c.pending("nowhere.service"))?.kind);
  expect(await c.pending("nowhere.service")).toEqual({ reason: nowhere, since: expect.any(String), kind: "no-fit" });

  await c.submit("pinned.service", "MachineID=m1");
  await until("pinned placed", async () => (await c.placements())["pinned.service"]);
  expect(await c.registry.setDrain("m1")).toBe(true);
  const why = await until("pinned's reason", () => c.pending("pinned.service"));
  expect(why).toEqual({
    reason: "waiting to leave drained machine m1: no other machine fits: 1 is drained", since: expect.any(String), kind: "drain-blocked", machine: "m1",
  });
  await until("pinned counted as waiting on a drained machine", () => metrics.engineReconcileFailureCount.get({ type: "machine_drained" }) > 0);
  expect(metrics.engineReconcileFailureCount.get({ type: "constraints" })).toBeGreaterThan(0);
  expect(metrics.engineReconcileFailureCount.get({ type: "machine_away" })).toBe(0);
}, 60_000);
