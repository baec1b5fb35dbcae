// Rolling updates end to end on three real systemd machines: `fleet ctl update` replaces a
// global unit one machine at a time and a template's instances two at a time, a version that
// fails stops the rollout and auto-revert brings the old one back, and a rollout finishes when
// the engine leader's daemon is killed or a machine dies mid-way. The engine's steps are read
// from fleet ctl's output and the rollout's record; what runs, from systemd in the machines.
// Needs root and bin/fleet (./build).
import { beforeAll, expect, test } from "bun:test";
import { describeUnit } from "../../src/unit/describe-unit.ts";
import type { Machine } from "../../src/sandbox/index.ts";
import { DAEMON_UNIT, serviceUnit, sharedE2eCluster, type CtlResult } from "../support/functional/e2e-fixture.ts";

const T = 240_000;
const c = sharedE2eCluster({ machines: 3 }, { timeoutMs: T, resetEachTest: true });

/** A version of a unit: the same placement, another environment (so another file and hash). */
const version = (description: string, v: number, xfleet: string[] = [], service: string[] = []) =>
  serviceUnit(description, xfleet, [`Environment=VERSION=${v}`, ...service]);

const hashOf = (name: string, text: string) => describeUnit(name, text).hash;

/** The VERSION each machine's systemd runs the unit with (only where it is active). */
async function versionsOf(unit: string): Promise<string[]> {
  const out: string[] = [];
  for (const m of await c.runningCopies(unit)) out.push((await c.systemctlIn(m, "show", "-p", "Environment", "--value", unit)).trim());
  return out.sort();
}

/** The steps `update` printed for `unit`, as `kind` words: replace, healthy, ... */
function steps(r: CtlResult, unit: string): string[] {
  return r.stdout.split("\n").filter((l) => l.startsWith(`${unit}: `)).map((l) => l.slice(unit.length + 2));
}

/** Runs `work` while checking `check` over and over; resolves to work's result and the checks' minimum. */
async function whileRunning<T>(work: Promise<T>, check: () => Promise<number>): Promise<{ result: T; min: number; checks: number }> {
  let done = false;
  let min = Infinity;
  let checks = 0;
  const watching = (async () => {
    while (!done) {
      min = Math.min(min, await check());
      checks++;
    }
  })();
  const result = await work.finally(() => (done = true));
  await watching;
  return { result, min, checks };
}

beforeAll(() => {
  c.writeUnit("mon.service", version("monitor", 1, ["Global=true"]));
  c.writeUnit("web@.service", version("web %i", 1));
  c.writeUnit("bad@.service", version("bad %i", 1));
});

