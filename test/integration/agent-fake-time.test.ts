// The machine's loops on a clock the test moves (the state publisher, presence, the agent's
// reconcile): etcd is real, either running or unreachable, and nothing waits on real time: a
// back-off after a failure passes only when the clock does.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Agent } from "../../src/agent/agent.ts";
import { Presence } from "../../src/agent/presence.ts";
import { StatePublisher } from "../../src/agent/publisher.ts";
import type { EtcdOperation } from "../../src/registry/etcd/index.ts";
import type { MachineRecord, ScheduleEntry } from "../../src/registry/models.ts";
import { FakeUnitManager } from "../../src/systemd/fake-unit-manager.ts";
import { contentHash } from "../../src/systemd/unit-manager.ts";
import { keySpace } from "../../src/registry/keys.ts";
import { startEtcdFixture } from "../support/etcd-fixture.ts";
import { ManualClock } from "../support/manual-clock.ts";
import { unreachableEtcd } from "../support/unreachable-etcd.ts";
import { memoryLog } from "../support/integration/engine-harness.ts";
import { until } from "../support/until.ts";
import { tempDir } from "../support/temp-dir.ts";

const keys = keySpace("/fake-time/");
const ME = "0123456789abcdef0123456789abcdef";
const HASH = "a".repeat(40);
/** random() = 0.5 makes every back-off step exactly 3/4 of its nominal delay. */
const half = () => 0.5;
const running = { loadState: "loaded", activeState: "active", subState: "running", hash: HASH };
const machine = (): MachineRecord => ({ id: ME, publicIP: "10.0.0.1", metadata: {}, version: "test", startedAt: new Date(0).toISOString() });

describe("state publisher", () => {
  test("reports wait for the coalescing delay on the clock; a failed write backs off, told about once", async () => {
    using dead = await unreachableEtcd();
    const clock = new ManualClock();
    const log = memoryLog("publisher");
    const pub = new StatePublisher({ etcd: dead.client, keys, machineId: ME, log: log.logger, clock, random: half });
    try {
      pub.setLease("7");
      pub.report("a.service", running);
      pub.report("b.service", running);
      expect(clock.pending).toEqual([20]);
      clock.advance(20);
      await until("the first write to fail", () => clock.pending.length === 1);
      // 200 ms doubling, scaled by 3/4: 150, 300, 600; reports meanwhile wait for the retry.
      for (const [n, delay] of [[2, 150], [3, 300], [4, 600]] as const) {
        pub.report("c.service", { ...running, subState: `s${n}` });
        expect(clock.pending).toEqual([delay]);
        clock.advance(delay - 1);
        expect(clock.pending).toEqual([delay]);
        expect(dead.calls.length).toBe(n - 1);
        clock.advance(1);
        await until(`write attempt ${n}`, () => dead.calls.length === n && clock.pending.length === 1);
      }
      expect(dead.calls.every((c) => c.type === "txn" && !c.ok)).toBe(true);
      expect(log.lines.filter((l) => l.includes("Cannot publish unit states"))).toHaveLength(1);
    } finally {
      pub.close();
    }
    expect(clock.pending).toEqual([]);
  });

  test("against a running etcd, a burst of reports is written as one transaction once the clock passes the delay", async () => {
    await using etcd = await startEtcdFixture();
    const { client } = etcd;
    const clock = new ManualClock(Date.UTC(2024, 0, 2));
    const pub = new StatePublisher({ etcd: client, keys, machineId: ME, log: memoryLog("publisher").logger, clock });
    try {
      pub.setLease((await client.leaseGrant(60)).id);
      pub.report("a.service", running);
      clock.advance(10);
      pub.report("b.service", running);
      expect(pub.stats.txns).toBe(0);
      clock.advance(10);
      await pub.idle();
      expect(pub.stats).toEqual({ txns: 1, ops: 2 });
      // The time the state was reported is the clock's.
      expect(JSON.parse((await client.get(keys.state("a.service", ME)))!.value).since).toBe("2024-01-02T00:00:00.000Z");
      expect(clock.pending).toEqual([]);
    } finally {
      pub.close();
    }
  });
});

