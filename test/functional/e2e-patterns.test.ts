// fleet's deployment patterns end to end on three real systemd machines: what a user sees from
// `fleet ctl` (on the host through etcd, and inside a machine through the API socket) and what
// systemd says inside the machines. Needs root (namespaces, cgroups) and bin/fleet (./build).
import { beforeAll, expect, test } from "bun:test";
import type { Machine } from "../../src/sandbox/index.ts";
import { MOVE_DEADLINE_MS, serviceUnit, type UnitRow, sharedE2eCluster } from "../support/functional/e2e-fixture.ts";

let m1: Machine;
let m2: Machine;
let m3: Machine;
const T = 120_000;

// m1 and m2 are web machines, m3 is a db machine; every machine also has hostname=<name>.
const c = sharedE2eCluster({ machines: 3, metadata: (i) => ({ role: i < 2 ? "web" : "db" }) }, { timeoutMs: T, resetEachTest: true });

beforeAll(() => {
  [m1, m2, m3] = c.machines as [Machine, Machine, Machine];
  c.writeUnit("web@.service", serviceUnit("web %i", ["Conflicts=web@*.service"]));
  c.writeUnit("web-announce@.service", serviceUnit("announce web %i", ["MachineOf=web@%i.service"]));
});

const short = (m: Machine) => `${m.machineId.slice(0, 8)}.../${m.ip}`;

/** The machine `start` said a unit launched on; fails when the line is missing. */
function launchedOn(out: string, unit: string): Machine {
  const line = new RegExp(`^Unit ${unit.replace(/[.@]/g, "\\$&")} launched on ([0-9a-f]{8})\\.\\.\\./(\\S+)$`, "m").exec(out);
  if (!line) throw new Error(`fleet ctl start did not say where ${unit} launched: ${JSON.stringify(out)}`);
  const m = c.machineById(line[1]!);
  expect(line[2]).toBe(m.ip);
  return m;
}

const row = (unit: string, m: Machine): UnitRow => ({ unit, machineId: m.machineId, ip: m.ip, active: "active", sub: "running" });
const byUnitThenMachine = (a: UnitRow, b: UnitRow) => a.unit.localeCompare(b.unit) || a.machineId.localeCompare(b.machineId);
const sortRows = (rows: UnitRow[]) => [...rows].sort(byUnitThenMachine);

test("a unit anywhere: start says where it launched, list-units and that machine's systemd agree", async () => {
  await c.step(async () => {
    c.writeUnit("hello.service", serviceUnit("hello"));
    const out = await c.fleetctlOk("host", "start", "--block-attempts=10", "hello.service");
    const m = launchedOn(out, "hello.service");
    expect(out).toBe(`Unit hello.service inactive\nUnit hello.service launched on ${short(m)}\n`);

    // The same view through etcd from the host and through the API inside another machine.
    const other = c.machines.find((x) => x !== m)!;
    expect(await c.listUnits("host")).toEqual([row("hello.service", m)]);
    expect(await c.listUnits(other)).toEqual([row("hello.service", m)]);
    const table = await c.fleetctlOk(other, "list-units");
    expect(table.split("\n")[0]).toMatch(/^UNIT\s+MACHINE\s+ACTIVE\s+SUB$/);
    expect(table).toMatch(new RegExp(`^hello\\.service\\s+${short(m).replace(/\./g, "\\.")}\\s+active\\s+running$`, "m"));
    expect(await c.listUnitFiles(other)).toEqual([{ unit: "hello.service", dstate: "launched", state: "launched", target: `${m.machineId}/${m.ip}` }]);

    expect(await c.activeIn(m, "hello.service")).toBe("active");
    expect((await c.systemctlIn(m, "show", "-p", "Description", "--value", "hello.service")).trim()).toBe("hello");
    expect(await c.runningCopies("hello.service")).toEqual([m]);
  });
}, T);