test("a global unit is updated on 3 machines one at a time: never fewer than 2 run, and each ends on the new version", async () => {
  await c.step(async () => {
    await c.fleetctlOk("host", "start", "mon.service");
    await c.waitFor("mon on 3 machines", async () => (await c.runningCopies("mon.service")).length === 3);
    c.writeUnit("mon.service", version("monitor", 2, ["Global=true"]));
    const to = hashOf("mon.service", version("monitor", 2, ["Global=true"]));
    const { result: r, min, checks } = await whileRunning(
      c.fleetctl("host", "update", "--min-healthy-time=1s", "mon.service"),
      async () => (await c.runningCopies("mon.service")).length,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(checks).toBeGreaterThan(0);
    expect(min).toBeGreaterThanOrEqual(2);
    expect(r.stdout.split("\n")[0]).toBe(`Rollout of mon.service to ${to.slice(0, 7)} started (max-parallel 1, min-healthy-time 1s, deadline 5m, auto-revert off)`);
    const kinds = steps(r, "mon.service").map((s) => s.split(" ")[0]);
    // Each machine is replaced only after the one before it was healthy.
    expect(kinds).toEqual(["Rollout", "Replacing", "mon.service", "Replacing", "mon.service", "Replacing", "mon.service", "Rollout"]);
    expect(steps(r, "mon.service").at(-1)).toBe("Rollout succeeded: 3 instances replaced");
    expect(await versionsOf("mon.service")).toEqual(["VERSION=2", "VERSION=2", "VERSION=2"]);
    const files = await c.fleetctlOk("host", "list-unit-files", "--no-legend", "--full", "--fields", "unit,hash");
    expect(files.trim().split(/\s+/)).toEqual(["mon.service", to]);
  });
}, T);

test("a template's 4 instances at max-parallel 2, through the API inside a machine; the version shows per instance meanwhile", async () => {
  await c.step(async () => {
    const web = ["web@1.service", "web@2.service", "web@3.service", "web@4.service"];
    await c.fleetctlOk("host", "start", "--block-attempts=20", ...web);
    const before = new Map<string, number>();
    for (const u of web) before.set(u, await c.mainPid((await c.runningCopies(u))[0]!, u));
    c.writeUnit("web@.service", version("web %i", 2));
    const inside = c.machines[1]!;
    const r = await c.fleetctl(inside, "update", "--max-parallel=2", "--min-healthy-time=2s", "web@.service");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = steps(r, "web@.service");
    // Two replaced at once, then one more each time one of them is healthy.
    expect(lines.slice(1, 3)).toEqual([
      expect.stringMatching(/^Replacing web@1\.service: [0-9a-f]{7} -> [0-9a-f]{7} \(1 of 4\)$/),
      expect.stringMatching(/^Replacing web@2\.service: .* \(2 of 4\)$/),
    ]);
    expect(lines.filter((l) => l.startsWith("Replacing")).length).toBe(4);
    expect(lines.at(-1)).toBe("Rollout succeeded: 4 instances replaced");
    for (const u of web) {
      expect(await versionsOf(u)).toEqual(["VERSION=2"]);
      const [m] = await c.runningCopies(u);
      expect(await c.mainPid(m!, u)).not.toBe(before.get(u));
    }
    const status = await c.fleetctlOk("host", "rollout", "status", "web@.service");
    expect(status.split("\n")[0]).toBe("Rollout of web@.service: succeeded: 4 of 4 updated, 0 updating, 0 waiting");
  });
}, T);

test("a version that fails to start stops the rollout; with --auto-revert every instance runs the old version again", async () => {
  await c.step(async () => {
    const bad = ["bad@1.service", "bad@2.service", "bad@3.service"];
    await c.fleetctlOk("host", "start", "--block-attempts=20", ...bad);
    const v1 = hashOf("bad@.service", version("bad %i", 1));
    c.writeUnit("bad@.service", serviceUnit("bad %i").replace("ExecStart=/bin/sleep infinity", "ExecStart=/bin/false"));
    const r = await c.fleetctl("host", "update", "--auto-revert", "--min-healthy-time=1s", "--deadline=1m", "bad@.service");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Rollout of bad@.service reverted\n");
    const lines = steps(r, "bad@.service");
    expect(lines).toContainEqual(expect.stringMatching(/^bad@1\.service failed: systemd reports it failed \(failed\)/));
    expect(lines.filter((l) => l.startsWith("Replacing")).length).toBe(1);
    expect(lines.at(-1)).toBe("Rollout reverted: bad@1.service did not become healthy");
    for (const u of bad) {
      await c.waitFor(`${u} active again`, async () => (await c.runningCopies(u)).length === 1);
      expect(await versionsOf(u)).toEqual(["VERSION=1"]);
    }
    const units = await c.fleetctlOk("host", "list-units", "--no-legend", "--full", "--fields", "unit,hash");
    for (const line of units.trim().split("\n")) expect(line.trim().split(/\s+/)[1]).toBe(v1);
  });
}, T);

test("the engine leader's daemon killed mid-rollout: another engine finishes it", async () => {
  await c.step(async () => {
    c.writeUnit("lead.service", version("leader test", 1, ["Global=true"]));
    await c.fleetctlOk("host", "start", "lead.service");
    await c.waitFor("lead on 3 machines", async () => (await c.runningCopies("lead.service")).length === 3);
    c.writeUnit("lead.service", version("leader test", 2, ["Global=true"]));
    // Long healthy waits keep the rollout going while the leader goes away.
    expect((await c.fleetctlOk("host", "update", "--no-block", "--min-healthy-time=4s", "lead.service")).split("\n")[0])
      .toStartWith("Rollout of lead.service to ");
    await c.waitFor("the first replacement", async () => (await c.fleetctlOk("host", "rollout", "status", "lead.service")).includes("Replacing"));
    const leader = c.machineById(await c.waitFor("an engine leader", () => c.leader()));
    await c.systemctlIn(leader, "kill", "--signal=SIGKILL", DAEMON_UNIT);
    try {
      await c.waitFor("another engine to lead", async () => {
        const id = await c.leader();
        return id !== undefined && id !== leader.machineId;
      });
      const end = await c.waitFor("the rollout to end", async () => {
        const s = await c.fleetctlOk("host", "rollout", "status", "lead.service");
        return /^Rollout of lead\.service: (succeeded|failed|reverted|aborted)/.test(s) ? s : undefined;
      }, 120_000);
      expect(end.split("\n")[0]).toMatch(/^Rollout of lead\.service: succeeded: /);
      const others = c.machines.filter((m) => m !== leader);
      for (const m of others) expect((await c.systemctlIn(m, "show", "-p", "Environment", "--value", "lead.service")).trim()).toBe("VERSION=2");
    } finally {
      await c.startDaemon(leader);
    }
    // The machine whose daemon died runs the new version once it is back.
    await c.waitFor("lead on 3 machines on the new version", async () => (await versionsOf("lead.service")).join() === "VERSION=2,VERSION=2,VERSION=2", 60_000);
  });
}, T);

test("a machine killed mid-rollout: its instance moves and the rollout finishes with every instance on the new version", async () => {
  await c.step(async () => {
    const web = ["web@5.service", "web@6.service", "web@7.service"];
    c.writeUnit("web@.service", version("web %i", 1));
    await c.fleetctlOk("host", "start", "--block-attempts=20", ...web);
    c.writeUnit("web@.service", version("web %i", 3));
    expect((await c.fleetctl("host", "update", "--no-block", "--min-healthy-time=4s", "web@.service")).code).toBe(0);
    await c.waitFor("the first replacement", async () => (await c.fleetctlOk("host", "rollout", "status", "web@.service")).includes("Replacing"));
    // A machine that runs an instance still waiting its turn dies.
    const waiting = await c.waitFor("an instance still on the old version", async () => {
      for (const u of web) {
        const [m] = await c.runningCopies(u);
        if (m && (await versionsOf(u)).join() === "VERSION=1") return { u, m };
      }
      return undefined;
    });
    let victim: Machine | undefined = waiting.m;
    await victim.kill();
    try {
      const end = await c.waitFor("the rollout to end", async () => {
        const s = await c.fleetctlOk("host", "rollout", "status", "web@.service");
        return /^Rollout of web@\.service: (succeeded|failed|reverted|aborted)/.test(s) ? s : undefined;
      }, 120_000);
      expect(end.split("\n")[0]).toMatch(/^Rollout of web@\.service: succeeded: 3 of 3 updated/);
      for (const u of web) {
        const copies = await c.runningCopies(u);
        expect(copies.length).toBe(1);
        expect(copies[0]).not.toBe(victim);
        expect(await versionsOf(u)).toEqual(["VERSION=3"]);
      }
    } finally {
      await c.revive(victim);
      victim = undefined;
    }
  });
}, T);
