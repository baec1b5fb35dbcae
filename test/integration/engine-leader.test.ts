// Engine leadership against a real etcd: one leader among candidates, fencing of a deposed
// leader, hand-over on a crash (lease expiry) and on a graceful resign, and a new leader that
// adopts the schedule as it finds it.
import { expect, test } from "bun:test";
import type { EtcdClient, Watch, WatchBatch, WatchOptions } from "../../src/registry/etcd/index.ts";
import { LeaderElection, type ElectionEtcd, type Term } from "../../src/engine/leader.ts";
import { Cluster, electOne, memoryLog, PREFIX } from "../support/integration/engine-harness.ts";
import { until } from "../support/until.ts";

test("of three contending engines exactly one leads, and only it writes", async () => {
  await using c = await Cluster.start();
  await c.agent("m1");
  await c.agent("m2");
  const candidates = ["e1", "e2", "e3"].map((id) => ({ id, ...c.engine(id) }));
  const { leader, others } = await electOne(candidates);
  const record = (await c.registry.getLeader())!;
  expect(record.machineID).toBe(leader.id);
  expect(record.epoch).toBe(leader.engine.epoch!);

  for (let i = 0; i < 6; i++) await c.submit(`u${i}.service`);
  await until("six units scheduled", async () => (await c.entries()).length === 6);
  expect(candidates.filter((x) => x.engine.isLeader()).map((x) => x.id)).toEqual([leader.id]);
  for (const e of await c.entries()) expect(e.entry.epoch).toBe(String(leader.engine.epoch));
  for (const o of others) {
    expect(o.log.has("Scheduled ")).toBe(false);
    expect(o.log.has(`Engine leader is ${leader.id}`)).toBe(true);
  }
}, 60_000);

/** The real client, except that watches of `key` never deliver: the holder cannot see it change. */
function blindTo(client: EtcdClient, key: string): ElectionEtcd {
  return {
    get: client.get.bind(client), range: client.range.bind(client), txn: client.txn.bind(client),
    leaseGrant: client.leaseGrant.bind(client), leaseKeepAlive: client.leaseKeepAlive.bind(client),
    leaseRevoke: client.leaseRevoke.bind(client), observedRevision: client.observedRevision.bind(client),
    watch(k: string, opts: WatchOptions = {}): Watch {
      if (k !== key) return client.watch(k, opts);
      let wake = () => {};
      const closed = new Promise<void>((r) => (wake = r));
      opts.signal?.addEventListener("abort", () => wake(), { once: true });
      return {
        close: () => wake(),
        async *[Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
          await closed;
        },
      };
    },
  };
}

test("a deposed leader's write is refused by etcd, and it steps down", async () => {
  await using c = await Cluster.start();
  await c.agent("m1");
  const aLog = memoryLog("engine A");
  // A's watch of the key never delivers: only its recheck (once etcd's revision moved) sees the key change.
  const election = new LeaderElection({ etcd: blindTo(c.client, c.keys.leader), key: c.keys.leader, machineId: "A", ttlMs: 2000, recheckMs: 1000, log: aLog.logger });
  const { engine: a } = c.engine("A", {}, { election, log: aLog.logger });
  a.start();
  await until("A leads", () => a.isLeader());
  const epochA = a.epoch!;
  await c.submit("first.service");
  await until("first scheduled by A", async () => (await c.entries()).some((e) => e.unit === "first.service" && e.entry.epoch === String(epochA)));

  // A's key disappears where A cannot see it; its lease is still alive and renewed.
  await c.client.delete(c.keys.leader);
  // B wins, then dies holding the key (a long TTL keeps the key there for the test).
  const { engine: b } = c.engine("B", { reconcileIntervalMs: 4000 });
  b.start();
  await until("B leads", () => b.isLeader());
  const epochB = b.epoch!;
  expect(epochB).toBeGreaterThan(epochA);
  await b.stop({ resign: false });
  expect(a.isLeader()).toBe(true);

  // Only A (still believing it leads) plans the new unit; etcd refuses its fenced write.
  await c.submit("second.service");
  await aLog.waitFor(`Engine leadership lost: etcd refused a write of epoch ${epochA}`);
  expect(a.isLeader()).toBe(false);
  expect((await c.placements())["second.service"]).toBeUndefined();

  // B's lease goes (as its TTL would end); A campaigns again and places the unit under a new epoch.
  const held = (await c.client.get(c.keys.leader))!;
  await c.client.leaseRevoke(held.lease);
  await until("A leads again", () => a.isLeader() && a.epoch !== epochA);
  const epochA2 = a.epoch!;
  expect(epochA2).toBeGreaterThan(epochB);
  const entries = await until("second scheduled", async () => {
    const all = await c.entries();
    return all.some((e) => e.unit === "second.service") ? all : undefined;
  });
  expect(entries.find((e) => e.unit === "second.service")!.entry.epoch).toBe(String(epochA2));
  // The entry written before is adopted as it is, under its old epoch.
  expect(entries.find((e) => e.unit === "first.service")!.entry.epoch).toBe(String(epochA));
}, 60_000);

