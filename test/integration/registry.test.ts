// The typed registry over a real etcd: units with their content-addressed files, desired-state
// changes without lost updates, merged machine metadata, schedule and state listings.
import { beforeAll, expect, test } from "bun:test";
import { EtcdClient } from "../../src/registry/etcd/index.ts";
import type { MachineRecord, UnitRecord } from "../../src/registry/models.ts";
import { mergeMetadata, Registry } from "../../src/registry/registry.ts";
import { emptyRequirements } from "../../src/unit/types.ts";
import { sharedEtcd } from "../support/etcd-fixture.ts";
import { createHash } from "node:crypto";
import { createFleetMetrics } from "../../src/metrics/fleet.ts";
import { MetricsRegistry } from "../../src/metrics/metrics.ts";
import { InvalidRecords } from "../../src/registry/invalid-records.ts";

const NOW = new Date().toISOString();

const etcd = sharedEtcd();
let registry: Registry;
beforeAll(() => {
  registry = new Registry(etcd.client, "/fleet-test/");
});

const TEXT = { a: "[Service]\nExecStart=/bin/true\n", b: "[Service]\nExecStart=/bin/false\n", c: "[Service]\nExecStart=/bin/sleep 1\n" };
const HASH = { a: sha1(TEXT.a), b: sha1(TEXT.b), c: sha1(TEXT.c) };

function sha1(text: string): string {
  return createHash("sha1").update(text).digest("hex");
}

function unit(name: string, hash = HASH.a): UnitRecord {
  return { name, hash, desiredState: "inactive", global: false, requirements: emptyRequirements(), description: "" };
}

test("a unit is created once with its file; a second create of the same name writes nothing", async () => {
  expect(await registry.createUnit(unit("hello.service"), TEXT.a)).toBe(true);
  expect(await registry.createUnit(unit("hello.service", HASH.b), TEXT.b)).toBe(false);
  expect(await registry.getUnit("hello.service")).toEqual(unit("hello.service"));
  expect((await registry.getUnitFile(HASH.a))?.text).toBe(TEXT.a);
  expect((await registry.getUnitFile(HASH.a))?.options).toEqual([{ section: "Service", name: "ExecStart", value: "/bin/true" }]);
  expect(await registry.getUnitFile(HASH.b)).toBeUndefined();
});

test("createUnitOrGet creates, or returns the unit that exists from the same one request", async () => {
  const ops: string[] = [];
  const counted = new EtcdClient({ endpoints: [etcd.endpoint], onOperation: (o) => ops.push(o.type) });
  try {
    const r = new Registry(counted, "/fleet-test/");
    expect(await r.createUnitOrGet(unit("once.service"), TEXT.a)).toEqual({ created: true });
    expect(await r.createUnitOrGet(unit("once.service", HASH.c), TEXT.c)).toEqual({ created: false, existing: unit("once.service") });
    expect(ops).toEqual(["txn", "txn"]);
    expect(await registry.getUnitFile(HASH.c)).toBeUndefined();
  } finally {
    counted.close();
    await registry.destroyUnit("once.service");
  }
});

test("units are listed by name; replace points a unit at a new file", async () => {
  await registry.createUnit(unit("b.service"), TEXT.a);
  await registry.createUnit(unit("a.service"), TEXT.a);
  expect((await registry.listUnits()).map((u) => u.name)).toEqual(["a.service", "b.service", "hello.service"]);
  await registry.replaceUnit({ ...unit("b.service", HASH.c), desiredState: "launched" }, TEXT.c);
  expect(await registry.getUnit("b.service")).toMatchObject({ hash: HASH.c, desiredState: "launched" });
  expect((await registry.getUnitFile(HASH.c))?.text).toBe(TEXT.c);
});

test("concurrent desired-state changes of different fields are not lost", async () => {
  await registry.createUnit(unit("race.service"), TEXT.a);
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) => registry.setDesiredState("race.service", i % 2 ? "loaded" : "launched")),
  );
  expect(results.every(Boolean)).toBe(true);
  expect(["loaded", "launched"]).toContain((await registry.getUnit("race.service"))!.desiredState);
  expect(await registry.setDesiredState("missing.service", "launched")).toBe(false);
});

test("destroy removes the unit and reports whether it existed", async () => {
  await registry.createUnit(unit("gone.service"), TEXT.a);
  expect(await registry.destroyUnit("gone.service")).toBe(true);
  expect(await registry.destroyUnit("gone.service")).toBe(false);
  expect(await registry.getUnit("gone.service")).toBeUndefined();
});

