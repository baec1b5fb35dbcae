// A real 3-member etcd cluster under three real systemd machines, every daemon and the host's
// fleet ctl given all three endpoints in member order. The raft leader is killed, then the member
// listed first, then two members for a 15 s loss of quorum. Through each fault no unit restarts
// (same MainPID) or moves, a unit submitted while a quorum lives starts, and afterwards everything
// converges. Each scenario prints what it did and how long the cluster took, for the README's
// reliability table. Needs root and bin/fleet (./build).
import { beforeAll, expect, test } from "bun:test";
import type { Machine } from "../../src/sandbox/index.ts";
import type { EtcdCluster } from "../support/etcd-cluster.ts";
import type { LocalEtcd } from "../support/etcd-server.ts";
import { DAEMON_UNIT, serviceUnit, sharedE2eCluster } from "../support/functional/e2e-fixture.ts";
import { allRunOn, deploy, eventually, expectEachRunsOnce, expectUntouched, type Placed } from "../support/functional/e2e-placed.ts";
import { holdFor } from "../support/until.ts";

let etcd: EtcdCluster;
const T = 120_000;
const APPS = ["app@1.service", "app@2.service", "app@3.service", "app@4.service", "app@5.service", "app@6.service"];
/** The outage of the quorum-loss scenario, counted from when the survivor knows it has no leader. */
const QUORUM_LOSS_MS = 15_000;

const c = sharedE2eCluster({ machines: 3, etcdMembers: 3 }, { timeoutMs: T, resetEachTest: true });

beforeAll(() => {
  etcd = c.etcdCluster;
  c.writeUnit("app@.service", serviceUnit("app %i"));
});

const since = (t: number) => `${((performance.now() - t) / 1000).toFixed(1)} s`;

function report(scenario: string, facts: Record<string, string>): void {
  console.log(`etcd cluster, ${scenario}: ${Object.entries(facts).map(([k, v]) => `${k} ${v}`).join("; ")}`);
}

/** Submits `unit` with the host's fleet ctl (every endpoint) and waits until it runs; where, and how long it took. */
async function submit(unit: string): Promise<{ machine: Machine; took: string }> {
  const t = performance.now();
  await c.fleetctlOk("host", "start", "--block-attempts=20", unit);
  const row = await c.waitFor(`${unit} to run`, async () => (await c.listUnits()).find((r) => r.unit === unit && r.active === "active"));
  const machine = c.machineById(row.machineId);
  expect(await c.activeIn(machine, unit)).toBe("active");
  return { machine, took: since(t) };
}

/**
 * Every machine listed, every unit listed active on the machine it ran on with the same process,
 * no unit twice, an engine leader, and fleet ctl working through a daemon's API too.
 */
async function converged(before: Map<string, Placed>): Promise<void> {
  await c.waitForMachines(c.machines);
  await eventually(c, "every unit listed where it ran, with the same process", async () => {
    expectUntouched(before, await expectEachRunsOnce(c, APPS));
  });
  await c.waitFor("an engine leader", () => c.leader());
  const m = c.machines[0]!;
  await c.waitFor(`list-units to work inside ${m.name} (API)`, async () => allRunOn(await c.listUnits(m), APPS, c.machines));
}

/** Makes a member other than `avoid` the raft leader; returns the leader. */
async function leaderOtherThan(avoid: LocalEtcd): Promise<LocalEtcd> {
  const leader = await etcd.waitForLeader();
  if (leader !== avoid) return leader;
  const other = etcd.members.find((m) => m !== avoid)!;
  await etcd.transferLeadership(other);
  return other;
}

/** Counts by member name, for assertions that read well when they fail. */
function byName(counts: number[]): Record<string, number> {
  return Object.fromEntries(counts.map((n, i) => [etcd.nameOf(etcd.members[i]!), n]));
}

/** LeaseKeepAlive calls each member has begun serving (undefined for a member that is down). */
function keepalives(): Promise<(number | undefined)[]> {
  return Promise.all(etcd.members.map((m) => etcd.callsServed(m, "LeaseKeepAlive")));
}

/**
 * Waits until `busy` has served `count` more keepalives than at `from`, then returns how many
 * each member served meanwhile: which members the daemons' lease renewals go to.
 */
async function keepalivesUntil(busy: LocalEtcd, count: number): Promise<number[]> {
  const i = etcd.members.indexOf(busy);
  const from = await keepalives();
  const now = await c.waitFor(`${etcd.nameOf(busy)} to serve ${count} keepalives`, async () => {
    const n = await keepalives();
    return (n[i] ?? 0) - (from[i] ?? 0) >= count ? n : undefined;
  });
  return now.map((n, j) => (n ?? 0) - (from[j] ?? 0));
}