describe("presence", () => {
  test("registration starts only when the clock lets it, and failed attempts back off with the clock", async () => {
    using dead = await unreachableEtcd();
    using dir = tempDir("fleet-fake-time-");
    const clock = new ManualClock();
    const log = memoryLog("presence");
    const p = new Presence({ etcd: dead.client, keys, machine, ttlMs: 5000, stateDir: dir.path, log: log.logger, clock, random: half });
    try {
      p.start();
      expect(dead.calls).toEqual([]);
      clock.advance(0);
      await until("the first registration to fail", () => clock.pending.length === 1);
      expect(p.status.state).toBe("unreachable");
      // 1 s doubling, capped at the TTL, scaled by 3/4: 750, 1500, 3000, 3750.
      for (const [n, delay] of [[2, 750], [3, 1500], [4, 3000], [5, 3750]] as const) {
        expect(clock.pending).toEqual([delay]);
        clock.advance(delay - 1);
        expect(clock.pending).toEqual([delay]);
        expect(dead.calls.length).toBe(n - 1);
        clock.advance(1);
        await until(`registration attempt ${n}`, () => dead.calls.length === n && clock.pending.length === 1);
      }
      expect(dead.calls.every((c) => c.type === "lease_grant" && !c.ok)).toBe(true);
      expect(log.lines.filter((l) => l.includes("Server register machine failed"))).toHaveLength(5);
    } finally {
      await p.stop();
    }
    expect(clock.pending).toEqual([]);
  });

  test("renewals follow the clock: missed ones make the machine not ready, one that gets through makes it ready again", async () => {
    await using etcd = await startEtcdFixture();
    using dir = tempDir("fleet-fake-time-");
    const ops: EtcdOperation[] = [];
    const client = etcd.connect({ retries: 0, requestTimeoutMs: 2000, onOperation: (op) => ops.push(op) });
    const clock = new ManualClock();
    const log = memoryLog("presence");
    const p = new Presence({ etcd: client, keys, machine, ttlMs: 3000, stateDir: dir.path, log: log.logger, clock });
    const keepalives = () => ops.filter((o) => o.type === "lease_keepalive");
    try {
      let registered = false;
      p.onRegistered(() => void (registered = true));
      p.start();
      clock.advance(0);
      await until("registration", () => registered && clock.pending.length === 1);
      expect(p.ready).toBe(true);
      // One renewal per TTL/3 of the clock, none in between.
      expect(clock.pending).toEqual([1000]);
      for (let n = 1; n <= 3; n++) {
        clock.advance(999);
        expect(keepalives().length).toBe(n - 1);
        clock.advance(1);
        await until(`renewal ${n}`, () => keepalives().length === n && clock.pending.length === 1);
      }

      // etcd goes away: renewals fail and come sooner (TTL/9); one TTL after the last success,
      // on the clock, the machine is no longer ready.
      const renewedAt = clock.now();
      await etcd.server.stop();
      clock.advance(1000);
      await until("a failed renewal", () => keepalives().length === 4 && clock.pending.length === 1);
      expect(keepalives()[3]!.ok).toBe(false);
      expect(clock.pending).toEqual([333]);
      while (clock.now() - renewedAt < 3000) {
        expect(p.ready).toBe(true);
        const n = keepalives().length + 1;
        clock.advance(333);
        await until(`failed renewal ${n}`, () => keepalives().length === n && clock.pending.length === 1);
      }
      expect(p.ready).toBe(false);
      expect(log.lines.filter((l) => l.includes("Cannot renew lease"))).toHaveLength(1);

      // Back before the lease's real TTL ran out (etcd's own clock), so it still exists.
      await etcd.server.start();
      clock.advance(333);
      await until("a renewal that gets through", () => log.has("Renewed lease"));
      expect(p.ready).toBe(true);
    } finally {
      await p.stop();
    }
  });
});

describe("agent", () => {
  test("a unit whose load fails is retried when its back-off has passed on the clock, and not before", async () => {
    await using etcd = await startEtcdFixture();
    using dir = tempDir("fleet-fake-time-");
    const { client } = etcd;
    const clock = new ManualClock();
    const units = new FakeUnitManager({ unitsDirectory: join(dir.path, "units") });
    const agent = new Agent({ etcd: client, keys, machineId: ME, units, stateDir: dir.path, log: memoryLog("agent").logger, clock, random: half });
    const failure = () => (agent.dump().Agent as { Failures: Record<string, { attempts: number }> }).Failures["web.service"];
    try {
      // Its text is not in etcd (yet): each load fails.
      const text = "[Service]\nExecStart=/bin/sleep 1000\n";
      const entry: ScheduleEntry = { hash: contentHash(text), desiredState: "launched", epoch: "1" };
      await client.put(keys.schedule(ME, "web.service"), JSON.stringify(entry));
      await agent.start();
      agent.activate({ lease: (await client.leaseGrant(60)).id, resumed: false, leaseKeys: [] });
      // Activation lists the schedule and asks for a reconcile after the 20 ms coalescing delay:
      // nothing is attempted before the clock passes it.
      clock.advance(0);
      expect(clock.pending).toContain(20);
      expect(agent.stats.reconciles).toBe(0);
      clock.advance(20);
      await until("the first failed load", () => failure()?.attempts === 1 && agent.nextRetryAt !== undefined);
      // 1 s doubling, scaled by 3/4: 750, 1500, 3000.
      for (const [n, delay] of [[2, 750], [3, 1500], [4, 3000]] as const) {
        expect(agent.nextRetryAt).toBe(clock.now() + delay);
        clock.advance(delay - 1);
        expect(failure()?.attempts).toBe(n - 1);
        clock.advance(1);
        await until(`load attempt ${n}`, () => failure()?.attempts === n && agent.nextRetryAt !== undefined);
      }
      // The text arrives: the next retry, when the clock gets there, loads and starts the unit.
      await client.put(keys.unitFile(entry.hash), text);
      clock.advance(6000);
      await until("web.service started", async () => (await units.states(["web.service"])).get("web.service")?.activeState === "active");
      await agent.settled();
      expect({ failure: failure(), retry: agent.nextRetryAt }).toEqual({ failure: undefined, retry: undefined });
    } finally {
      await agent.stop();
    }
  });
});
