// Placement with resources and spread (docs/placement.md): fit, score and spread, the reasons
// they give, and seeded properties: no plan over-commits a machine, and a template's instances
// spread across a key's values within one of each other where the machines allow it.
import { describe, expect, test } from "bun:test";
import { applyActions } from "../../src/scheduler/apply.ts";
import { PlacementView } from "../../src/scheduler/cluster-view.ts";
import { planSchedule } from "../../src/scheduler/plan.ts";
import { placeUnit } from "../../src/scheduler/place.ts";
import type { ClusterState, PlacementMachine, PlacementUnit } from "../../src/scheduler/types.ts";
import type { ResourceRequest } from "../../src/unit/types.ts";
import { brief, cluster, placementOf, settle } from "../support/unit/scheduler-fixtures.ts";

const G = 2 ** 30;
const M = 2 ** 20;

interface Spec {
  request?: ResourceRequest;
  spread?: string;
  pattern?: string;
  global?: boolean;
  machineId?: string;
  metadata?: Record<string, string[]>;
  replaces?: string[];
  conflicts?: string[];
}

function unit(name: string, s: Spec = {}): PlacementUnit {
  const global = s.global ?? false;
  const u: PlacementUnit = {
    name, desiredState: "launched", global,
    requirements: { machineOf: [], machineMetadata: s.metadata ?? {}, conflicts: s.conflicts ?? [], replaces: s.replaces ?? [], global },
  };
  if (s.request !== undefined) u.requirements.resources = s.request;
  if (s.machineId !== undefined) u.requirements.machineId = s.machineId;
  if (s.spread !== undefined) u.requirements.spread = { key: s.spread, pattern: s.pattern ?? `${name.split("@")[0]}@*.service` };
  return u;
}

