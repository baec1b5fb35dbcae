// The agent on real systemd: `bin/fleet daemon` runs as a unit inside a sandbox machine, etcd runs
// on the host bridge address, and schedule entries are written straight into etcd (no engine).
// Needs root (namespaces, cgroups). Each test uses its own units; the machine is killed last.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Machine, withJournalOnFailure } from "../../src/sandbox/index.ts";
import {
  activeState, DAEMON_UNIT, type Fleet, mainPid, scheduleUnit, serviceText, startDaemon, startFleet, unitState,
} from "../support/functional/agent-harness.ts";
import { holdFor, until } from "../support/until.ts";

let fleet: Fleet;
let m: Machine;
let m2: Machine;
const T = 30_000;

beforeAll(async () => {
  fleet = await startFleet({ machines: 2 });
  m = fleet.cluster.machines[0]!;
  m2 = fleet.cluster.machines[1]!;
  await startDaemon(fleet, m);
}, 120_000);

afterAll(async () => {
  await fleet?.destroy();
}, 60_000);

/** `until` at this file's pace; an error counts as "not yet" (etcd and the daemon restart here). */
const wait = <R>(what: string, cond: () => Promise<R> | R, timeoutMs = T) => until(what, cond, { timeoutMs, intervalMs: 100, retryErrors: true });

async function leaseOfMachine(): Promise<string | undefined> {
  return (await fleet.client.get(fleet.keys.machine(m.machineId)))?.lease;
}

/** Journal lines of one unit since a cursor-less point: the whole journal, filtered. */
async function journalOf(unit: string): Promise<string> {
  return m.journal(unit);
}

test("a scheduled unit becomes active in systemd and in etcd; unscheduling stops and removes it", async () => {
  await withJournalOnFailure([m], async () => {
    const hash = await scheduleUnit(fleet, m, "hello.service", serviceText("hello", "/bin/sleep 100000"));
    await wait("hello.service active in etcd", async () => (await unitState(fleet, m, "hello.service"))?.activeState === "active");
    expect(await unitState(fleet, m, "hello.service")).toMatchObject({ loadState: "loaded", activeState: "active", subState: "running", hash });
    expect(await activeState(m, "hello.service")).toBe("active");
    expect((await fleet.client.get(fleet.keys.state("hello.service", m.machineId)))?.lease).toBe(await leaseOfMachine());
    expect(await m.readFile("/run/fleet/units/hello.service")).toBe(serviceText("hello", "/bin/sleep 100000"));

    await fleet.client.delete(fleet.keys.schedule(m.machineId, "hello.service"));
    await wait("hello.service state removed from etcd", async () => (await unitState(fleet, m, "hello.service")) === undefined);
    await wait("hello.service stopped", async () => (await activeState(m, "hello.service")) !== "active");
    expect((await m.exec(["test", "-e", "/run/fleet/units/hello.service"])).code).not.toBe(0);
    expect((await m.exec(["test", "-e", "/run/systemd/system/hello.service"])).code).not.toBe(0);
  });
}, 90_000);

test("a changed hash reloads and restarts the unit", async () => {
  await withJournalOnFailure([m], async () => {
    await scheduleUnit(fleet, m, "web.service", serviceText("web v1", "/bin/sleep 200000"));
    await wait("web.service active", async () => (await unitState(fleet, m, "web.service"))?.activeState === "active");
    const before = await mainPid(m, "web.service");
    expect(before).toBeGreaterThan(1);

    const hash2 = await scheduleUnit(fleet, m, "web.service", serviceText("web v2", "/bin/sleep 200001"));
    await wait("web.service published with the new hash", async () => (await unitState(fleet, m, "web.service"))?.hash === hash2);
    await wait("web.service running again", async () => (await unitState(fleet, m, "web.service"))?.activeState === "active");
    const after = await mainPid(m, "web.service");
    expect(after).toBeGreaterThan(1);
    expect(after).not.toBe(before);
    expect((await m.systemctl("show", "-p", "Description", "--value", "web.service")).trim()).toBe("web v2");
    expect((await m.systemctl("show", "-p", "NeedDaemonReload", "--value", "web.service")).trim()).toBe("no");
  });
}, 90_000);