test("machines carry config metadata with dynamic metadata merged over it", async () => {
  const m: MachineRecord = { id: "m1", publicIP: "10.0.0.1", metadata: { region: "east", disk: "hdd" }, version: "0", startedAt: NOW };
  await etcd.client.put(registry.keys.machine("m1"), JSON.stringify(m));
  await etcd.client.put(registry.keys.machine("m0"), JSON.stringify({ ...m, id: "m0", metadata: {} }));
  expect(await registry.updateDynamicMetadata("m1", { disk: "ssd", region: "" })).toEqual({ disk: "ssd", region: "" });
  const machines = await registry.listMachines();
  expect(machines.map((x) => x.id)).toEqual(["m0", "m1"]);
  expect(machines[1]!.metadata).toEqual({ disk: "ssd" });
  await registry.updateDynamicMetadata("m1", { disk: undefined, region: undefined });
  expect(await registry.getDynamicMetadata("m1")).toEqual({});
  expect((await registry.listMachines())[1]!.metadata).toEqual({ region: "east", disk: "hdd" });
});

test("schedule, pending and states are listed by unit and machine", async () => {
  const entry = { hash: HASH.a, desiredState: "launched", epoch: "7" };
  await etcd.client.put(registry.keys.schedule("m1", "web@1.service"), JSON.stringify(entry));
  await etcd.client.put(registry.keys.schedule("m0", "web@1.service"), JSON.stringify(entry));
  await etcd.client.put(registry.keys.pending("web@2.service"), JSON.stringify({ reason: "no machine fits", since: NOW }));
  const state = { loadState: "loaded", activeState: "active", subState: "running", hash: HASH.a, since: NOW };
  await etcd.client.put(registry.keys.state("web@1.service", "m1"), JSON.stringify(state));
  await etcd.client.put(registry.keys.state("web@1.service", "m0"), JSON.stringify(state));
  await etcd.client.put(registry.keys.state("db.service", "m1"), JSON.stringify(state));

  const schedule = await registry.listSchedule();
  expect([...schedule.get("web@1.service")!.keys()].sort()).toEqual(["m0", "m1"]);
  expect((await registry.listPending()).get("web@2.service")?.reason).toBe("no machine fits");
  expect((await registry.listStates()).map((s) => `${s.name}/${s.machineId}`))
    .toEqual(["db.service/m1", "web@1.service/m0", "web@1.service/m1"]);
  expect((await registry.listStates({ units: ["web@1.service"], machines: ["m1"] })).map((s) => s.machineId)).toEqual(["m1"]);
});

test("an unreadable record is skipped as absent and told about once, with its key and why", async () => {
  const lines: string[] = [];
  const metrics = createFleetMetrics(new MetricsRegistry());
  const r = new Registry(etcd.client, "/fleet-test/", { log: { warn: (l) => lines.push(l) }, invalid: new InvalidRecords(metrics) });
  const put = await etcd.client.put(r.keys.unit("broken.service"), "{not json");
  try {
    expect(await r.getUnit("broken.service")).toBeUndefined();
    expect((await r.listUnits()).map((u) => u.name)).not.toContain("broken.service");
    expect(await r.setDesiredState("broken.service", "launched")).toBe(false);
    expect(lines).toEqual([`Skipping /fleet-test/units/broken.service at revision ${put.revision}: not JSON: JSON Parse error: Expected '}'`]);
    expect(metrics.registry.expose()).toContain('fleet_registry_invalid_records_total{kind="units"} 1\n');
    // A submission replaces what nobody can read.
    expect(await r.createUnitOrGet(unit("broken.service"), TEXT.a)).toEqual({ created: false, existing: undefined });
  } finally {
    await etcd.client.delete(r.keys.unit("broken.service"));
  }
});

test("writers refuse what readers would refuse, and write nothing", async () => {
  await expect(registry.createUnit(unit("mismatch.service", HASH.b), TEXT.a)).rejects.toThrow(
    `Refusing to write /fleet-test/unitfiles/${HASH.b}: the text does not match its hash (it hashes to ${HASH.a})`,
  );
  await expect(registry.createUnit(unit("-x.service"), TEXT.a)).rejects.toThrow(
    'Refusing to write /fleet-test/units/-x.service: the key names an invalid unit "-x.service": unit name "-x.service" cannot start with "-"',
  );
  await expect(registry.updateDynamicMetadata("a/b", { k: "v" })).rejects.toThrow(
    "Refusing to write /fleet-test/metadata/a/b: the key is not <prefix>/<kind>/<machine id>",
  );
  expect(await registry.getUnit("mismatch.service")).toBeUndefined();
  expect((await etcd.client.range(registry.keys.metadatas, { prefix: true })).kvs).toEqual([]);
});

test("dynamic metadata with an empty value hides a config key", () => {
  expect(mergeMetadata({ a: "1", b: "2" }, { a: "", c: "3" })).toEqual({ b: "2", c: "3" });
});
