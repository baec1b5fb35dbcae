// The engine end to end through a real etcd: units placed by the rules, desired-state and file
// changes carried into schedule entries, pending reasons written and cleared, and destroy
// cleaning schedule/, pending/ and the unit file nobody uses any more.
import { expect, test } from "bun:test";
import type { ScheduleEntry } from "../../src/registry/models.ts";
import { Cluster, unitRecord, unitText } from "../support/integration/engine-harness.ts";
import { until } from "../support/until.ts";

test("units land by metadata, MachineOf, Conflicts and Global; a lost machine's units move or wait", async () => {
  await using c = await Cluster.start();
  const { engine } = c.engine("e1");
  const [m1, m2] = [await c.agent("m1", { role: "web" }), await c.agent("m2", { role: "web" })];
  await c.agent("m3", { role: "db" });
  engine.start();
  await until("leadership", () => engine.isLeader());

  await c.submit("db.service", "MachineMetadata=role=db");
  await c.submit("web@1.service", "MachineMetadata=role=web\nConflicts=web@*.service");
  await c.submit("web@2.service", "MachineMetadata=role=web\nConflicts=web@*.service");
  await c.submit("web@3.service", "MachineMetadata=role=web\nConflicts=web@*.service");
  await c.submit("sidecar.service", "MachineOf=web@1.service");
  await c.submit("monitor.service", "Global=true\nMachineMetadata=role=web");

  const placed = await until("placements", async () => {
    const p = await c.placements();
    return p["db.service"] && p["web@1.service"] && p["web@2.service"] && p["sidecar.service"] && p["monitor.service"]?.length === 2 ? p : undefined;
  });
  expect(placed["db.service"]).toEqual(["m3"]);
  expect(placed["monitor.service"]).toEqual(["m1", "m2"]);
  expect(new Set([...placed["web@1.service"]!, ...placed["web@2.service"]!])).toEqual(new Set(["m1", "m2"]));
  expect(placed["sidecar.service"]).toEqual(placed["web@1.service"]!);
  // Only two web machines: the third conflicting web unit waits, and says why.
  expect(placed["web@3.service"]).toBeUndefined();
  const why = await until("web@3's pending reason", () => c.pending("web@3.service"));
  expect(why.reason).toContain("web@");

  // Every entry carries the unit's hash and desired state, the writer's epoch, why it is there,
  // and (the unit being small) its text, which hashes to the hash.
  const placedWhy: Record<string, string> = {
    "monitor.service": "global unit, machine fits", "sidecar.service": "MachineOf=web@1.service runs there",
  };
  for (const e of await c.entries()) {
    const u = (await c.registry.getUnit(e.unit))!;
    const reason = placedWhy[e.unit] ?? "least loaded fitting machine";
    expect(e.entry).toEqual({ hash: u.hash, desiredState: "launched", epoch: String(engine.epoch), reason, text: (await c.registry.getUnitFile(u.hash))!.text });
  }

  // web@1's machine goes away: web@1 has nowhere to go (the other web machine runs web@2), so
  // it keeps its entry there and waits for the machine (whose agent may still run it), and its
  // follower waits with it. The global unit's entry on that machine goes.
  const host = placed["web@1.service"]![0]!;
  await (host === "m1" ? m1 : m2).vanish();
  const waiting = await until("web@1 waiting for its machine", async () => {
    const p = await c.pending("web@1.service");
    return p?.reason.startsWith(`waiting for machine ${host} to return: no other machine fits: `) ? p : undefined;
  });
  expect(waiting.reason).toContain("Conflicts=web@*.service (web@2.service)");
  expect((await until("sidecar waiting with it", () => c.pending("sidecar.service"))).reason).toBe(
    `waiting for machine ${host} to return: no other machine fits: MachineOf=web@1.service is not scheduled`,
  );
  const after = await until("the global unit off the lost machine", async () => {
    const p = await c.placements();
    return p["monitor.service"]?.length === 1 ? p : undefined;
  });
  expect(after["monitor.service"]).toEqual([host === "m1" ? "m2" : "m1"]);
  expect(after["web@1.service"]).toEqual([host]);
  expect(after["sidecar.service"]).toEqual([host]);
  expect(after["web@3.service"]).toBeUndefined();
}, 60_000);

