// The engine's loops on a clock the test moves (the informers' list+watch, the leader election,
// the engine's reconcile): etcd is real, either running or unreachable, and nothing waits on real
// time: a back-off after a failure passes only when the clock does.
import { describe, expect, test } from "bun:test";
import { LeaderElection } from "../../src/engine/leader.ts";
import { EtcdClient, type EtcdOperation, type KeyValue } from "../../src/registry/etcd/index.ts";
import { Informer } from "../../src/registry/informer.ts";
import type { Decoded } from "../../src/registry/records.ts";
import { startEtcdFixture } from "../support/etcd-fixture.ts";
import { ManualClock } from "../support/manual-clock.ts";
import { unreachableEtcd } from "../support/unreachable-etcd.ts";
import { Cluster, memoryLog } from "../support/integration/engine-harness.ts";
import { until } from "../support/until.ts";
import { startEtcd } from "../support/etcd-server.ts";

const text = (kv: KeyValue): Decoded<string> => ({ ok: true, value: kv.value });
/** random() = 0.5 makes every back-off step exactly 3/4 of its nominal delay. */
const half = () => 0.5;

/** Waits for `cond`, firing the timers due now (without moving the clock) while it waits. */
function driven<T>(clock: ManualClock, what: string, cond: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  return until(what, () => {
    clock.advance(0);
    return cond();
  });
}

describe("informer", () => {
  test("lists only when the clock lets it start; a failed list is retried after its back-off, not before", async () => {
    using dead = await unreachableEtcd();
    const clock = new ManualClock();
    const log = memoryLog("informer");
    const inf = new Informer<string>({ etcd: dead.client, prefix: "/ft/", decode: text, clock, random: half, log: log.logger, retry: { baseMs: 100, capMs: 5000 } });
    try {
      inf.start();
      expect(dead.calls).toEqual([]);
      clock.advance(0);
      await until("the first list to fail", () => clock.pending.length === 1);
      expect(dead.calls.map((c) => `${c.type} ${c.ok}`)).toEqual(["range false"]);
      // 100 ms doubling, scaled by 3/4: 75, 150, 300.
      for (const [n, delay] of [[2, 75], [3, 150], [4, 300]] as const) {
        expect(clock.pending).toEqual([delay]);
        clock.advance(delay - 1);
        // Still armed, so no attempt started: one is due only at the full delay.
        expect(clock.pending).toEqual([delay]);
        expect(dead.calls.length).toBe(n - 1);
        clock.advance(1);
        await until(`list attempt ${n}`, () => dead.calls.length === n && clock.pending.length === 1);
      }
      expect(log.has("Cannot list or watch /ft/, retrying in 75 ms")).toBe(true);
    } finally {
      await inf.close();
    }
    expect(clock.pending).toEqual([]);
  });

  test("against a running etcd it syncs once the clock fires its start, then follows the watch", async () => {
    await using etcd = await startEtcdFixture();
    const { client } = etcd;
    const clock = new ManualClock();
    const inf = new Informer<string>({ etcd: client, prefix: "/ft/", decode: text, clock });
    try {
      await client.put("/ft/a", "1");
      inf.start();
      let synced = false;
      void inf.synced.then(() => (synced = true));
      await Bun.sleep(0);
      expect(synced).toBe(false);
      clock.advance(0);
      await inf.synced;
      expect(inf.get("/ft/a")).toBe("1");
      await client.put("/ft/b", "2");
      await until("the watch to deliver /ft/b", () => inf.get("/ft/b") === "2");
      expect(clock.pending).toEqual([]);
    } finally {
      await inf.close();
    }
  });
});

