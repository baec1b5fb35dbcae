// The typed registry over a real etcd: units with their content-addressed files, desired-state
// changes without lost updates, merged machine metadata, schedule and state listings.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { EtcdClient } from "../../src/registry/etcd/index.ts";
import type { MachineRecord, UnitRecord } from "../../src/registry/models.ts";
import { mergeMetadata, Registry } from "../../src/registry/registry.ts";
import { emptyRequirements } from "../../src/unit/types.ts";
import { type EtcdServer, startEtcd } from "../support/etcd-server.ts";

let etcd: EtcdServer;
let client: EtcdClient;
let registry: Registry;
beforeAll(async () => {
  etcd = await startEtcd();
  client = new EtcdClient({ endpoints: [etcd.endpoint] });
  registry = new Registry(client, "/fleet-test/");
});
afterAll(async () => {
  client?.close();
  await etcd?.[Symbol.asyncDispose]();
});

function unit(name: string, hash = "a".repeat(40)): UnitRecord {
  return { name, hash, desiredState: "inactive", global: false, requirements: emptyRequirements(), description: "" };
}

test("a unit is created once with its file; a second create of the same name writes nothing", async () => {
  expect(await registry.createUnit(unit("hello.service"), "[Service]\nExecStart=/bin/true\n")).toBe(true);
  expect(await registry.createUnit(unit("hello.service", "b".repeat(40)), "[Service]\nExecStart=/bin/false\n")).toBe(false);
  expect(await registry.getUnit("hello.service")).toEqual(unit("hello.service"));
  expect(await registry.getUnitFile("a".repeat(40))).toBe("[Service]\nExecStart=/bin/true\n");
  expect(await registry.getUnitFile("b".repeat(40))).toBeUndefined();
});

test("createUnitOrGet creates, or returns the unit that exists from the same one request", async () => {
  const ops: string[] = [];
  const counted = new EtcdClient({ endpoints: [etcd.endpoint], onOperation: (o) => ops.push(o.type) });
  try {
    const r = new Registry(counted, "/fleet-test/");
    expect(await r.createUnitOrGet(unit("once.service"), "x")).toEqual({ created: true });
    expect(await r.createUnitOrGet(unit("once.service", "d".repeat(40)), "y")).toEqual({ created: false, existing: unit("once.service") });
    expect(ops).toEqual(["txn", "txn"]);
    expect(await registry.getUnitFile("d".repeat(40))).toBeUndefined();
  } finally {
    counted.close();
    await registry.destroyUnit("once.service");
  }
});

test("units are listed by name; replace points a unit at a new file", async () => {
  await registry.createUnit(unit("b.service"), "x");
  await registry.createUnit(unit("a.service"), "x");
  expect((await registry.listUnits()).map((u) => u.name)).toEqual(["a.service", "b.service", "hello.service"]);
  await registry.replaceUnit({ ...unit("b.service", "c".repeat(40)), desiredState: "launched" }, "new text");
  expect(await registry.getUnit("b.service")).toMatchObject({ hash: "c".repeat(40), desiredState: "launched" });
  expect(await registry.getUnitFile("c".repeat(40))).toBe("new text");
});

test("concurrent desired-state changes of different fields are not lost", async () => {
  await registry.createUnit(unit("race.service"), "x");
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) => registry.setDesiredState("race.service", i % 2 ? "loaded" : "launched")),
  );
  expect(results.every(Boolean)).toBe(true);
  expect(["loaded", "launched"]).toContain((await registry.getUnit("race.service"))!.desiredState);
  expect(await registry.setDesiredState("missing.service", "launched")).toBe(false);
});

test("destroy removes the unit and reports whether it existed", async () => {
  await registry.createUnit(unit("gone.service"), "x");
  expect(await registry.destroyUnit("gone.service")).toBe(true);
  expect(await registry.destroyUnit("gone.service")).toBe(false);
  expect(await registry.getUnit("gone.service")).toBeUndefined();
});

test("machines carry config metadata with dynamic metadata merged over it", async () => {
  const m: MachineRecord = { id: "m1", publicIP: "10.0.0.1", metadata: { region: "east", disk: "hdd" }, version: "0", startedAt: "t" };
  await client.put(registry.keys.machine("m1"), JSON.stringify(m));
  await client.put(registry.keys.machine("m0"), JSON.stringify({ ...m, id: "m0", metadata: {} }));
  expect(await registry.updateDynamicMetadata("m1", { disk: "ssd", region: "" })).toEqual({ disk: "ssd", region: "" });
  const machines = await registry.listMachines();
  expect(machines.map((x) => x.id)).toEqual(["m0", "m1"]);
  expect(machines[1]!.metadata).toEqual({ disk: "ssd" });
  await registry.updateDynamicMetadata("m1", { disk: undefined, region: undefined });
  expect(await registry.getDynamicMetadata("m1")).toEqual({});
  expect((await registry.listMachines())[1]!.metadata).toEqual({ region: "east", disk: "hdd" });
});

test("schedule, pending and states are listed by unit and machine", async () => {
  const entry = { hash: "a".repeat(40), desiredState: "launched", epoch: "7" };
  await client.put(registry.keys.schedule("m1", "web@1.service"), JSON.stringify(entry));
  await client.put(registry.keys.schedule("m0", "web@1.service"), JSON.stringify(entry));
  await client.put(registry.keys.pending("web@2.service"), JSON.stringify({ reason: "no machine fits", since: "t" }));
  const state = { loadState: "loaded", activeState: "active", subState: "running", hash: "a".repeat(40), since: "t" };
  await client.put(registry.keys.state("web@1.service", "m1"), JSON.stringify(state));
  await client.put(registry.keys.state("web@1.service", "m0"), JSON.stringify(state));
  await client.put(registry.keys.state("db.service", "m1"), JSON.stringify(state));

  const schedule = await registry.listSchedule();
  expect([...schedule.get("web@1.service")!.keys()].sort()).toEqual(["m0", "m1"]);
  expect((await registry.listPending()).get("web@2.service")?.reason).toBe("no machine fits");
  expect((await registry.listStates()).map((s) => `${s.name}/${s.machineId}`))
    .toEqual(["db.service/m1", "web@1.service/m0", "web@1.service/m1"]);
  expect((await registry.listStates({ units: ["web@1.service"], machines: ["m1"] })).map((s) => s.machineId)).toEqual(["m1"]);
});

test("an undecodable record names its key", async () => {
  await client.put(registry.keys.unit("broken.service"), "{not json");
  await expect(registry.getUnit("broken.service")).rejects.toThrow("Cannot decode /fleet-test/units/broken.service:");
  await client.delete(registry.keys.unit("broken.service"));
});

test("dynamic metadata with an empty value hides a config key", () => {
  expect(mergeMetadata({ a: "1", b: "2" }, { a: "", c: "3" })).toEqual({ b: "2", c: "3" });
});
