// The engine meets malformed records in etcd: each is skipped and told about once, placement of
// every other unit goes on, and the engine repairs what it owns (schedule/ and pending/).
import { expect, test } from "bun:test";
import { Cluster } from "../support/integration/engine-harness.ts";
import { until } from "../support/until.ts";

test("schedule/<machine>/<unit> = null no longer stops every reconcile: a new unit is still placed", async () => {
  await using c = await Cluster.start();
  const { engine, log } = c.engine("e1");
  await c.agent("m1");
  engine.start();
  await until("leadership", () => engine.isLeader());
  await c.submit("a.service");
  await until("a placed", async () => (await c.placements())["a.service"]);

  // Before: "null is not an object (evaluating 'e.hash')" in every reconcile, forever.
  await c.client.put(c.keys.schedule("m1", "ghost.service"), "null");
  const broken = await c.client.put(c.keys.schedule("m1", "a.service"), "null");
  await c.submit("b.service");
  expect(await until("b placed", async () => (await c.placements())["b.service"])).toEqual(["m1"]);

  // The engine owns schedule/: a's unreadable entry is rewritten in place (a does not move), the
  // entry of a unit that does not exist is deleted.
  await until("a's entry rewritten", async () => {
    const e = (await c.entries()).find((x) => x.unit === "a.service");
    return e && e.modRevision > broken.revision && e.entry.hash !== undefined;
  });
  await until("ghost's entry deleted", async () => (await c.client.get(c.keys.schedule("m1", "ghost.service"))) === undefined);
  expect((await c.placements())["a.service"]).toEqual(["m1"]);
  expect(log.lines.filter((l) => l.includes("Reconcile failed"))).toEqual([]);
  expect(log.has("Updated a.service on machine m1: the stored entry is unreadable (the value is null, not a JSON object)")).toBe(true);
  expect(log.has("Unscheduled ghost.service from machine m1: unit no longer exists")).toBe(true);
}, 60_000);

test("garbage over a unit's entry and over a stray entry on another machine, found together by a new leader: the unit does not move", async () => {
  await using c = await Cluster.start();
  await c.agent("m1");
  await c.agent("m2");
  // The test holds the leader key while it writes, so the engine lists everything below at once
  // when it wins, knowing no good value of either entry: the order the fuzz once hit by timing.
  const holder = await c.client.leaseGrant(60);
  await c.client.put(c.keys.leader, JSON.stringify({ machineID: "holder", since: new Date().toISOString() }), { lease: holder.id });
  const a = await c.submit("a.service");
  await c.client.put(c.keys.schedule("m2", "a.service"), JSON.stringify({ hash: a.hash, desiredState: "launched", epoch: "1" }));
  const { engine, log } = c.engine("e1");
  engine.start();

  const stray = await c.client.put(c.keys.schedule("m1", "a.service"), '{"hash":');
  const home = await c.client.put(c.keys.schedule("m2", "a.service"), "null");
  expect(engine.isLeader()).toBe(false);
  await c.client.leaseRevoke(holder.id);
  await log.waitFor(`Skipping /fleet/schedule/m1/a.service at revision ${stray.revision}`);
  await log.waitFor(`Skipping /fleet/schedule/m2/a.service at revision ${home.revision}`);

  // m1 sorts before m2, but m2's entry was created first (its agent runs a there): the stray
  // goes and m2's entry is rewritten in place.
  const dropped = await log.waitFor("Unscheduled a.service from machine");
  expect(dropped.slice(dropped.indexOf("Unscheduled"))).toBe("Unscheduled a.service from machine m1: duplicate placement (kept on m2)");
  await until("a's entry on m2 rewritten", async () => ((await c.client.get(c.keys.schedule("m2", "a.service")))?.modRevision ?? 0) > home.revision);
  await until("the stray entry deleted", async () => (await c.client.get(c.keys.schedule("m1", "a.service"))) === undefined);
  expect((await c.placements())["a.service"]).toEqual(["m2"]);
  expect(log.has("Updated a.service on machine m2: the stored entry is unreadable (the value is null, not a JSON object)")).toBe(true);
  expect(log.has("Unscheduled a.service from machine m2")).toBe(false);
}, 60_000);

test("units/bad.service = {} does not loop the engine: it is skipped, told about once, and others are placed", async () => {
  await using c = await Cluster.start();
  const { engine, log } = c.engine("e1");
  await c.agent("m1");
  engine.start();
  await until("leadership", () => engine.isLeader());

  const bad = await c.client.put(c.keys.unit("bad.service"), "{}");
  await c.client.put(c.keys.unit("-x.service"), "{}");
  await c.client.put(c.keys.pending("good.service"), '{"reason":');
  await c.submit("good.service");
  expect(await until("good placed", async () => (await c.placements())["good.service"])).toEqual(["m1"]);
  await until("good's unreadable pending reason cleared", async () => (await c.client.get(c.keys.pending("good.service"))) === undefined);
  // A later change makes the engine plan again; the bad record is not told about again.
  await c.submit("later.service");
  await until("later placed", async () => (await c.placements())["later.service"]);

  const skipped = log.lines.filter((l) => l.includes("Skipping")).map((l) => l.slice(l.indexOf("Skipping"))).sort();
  expect(skipped).toEqual([
    `Skipping /fleet/pending/good.service at revision ${bad.revision + 2}: not JSON: JSON Parse error: Unexpected EOF`,
    `Skipping /fleet/units/-x.service at revision ${bad.revision + 1}: the key names an invalid unit "-x.service": unit name "-x.service" cannot start with "-": programs would read it as an option`,
    `Skipping /fleet/units/bad.service at revision ${bad.revision}: field "name" is missing, not a string`,
  ]);
  expect(log.lines.filter((l) => l.includes("Reconcile failed"))).toEqual([]);
  expect((await c.placements())["bad.service"]).toBeUndefined();
}, 60_000);

test("a leader key overwritten off the leader's lease is written back, so a successor can still win", async () => {
  await using c = await Cluster.start();
  const first = c.engine("e1");
  const second = c.engine("e2");
  first.engine.start();
  await until("e1 leads", () => first.engine.isLeader());
  second.engine.start();
  const epoch = first.engine.epoch;
  // A plain put keeps the key's create revision (the epoch) but takes it off the leader lease:
  // left so, the key would outlive e1 and e2 could never win.
  await c.client.put(c.keys.leader, '{"machineID":');
  const back = await until("the leader key back on a lease", async () => {
    const kv = await c.client.get(c.keys.leader);
    return kv && kv.lease !== "0" ? kv : undefined;
  });
  expect(back.createRevision).toBe(epoch!);
  expect(JSON.parse(back.value)).toMatchObject({ machineID: "e1" });
  await first.log.waitFor("The leader key was overwritten with an unreadable record (not JSON: JSON Parse error: Unexpected EOF), not on the leader lease; writing it again");

  await first.engine.stop({ resign: false });
  await until("e2 leads once e1's lease expires", () => second.engine.isLeader());
}, 60_000);