describe("leader election", () => {
  test("a campaign that cannot reach etcd backs off with the clock", async () => {
    using dead = await unreachableEtcd();
    const clock = new ManualClock();
    const log = memoryLog("election");
    const election = new LeaderElection({ etcd: dead.client, key: "/ft/leader", machineId: "A", ttlMs: 6000, log: log.logger, clock, random: half });
    try {
      election.start();
      expect(dead.calls).toEqual([]);
      clock.advance(0);
      await until("the first campaign to fail", () => clock.pending.length === 1);
      // 200 ms doubling, scaled by 3/4: 150, 300, 600.
      for (const [n, delay] of [[2, 150], [3, 300], [4, 600]] as const) {
        expect(clock.pending).toEqual([delay]);
        clock.advance(delay - 1);
        expect(clock.pending).toEqual([delay]);
        expect(dead.calls.length).toBe(n - 1);
        clock.advance(1);
        await until(`campaign ${n}`, () => dead.calls.length === n && clock.pending.length === 1);
      }
      expect(log.has("Cannot campaign for engine leadership, retrying in 150 ms")).toBe(true);
      expect(election.isLeader()).toBe(false);
    } finally {
      await election.stop();
    }
    expect(clock.pending).toEqual([]);
  });

  test("the leader renews every TTL/3 of the clock, and steps down once renewals failed for a TTL of it", async () => {
    await using etcd = await startEtcdFixture();
    const ops: EtcdOperation[] = [];
    const client = etcd.connect({ retries: 0, requestTimeoutMs: 2000, onOperation: (op) => ops.push(op) });
    const clock = new ManualClock();
    const log = memoryLog("election");
    const election = new LeaderElection({ etcd: client, key: "/ft/leader", machineId: "A", ttlMs: 6000, log: log.logger, clock, random: half });
    const terms: (number | undefined)[] = [];
    election.onChange((t) => terms.push(t?.epoch));
    const keepalives = () => ops.filter((o) => o.type === "lease_keepalive");
    try {
      election.start();
      clock.advance(0);
      await until("leadership", () => election.isLeader());
      clock.advance(0);
      await until("the renewal to be armed", () => clock.pending.length === 1);
      expect(clock.pending).toEqual([2000]);
      let renewedAt = clock.now();
      for (let n = 1; n <= 2; n++) {
        clock.advance(1999);
        expect(keepalives().length).toBe(n - 1);
        clock.advance(1);
        renewedAt = clock.now();
        await until(`renewal ${n}`, () => keepalives().length === n && clock.pending.length === 1);
      }
      expect(keepalives().every((k) => k.ok)).toBe(true);

      // etcd goes away: renewals fail and are retried every TTL/12; the term ends only when a
      // whole TTL has passed on the clock since the last renewal that got through.
      await etcd.server.stop();
      while (election.isLeader()) {
        expect(clock.now() - renewedAt).toBeLessThan(6000);
        const n = keepalives().length + 1;
        clock.advance(clock.pending[0]!);
        await until(`renewal attempt ${n}`, () => keepalives().length === n && (clock.pending.length === 1 || !election.isLeader()));
      }
      expect(clock.now() - renewedAt).toBe(6000);
      expect(log.has("Engine leadership lost: cannot renew the leader lease for 6s")).toBe(true);
      expect(terms).toEqual([expect.any(Number), undefined]);
    } finally {
      await election.stop({ resign: false });
    }
  });

  test("a candidate waits on one watch of the leader key: no read however long the clock runs while etcd's revision stands still; a recheck after it moved, or refresh(), looks again once", async () => {
    await using etcd = await startEtcd();
    const holder = new EtcdClient({ endpoints: [etcd.endpoint] });
    const ops: EtcdOperation[] = [];
    const client = new EtcdClient({ endpoints: [etcd.endpoint], onOperation: (op) => ops.push(op) });
    const count = (type: string) => ops.filter((o) => o.type === type).length;
    // The leader runs on real time; the candidate on a clock only the test moves.
    const a = new LeaderElection({ etcd: holder, key: "/ft/leader", machineId: "A", ttlMs: 6000, log: memoryLog("A").logger });
    const clock = new ManualClock();
    const log = memoryLog("B");
    const b = new LeaderElection({ etcd: client, key: "/ft/leader", machineId: "B", ttlMs: 6000, recheckMs: 60_000, campaignSpreadMs: 0, log: log.logger, clock, random: half });
    try {
      a.start();
      await until("A leads", () => a.isLeader());
      b.start();
      await driven(clock, "B to watch for a vacancy", () => log.has("Engine leader is A") && count("watch") === 1);
      expect(count("range")).toBe(1);
      // Only the recheck is armed, not a read per TTL.
      expect(clock.pending).toEqual([60_000]);
      for (let i = 0; i < 20; i++) {
        clock.advance(6000);
        // A round trip of another client: time for anything the clock started to reach etcd.
        await holder.get("/ft/leader");
        clock.advance(0);
      }
      expect([count("range"), count("watch")]).toEqual([1, 1]);

      // Something changed in etcd, as a keepalive's answer tells the candidate's client: the next
      // recheck reads the key once and watches anew.
      await holder.put("/ft/elsewhere", "x");
      const lease = await holder.leaseGrant(60);
      await client.leaseKeepAlive(lease.id);
      clock.advance(60_000);
      await driven(clock, "B to look again", () => count("range") === 2 && count("watch") === 2);

      // etcd was out of reach and is back: one read, one new watch.
      b.refresh();
      await driven(clock, "B to look again after refresh()", () => count("range") === 3 && count("watch") === 3);
      expect(clock.pending).toEqual([60_000]);

      // The watch still sees the vacancy at once.
      await a.stop();
      await driven(clock, "B leads", () => b.isLeader());
    } finally {
      await a.stop();
      await b.stop();
      holder.close();
      client.close();
    }
  });
  test("a vacancy is campaigned for after a random part of the spread, and not at all by a candidate that sees a new leader first", async () => {
    await using etcd = await startEtcd();
    const ops: EtcdOperation[] = [];
    const client = new EtcdClient({ endpoints: [etcd.endpoint], onOperation: (op) => ops.push(op) });
    const count = (type: string) => ops.filter((o) => o.type === type).length;
    const other = (id: string) => {
      const c = new EtcdClient({ endpoints: [etcd.endpoint] });
      return { client: c, election: new LeaderElection({ etcd: c, key: "/ft/leader", machineId: id, ttlMs: 6000, campaignSpreadMs: 0, log: memoryLog(id).logger }) };
    };
    const a = other("A");
    const c = other("C");
    const clock = new ManualClock();
    const log = memoryLog("B");
    const b = new LeaderElection({ etcd: client, key: "/ft/leader", machineId: "B", ttlMs: 6000, campaignSpreadMs: 2000, log: log.logger, clock, random: half });
    try {
      a.election.start();
      await until("A leads", () => a.election.isLeader());
      b.start();
      await driven(clock, "B to wait for a vacancy", () => log.has("Engine leader is A") && count("watch") === 1);
      const before = { range: count("range"), txn: count("txn"), grant: count("lease-grant") };

      // A resigns: B arms its turn (half of the 2 s spread) and sends nothing yet.
      await a.election.stop();
      await until("B to arm its turn", () => clock.pending.includes(1000));
      // C, whose turn comes at once, wins meanwhile: B sees it in its watch and stands down.
      c.election.start();
      await until("C leads", () => c.election.isLeader());
      await until("B to see C lead", () => log.has("Engine leadership changed from A to C"));
      clock.advance(5000);
      await c.client.get("/ft/leader");
      clock.advance(0);
      expect({ range: count("range"), txn: count("txn"), grant: count("lease-grant") }).toEqual(before);
      expect(b.isLeader()).toBe(false);

      // C resigns and nobody else is there: B campaigns once its turn has come, and not before.
      await c.election.stop();
      await until("B to arm its turn again", () => clock.pending.includes(1000));
      expect(count("txn")).toBe(before.txn);
      clock.advance(1000);
      await driven(clock, "B leads", () => b.isLeader());
    } finally {
      await b.stop();
      await a.election.stop();
      await c.election.stop();
      client.close();
      a.client.close();
      c.client.close();
    }
  });
});

