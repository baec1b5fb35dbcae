// Failures end to end on three real systemd machines: machine loss (hard kill, freeze, halt) and
// return, a daemon restart, an etcd outage, losing the engine leader, and a duplicate machine id,
// as `fleet ctl` and systemd inside the machines show them. Needs root and bin/fleet (./build).
import { beforeAll, expect, test } from "bun:test";
import type { Machine } from "../../src/sandbox/index.ts";
import { AGENT_TTL_MS, DAEMON_UNIT, MOVE_DEADLINE_MS, serviceUnit, sharedE2eCluster } from "../support/functional/e2e-fixture.ts";
import { allRunOn, deploy, eventually, expectEachRunsOnce, expectUntouched, type Placed, snapshot } from "../support/functional/e2e-placed.ts";
import { holdFor } from "../support/until.ts";

const T = 120_000;
const APPS = ["app@1.service", "app@2.service", "app@3.service", "app@4.service", "app@5.service", "app@6.service"];

const c = sharedE2eCluster({ machines: 3 }, { timeoutMs: T, resetEachTest: true });

beforeAll(() => {
  c.writeUnit("app@.service", serviceUnit("app %i"));
  c.writeUnit("pin@.service", serviceUnit("pinned to %i", ["MachineID=%i"]));
});

const unitsOn = (placed: Map<string, Placed>, m: Machine) => [...placed].filter(([, p]) => p.machine === m).map(([u]) => u);

/** The units of a lost machine run on the others within MOVE_DEADLINE_MS, and it leaves list-machines. */
async function expectMovedOff(lost: Machine, units: readonly string[]): Promise<void> {
  const survivors = c.machines.filter((m) => m !== lost);
  await c.waitFor(`every unit to run off ${lost.name}`, async () => allRunOn(await c.listUnits(), units, survivors), MOVE_DEADLINE_MS);
  await c.waitForMachines(survivors, MOVE_DEADLINE_MS);
}

test("hard kill: the machine's units run elsewhere within agent_ttl + 5 s; on its return nothing moves back or runs twice", async () => {
  await c.step(async () => {
    const before = await deploy(c, APPS);
    const victim = before.get("app@1.service")!.machine;
    expect(unitsOn(before, victim).length).toBeGreaterThan(0);

    await victim.kill();
    await expectMovedOff(victim, APPS);
    const moved = await expectEachRunsOnce(c, APPS);
    expectUntouched(before, moved, victim);

    // The machine comes back with the same id: it rejoins empty and takes new work, nothing else changes.
    await c.revive(victim);
    await c.waitForMachines(c.machines);
    c.writeUnit("fresh.service", serviceUnit("after the return"));
    const out = await c.fleetctlOk(victim, "start", "--block-attempts=10", "fresh.service");
    expect(out).toContain(`Unit fresh.service launched on ${victim.machineId.slice(0, 8)}.../${victim.ip}\n`);
    const after = await expectEachRunsOnce(c, APPS);
    expectUntouched(moved, after);
    expect(unitsOn(after, victim)).toEqual([]);
  });
}, T);

test("freeze: the machine's units run elsewhere within agent_ttl + 5 s; after the thaw its old copies stop and nothing runs twice", async () => {
  await c.step(async () => {
    const before = await deploy(c, APPS);
    const victim = before.get("app@2.service")!.machine;
    const old = unitsOn(before, victim);
    expect(old.length).toBeGreaterThan(0);

    await victim.freeze();
    try {
      await expectMovedOff(victim, APPS);
      expectUntouched(before, await snapshot(c, APPS), victim);
    } finally {
      await victim.thaw();
    }
    await c.waitForMachines(c.machines);
    for (const unit of old) {
      await c.waitFor(`the old copy of ${unit} on ${victim.name} to stop`, async () => (await c.activeIn(victim, unit)) !== "active");
    }
    await eventually(c, "each unit to run exactly once, none on the thawed machine", async () => {
      expect(unitsOn(await expectEachRunsOnce(c, APPS), victim)).toEqual([]);
    });
    expect(await c.activeIn(victim, DAEMON_UNIT)).toBe("active");
  });
}, T);

