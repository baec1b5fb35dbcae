import { expect, test } from "bun:test";
import { FakeUnitManager } from "../../src/systemd/fake-unit-manager.ts";
import { JobTracker } from "../../src/systemd/job-tracker.ts";
import { contentHash, type NameUse, type UnitState } from "../../src/systemd/unit-manager.ts";

const TEXT = "[Service]\nExecStart=/bin/sleep infinity\n";
/** The fake's first process id (the state carries a running service's MainPID). */
const running: UnitState = { loadState: "loaded", activeState: "active", subState: "running", mainPid: 1000 };
const dead: UnitState = { loadState: "loaded", activeState: "inactive", subState: "dead" };
const notFound: UnitState = { loadState: "not-found", activeState: "inactive", subState: "dead" };

async function deployed(name = "a.service"): Promise<FakeUnitManager> {
  const m = new FakeUnitManager();
  await m.writeUnit(name, TEXT);
  await m.linkUnits([name]);
  await m.reload();
  return m;
}

test("start is instant and reported once to subscribers; stop goes back to dead", async () => {
  const m = await deployed();
  const seen: [string, UnitState][] = [];
  const unsubscribe = await m.subscribe((name, state) => seen.push([name, state]));
  await m.start("a.service");
  await m.start("a.service");
  expect((await m.states(["a.service"])).get("a.service")).toEqual(running);
  expect(await m.mainPid("a.service")).toBeGreaterThan(0);
  await m.stop("a.service");
  expect(seen).toEqual([["a.service", running], ["a.service", dead]]);
  expect(await m.mainPid("a.service")).toBeUndefined();
  unsubscribe();
  await m.start("a.service");
  expect(seen).toHaveLength(2);
});

test("starting an unlinked unit and stopping an unknown one fail like systemd", async () => {
  const m = new FakeUnitManager();
  await m.writeUnit("a.service", TEXT);
  await expect(m.start("a.service")).rejects.toThrow("Cannot start a.service: org.freedesktop.systemd1.NoSuchUnit: Unit a.service not found");
  await expect(m.stop("b.service")).rejects.toThrow("Cannot stop b.service: org.freedesktop.systemd1.NoSuchUnit: Unit b.service not loaded");
  await expect(m.linkUnits(["b.service"])).rejects.toThrow("Unit file /run/fleet/units/b.service does not exist");
  await expect(m.start("bad name")).rejects.toThrow("Cannot start bad name: not a valid unit name");
});

test("listManaged hashes the written text; unload forgets the unit entirely", async () => {
  const m = await deployed();
  await m.start("a.service");
  expect(await m.listManaged()).toEqual([{ name: "a.service", hash: contentHash(TEXT) }]);
  await m.unload(["a.service", "never.service"]);
  expect(await m.listManaged()).toEqual([]);
  expect((await m.states(["a.service"])).get("a.service")).toEqual(notFound);
  await expect(m.start("a.service")).rejects.toThrow("not found");
});

test("a rewritten file needs a reload; enabling is recorded", async () => {
  const m = new FakeUnitManager();
  await m.writeUnit("i.service", TEXT);
  await m.linkUnits(["i.service"], { enable: ["i.service"] });
  await m.start("i.service");
  expect(m.isEnabled("i.service")).toBe(true);
  await m.writeUnit("i.service", `${TEXT}# changed\n`);
  expect(m.needsReload("i.service")).toBe(true);
  await m.reload();
  expect(m.needsReload("i.service")).toBe(false);
  expect(m.calls.filter((c) => c.op === "reload")).toHaveLength(1);
});

test("inspectNames: a name new to systemd, fleet's own, the host's; an older systemd keeps a new name not found until a reload", async () => {
  const m = new FakeUnitManager();
  m.hostUnits.set("sshd.service", "/lib/systemd/system/ssh.service");
  expect(await m.inspectNames(["a.service", "sshd.service"])).toEqual(new Map<string, NameUse>([
    ["a.service", { by: "nobody" }],
    ["sshd.service", { by: "host", definition: "/lib/systemd/system/ssh.service" }],
  ]));
  await m.writeUnit("a.service", TEXT);
  await m.linkUnits(["a.service"]);
  expect((await m.inspectNames(["a.service"])).get("a.service")).toEqual({ by: "fleet" });
  await m.start("a.service");
  expect((await m.states(["a.service"])).get("a.service")).toEqual(running);

  const old = new FakeUnitManager();
  old.loadsNewUnitsOnStart = false;
  expect((await old.inspectNames(["b.service"])).get("b.service")).toEqual({ by: "nobody" });
  await old.writeUnit("b.service", TEXT);
  await old.linkUnits(["b.service"]);
  await expect(old.start("b.service")).rejects.toThrow("Cannot start b.service: org.freedesktop.systemd1.NoSuchUnit: Unit b.service not found");
  await old.reload();
  await old.start("b.service");
  expect((await old.states(["b.service"])).get("b.service")).toMatchObject({ activeState: "active" });
});

test("failing units and crashes end in failed/failed", async () => {
  const m = await deployed();
  const seen: UnitState[] = [];
  await m.subscribe((_, s) => seen.push(s));
  m.failingUnits.add("a.service");
  await m.start("a.service");
  m.failingUnits.clear();
  await m.start("a.service");
  m.crash("a.service");
  const failed = { loadState: "loaded", activeState: "failed", subState: "failed" };
  expect(seen).toEqual([failed, running, failed]);
});

test("a closed manager refuses work; the system state is settable", async () => {
  const m = new FakeUnitManager();
  expect(await m.systemState()).toBe("running");
  m.systemStateValue = "stopping";
  expect(await m.systemState()).toBe("stopping");
  await m.close();
  await expect(m.states(["a.service"])).rejects.toThrow("the unit manager is closed");
});

test("job results arriving before the wait are kept; late ones time out", async () => {
  const jobs = new JobTracker();
  jobs.removed("/job/1", "done");
  expect(await jobs.wait("/job/1", 1000)).toBe("done");
  const pending = jobs.wait("/job/2", 1000);
  jobs.removed("/job/2", "canceled");
  expect(await pending).toBe("canceled");
  await expect(jobs.wait("/job/3", 10)).rejects.toThrow("Timed out after 10 ms waiting for job /job/3");
});
