// The engine places by requests and capacity through a real etcd: capacity read from machine
// records (allocatable, not the totals), requests from unit records, instances spread across a
// metadata key, and the reasons written to schedule entries and pending records.
import { expect, test } from "bun:test";
import type { MachineCapacity } from "../../src/registry/models.ts";
import { Agent, Cluster } from "../support/integration/engine-harness.ts";
import { until } from "../support/until.ts";

const G = 2 ** 30;

function capacity(cpus: number, memoryG: number, reservedG = 0): MachineCapacity {
  return { cpuMillis: cpus * 1000, memoryBytes: memoryG * G, allocatableCpuMillis: cpus * 1000, allocatableMemoryBytes: (memoryG - reservedG) * G };
}

async function machine(c: Cluster, id: string, metadata: Record<string, string>, cap?: MachineCapacity): Promise<Agent> {
  const a = new Agent(c.client, c.keys.machine(id), {
    id, publicIP: "10.0.0.1", metadata, version: "test", startedAt: new Date().toISOString(), ...(cap ? { capacity: cap } : {}),
  }, 2);
  await a.register();
  return a;
}

test("requests fit allocatable capacity, the rest waits saying why, and instances spread across zones", async () => {
  await using c = await Cluster.start();
  const { engine } = c.engine("e1");
  // a1 has 8G but keeps 6G back: 2G allocatable. old reports no capacity (an older daemon).
  const agents = [
    await machine(c, "a1", { zone: "a" }, capacity(4, 8, 6)),
    await machine(c, "a2", { zone: "a" }, capacity(4, 4)),
    await machine(c, "b1", { zone: "b" }, capacity(4, 4)),
    await machine(c, "old", {}),
  ];
  // Submitted before the engine starts, so one plan decides them all, in name order.
  await c.submit("big.service", "", "launched", "ExecStart=/bin/true\nMemoryMax=64G");
  await c.submit("db.service", "MemoryRequest=3G");
  for (const i of [1, 2, 3, 4]) await c.submit(`web@${i}.service`, "Spread=zone\nCPURequest=0.5");
  engine.start();
  await until("leadership", () => engine.isLeader());

  const placed = await until("placements", async () => {
    const p = await c.placements();
    return ["db.service", "web@1.service", "web@2.service", "web@3.service", "web@4.service"].every((u) => p[u]) ? p : undefined;
  });
  // Only a2 and b1 have 3G allocatable; the database takes the first by rank.
  expect(placed["db.service"]).toEqual(["a2"]);
  const zoneOf = (m: string) => (m === "b1" ? "b" : m.startsWith("a") ? "a" : "none");
  const zones = [1, 2, 3, 4].map((i) => zoneOf(placed[`web@${i}.service`]![0]!)).sort();
  expect(zones).toEqual(["a", "a", "b", "b"]);
  expect(Object.values(placed).flat()).not.toContain("old");

  const big = await until("big's pending reason", () => c.pending("big.service"));
  expect([big.kind, big.reason]).toEqual([
    "no-fit",
    "no machine fits: 3 have less memory allocatable than it requests (64G memory; at most 4G memory allocatable); 1 reports no capacity",
  ]);
  const db = (await c.entries()).find((e) => e.unit === "db.service")!.entry;
  expect(db.reason).toMatch(/^least utilised fitting machine \(\d+% of its CPU and \d+% of its memory requested\); its request of 3G memory fits \(4G memory free\)$/);
  for (const e of (await c.entries()).filter((x) => x.unit.startsWith("web@"))) {
    expect(e.entry.reason).toMatch(/; spread by zone: zone=[ab] had [01] of its group, the fewest$/);
  }
  for (const a of agents) a.stopRenewing();
}, 60_000);
