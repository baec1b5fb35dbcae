// Placement by resources and spread on three real systemd machines with different metadata and
// declared capacities (docs/placement.md), as a user sees it from `fleet ctl`: capacity in
// list-machines, a unit too large for every machine waiting with its reason, a memory-heavy unit
// avoiding a full machine, and instances spread across two zones; start says why each went where
// it went. Needs root (namespaces, cgroups) and bin/fleet (./build).
import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import type { Machine } from "../../src/sandbox/index.ts";
import { E2eCluster, serviceUnit } from "../support/functional/e2e-fixture.ts";

let c: E2eCluster;
let m1: Machine;
let m2: Machine;
let m3: Machine;
const T = 120_000;

// The machines are namespaces on one host and all see its CPUs and memory: each declares its own.
const CAPACITY: Record<string, string>[] = [
  { FLEET_CAPACITY: "cpu=2,memory=1G" },
  { FLEET_CAPACITY: "cpu=2,memory=4G", FLEET_CAPACITY_RESERVED: "memory=512M" },
  { FLEET_CAPACITY: "cpu=2,memory=4G" },
];

beforeAll(async () => {
  // m1 and m2 are in zone a, m3 in zone b.
  c = await E2eCluster.start({ machines: 3, metadata: (i) => ({ zone: i < 2 ? "a" : "b" }), env: (i) => CAPACITY[i]! });
  [m1, m2, m3] = c.machines as [Machine, Machine, Machine];
}, T);

afterAll(async () => {
  await c?.destroy();
}, 60_000);

beforeEach(async () => {
  await c.step(() => c.reset());
}, T);

const short = (m: Machine) => `${m.machineId.slice(0, 8)}.../${m.ip}`;

function launchedOn(out: string, unit: string): Machine {
  const line = new RegExp(`^Unit ${unit.replace(/[.@]/g, "\\$&")} launched on ([0-9a-f]{8})\\.\\.\\./(\\S+)$`, "m").exec(out);
  if (!line) throw new Error(`fleet ctl start did not say where ${unit} launched: ${JSON.stringify(out)}`);
  return c.machineById(line[1]!);
}

test("each machine reports its declared capacity, less its reserve, to list-machines and the API", async () => {
  await c.step(async () => {
    const expected = [
      [m1.machineId, "2", "1G", "cpu=2,memory=1G"],
      [m2.machineId, "2", "4G", "cpu=2,memory=3.5G"],
      [m3.machineId, "2", "4G", "cpu=2,memory=4G"],
    ].sort((a, b) => a[0]!.localeCompare(b[0]!));
    for (const where of ["host", m1] as const) {
      const out = await c.fleetctlOk(where, "list-machines", "--no-legend", "--full", "--fields", "machine,cpu,memory,allocatable");
      expect(out.trim().split("\n").map((l) => l.trim().split(/\s+/))).toEqual(expected);
    }
    expect((await c.registration(m2))?.capacity).toEqual({
      cpuMillis: 2000, memoryBytes: 4 * 2 ** 30, allocatableCpuMillis: 2000, allocatableMemoryBytes: 3.5 * 2 ** 30,
    });
  });
}, T);

test("a unit too large for every machine waits, and start says which resource on how many machines", async () => {
  await c.step(async () => {
    c.writeUnit("big.service", serviceUnit("too big", [], ["MemoryMax=16G"]));
    const r = await c.fleetctl("host", "start", "--block-attempts=2", "big.service");
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("Unit big.service inactive\n");
    expect(r.stderr).toContain(
      "Unit big.service is pending: no machine fits: 3 have less memory allocatable than it requests (16G memory; at most 4G memory allocatable)\n",
    );
    expect(r.stderr).toContain("Error waiting for units: timed out waiting for unit big.service to report state launched");
    expect(await c.runningCopies("big.service")).toEqual([]);
  });
}, T);

test("a memory-heavy unit avoids the full machine and the small one, though they run fewer units", async () => {
  await c.step(async () => {
    // m2 is full (3G of its 3.5G allocatable taken by one unit); m3 runs three small units.
    c.writeUnit("hog.service", serviceUnit("takes m2's memory", [`MachineID=${m2.machineId}`, "MemoryRequest=3G"]));
    for (const i of [1, 2, 3]) c.writeUnit(`small${i}.service`, serviceUnit(`small ${i}`, [`MachineID=${m3.machineId}`]));
    const first = await c.fleetctl("host", "start", "--block-attempts=10", "hog.service", "small1.service", "small2.service", "small3.service");
    expect(first.code).toBe(0);
    expect(first.stderr).toContain(`Unit hog.service placed on ${short(m2)}: MachineID=${m2.machineId}; its request of 3G memory fits (3.5G memory free)\n`);

    c.writeUnit("db.service", serviceUnit("a database", [], ["MemoryMax=2G"]));
    const r = await c.fleetctl("host", "start", "--block-attempts=10", "db.service");
    expect(r.code).toBe(0);
    expect(launchedOn(r.stdout, "db.service")).toBe(m3);
    // The three small units count as the default share each (0.1 CPU, 128M): 15% and 9% of m3.
    expect(r.stderr).toContain(
      `Unit db.service placed on ${short(m3)}: least utilised fitting machine (15% of its CPU and 9% of its memory requested); its request of 2G memory fits (4G memory free)\n`,
    );
    expect(await c.runningCopies("db.service")).toEqual([m3]);
    expect((await c.systemctlIn(m3, "show", "-p", "MemoryMax", "--value", "db.service")).trim()).toBe(String(2 * 2 ** 30));
  });
}, T);

test("a template's instances spread across the two zones, though zone a has more machines", async () => {
  await c.step(async () => {
    c.writeUnit("web@.service", serviceUnit("web %i", ["Spread=zone"]));
    const names = [1, 2, 3, 4].map((i) => `web@${i}.service`);
    const r = await c.fleetctl("host", "start", "--block-attempts=10", ...names);
    expect(r.code).toBe(0);
    const zoneOf = (m: Machine) => (m === m3 ? "b" : "a");
    const zones = names.map((n) => zoneOf(launchedOn(r.stdout, n)));
    expect([...zones].sort()).toEqual(["a", "a", "b", "b"]);
    for (const n of names) expect(r.stderr).toMatch(new RegExp(`^Unit ${n.replace(/[.@]/g, "\\$&")} placed on .*; spread by zone: zone=[ab] had [01] of its group, the fewest$`, "m"));
    for (const n of names) expect(await c.runningCopies(n)).toEqual([launchedOn(r.stdout, n)]);
    // Spread is soft: a fifth instance still runs, wherever the zones are level.
    const fifth = await c.fleetctl("host", "start", "--block-attempts=10", "web@5.service");
    expect(fifth.code).toBe(0);
    expect(fifth.stderr).toContain("spread by zone: zone=a had 2 of its group, the fewest");
  });
}, T);