function machine(id: string, cpu: number | undefined, memory = 0, metadata: Record<string, string> = {}): PlacementMachine {
  return cpu === undefined ? { id, metadata } : { id, metadata, capacity: { cpuMillis: cpu, memoryBytes: memory } };
}

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("fit", () => {
  test("a unit too large for every machine waits, saying which resource and on how many machines", () => {
    const st = cluster([machine("m1", 4000, 8 * G), machine("m2", 2000, 4 * G)], [unit("big.service", { request: { memoryBytes: 64 * G } })]);
    expect(brief(planSchedule(st))).toEqual([
      "?big.service: no machine fits: 2 have less memory allocatable than it requests (64G memory; at most 8G memory allocatable)",
    ]);
  });

  test("a memory-heavy unit avoids the machine whose memory is taken, though it runs fewer units", () => {
    const machines = [machine("m1", 4000, 4 * G), machine("m2", 4000, 4 * G)];
    const units = [unit("cache.service", { request: { memoryBytes: 3 * G } }), unit("a.service"), unit("b.service"), unit("db.service", { request: { memoryBytes: 2 * G } })];
    const r = settle(cluster(machines, units, { "cache.service": "m1", "a.service": "m2", "b.service": "m2" }));
    expect(r.placement["db.service"]).toBe("m2");
    expect(brief(r.actions)).toEqual([
      "+db.service@m2: least utilised fitting machine (5% of its CPU and 6% of its memory requested); its request of 2G memory fits (4G memory free)",
    ]);
  });

  test("when every machine is too full now, the pending reason says how much is free at most", () => {
    const machines = [machine("m1", 4000, 4 * G), machine("m2", 4000, 4 * G)];
    const units = [unit("x.service", { request: { memoryBytes: 3 * G } }), unit("y.service", { request: { memoryBytes: 3 * G } }), unit("z.service", { request: { memoryBytes: 2 * G, cpuMillis: 5000 } })];
    const r = settle(cluster(machines, units));
    expect(r.pending).toEqual({
      "z.service": "no machine fits: 2 have less CPU allocatable than it requests (5 CPUs; at most 4 CPUs allocatable); 2 have too little memory free (it requests 2G memory; at most 1G memory free)",
    });
  });

  test("a request fits exactly; only the resources a unit states are checked", () => {
    const st = cluster([machine("m1", 1000, G)], [unit("a.service", { request: { cpuMillis: 1000, memoryBytes: G } }), unit("b.service"), unit("c.service", { request: { memoryBytes: 0 } })]);
    expect(settle(st).placement).toEqual({ "a.service": "m1", "b.service": "m1", "c.service": "m1" });
  });

  test("a machine that reports no capacity takes no unit that states a request, and ranks last for the others", () => {
    const st = cluster([machine("old", undefined), machine("new", 4000, 8 * G)], [unit("db.service", { request: { memoryBytes: G } }), unit("a.service"), unit("b.service")]);
    expect(settle(st).placement).toEqual({ "a.service": "new", "b.service": "new", "db.service": "new" });
    const only = cluster([machine("old", undefined)], [unit("db.service", { request: { cpuMillis: 100 } })]);
    expect(settle(only).pending).toEqual({ "db.service": "no machine fits: 1 reports no capacity" });
  });

  test("a unit that runs stays where it runs when its machine's capacity shrinks; new units respect it", () => {
    const st = cluster([machine("m1", 1000, G), machine("m2", 4000, 8 * G)], [unit("a.service", { request: { memoryBytes: 2 * G } }), unit("b.service", { request: { memoryBytes: G } })], { "a.service": "m1" });
    const r = settle(st);
    expect(r.placement).toEqual({ "a.service": "m1", "b.service": "m2" });
  });

  test("MachineID pinning respects capacity and says why it waits", () => {
    const st = cluster([machine("m1", 4000, G), machine("m2", 4000, 8 * G)], [unit("db.service", { machineId: "m1", request: { memoryBytes: 2 * G } })]);
    expect(settle(st).pending).toEqual({ "db.service": "no machine fits: 1 has less memory allocatable than it requests (2G memory; 1G memory allocatable)" });
  });

  test("a global unit runs where it fits, and says where it lacks room", () => {
    const machines = [machine("m1", 4000, 8 * G), machine("m2", 4000, G), machine("m3", undefined)];
    const r = settle(cluster(machines, [unit("agent.service", { global: true, request: { memoryBytes: 2 * G } })]));
    expect(r.placement).toEqual({ "agent.service": "m1" });
    expect(r.pending).toEqual({
      "agent.service": "runs on 1 machine; lacks room on others: 1 has less memory allocatable than it requests (2G memory; 1G memory allocatable); 1 reports no capacity",
    });
    expect(settle(cluster([machine("m2", 4000, G)], [unit("agent.service", { global: true, request: { memoryBytes: 2 * G } })])).pending).toEqual({
      "agent.service": "no machine fits: 1 has less memory allocatable than it requests (2G memory; 1G memory allocatable)",
    });
  });

  test("a replacing unit takes its victim's machine when the victim's request leaves room", () => {
    const machines = [machine("m1", 4000, 4 * G), machine("m2", 4000, 4 * G)];
    const units = [unit("new.service", { replaces: ["old.service"], request: { memoryBytes: 3 * G } }), unit("old.service", { request: { memoryBytes: 3 * G } })];
    const r = settle(cluster(machines, units, { "old.service": "m1" }));
    expect(r.placement).toEqual({ "new.service": "m1", "old.service": "m2" });
    expect(brief(r.actions)[1]).toBe("+new.service@m1: takes the machine of old.service (Replaces); its request of 3G memory fits (4G memory free)");
  });
});

