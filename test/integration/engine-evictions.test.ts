// Machine loss through a real etcd: a lost machine's units move (rate-limited), and when more
// than half of the machines vanish at once nothing moves until they come back.
import { expect, test } from "bun:test";
import { Cluster } from "../support/integration/engine-harness.ts";
import { until } from "../support/until.ts";

function byUnit<T extends { unit: string }>(list: T[]): Map<string, T> {
  return new Map(list.map((e) => [e.unit, e]));
}

test("a lost machine's units move to the others at the eviction rate; the rest stay", async () => {
  await using c = await Cluster.start();
  const agents = [await c.agent("m1"), await c.agent("m2"), await c.agent("m3")];
  const { engine, log } = c.engine("e1", { evictionsPerSecond: 4, evictionBurst: 1 });
  engine.start();
  for (let i = 0; i < 9; i++) await c.submit(`u${i}.service`);
  await until("nine units scheduled", async () => (await c.entries()).length === 9);
  const before = byUnit(await c.entries());
  const onM1 = [...before.values()].filter((e) => e.machine === "m1").map((e) => e.unit);
  expect(onM1.length).toBe(3);

  await agents[0]!.vanish();
  // One token at a time: while the first unit moves, the others wait and say why.
  await log.waitFor("waiting to move off lost machine m1 (eviction rate limit)");
  const after = await until("m1's units moved", async () => {
    const all = byUnit(await c.entries());
    return onM1.every((u) => all.get(u) && all.get(u)!.machine !== "m1") ? all : undefined;
  });
  for (const [unit, e] of before) {
    if (onM1.includes(unit)) expect(["m2", "m3"]).toContain(after.get(unit)!.machine);
    else expect(after.get(unit)).toEqual(e);
  }
  for (const u of onM1) await until(`${u}'s pending reason cleared`, async () => (await c.pending(u)) === undefined);
  expect(log.has("Pausing evictions")).toBe(false);
  expect(log.lines.filter((l) => l.includes("machine m1 went away")).length).toBe(3);
}, 60_000);

test("when most machines vanish at once evictions pause; they resume once most are back", async () => {
  await using c = await Cluster.start();
  const agents = await Promise.all(["m1", "m2", "m3", "m4", "m5"].map((id) => c.agent(id)));
  const { engine, log } = c.engine("e1");
  engine.start();
  for (let i = 0; i < 10; i++) await c.submit(`u${i}.service`);
  await until("ten units scheduled", async () => (await c.entries()).length === 10);
  const before = byUnit(await c.entries());
  const on = (m: string) => [...before.values()].filter((e) => e.machine === m).map((e) => e.unit);

  await Promise.all(agents.slice(0, 3).map((a) => a.vanish()));
  await log.waitFor("Pausing evictions: 3 of 5 machines vanished within 2s; this looks like a partition, not failures");
  const stranded = [...on("m1"), ...on("m2"), ...on("m3")];
  expect(stranded.length).toBe(6);
  // The engine has planned under the pause: the stranded units say why they wait.
  for (const u of stranded) {
    await until(`${u}'s pending reason`, async () => (await c.pending(u))?.reason.includes("evictions paused: 3 of 5 machines vanished at once"));
  }
  expect(byUnit(await c.entries())).toEqual(before);

  // One comes back (as a healed partition would): 2 of 5 gone is no longer a partition, so the
  // units of the two still gone move now, and those of the returned machine stay.
  await agents[0]!.register();
  await log.waitFor("Resuming evictions: 1 of 3 vanished machines are back");
  const moving = [...on("m2"), ...on("m3")];
  const after = await until("m2's and m3's units moved", async () => {
    const all = byUnit(await c.entries());
    return moving.every((u) => !["m2", "m3"].includes(all.get(u)?.machine ?? "m2")) ? all : undefined;
  });
  for (const [unit, e] of before) {
    if (moving.includes(unit)) expect(["m1", "m4", "m5"]).toContain(after.get(unit)!.machine);
    else expect(after.get(unit)).toEqual(e);
  }
  for (const u of stranded) await until(`${u}'s pending reason cleared`, async () => (await c.pending(u)) === undefined);
}, 60_000);

test("a partition whose leases run out apart is seen whole: the lease probe finds the rest before anything moves", async () => {
  await using c = await Cluster.start();
  // TTL 9 s renewed every 3 s, as agents do; the engine's partition window is the same TTL. Its
  // settle stays at the harness's 300 ms, far shorter than the gap between the expiries below,
  // so only the probe can see that m1 does not go alone.
  const agents = await Promise.all(["m1", "m2", "m3", "m4", "m5"].map((id) => c.agent(id, {}, 9)));
  const { engine, log } = c.engine("e1", { agentTtlMs: 9000 });
  engine.start();
  for (let i = 0; i < 10; i++) await c.submit(`u${i}.service`);
  await until("ten units scheduled", async () => (await c.entries()).length === 10);
  const before = byUnit(await c.entries());

  // m1, m2 and m3 are cut off together, but m2 and m3 were later in their keepalive cycle: their
  // last renewal came a second or two after m1's, so their leases run out that much later.
  agents[0]!.stopRenewing();
  await until("a second of m1's lease gone", async () => ((await c.client.leaseTimeToLive(agents[0]!.leaseId))?.ttl ?? 0) <= 7);
  for (const a of agents.slice(1, 3)) {
    a.stopRenewing();
    await c.client.leaseKeepAlive(a.leaseId);
  }
  await log.waitFor("Lease probe: 2 more machines stopped renewing: m2, m3", 30_000);
  await log.waitFor("Pausing evictions: 1 of 5 machines vanished and 2 more stopped renewing their leases within 9s; this looks like a partition, not failures");
  await until("m2 and m3 gone too", async () => (await c.client.range(c.keys.machines, { prefix: true })).kvs.length === 2, 30_000);
  const stranded = [...before.values()].filter((e) => ["m1", "m2", "m3"].includes(e.machine)).map((e) => e.unit);
  for (const u of stranded) {
    await until(`${u}'s pending reason`, async () => (await c.pending(u))?.reason.includes("evictions paused: 3 of 5 machines vanished at once"));
  }
  expect(byUnit(await c.entries())).toEqual(before);
  expect(log.lines.filter((l) => l.includes("Lease probe")).length).toBe(1);
}, 90_000);