test("a daemon restart keeps the lease, the running unit's MainPID, and does not run a finished oneshot again", async () => {
  await withJournalOnFailure([m], async () => {
    await scheduleUnit(fleet, m, "keep.service", serviceText("keep", "/bin/sleep 300000"));
    await scheduleUnit(fleet, m, "once.service", serviceText("once", "/bin/sh -c 'echo ran >> /run/once.count'", ["Type=oneshot"]));
    await wait("keep.service active", async () => (await unitState(fleet, m, "keep.service"))?.activeState === "active");
    await wait("once.service ran", async () => (await m.exec(["cat", "/run/once.count"])).stdout === "ran\n");
    await wait("once.service finished", async () => (await unitState(fleet, m, "once.service"))?.activeState === "inactive");
    const pid = await mainPid(m, "keep.service");
    const lease = await leaseOfMachine();
    expect(lease).toBeDefined();

    await m.systemctl("restart", DAEMON_UNIT);
    // The notify unit is active again only once the daemon has registered.
    expect(await activeState(m, DAEMON_UNIT)).toBe("active");
    expect(await leaseOfMachine()).toBe(lease);
    const journal = await m.journal(DAEMON_UNIT);
    expect(journal).toContain("with resumed lease");
    expect(journal).toContain("Stopped; units keep running and the lease stays for a restart");
    // Prove the restarted agent has reconciled: it starts a new unit.
    await scheduleUnit(fleet, m, "probe.service", serviceText("probe", "/bin/sleep 400000"));
    await wait("probe.service active", async () => (await unitState(fleet, m, "probe.service"))?.activeState === "active");
    expect(await mainPid(m, "keep.service")).toBe(pid);
    expect(await m.readFile("/run/once.count")).toBe("ran\n");
    expect(await activeState(m, "keep.service")).toBe("active");
    const keepLog = await journalOf("keep.service");
    expect(keepLog.match(/Started keep/g)?.length).toBe(1);
    expect(keepLog).not.toContain("Stopping keep");
  });
}, 120_000);

test("etcd stopped for 10 s stops nothing; after it returns the states are published again", async () => {
  await withJournalOnFailure([m], async () => {
    await scheduleUnit(fleet, m, "steady.service", serviceText("steady", "/bin/sleep 500000"));
    await wait("steady.service active", async () => (await unitState(fleet, m, "steady.service"))?.activeState === "active");
    const pid = await mainPid(m, "steady.service");

    await fleet.etcd.stop();
    try {
      // The outage itself lasts 10 s (longer than agent_ttl); nothing is awaited meanwhile.
      await holdFor(10_000, async () => expect(await activeState(m, "steady.service")).toBe("active"), 1000);
    } finally {
      await fleet.etcd.start();
    }
    await wait("the machine to be registered again", async () => (await leaseOfMachine()) !== undefined);
    await wait("steady.service state back in etcd", async () => (await unitState(fleet, m, "steady.service"))?.activeState === "active");
    expect(await mainPid(m, "steady.service")).toBe(pid);
    expect(await journalOf("steady.service")).not.toContain("Stopping steady");
    expect(await activeState(m, DAEMON_UNIT)).toBe("active");
  });
}, 120_000);