test("halt: the daemon revokes its lease as the host shuts down, so the units move at once", async () => {
  await c.step(async () => {
    const victim = c.machines[2]!;
    // A TTL far longer than the test: only a revoked lease explains the machine leaving in time.
    await c.restartDaemonWith(victim, { FLEET_AGENT_TTL: "120s" });
    const lease = (await c.registration(victim))?.lease;
    expect(lease).toBeDefined();
    const before = await deploy(c, APPS);
    expect(unitsOn(before, victim).length).toBeGreaterThan(0);

    expect(await victim.halt()).toBe("halted");
    expect(await c.registration(victim)).toBeUndefined();
    expect(await c.fleet.client.leaseTimeToLive(lease!)).toBeUndefined();
    await expectMovedOff(victim, APPS);
    expectUntouched(before, await expectEachRunsOnce(c, APPS), victim);
  });
}, T);

test("a daemon restart restarts no unit and moves nothing", async () => {
  await c.step(async () => {
    c.writeUnit("everywhere.service", serviceUnit("global", ["Global=true"]));
    const before = await deploy(c, APPS);
    const m = before.get("app@1.service")!.machine;
    await c.fleetctlOk("host", "start", "everywhere.service");
    await c.waitFor("the global unit on every machine", async () =>
      (await c.listUnits()).filter((r) => r.unit === "everywhere.service" && r.active === "active").length === 3);
    const globalPid = await c.mainPid(m, "everywhere.service");
    const lease = (await c.registration(m))?.lease;

    await c.systemctlIn(m, "restart", DAEMON_UNIT);
    expect(await c.activeIn(m, DAEMON_UNIT)).toBe("active");
    expect((await c.registration(m))?.lease).toBe(lease);
    expect(await m.journal(DAEMON_UNIT)).toContain("with resumed lease");
    // The restarted daemon works: it starts a new unit pinned to its machine.
    const pinned = `pin@${m.machineId}.service`;
    expect(await c.fleetctlOk(m, "start", "--block-attempts=10", pinned)).toContain(`Unit ${pinned} launched on ${m.machineId.slice(0, 8)}...`);

    expectUntouched(before, await expectEachRunsOnce(c, APPS));
    expect(await c.mainPid(m, "everywhere.service")).toBe(globalPid);
  });
}, T);

test("etcd stopped for 10 s: no unit restarts or moves; once it is back list-units works again", async () => {
  await c.step(async () => {
    const before = await deploy(c, APPS);
    await c.stopEtcd();
    try {
      const down = await c.fleetctl("host", "list-units");
      expect(down.code).toBe(1);
      expect(down.stderr).toContain("Error retrieving list of units from repository: ");
      // The outage lasts 10 s, over three agent TTLs; every unit keeps running throughout.
      await holdFor(10_000, async () => {
        for (const [unit, p] of before) expect(await c.activeIn(p.machine, unit)).toBe("active");
      });
    } finally {
      await c.startEtcd();
    }
    await c.waitForMachines(c.machines);
    // A machine whose lease lapsed meanwhile registers again and republishes its states.
    await eventually(c, "every unit listed again where it ran, with the same process", async () => {
      expectUntouched(before, await expectEachRunsOnce(c, APPS));
    });
    const m = c.machines[0]!;
    await c.waitFor(`list-units to work inside ${m.name} (API)`, async () => allRunOn(await c.listUnits(m), APPS, c.machines));
  });
}, T);