test("global units run on every machine, or only on the machines with their metadata", async () => {
  await c.step(async () => {
    c.writeUnit("everywhere.service", serviceUnit("on every machine", ["Global=true"]));
    c.writeUnit("web-agent.service", serviceUnit("on web machines", ["Global=true", "MachineMetadata=role=web"]));
    const out = await c.fleetctlOk(m3, "start", "everywhere.service", "web-agent.service");
    expect(out).toContain("Triggered global unit everywhere.service start\n");
    expect(out).toContain("Triggered global unit web-agent.service start\n");

    const expected = sortRows([
      row("everywhere.service", m1), row("everywhere.service", m2), row("everywhere.service", m3),
      row("web-agent.service", m1), row("web-agent.service", m2),
    ]);
    await c.waitFor("one list-units row per machine running them", async () =>
      JSON.stringify(sortRows(await c.listUnits())) === JSON.stringify(expected));
    expect(sortRows(await c.listUnits(m1))).toEqual(expected);
    expect(await c.listUnitFiles()).toEqual([
      { unit: "everywhere.service", dstate: "launched", state: "-", target: "global" },
      { unit: "web-agent.service", dstate: "launched", state: "-", target: "global" },
    ]);
    for (const m of [m1, m2, m3]) expect(await c.activeIn(m, "everywhere.service")).toBe("active");
    expect(await c.runningCopies("web-agent.service")).toEqual([m1, m2]);
    // The db machine never even got the unit.
    expect((await m3.exec(["test", "-e", "/run/fleet/units/web-agent.service"])).code).not.toBe(0);
  });
}, T);

test("metadata placement: each template instance lands on the machine its metadata names; no match stays pending", async () => {
  await c.step(async () => {
    c.writeUnit("metadata@.service", serviceUnit("metadata %i", ["MachineMetadata=hostname=%i"]));
    c.writeUnit("db.service", serviceUnit("a database", ["MachineMetadata=role=db"]));
    const out = await c.fleetctlOk("host", "start", "--block-attempts=10", "metadata@m1.service", "metadata@m2.service", "db.service");
    expect(launchedOn(out, "metadata@m1.service")).toBe(m1);
    expect(launchedOn(out, "metadata@m2.service")).toBe(m2);
    expect(launchedOn(out, "db.service")).toBe(m3);
    expect(await c.runningCopies("metadata@m1.service")).toEqual([m1]);
    expect(await c.runningCopies("metadata@m2.service")).toEqual([m2]);
    expect(await c.runningCopies("db.service")).toEqual([m3]);

    const none = await c.fleetctl("host", "start", "--block-attempts=2", "metadata@nowhere.service");
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("Unit metadata@nowhere.service is pending: ");
    expect(none.stderr).toContain("hostname=nowhere");
    expect(none.stdout).not.toContain("launched");
    expect((await c.listUnitFiles()).find((r) => r.unit === "metadata@nowhere.service"))
      .toEqual({ unit: "metadata@nowhere.service", dstate: "launched", state: "inactive", target: "-" });
    expect(await c.runningCopies("metadata@nowhere.service")).toEqual([]);
  });
}, T);

test("MachineID pinning through a template: pin@<machine id> runs on that machine", async () => {
  await c.step(async () => {
    c.writeUnit("pin@.service", serviceUnit("pinned to %i", ["MachineID=%i"]));
    for (const target of [m3, m2]) {
      const name = `pin@${target.machineId}.service`;
      const out = await c.fleetctlOk(m1, "start", "--block-attempts=10", name);
      expect(launchedOn(out, name)).toBe(target);
      expect((await c.listUnits()).filter((r) => r.unit === name)).toEqual([row(name, target)]);
      expect(await c.runningCopies(name)).toEqual([target]);
    }
  });
}, T);

