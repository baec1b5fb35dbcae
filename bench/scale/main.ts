// The scale benchmark (issue 7): hollow machines (the real agent over a fake unit manager) in
// worker processes, the real engine and API in another, one real etcd. For each size: register,
// submit every unit through the API until all instances are active, idle, kill machines until
// their units are active elsewhere. Writes bench/results/scale.json and the table in
// bench/results/scale.md, and prints the table.
//
//   bun bench/scale/main.ts                          1,000 machines x 10,000 units, 5 min idle
//   bun bench/scale/main.ts --sizes 100x1000,3000x30000 --idle 60
//   bun bench/scale/main.ts --label no-brake --evictions-per-second 1000 --eviction-burst 1000
//   bun bench/scale/main.ts --label resources --resources   requests on half the units, two zones
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { mergeResults, type SizeResult } from "./results.ts";
import { renderSection, renderTable, spliceSection } from "./report.ts";
import { runSize } from "./run.ts";
import type { ScaleSize } from "./scenario.ts";

const RESULTS_DIR = join(import.meta.dir, "..", "results");

const HEADER = `# Scale benchmark

\`bun bench/scale/main.ts\` (see bench/scale/main.ts for flags). Results of every recorded run are
in scale.json; the table below is regenerated from it after each run.
`;

function parseSizes(text: string): ScaleSize[] {
  return text.split(",").map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (!m) throw new Error(`Invalid size "${s}": expected MACHINESxUNITS, e.g. 1000x10000`);
    return { machines: Number(m[1]), units: Number(m[2]) };
  });
}

function optionalNumber(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`Invalid --${name} "${v}": expected a non-negative number`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: "string", default: "1000x10000" },
      idle: { type: "string", default: "300" },
      kill: { type: "string", default: "0.1" },
      workers: { type: "string", default: "2" },
      ttl: { type: "string", default: "30" },
      "in-flight": { type: "string", default: "64" },
      deadline: { type: "string", default: "900" },
      label: { type: "string", default: "default" },
      "evictions-per-second": { type: "string" },
      "eviction-burst": { type: "string" },
      "eviction-settle-ms": { type: "string" },
      "no-write": { type: "boolean", default: false },
      resources: { type: "boolean", default: false },
    },
  });
  const sizes = parseSizes(values.sizes!);
  const killArg = Number(values.kill);
  const jsonPath = join(RESULTS_DIR, "scale.json");
  const mdPath = join(RESULTS_DIR, "scale.md");
  const runs: SizeResult[] = [];
  for (const size of sizes) {
    const killed = killArg < 1 ? Math.round(size.machines * killArg) : Math.min(size.machines, Math.round(killArg));
    console.log(`== ${size.machines} machines x ${size.units} units (${values.label})`);
    const result = await runSize({
      size, label: values.label!, deadlineMs: Number(values.deadline) * 1000, logDir: join("/tmp", "fleet-scale-logs"),
      progress: (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
      config: {
        workers: Number(values.workers), idleSeconds: Number(values.idle), killed, agentTtlSeconds: Number(values.ttl),
        submitInFlight: Number(values["in-flight"]),
        evictionsPerSecond: optionalNumber(values["evictions-per-second"], "evictions-per-second"),
        evictionBurst: optionalNumber(values["eviction-burst"], "eviction-burst"),
        evictionSettleMs: optionalNumber(values["eviction-settle-ms"], "eviction-settle-ms"),
        ...(values.resources ? { resources: true } : {}),
      },
    });
    runs.push(result);
    if (!values["no-write"]) {
      const old = existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, "utf8")) as { runs: SizeResult[] }).runs : [];
      const all = mergeResults(old, result);
      writeFileSync(jsonPath, `${JSON.stringify({ runs: all }, null, 2)}\n`);
      const doc = existsSync(mdPath) ? readFileSync(mdPath, "utf8") : HEADER;
      writeFileSync(mdPath, spliceSection(doc, renderSection(all)));
    }
  }
  console.log(`\n${renderTable(runs)}\n`);
  if (!values["no-write"]) console.log(`Wrote ${jsonPath} and ${mdPath}; child logs in /tmp/fleet-scale-logs`);
}

main().then(() => process.exit(0), (e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