test("the raft leader killed: no unit restarts or moves; a unit submitted while two members keep the quorum starts", async () => {
  await c.step(async () => {
    // Not the member listed first, which every client uses: this is an election under the
    // daemons, not a failover (the next test).
    const leader = await leaderOtherThan(etcd.members[0]!);
    const before = await deploy(c, APPS);

    const t = performance.now();
    await leader.kill();
    const next = await etcd.waitForLeader();
    const election = since(t);
    expect(next).not.toBe(leader);
    const placed = await submit("app@7.service");
    const t2 = performance.now();
    await converged(before);
    const settled = since(t2);

    // The member comes back as a follower; nothing changes.
    await leader.start();
    await etcd.waitForLeader();
    expectUntouched(before, await expectEachRunsOnce(c, APPS));
    expect(await c.activeIn(placed.machine, "app@7.service")).toBe("active");
    report("raft leader killed", {
      killed: `${etcd.nameOf(leader)} (the raft leader, SIGKILL)`,
      "new leader": `${etcd.nameOf(next)} after ${election}`,
      "unit submitted with two members": `running on ${placed.machine.name} after ${placed.took}`,
      "listings converged": `after ${settled} more`,
      "units restarted or moved": `0 of ${APPS.length}`,
    });
  });
}, T);

test("the member listed first killed: every client moves on to the next member and stays there; no unit restarts or moves", async () => {
  await c.step(async () => {
    const [first, second, third] = etcd.members as [LocalEtcd, LocalEtcd, LocalEtcd];
    // A follower, so that no election happens: only the endpoint goes away.
    await leaderOtherThan(first);
    // Restarted daemons begin with the first endpoint (a restart keeps every unit running).
    for (const m of c.machines) {
      await c.systemctlIn(m, "restart", DAEMON_UNIT);
      await c.waitRegistered(m);
    }
    const before = await deploy(c, APPS);
    // Each daemon renews its lease about once a second (agent_ttl 3 s), the engine leader too.
    const enough = 3 * c.machines.length;
    const n = (m: LocalEtcd) => etcd.nameOf(m);
    expect(byName(await keepalivesUntil(first, enough))).toMatchObject({ [n(second)]: 0, [n(third)]: 0 });

    const t = performance.now();
    await first.kill();
    const afterKill = await keepalivesUntil(second, enough);
    const movedOn = since(t);
    expect(byName(afterKill)).toMatchObject({ [n(first)]: 0, [n(third)]: 0 });
    const placed = await submit("app@7.service");
    await converged(before);

    // Back, the first member gets no client back: they stay where they went.
    await first.start();
    await etcd.waitForLeader();
    const afterReturn = await keepalivesUntil(second, enough);
    expect(byName(afterReturn)).toMatchObject({ [n(first)]: 0, [n(third)]: 0 });
    expectUntouched(before, await expectEachRunsOnce(c, APPS));
    report("member listed first killed", {
      killed: `${etcd.nameOf(first)} (listed first, a follower, SIGKILL)`,
      "lease renewals": `all at ${etcd.nameOf(second)} within ${movedOn}, none at ${etcd.nameOf(third)}; none back at ${etcd.nameOf(first)} once it returned`,
      "unit submitted": `running on ${placed.machine.name} after ${placed.took}`,
      "units restarted or moved": `0 of ${APPS.length}`,
    });
  });
}, T);

test("the quorum lost for 15 s: no unit restarts or moves meanwhile; once it is back everything converges", async () => {
  await c.step(async () => {
    const before = await deploy(c, APPS);
    // The first two listed: every client has to walk to the last endpoint.
    const [first, second, third] = etcd.members as [LocalEtcd, LocalEtcd, LocalEtcd];
    // One of them leads: the survivor has to notice it is alone, and a new leader has to take the leases over.
    const leader = await leaderOtherThan(third);
    const t = performance.now();
    await Promise.all([first.kill(), second.kill()]);
    await etcd.waitForNoLeader();
    const noticed = since(t);
    const lost = performance.now();

    // fleet ctl says etcd does not answer; the survivor holds requests it cannot serve.
    const down = await c.fleetctl("host", "list-units");
    expect(down.code).toBe(1);
    const [e0, e1, e2] = c.fleet.machineEndpoints;
    expect(down.stderr).toBe(`Error retrieving list of units from repository: every etcd endpoint failed: ${e0} (connect ECONNREFUSED), ${e1} (connect ECONNREFUSED), ${e2} did not answer within 3s (--request-timeout)\n`);
    // Meanwhile every unit keeps its process.
    let checks = 0;
    await holdFor(QUORUM_LOSS_MS - (performance.now() - lost), async () => {
      for (const [unit, p] of before) expect(await c.mainPid(p.machine, unit)).toBe(p.pid);
      checks++;
    });
    const outage = since(lost);

    const t3 = performance.now();
    await Promise.all([first.start(), second.start()]);
    const next = await etcd.waitForLeader();
    const quorum = since(t3);
    await converged(before);
    const settled = since(t3);
    const placed = await submit("app@7.service");
    expectUntouched(before, await expectEachRunsOnce(c, APPS));
    report("quorum lost", {
      killed: `${etcd.nameOf(first)} and ${etcd.nameOf(second)} (listed first and second, ${etcd.nameOf(leader)} the raft leader, SIGKILL), ${etcd.nameOf(third)} left alone`,
      "survivor without a leader": `after ${noticed}`,
      "quorum lost for": `${outage} (every unit's MainPID checked ${checks} times meanwhile)`,
      "back with a leader": `${etcd.nameOf(next)} after ${quorum}`,
      "converged": `${settled} after the restart`,
      "unit submitted after": `running on ${placed.machine.name} after ${placed.took}`,
      "units restarted or moved": `0 of ${APPS.length}`,
    });
  });
}, T);