test("anti-affinity: Conflicts=web@*.service spreads web@1..3 over three machines; web@4 waits and says why", async () => {
  await c.step(async () => {
    const out = await c.fleetctlOk("host", "start", "--block-attempts=10", "web@1.service", "web@2.service", "web@3.service");
    const placed = [1, 2, 3].map((i) => launchedOn(out, `web@${i}.service`));
    expect(new Set(placed).size).toBe(3);
    for (const [i, m] of placed.entries()) expect(await c.runningCopies(`web@${i + 1}.service`)).toEqual([m]);

    const fourth = await c.fleetctl("host", "start", "--block-attempts=2", "web@4.service");
    expect(fourth.code).toBe(1);
    expect(fourth.stderr).toContain("Unit web@4.service is pending: ");
    expect(fourth.stderr).toContain("Unit web@4.service is pending: no machine fits: 3 run a unit matching Conflicts=web@*.service (web@1.service, web@2.service, web@3.service)\n");
    expect(fourth.stderr).toContain("timed out waiting for unit web@4.service");
    expect((await c.listUnitFiles()).find((r) => r.unit === "web@4.service"))
      .toEqual({ unit: "web@4.service", dstate: "launched", state: "inactive", target: "-" });
    expect(await c.runningCopies("web@4.service")).toEqual([]);

    // Room appears when web@1 goes: the pending web@4 takes its machine.
    expect(await c.fleetctlOk("host", "destroy", "web@1.service")).toBe("Destroyed web@1.service\n");
    await c.waitFor("web@4 to run where web@1 ran", async () =>
      (await c.listUnits()).some((r) => r.unit === "web@4.service" && r.machineId === placed[0]!.machineId && r.active === "active"));
    expect(await c.runningCopies("web@4.service")).toEqual([placed[0]!]);
    expect(await c.runningCopies("web@1.service")).toEqual([]);
  });
}, T);

test("Replaces: the replacing unit takes the named unit's machine and pushes it to another", async () => {
  await c.step(async () => {
    c.writeUnit("victim.service", serviceUnit("to be replaced"));
    c.writeUnit("kick.service", serviceUnit("replaces the victim", ["Replaces=victim.service"]));
    const before = launchedOn(await c.fleetctlOk("host", "start", "--block-attempts=10", "victim.service"), "victim.service");

    const out = await c.fleetctlOk(m2, "start", "--block-attempts=10", "kick.service");
    expect(launchedOn(out, "kick.service")).toBe(before);
    const moved = await c.waitFor("victim.service to run on another machine", async () => {
      const r = (await c.listUnits()).find((x) => x.unit === "victim.service");
      return r && r.machineId !== before.machineId && r.active === "active" ? c.machineById(r.machineId) : undefined;
    });
    await c.waitFor("victim.service stopped on its old machine", async () => (await c.activeIn(before, "victim.service")) !== "active");
    expect(await c.runningCopies("victim.service")).toEqual([moved]);
    expect(await c.runningCopies("kick.service")).toEqual([before]);
  });
}, T);

test("start --replace of a running unit: the new content runs and the old process is gone", async () => {
  await c.step(async () => {
    c.writeUnit("hello.service", serviceUnit("hello v1"));
    const m = launchedOn(await c.fleetctlOk("host", "start", "--block-attempts=10", "hello.service"), "hello.service");
    const oldPid = await c.mainPid(m, "hello.service");
    expect(oldPid).toBeGreaterThan(1);

    c.writeUnit("hello.service", serviceUnit("hello v2"));
    // Without --replace the registry keeps v1 and says how to override.
    const kept = await c.fleetctl(m1, "start", "--block-attempts=10", "hello.service");
    expect(kept.code).toBe(0);
    expect(kept.stderr).toContain("Add --replace to override.");
    expect(await c.fleetctlOk("host", "cat", "hello.service")).toContain("Description=hello v1");

    await c.fleetctlOk(m1, "start", "--replace", "--block-attempts=10", "hello.service");
    expect(await c.fleetctlOk("host", "cat", "hello.service")).toContain("Description=hello v2");
    const now = await c.waitFor("hello v2 to run", async () => {
      for (const x of await c.runningCopies("hello.service")) {
        if ((await c.systemctlIn(x, "show", "-p", "Description", "--value", "hello.service")).trim() === "hello v2") return x;
      }
      return undefined;
    });
    await c.waitFor(`the old MainPID ${oldPid} to be gone from ${m.name}`, async () => (await m.exec(["kill", "-0", String(oldPid)])).code !== 0);
    expect(await c.mainPid(now, "hello.service")).not.toBe(oldPid);
    expect(await c.runningCopies("hello.service")).toEqual([now]);
    expect((await c.listUnits()).filter((r) => r.unit === "hello.service")).toEqual([row("hello.service", now)]);
  });
}, T);