describe("score", () => {
  test("without any request, placement is exactly as before: fewest units, then id, whatever the capacities", () => {
    const units = Array.from({ length: 7 }, (_, i) => unit(`u${i}.service`));
    const plain = [machine("m1", undefined), machine("m2", undefined), machine("m3", undefined)];
    const sized = [machine("m1", 16000, 64 * G), machine("m2", 1000, G), machine("m3", 2000, 2 * G)];
    expect(planSchedule(cluster(sized, units))).toEqual(planSchedule(cluster(plain, units)));
    expect(brief(planSchedule(cluster(sized, units)))[0]).toBe("+u0.service@m1: least loaded fitting machine");
  });

  test("units without requests count as a small default: ten sidecars weigh on a machine", () => {
    const machines = [machine("m1", 4000, 4 * G), machine("m2", 4000, 4 * G)];
    const sidecars = Array.from({ length: 10 }, (_, i) => unit(`side${i}.service`));
    const placed = Object.fromEntries(sidecars.map((u) => [u.name, "m1"]));
    const st = cluster(machines, [...sidecars, unit("db.service", { request: { memoryBytes: G } }), unit("web.service")], { ...placed, "db.service": "m2" });
    // m1: ten default shares (1.25G of 4G memory); m2: the database's 1G.
    expect(settle(st).placement["web.service"]).toBe("m2");
  });

  test("the least utilised machine wins; ties go to fewer units, then the lower id", () => {
    const machines = [machine("m1", 8000, 8 * G), machine("m2", 4000, 4 * G), machine("m3", 4000, 4 * G)];
    const units = ["a", "b", "c", "d"].map((n) => unit(`${n}.service`, { request: { memoryBytes: G } }));
    // Each goes where the units already there use the least: empty machines by id, then m1 (1G of 8G).
    expect(settle(cluster(machines, units)).placement).toEqual({ "a.service": "m1", "b.service": "m2", "c.service": "m3", "d.service": "m1" });
  });

  test("CPUWeight= scales a unit's default CPU share", () => {
    const machines = [machine("m1", 1000, 64 * G), machine("m2", 1000, 64 * G)];
    const units = [unit("heavy.service", { request: { cpuWeight: 800 } }), unit("a.service"), unit("b.service")];
    // heavy counts 0.8 CPU on m1; a goes to m2 (0), b to m2 again (0.1 < 0.8).
    expect(settle(cluster(machines, units, { "heavy.service": "m1" })).placement).toEqual({ "a.service": "m2", "b.service": "m2", "heavy.service": "m1" });
  });
});

describe("spread", () => {
  const zones = (n: number, perZone: number, cpu = 4000, memory = 8 * G): PlacementMachine[] =>
    Array.from({ length: n * perZone }, (_, i) => machine(`m${i}`, cpu, memory, { zone: `z${i % n}` }));

  test("instances spread across two zones, though one zone's machines are emptier", () => {
    const machines = [machine("a1", 4000, 8 * G, { zone: "a" }), machine("a2", 4000, 8 * G, { zone: "a" }), machine("b1", 4000, 8 * G, { zone: "b" })];
    const busy = Array.from({ length: 4 }, (_, i) => unit(`busy${i}.service`));
    const web = [1, 2, 3, 4].map((i) => unit(`web@${i}.service`, { spread: "zone" }));
    const r = settle(cluster(machines, [...busy, ...web], { "busy0.service": "b1", "busy1.service": "b1", "busy2.service": "b1", "busy3.service": "b1" }));
    const inZone = (z: string) => web.filter((u) => r.placement[u.name]!.startsWith(z)).length;
    expect([inZone("a"), inZone("b")]).toEqual([2, 2]);
    expect(brief(r.actions)[1]).toBe("+web@2.service@b1: least loaded fitting machine; spread by zone: zone=b had 0 of its group, the fewest");
  });

  test("soft: when one zone has no room, the rest still run in the other, saying so", () => {
    const machines = [machine("a1", 4000, 8 * G, { zone: "a" }), machine("b1", 4000, G / 2, { zone: "b" })];
    const web = [1, 2, 3].map((i) => unit(`web@${i}.service`, { spread: "zone", request: { memoryBytes: G } }));
    const r = settle(cluster(machines, web));
    expect(placementOf(r.next)).toEqual({ "web@1.service": "a1", "web@2.service": "a1", "web@3.service": "a1" });
    expect(brief(r.actions)[1]).toBe(
      "+web@2.service@a1: least utilised fitting machine (3% of its CPU and 13% of its memory requested); its request of 1G memory fits (7G memory free); " +
        "spread by zone: zone=a had 1 of its group (machines with fewer do not fit)",
    );
  });

  test("machines without the key come last; a group named by a pattern spreads together", () => {
    const machines = [machine("n1", 4000, 8 * G), machine("a1", 4000, 8 * G, { zone: "a" }), machine("b1", 4000, 8 * G, { zone: "b" })];
    const units = ["web-1", "web-2", "web-3"].map((n) => unit(`${n}.service`, { spread: "zone", pattern: "web-*.service" }));
    const r = settle(cluster(machines, units));
    expect(r.placement).toEqual({ "web-1.service": "a1", "web-2.service": "b1", "web-3.service": "a1" });
  });

  test("placeUnit reports the spread it found", () => {
    const view = new PlacementView(zones(2, 1), [unit("web@1.service", { spread: "zone" }), unit("web@2.service", { spread: "zone" })]);
    view.add("web@1.service", "m0");
    const r = placeUnit(view.units.get("web@2.service")!, view);
    expect("why" in r && r.why.spread).toEqual({ key: "zone", value: "z1", count: 0, fewest: true });
  });
});