test("cut off from etcd past the TTL: registers under a new lease, stops units moved away meanwhile, keeps the rest", async () => {
  await withJournalOnFailure([m], async () => {
    await scheduleUnit(fleet, m, "stays.service", serviceText("stays", "/bin/sleep 700000"));
    await scheduleUnit(fleet, m, "moves.service", serviceText("moves", "/bin/sleep 700001"));
    await wait("both units active", async () =>
      (await unitState(fleet, m, "stays.service"))?.activeState === "active" && (await unitState(fleet, m, "moves.service"))?.activeState === "active");
    const pid = await mainPid(m, "stays.service");
    const lease = await leaseOfMachine();
    // Link down: established connections (the watch stream) are cut off too, not just new ones.
    await m.execOk(["ip", "link", "set", "eth0", "down"]);
    try {
      // etcd itself stays up, so the machine's lease expires; the "engine" moves one unit away.
      await wait("the machine's lease to expire", async () => (await leaseOfMachine()) === undefined, 15_000);
      await fleet.client.delete(fleet.keys.schedule(m.machineId, "moves.service"));
      expect(await activeState(m, "moves.service")).toBe("active");
    } finally {
      await m.execOk(["ip", "link", "set", "eth0", "up"]);
      await m.execOk(["ip", "route", "replace", "default", "via", fleet.cluster.bridgeIp]);
    }
    await wait("registration under a new lease", async () => {
      const now = await leaseOfMachine();
      return now !== undefined && now !== lease;
    });
    await wait("moves.service stopped", async () => (await activeState(m, "moves.service")) !== "active");
    await wait("stays.service republished", async () => (await unitState(fleet, m, "stays.service"))?.activeState === "active");
    await wait("moves.service state removed", async () => (await unitState(fleet, m, "moves.service")) === undefined);
    expect((await fleet.client.get(fleet.keys.state("stays.service", m.machineId)))?.lease).toBe(await leaseOfMachine());
    expect(await mainPid(m, "stays.service")).toBe(pid);
    expect(await m.journal(DAEMON_UNIT)).toContain("expired; registering again");
  });
}, 120_000);

test("a second daemon with a machine id that is already live does not register, says why, and answers 503", async () => {
  await withJournalOnFailure([m, m2], async () => {
    const lease = await leaseOfMachine();
    await startDaemon(fleet, m2, { machine_id: m.machineId }, { waitForReady: false });
    try {
      await wait("the duplicate to be reported", async () => (await m2.journal(DAEMON_UNIT)).includes("is already registered by another live daemon"));
      const log = await m2.journal(DAEMON_UNIT);
      expect(log).toContain(`Machine id ${m.machineId} is already registered by another live daemon (lease `);
      expect(log).toContain(`public IP ${m.ip}); not registering until it goes away`);
      const res = await m2.exec(["curl", "-s", "--max-time", "5", "--unix-socket", "/var/run/fleet.sock", "http://localhost/fleet/v1/machines"]);
      expect(res.stdout).toBe('{"error":{"code":503,"message":"fleet server unable to communicate with etcd"}}');
      // The live one keeps its registration.
      expect(await leaseOfMachine()).toBe(lease);
      expect(JSON.parse((await fleet.client.get(fleet.keys.machine(m.machineId)))!.value).publicIP).toBe(m.ip);
    } finally {
      await m2.systemctl("stop", DAEMON_UNIT);
    }
  });
}, 60_000);

test("when the host shuts down, the daemon revokes its lease: machine and states leave before any TTL could", async () => {
  await withJournalOnFailure([m2], async () => {
    // A TTL far longer than this test: only a revoke explains the keys going away.
    await startDaemon(fleet, m2, { agent_ttl: "120s" });
    await scheduleUnit(fleet, m2, "host.service", serviceText("host", "/bin/sleep 800000"));
    await wait("host.service active on m2", async () => (await unitState(fleet, m2, "host.service"))?.activeState === "active");
    const lease = (await fleet.client.get(fleet.keys.machine(m2.machineId)))?.lease;
    expect(lease).toBeDefined();
    expect(await m2.halt()).toBe("halted");
    expect(await fleet.client.get(fleet.keys.machine(m2.machineId))).toBeUndefined();
    expect(await unitState(fleet, m2, "host.service")).toBeUndefined();
    expect(await fleet.client.leaseTimeToLive(lease!)).toBeUndefined();
  });
}, 90_000);

test("a hard-killed machine's registration and unit states vanish after the TTL", async () => {
  await withJournalOnFailure([m], async () => {
    await scheduleUnit(fleet, m, "last.service", serviceText("last", "/bin/sleep 600000"));
    await wait("last.service active", async () => (await unitState(fleet, m, "last.service"))?.activeState === "active");
    await m.kill();
    const mine = async () => {
      const { kvs } = await fleet.client.range(fleet.keys.states, { prefix: true });
      return kvs.filter((kv) => kv.key.endsWith(`/${m.machineId}`)).length;
    };
    await wait("the machine key to expire", async () => (await leaseOfMachine()) === undefined, 15_000);
    expect(await mine()).toBe(0);
  });
}, 60_000);