test("co-location: web-announce@1 follows web@1, and both move together when that machine is killed", async () => {
  await c.step(async () => {
    const out = await c.fleetctlOk("host", "start", "--block-attempts=10", "web@1.service", "web-announce@1.service");
    const host = launchedOn(out, "web@1.service");
    expect(launchedOn(out, "web-announce@1.service")).toBe(host);
    expect(await c.runningCopies("web-announce@1.service")).toEqual([host]);

    await host.kill();
    const moved = await c.waitFor("web@1 and web-announce@1 to run together on another machine", async () => {
      const rows = await c.listUnits();
      const web = rows.find((r) => r.unit === "web@1.service" && r.active === "active");
      const follower = rows.find((r) => r.unit === "web-announce@1.service" && r.active === "active");
      return web && follower && web.machineId === follower.machineId && web.machineId !== host.machineId ? c.machineById(web.machineId) : undefined;
    }, MOVE_DEADLINE_MS);
    expect(await c.activeIn(moved, "web@1.service")).toBe("active");
    expect(await c.activeIn(moved, "web-announce@1.service")).toBe("active");
    expect(await c.runningCopies("web@1.service")).toEqual([moved]);
    expect(await c.runningCopies("web-announce@1.service")).toEqual([moved]);
    await c.waitForMachines(c.machines.filter((m) => m !== host));
  });
}, T);

test("a unit whose name the machine already defines itself is refused there, and list-units says why", async () => {
  const HOST_UNIT = "/etc/systemd/system/hostonly.service";
  await c.step(async () => {
    await m1.writeFile(HOST_UNIT, serviceUnit("the machine's own hostonly"));
    await m1.execOk(["systemctl", "daemon-reload"]);
    try {
      c.writeUnit("hostonly.service", serviceUnit("fleet's hostonly", [`MachineID=${m1.machineId}`]));
      const r = await c.fleetctl("host", "start", "--block-attempts=10", "hostonly.service");
      const reason = `hostonly.service already exists on this host (defined by ${HOST_UNIT}); fleet does not replace it unless allow_unit_shadowing is set`;
      expect({ code: r.code, stdout: r.stdout }).toEqual({
        code: 1, stdout: `Unit hostonly.service inactive\nUnit hostonly.service launched on ${short(m1)}\n`,
      });
      expect(r.stderr).toContain(`(now error/failed/shadowed: ${reason})`);
      // fleet's columns read plainly; the reason is a field of its own, from etcd and from the API.
      expect(await c.listUnits("host")).toEqual([{ unit: "hostonly.service", machineId: m1.machineId, ip: m1.ip, active: "failed", sub: "shadowed" }]);
      for (const where of ["host", m2] as const) {
        expect(await c.fleetctlOk(where, "list-units", "--no-legend", "--fields", "unit,load,reason")).toBe(`hostonly.service\terror\t${reason}\n`);
      }
      // Neither the machine's unit nor a copy of fleet's was started; nothing of fleet's is there.
      expect(await c.activeIn(m1, "hostonly.service")).toBe("inactive");
      expect((await m1.execOk(["/bin/sh", "-c", "ls -A /run/fleet/units; ls /run/systemd/system | grep -c hostonly || true"])).trim()).toBe("0");
    } finally {
      await m1.execOk(["rm", "-f", HOST_UNIT]);
      await m1.execOk(["systemctl", "daemon-reload"]);
    }
  });
}, T);