describe("the ranking kept by PlacementView", () => {
  test("matches byLoad() after random adds and removes, with resources", () => {
    const random = prng(11);
    const ids = Array.from({ length: 30 }, (_, i) => `m${i}`);
    const units = Array.from({ length: 200 }, (_, i) => unit(`u${i}.service`, random() < 0.5 ? { request: { memoryBytes: Math.floor(random() * 4) * G, cpuMillis: Math.floor(random() * 2000) } } : {}));
    const view = new PlacementView(ids.map((id, i) => machine(id, i % 7 === 0 ? undefined : 1000 * (1 + (i % 4)), G * (1 + (i % 5)))), units);
    expect(view.byResources).toBe(true);
    for (let step = 0; step < 4000; step++) {
      const u = units[Math.floor(random() * units.length)]!.name;
      const m = ids[Math.floor(random() * ids.length)]!;
      if (random() < 0.6) view.add(u, m);
      else view.remove(u, m);
      if (step % 200 === 0) expect([...view.leastLoaded()]).toEqual(view.byLoad());
    }
    expect([...view.leastLoaded()]).toEqual(view.byLoad());
  });
});

/** Per machine, the sum of the requests of the units scheduled there (live machines only). */
function committed(st: ClusterState): Map<string, { cpu: number; memory: number }> {
  const units = new Map(st.units.map((u) => [u.name, u] as const));
  const out = new Map(st.machines.map((m): [string, { cpu: number; memory: number }] => [m.id, { cpu: 0, memory: 0 }]));
  for (const e of st.schedule) {
    const r = units.get(e.unit)?.requirements.resources;
    const c = out.get(e.machine);
    if (c === undefined || r === undefined) continue;
    c.cpu += r.cpuMillis ?? 0;
    c.memory += r.memoryBytes ?? 0;
  }
  return out;
}

function overCommitted(st: ClusterState): string[] {
  const out: string[] = [];
  for (const [id, c] of committed(st)) {
    const cap = st.machines.find((m) => m.id === id)!.capacity;
    if (cap === undefined) {
      if (c.cpu > 0 || c.memory > 0) out.push(`${id} reports no capacity but runs requests`);
    } else if (c.cpu > cap.cpuMillis || c.memory > cap.memoryBytes) {
      out.push(`${id}: ${c.cpu}m of ${cap.cpuMillis}m CPU, ${c.memory} of ${cap.memoryBytes} bytes`);
    }
  }
  return out;
}

const seen = { plans: 0, placed: 0, pendingForRoom: 0, spreadGroups: 0 };

