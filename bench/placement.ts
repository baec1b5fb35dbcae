// The planner alone at the scale benchmark's size: how long planSchedule takes to place every
// unit of the scenario on an empty cluster, and to re-plan the settled result (what every later
// reconcile costs). Pure and in one process, so it measures placement without etcd or the API
// around it; bench/scale measures the whole path.
//
//   bun bench/placement.ts                      1,000 machines x 10,000 units, 7 runs
//   bun bench/placement.ts --resources          requests on half the units, two zones
//   bun bench/placement.ts --size 3000x30000 --runs 3
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { describeForApi } from "../src/api/describe-for-api.ts";
import { unitRecord } from "../src/registry/unit-views.ts";
import { applyActions } from "../src/scheduler/apply.ts";
import { planSchedule } from "../src/scheduler/plan.ts";
import type { ClusterState, PlacementMachine } from "../src/scheduler/types.ts";
import { hollowMachines, scaleUnits } from "./scale/scenario.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      size: { type: "string", default: "1000x10000" },
      runs: { type: "string", default: "7" },
      resources: { type: "boolean", default: false },
    },
  });
  const m = /^(\d+)x(\d+)$/.exec(values.size!);
  if (!m) throw new Error(`Invalid --size "${values.size}": expected MACHINESxUNITS`);
  const runs = Number(values.runs);
  const opts = { resources: values.resources };
  const machines: PlacementMachine[] = hollowMachines(Number(m[1]), opts).map((h) => ({
    id: h.id, metadata: h.metadata,
    ...(h.capacity ? { capacity: { cpuMillis: h.capacity.allocatableCpuMillis, memoryBytes: h.capacity.allocatableMemoryBytes } } : {}),
  }));
  const units = scaleUnits(Number(m[2]), opts).map((u) => unitRecord(describeForApi(u.name, u.options), "launched"));
  const empty: ClusterState = { machines, units, schedule: [], pending: new Map() };

  const place: number[] = [];
  const replan: number[] = [];
  let placements = 0;
  let pending = 0;
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    const actions = planSchedule(empty);
    place.push(performance.now() - t);
    placements = actions.filter((a) => a.kind === "schedule").length;
    pending = actions.filter((a) => a.kind === "pending").length;
    const settled = applyActions(empty, actions);
    t = performance.now();
    const again = planSchedule(settled);
    replan.push(performance.now() - t);
    if (again.length !== 0) throw new Error(`Re-planning the settled state gave ${again.length} actions`);
  }
  const ms = median(place);
  console.log(
    `${values.size}${values.resources ? " resources" : ""}: ${placements} placements, ${pending} pending; ` +
      `place ${ms.toFixed(0)} ms median of ${runs} (${Math.round((placements / ms) * 1000)} placements/s), ` +
      `re-plan ${median(replan).toFixed(0)} ms; load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`,
  );
}

main();
