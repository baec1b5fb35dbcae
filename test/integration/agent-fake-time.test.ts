// The machine's loops on a clock the test moves (the state publisher, presence, the agent's
// reconcile): etcd is real, either running or unreachable, and nothing waits on real time: a
// back-off after a failure passes only when the clock does.
import { describe, expect, test } from "bun:test";
import { StatePublisher } from "../../src/agent/publisher.ts";
import { EtcdClient } from "../../src/registry/etcd/index.ts";
import { keySpace } from "../../src/registry/keys.ts";
import { startEtcd } from "../support/etcd-server.ts";
import { ManualClock } from "../support/manual-clock.ts";
import { unreachableEtcd } from "../support/unreachable-etcd.ts";
import { memoryLog, until } from "./engine-harness.ts";

const keys = keySpace("/fake-time/");
const ME = "0123456789abcdef0123456789abcdef";
const HASH = "a".repeat(40);
/** random() = 0.5 makes every back-off step exactly 3/4 of its nominal delay. */
const half = () => 0.5;
const running = { loadState: "loaded", activeState: "active", subState: "running", hash: HASH };

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
      expect(clock.pending).toEqual([50]);
      clock.advance(50);
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
    await using etcd = await startEtcd();
    const client = new EtcdClient({ endpoints: [etcd.endpoint] });
    const clock = new ManualClock(Date.UTC(2024, 0, 2));
    const pub = new StatePublisher({ etcd: client, keys, machineId: ME, log: memoryLog("publisher").logger, clock });
    try {
      pub.setLease((await client.leaseGrant(60)).id);
      pub.report("a.service", running);
      clock.advance(10);
      pub.report("b.service", running);
      expect(pub.stats.txns).toBe(0);
      clock.advance(40);
      await pub.idle();
      expect(pub.stats).toEqual({ txns: 1, ops: 2 });
      // The time the state was reported is the clock's.
      expect(JSON.parse((await client.get(keys.state("a.service", ME)))!.value).since).toBe("2024-01-02T00:00:00.000Z");
      expect(clock.pending).toEqual([]);
    } finally {
      pub.close();
      client.close();
    }
  });
});