test("leader loss: stopping the leader's daemon hands the engine to another machine, which places new units and moves nothing", async () => {
  await c.step(async () => {
    const leader = c.machineById(await c.waitFor("an engine leader", () => c.leader()));
    const others = c.machines.filter((m) => m !== leader);
    // The pinned unit keeps the apps off the leader's machine (conflicts are symmetric), so
    // the only machine that goes away runs nothing that could move.
    c.writeUnit("app@.service", serviceUnit("app %i", ["Conflicts=pin@*.service"]));
    try {
      const pinned = `pin@${leader.machineId}.service`;
      const pinnedPid = (await deploy(c, [pinned])).get(pinned)!.pid;
      const apps = APPS.slice(0, 4);
      const before = await deploy(c, apps);
      for (const [, p] of before) expect(others).toContain(p.machine);

      await c.systemctlIn(leader, "stop", DAEMON_UNIT);
      const next = c.machineById(await c.waitFor("another engine to lead", async () => {
        const id = await c.leader();
        return id && id !== leader.machineId ? id : undefined;
      }));
      expect(others).toContain(next);
      // Stopping the daemon leaves its units running.
      expect(await c.activeIn(leader, pinned)).toBe("active");

      const out = await c.fleetctlOk(next, "start", "--block-attempts=10", "app@5.service");
      const placedOn = await c.waitFor("app@5 to run", async () => (await c.listUnits()).find((r) => r.unit === "app@5.service" && r.active === "active"));
      expect(out).toContain(`Unit app@5.service launched on ${placedOn.machineId.slice(0, 8)}...`);
      expect(others.map((m) => m.machineId)).toContain(placedOn.machineId);

      // Even once the leader's machine has expired, the other machines' units stay put.
      await c.waitForMachines(others, MOVE_DEADLINE_MS + AGENT_TTL_MS);
      expectUntouched(before, await expectEachRunsOnce(c, apps));

      // The daemon comes back with a new lease: the pinned unit, which fits no other machine,
      // kept its schedule entry meanwhile, so the agent adopts it instead of restarting it.
      await c.startDaemon(leader);
      await c.waitFor(`${pinned} to be listed on ${leader.name} again`, async () =>
        (await c.listUnits()).some((r) => r.unit === pinned && r.machineId === leader.machineId && r.active === "active"));
      expect(await c.activeIn(leader, pinned)).toBe("active");
      expect(await c.mainPid(leader, pinned)).toBe(pinnedPid);
      expect(await c.runningCopies(pinned)).toEqual([leader]);
      expectUntouched(before, await expectEachRunsOnce(c, apps));
    } finally {
      c.writeUnit("app@.service", serviceUnit("app %i"));
    }
  });
}, T);

test("a duplicate machine id: the second daemon does not register and its API answers 503", async () => {
  await c.step(async () => {
    const [owner, other] = c.machines as [Machine, Machine];
    const lease = (await c.registration(owner))?.lease;
    expect(lease).toBeDefined();
    const dup = "fleet-dup.service";
    await c.startSecondDaemon(other, dup, {
      machine_id: owner.machineId,
      api_listen: "unix:///run/fleet-dup.sock",
      state_dir: "/run/fleet-dup",
      units_directory: "/run/fleet-dup/units/",
      disable_engine: true,
    });
    try {
      await c.waitFor("the duplicate to say why it does not register", async () =>
        (await other.journal(dup)).includes(`Machine id ${owner.machineId} is already registered by another live daemon`));
      const res = await other.exec(["curl", "-s", "--max-time", "5", "--unix-socket", "/run/fleet-dup.sock", "http://localhost/fleet/v1/machines"]);
      expect(res.stdout).toBe('{"error":{"code":503,"message":"fleet server unable to communicate with etcd"}}');
      const ctl = await c.fleetctl(other, "--endpoint", "unix:///run/fleet-dup.sock", "list-machines");
      expect(ctl.code).toBe(1);
      expect(ctl.stderr).toContain("fleet server unable to communicate with etcd");

      // The cluster still sees the owner, registered as before, at its own address.
      const machines = await c.listMachines();
      expect(machines.map((r) => r.machineId).sort()).toEqual(c.machines.map((m) => m.machineId).sort());
      expect(machines.find((r) => r.machineId === owner.machineId)?.ip).toBe(owner.ip);
      expect(await c.registration(owner)).toMatchObject({ publicIP: owner.ip, lease });
    } finally {
      await other.systemctl("stop", dup);
    }
  });
}, T);