describe("seeded properties", () => {
  const seeds = Array.from({ length: 300 }, (_, i) => i + 1);
  test.each(seeds)("seed %d: no plan over-commits a machine; a unit waits for room only when no machine has it", (seed) => {
    const rnd = prng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const machines = Array.from({ length: 1 + Math.floor(rnd() * 7) }, (_, i) =>
      rnd() < 0.1 ? machine(`m${i}`, undefined) : machine(`m${i}`, pick([500, 1000, 2000, 4000]), pick([G / 2, G, 2 * G, 8 * G]), rnd() < 0.8 ? { zone: pick(["a", "b"]) } : {}),
    );
    const units = Array.from({ length: 3 + Math.floor(rnd() * 25) }, (_, i) => {
      const s: Spec = {};
      if (rnd() < 0.5) s.request = { ...(rnd() < 0.7 ? { memoryBytes: pick([0, 128 * M, G / 2, G, 3 * G]) } : {}), ...(rnd() < 0.5 ? { cpuMillis: pick([0, 100, 500, 1500]) } : {}) };
      if (rnd() < 0.1) s.global = true;
      if (!s.global && rnd() < 0.3) s.spread = "zone";
      if (!s.global && rnd() < 0.1) s.conflicts = ["web@*"];
      return unit(`${pick(["web", "db"])}@${i}.service`, s);
    });
    // A sequence of plans: all at once, then a machine goes, then half the units go.
    let st: ClusterState = { machines, units, schedule: [] };
    for (let step = 0; step < 3; step++) {
      const actions = planSchedule(st);
      const next = applyActions(st, actions);
      seen.plans++;
      seen.placed += actions.filter((a) => a.kind === "schedule").length;
      expect({ seed, step, over: overCommitted(next) }).toEqual({ seed, step, over: [] });
      expect(planSchedule(next)).toEqual([]);
      // A unit pending for room alone (every machine that blocked it did so for room) fits on
      // no live machine as things are now.
      const use = committed(next);
      for (const a of actions) {
        if (a.kind !== "pending" || a.why?.kind !== "no-fit" || a.why.noFit.kind !== "blocked") continue;
        if (!a.why.noFit.groups.every((g) => g.rule === "capacity" || g.rule === "no-capacity")) continue;
        const name = a.unit;
        const u = units.find((x) => x.name === name)!;
        seen.pendingForRoom++;
        const r = u.requirements.resources ?? {};
        const room = next.machines.filter((m) => m.drained !== true && m.capacity !== undefined &&
          (r.cpuMillis ?? 0) <= m.capacity.cpuMillis - use.get(m.id)!.cpu && (r.memoryBytes ?? 0) <= m.capacity.memoryBytes - use.get(m.id)!.memory);
        expect({ seed, name, room: room.map((m) => m.id) }).toEqual({ seed, name, room: [] });
      }
      st = step === 0 ? { ...next, machines: next.machines.slice(1) } : { ...next, units: next.units.filter((_, i) => i % 2 === 0) };
    }
  });

  test.each(seeds.slice(0, 150))("seed %d: a template's instances spread across a key's values within one of each other", (seed) => {
    const rnd = prng(seed * 7919);
    const values = 2 + Math.floor(rnd() * 3);
    const machines = Array.from({ length: values * (1 + Math.floor(rnd() * 3)) }, (_, i) => machine(`m${i}`, 8000, 64 * G, { zone: `z${i % values}`, rack: `r${i % 3}` }));
    const others = Array.from({ length: Math.floor(rnd() * 20) }, (_, i) => unit(`other${i}.service`, rnd() < 0.5 ? { request: { memoryBytes: G } } : {}));
    const groups = ["web", "api"].map((g) => Array.from({ length: 1 + Math.floor(rnd() * 12) }, (_, i) => unit(`${g}@${i}.service`, { spread: g === "web" ? "zone" : "rack" })));
    // Some instances already run, placed anywhere; the rest are placed by the plan.
    const placed: Record<string, string> = {};
    for (const u of [...others, ...groups.flat()]) if (rnd() < 0.2) placed[u.name] = pick(machines).id;
    function pick<T>(xs: readonly T[]): T {
      return xs[Math.floor(rnd() * xs.length)]!;
    }
    const r = settle(cluster(machines, [...others, ...groups.flat()], placed));
    for (const [g, key] of [[groups[0]!, "zone"], [groups[1]!, "rack"]] as const) {
      seen.spreadGroups++;
      const zoneOf = new Map(machines.map((m) => [m.id, m.metadata[key]!] as const));
      const counts = new Map<string, number>();
      for (const m of machines) counts.set(zoneOf.get(m.id)!, 0);
      for (const u of g) counts.set(zoneOf.get(r.placement[u.name]!)!, counts.get(zoneOf.get(r.placement[u.name]!)!)! + 1);
      // Instances that ran before the plan may leave it unbalanced: the plan only adds, fewest first.
      const before = g.filter((u) => placed[u.name] !== undefined).length;
      const spreadBy = Math.max(...counts.values()) - Math.min(...counts.values());
      const allowed = before === 0 ? 1 : Math.max(1, ...(() => {
        const c = new Map<string, number>([...counts.keys()].map((k) => [k, 0]));
        for (const u of g) if (placed[u.name] !== undefined) c.set(zoneOf.get(placed[u.name]!)!, c.get(zoneOf.get(placed[u.name]!)!)! + 1);
        return [Math.max(...c.values()) - Math.min(...c.values())];
      })());
      expect({ seed, key, counts: Object.fromEntries(counts), ok: spreadBy <= allowed }).toEqual({ seed, key, counts: Object.fromEntries(counts), ok: true });
    }
  });

  test("summary", () => {
    console.log(`resource properties: seeds 1-300 (spread: 1-150), ${seen.plans} plans, ${seen.placed} placements, ${seen.pendingForRoom} units pending for room checked, ${seen.spreadGroups} spread groups`);
    expect(seen.plans).toBe(900);
    expect(seen.pendingForRoom).toBeGreaterThan(0);
  });
});
