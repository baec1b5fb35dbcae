// Drain end to end on three real systemd machines: `fleet ctl drain` moves the units off the
// machine (systemd there stops them, systemd elsewhere runs them), keeps Conflicts, and
// `undrain` moves nothing back. Needs root (namespaces, cgroups) and bin/fleet (./build).
import { beforeAll, expect, test } from "bun:test";
import type { Machine } from "../../src/sandbox/index.ts";
import { serviceUnit, SOON_MS, sharedE2eCluster } from "../support/functional/e2e-fixture.ts";

const T = 180_000;

const c = sharedE2eCluster({ machines: 3 }, { timeoutMs: T, resetEachTest: false });

beforeAll(() => {
  c.writeUnit("hello.service", serviceUnit("hello"));
  c.writeUnit("web@.service", serviceUnit("web %i", ["Conflicts=web@*.service"]));
});

const hostOf = async (unit: string): Promise<Machine | undefined> => {
  const row = (await c.listUnits()).find((r) => r.unit === unit && r.active === "active");
  return row ? c.machineById(row.machineId) : undefined;
};

test("drain moves hello and any web unit off the machine, keeping Conflicts; undrain moves nothing back", async () => {
  await c.step(async () => {
    await c.fleetctlOk("host", "start", "--block-attempts=20", "hello.service", "web@1.service", "web@2.service");
    const drained = await c.waitFor("hello running", () => hostOf("hello.service"));
    const prefix = drained.machineId.slice(0, 8);
    const other = c.machines.find((m) => m !== drained)!;

    // Drained through the API inside another machine, by a prefix of the id.
    const out = await c.fleetctlOk(other, "drain", "--block-attempts=40", prefix);
    expect(out).toMatch(new RegExp(`^Unit hello\\.service moved to [0-9a-f]{8}\\.\\.\\.$`, "m"));
    expect(out).toMatch(new RegExp(`^Machine ${prefix}\\.\\.\\. drained: [1-2] units? moved\\n$`, "m"));

    const after = await c.waitFor("every unit active off the drained machine", async () => {
      const rows = (await c.listUnits()).filter((r) => r.active === "active");
      return rows.length === 3 && rows.every((r) => r.machineId !== drained.machineId) ? rows : undefined;
    }, SOON_MS);
    const webs = after.filter((r) => r.unit.startsWith("web@")).map((r) => r.machineId);
    expect(new Set(webs).size).toBe(2);
    // systemd on the drained machine no longer runs them; systemd where they went does.
    await c.waitFor("hello stopped on the drained machine", async () => (await c.activeIn(drained, "hello.service")) !== "active");
    const helloNow = c.machineById(after.find((r) => r.unit === "hello.service")!.machineId);
    expect(await c.activeIn(helloNow, "hello.service")).toBe("active");
    expect(await c.runningCopies("hello.service")).toEqual([helloNow]);
    const drainedCol = (await c.fleetctlOk("host", "list-machines", "--no-legend", "--full", "--fields", "machine,drained"))
      .trim().split("\n").map((l) => l.split(/\s+/)).sort();
    expect(drainedCol).toEqual(c.machines.map((m) => [m.machineId, String(m === drained)]).sort());

    expect(await c.fleetctlOk("host", "undrain", drained.machineId)).toBe(`Machine ${prefix}... undrained\n`);
    // Nothing moves back: hello keeps its machine and its process.
    const pid = await c.mainPid(helloNow, "hello.service");
    c.writeUnit("late.service", serviceUnit("late"));
    await c.fleetctlOk("host", "start", "--block-attempts=20", "late.service");
    expect(await hostOf("hello.service")).toBe(helloNow);
    expect(await c.mainPid(helloNow, "hello.service")).toBe(pid);
  });
}, T);