test("when the leader dies its lease expires, another engine takes over and moves nothing", async () => {
  await using c = await Cluster.start();
  for (const m of ["m1", "m2", "m3"]) await c.agent(m);
  const { leader, others } = await electOne([{ id: "e1", ...c.engine("e1") }, { id: "e2", ...c.engine("e2") }]);
  for (let i = 0; i < 3; i++) {
    await c.submit(`spread${i}.service`, "Conflicts=spread*.service");
    await c.submit(`plain${i}.service`);
  }
  await until("six units scheduled", async () => (await c.entries()).length === 6);
  const before = (await c.entries()).sort((x, y) => x.unit.localeCompare(y.unit));

  await leader.engine.stop({ resign: false });
  const next = others[0]!;
  await until("the other engine leads", () => next.engine.isLeader());
  await next.log.waitFor("Adopting the schedule: 6 entries, 6 units, 3 live machines");
  // A unit submitted now proves the new leader has planned since it took over.
  await c.submit("probe.service");
  await until("the probe scheduled by the new leader", async () =>
    (await c.entries()).some((e) => e.unit === "probe.service" && e.entry.epoch === String(next.engine.epoch)));
  const after = (await c.entries()).filter((e) => e.unit !== "probe.service").sort((x, y) => x.unit.localeCompare(y.unit));
  expect(after).toEqual(before);
  expect(next.log.has("Unscheduled")).toBe(false);
}, 60_000);

test("a graceful stop resigns: the lease is revoked and another engine leads without waiting for the TTL", async () => {
  await using c = await Cluster.start();
  // A 20 s lease: a hand-over by expiry could not happen before the test's deadline.
  const config = { reconcileIntervalMs: 4000 };
  const { leader, others } = await electOne([{ id: "e1", ...c.engine("e1", config) }, { id: "e2", ...c.engine("e2", config) }]);
  const lease = leader.engine.election.current!.leaseId;
  await leader.engine.stop();
  expect(leader.engine.isLeader()).toBe(false);
  expect(await c.client.leaseTimeToLive(lease)).toBeUndefined();
  await leader.log.waitFor("Engine leadership resigned");
  await until("the other engine leads", () => others[0]!.engine.isLeader(), 10_000);
  expect((await c.registry.getLeader())?.machineID).toBe(others[0]!.id);
}, 60_000);

test("a leader whose key is deleted or whose lease is revoked steps down and campaigns again", async () => {
  await using c = await Cluster.start();
  const log = memoryLog("election");
  const terms: (Term | undefined)[] = [];
  const election = new LeaderElection({ etcd: c.client, key: `${PREFIX}leader`, machineId: "solo", ttlMs: 2000, log: log.logger });
  election.onChange((t) => terms.push(t));
  election.start();
  try {
    const first = await until("a first term", () => election.current);
    await c.client.delete(`${PREFIX}leader`);
    await log.waitFor("Engine leadership lost: the leader key was deleted");
    const second = await until("a second term", () => (election.current && election.current !== first ? election.current : undefined));
    expect(second.epoch).toBeGreaterThan(first.epoch);
    // The first term's lease was revoked on the way out, not leaked.
    expect(await c.client.leaseTimeToLive(first.leaseId)).toBeUndefined();

    await c.client.leaseRevoke(second.leaseId);
    const third = await until("a third term", () => (election.current && election.current !== second ? election.current : undefined));
    expect(third.epoch).toBeGreaterThan(second.epoch);
    expect(terms.map((t) => (t ? "term" : "none"))).toEqual(["term", "none", "term", "none", "term"]);
  } finally {
    await election.stop();
  }
}, 60_000);

test("a leader cut off from etcd steps down; when etcd is back it leads again and nothing moves", async () => {
  await using c = await Cluster.start();
  await c.agent("m1");
  await c.agent("m2");
  const { engine, log } = c.engine("e1");
  engine.start();
  for (let i = 0; i < 4; i++) await c.submit(`u${i}.service`);
  await until("four units scheduled", async () => (await c.entries()).length === 4);
  const before = await c.entries();
  const first = engine.epoch!;

  await c.etcd.stop();
  await log.waitFor("Engine leadership lost: cannot renew the leader lease");
  expect(engine.isLeader()).toBe(false);
  await c.etcd.start();
  // Its old key (and lease) survived the restart: the engine ends that term itself instead of
  // waiting for the lease to run out, then wins a new one.
  await until("leading again", () => engine.isLeader() && engine.epoch! > first);
  await c.submit("probe.service");
  await until("the probe scheduled", async () => (await c.placements())["probe.service"]);
  expect((await c.entries()).filter((e) => e.unit !== "probe.service")).toEqual(before);
}, 60_000);

test("a candidate that does not lead reads and watches only the leader key; once it leads it lists the cluster and plans", async () => {
  await using c = await Cluster.start();
  await c.agent("m1");
  const keysRead: string[] = [];
  const counted = Object.assign(Object.create(c.client) as EtcdClient, {
    range: (key: string, o?: Parameters<EtcdClient["range"]>[1]) => (keysRead.push(`range ${key}`), c.client.range(key, o)),
    watch: (key: string, o?: WatchOptions) => (keysRead.push(`watch ${key}`), c.client.watch(key, o)),
  });
  const { engine: first } = c.engine("e1");
  first.start();
  await until("e1 leads", () => first.isLeader());
  const { engine: second, log } = c.engine("e2", {}, { etcd: counted });
  second.start();
  await log.waitFor("Engine leader is e1");
  for (let i = 0; i < 3; i++) await c.submit(`u${i}.service`);
  await until("three units scheduled", async () => (await c.entries()).length === 3);
  expect([...new Set(keysRead)]).toEqual([`range ${c.keys.leader}`, `watch ${c.keys.leader}`]);

  await first.stop();
  await until("e2 leads", () => second.isLeader());
  await log.waitFor("Adopting the schedule: 3 entries, 3 units, 1 live machines");
  for (const prefix of [c.keys.units, c.keys.machines, c.keys.schedules, c.keys.pendings, c.keys.unitFiles]) {
    expect(keysRead).toContain(`range ${prefix}`);
    expect(keysRead).toContain(`watch ${prefix}`);
  }
  await c.submit("probe.service");
  await until("the probe scheduled by e2", async () =>
    (await c.entries()).some((e) => e.unit === "probe.service" && e.entry.epoch === String(second.epoch)));
}, 60_000);