describe("engine", () => {
  test("a change is planned once the coalescing delay passes on the clock; failed writes back off with it", async () => {
    await using c = await Cluster.start();
    await c.agent("m1");
    const ops: EtcdOperation[] = [];
    const client = new EtcdClient({ endpoints: [c.etcd.endpoint], retries: 0, requestTimeoutMs: 2000, onOperation: (op) => ops.push(op) });
    const clock = new ManualClock();
    const { engine, log } = c.engine("e1", {}, { etcd: client, clock, random: half });
    const txns = () => ops.filter((o) => o.type === "txn");
    try {
      engine.start();
      expect(ops).toEqual([]);
      await driven(clock, "leadership and the adopted schedule", () => log.has("Adopting the schedule"));

      await c.submit("a.service");
      // The change arrived and asked for a plan in 20 ms; none runs before the clock gets there.
      await driven(clock, "the plan to be asked for", () => clock.pending.includes(20));
      expect(await c.placements()).toEqual({});
      clock.advance(20);
      await driven(clock, "a.service placed", async () => (await c.placements())["a.service"]);

      // etcd goes away: the next plan's write fails and is retried after 100 ms doubling (x 3/4).
      await c.submit("b.service");
      await driven(clock, "the next plan to be asked for", () => clock.pending.includes(20));
      await c.etcd.stop();
      const before = txns().length;
      clock.advance(20);
      await until("the first failed write", () => txns().length === before + 1 && clock.pending.includes(75));
      for (const [n, delay] of [[2, 75], [3, 150], [4, 300]] as const) {
        clock.advance(delay - 1);
        // The retry is the next timer, still 1 ms away: no attempt has started.
        expect(clock.nextAt).toBe(clock.now() + 1);
        expect(txns().length).toBe(before + n - 1);
        clock.advance(1);
        await until(`write attempt ${n}`, () => txns().length === before + n && clock.pending.includes(2 * delay));
      }
      expect(txns().slice(before).every((t) => !t.ok)).toBe(true);
      expect(log.has("Reconcile failed, retrying in 75 ms")).toBe(true);

      // Back: the retry, when the clock gets there, writes the plan.
      await c.etcd.start();
      clock.advance(600);
      await driven(clock, "b.service placed", async () => (await c.placements())["b.service"]);
    } finally {
      await engine.stop({ resign: false });
      client.close();
    }
  }, 60_000);
});