test("desired state and file changes reach the entries; inactive and destroy clean up", async () => {
  await using c = await Cluster.start();
  const { engine, log } = c.engine("e1");
  await c.agent("m1");
  engine.start();
  await until("leadership", () => engine.isLeader());

  const v1 = await c.submit("app.service", "", "loaded");
  const entryOf = async (): Promise<ScheduleEntry | undefined> => (await c.entries()).find((e) => e.unit === "app.service")?.entry;
  expect(await until("app scheduled", entryOf)).toEqual({
    hash: v1.hash, desiredState: "loaded", epoch: String(engine.epoch), reason: "least loaded fitting machine", text: unitText(""),
  });

  await c.registry.setDesiredState("app.service", "launched");
  await until("desired state launched in the entry", async () => (await entryOf())?.desiredState === "launched");

  // --replace: a new file under a new hash; the entry follows, the old file is removed.
  const v2 = unitRecord("app.service", "", "launched", "ExecStart=/bin/sleep 1000");
  await c.registry.replaceUnit(v2, unitText("", "ExecStart=/bin/sleep 1000"));
  await until("the new hash in the entry", async () => (await entryOf())?.hash === v2.hash);
  expect((await entryOf())?.text).toBe(unitText("", "ExecStart=/bin/sleep 1000"));
  await until("the old unit file removed", async () => (await c.registry.getUnitFile(v1.hash)) === undefined);
  expect(await c.registry.getUnitFile(v2.hash)).toBeDefined();
  await log.waitFor(`Removed unit file ${v1.hash}`);

  await c.registry.setDesiredState("app.service", "inactive");
  await until("inactive unscheduled", async () => (await entryOf()) === undefined);
  expect(await c.registry.getUnitFile(v2.hash)).toBeDefined();

  // Two units share one file: destroying one keeps it, destroying both removes it.
  await c.registry.setDesiredState("app.service", "launched");
  const twin = unitRecord("twin.service", "", "launched", "ExecStart=/bin/sleep 1000");
  expect(twin.hash).toBe(v2.hash);
  await c.registry.createUnit(twin, unitText("", "ExecStart=/bin/sleep 1000"));
  await until("both scheduled", async () => Object.keys(await c.placements()).length === 2);
  await c.registry.destroyUnit("app.service");
  await until("app unscheduled", async () => (await entryOf()) === undefined);
  expect(await c.registry.getUnitFile(v2.hash)).toBeDefined();
  await c.registry.destroyUnit("twin.service");
  await until("the shared file removed", async () => (await c.registry.getUnitFile(v2.hash)) === undefined);
  expect(await c.placements()).toEqual({});
}, 60_000);

test("a unit that fits nowhere gets a pending reason, cleared when it is placed or destroyed", async () => {
  await using c = await Cluster.start();
  const { engine, log } = c.engine("e1");
  await c.agent("m1", { role: "web" });
  engine.start();
  await until("leadership", () => engine.isLeader());

  await c.submit("db.service", "MachineMetadata=role=db");
  const first = await until("a pending reason", () => c.pending("db.service"));
  expect(first.reason).toContain("role");
  expect(Date.parse(first.since)).not.toBeNaN();
  await log.waitFor("Pending db.service: ");

  await c.agent("m2", { role: "db" });
  await until("db placed on m2", async () => (await c.placements())["db.service"]?.[0] === "m2");
  await until("the pending reason cleared", async () => (await c.pending("db.service")) === undefined);

  await c.submit("nowhere.service", "MachineID=0123456789abcdef");
  await until("nowhere pending", () => c.pending("nowhere.service"));
  const rec = (await c.registry.getUnit("nowhere.service"))!;
  await c.registry.destroyUnit("nowhere.service");
  await until("destroyed unit's pending key removed", async () => (await c.pending("nowhere.service")) === undefined);
  await until("its file removed", async () => (await c.registry.getUnitFile(rec.hash)) === undefined);
}, 60_000);
