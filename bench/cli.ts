// Benchmark: `fleet ctl list-units` and `list-unit-files` against 10,000 units, and
// `fleet ctl --version`, each as a whole process (spawn to exit) of the compiled binary.
// `bun bench/cli.ts` (after ./build) prints a table and writes bench/results/cli.{json,md}.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { createApiHandler } from "../src/api/handler.ts";
import { serveApi } from "../src/api/listeners.ts";
import { createLogger } from "../src/log/logger.ts";
import { EtcdClient, op } from "../src/registry/etcd/index.ts";
import { Registry } from "../src/registry/registry.ts";
import type { UnitRecord } from "../src/registry/models.ts";
import { loadUnitFile } from "../src/unit/unit-file.ts";
import { emptyRequirements } from "../src/unit/types.ts";
import { VERSION } from "../src/version.ts";
import { startEtcd } from "../test/support/etcd-server.ts";

const UNITS = Number(process.env.BENCH_UNITS ?? 10_000);
const MACHINES = 50;
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const TARGETS = { listUnitsMs: 1000, versionMs: 20 };

const root = join(import.meta.dir, "..");
const fleet = join(root, "bin/fleet");
if (!existsSync(fleet)) {
  console.error(`bench/cli: ${fleet} does not exist; run ./build first`);
  process.exit(1);
}

/**
 * Milliseconds of `runs` whole-process runs (after one warm-up), sorted. Async spawn: the API
 * server under test runs in this process and must keep answering.
 */
async function timeCommand(argv: string[], runs: number, expectOut?: (out: string) => boolean): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now();
    const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    const ms = performance.now() - t0;
    if (code !== 0 || (expectOut && !expectOut(out))) {
      throw new Error(`${argv.join(" ")} failed (exit ${code}): ${err.slice(0, 500)}`);
    }
    if (i > 0) times.push(ms);
  }
  return times.sort((a, b) => a - b);
}

const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;

await using etcd = await startEtcd();
const client = new EtcdClient({ endpoints: [etcd.endpoint] });
const registry = new Registry(client, "/fleet/");
const dir = mkdtempSync(join(tmpdir(), "fleet-bench-cli-"));
const sock = join(dir, "fleet.sock");
const log = createLogger({ verbosity: 0, write: () => {} });
const api = await serveApi(
  createApiHandler({ registry, tokenLimit: 100, version: VERSION, isReady: () => true, log }),
  { listen: [{ kind: "unix", path: sock }], log, socketActivation: false },
);

try {
  // The cluster a list-units of 10,000 units sees: machines, units, files, schedule and states.
  const file = loadUnitFile("[Unit]\nDescription=bench\n\n[Service]\nExecStart=/bin/sleep 1000\n");
  // Times must be ISO 8601: the registry skips a record whose time is not (records.ts).
  const since = new Date().toISOString();
  const ops = [op.put(registry.keys.unitFile(file.hash), file.text)];
  for (let m = 0; m < MACHINES; m++) {
    const id = `${m.toString(16).padStart(8, "0")}${"0".repeat(24)}`;
    ops.push(op.put(registry.keys.machine(id), JSON.stringify({ id, publicIP: `10.1.0.${m + 1}`, metadata: {}, version: VERSION, startedAt: since })));
  }
  for (let i = 0; i < UNITS; i++) {
    const name = `bench-${i}.service`;
    const machine = `${(i % MACHINES).toString(16).padStart(8, "0")}${"0".repeat(24)}`;
    const unit: UnitRecord = { name, hash: file.hash, desiredState: "launched", global: false, requirements: emptyRequirements(), description: "bench" };
    ops.push(op.put(registry.keys.unit(name), JSON.stringify(unit)));
    ops.push(op.put(registry.keys.schedule(machine, name), JSON.stringify({ hash: file.hash, desiredState: "launched", epoch: "1" })));
    ops.push(op.put(registry.keys.state(name, machine), JSON.stringify({ loadState: "loaded", activeState: "active", subState: "running", hash: file.hash, since })));
  }
  // etcd allows 128 operations per transaction by default.
  const batches: (typeof ops)[] = [];
  for (let i = 0; i < ops.length; i += 120) batches.push(ops.slice(i, i + 120));
  for (let i = 0; i < batches.length; i += 32) {
    await Promise.all(batches.slice(i, i + 32).map((b) => client.txn({ compare: [], success: b })));
  }

  const ctl = [fleet, "ctl", "--endpoint", `unix://${sock}`];
  const lines = (n: number) => (out: string) => out.trimEnd().split("\n").length === n;
  const listUnits = await timeCommand([...ctl, "list-units"], RUNS, lines(UNITS + 1));
  const listUnitFiles = await timeCommand([...ctl, "list-unit-files"], RUNS, lines(UNITS + 1));
  const version = await timeCommand([fleet, "ctl", "--version"], Math.max(RUNS, 20));

  const rows = [
    { what: `fleet ctl list-units (${UNITS} units)`, median: median(listUnits), min: listUnits[0]!, max: listUnits.at(-1)!, target: TARGETS.listUnitsMs },
    { what: `fleet ctl list-unit-files (${UNITS} units)`, median: median(listUnitFiles), min: listUnitFiles[0]!, max: listUnitFiles.at(-1)!, target: TARGETS.listUnitsMs },
    { what: "fleet ctl --version", median: median(version), min: version[0]!, max: version.at(-1)!, target: TARGETS.versionMs },
  ];
  const machine = `${availableParallelism()} cores, ${cpus()[0]?.model ?? "unknown cpu"}`;
  const date = new Date().toISOString();
  const table = [
    "| command | median ms | min ms | max ms | target ms | met |",
    "|---|---:|---:|---:|---:|---|",
    ...rows.map((r) => `| ${r.what} | ${r.median.toFixed(1)} | ${r.min.toFixed(1)} | ${r.max.toFixed(1)} | < ${r.target} | ${r.median < r.target ? "yes" : "no"} |`),
  ].join("\n");
  const md = `# bench/cli\n\n${date}, ${machine}. Whole-process wall time of the compiled binary, spawn to exit, ` +
    `${RUNS} runs after one warm-up (20 for --version), over the API on a unix socket served in the ` +
    `benchmark's process by the real handler, with a real etcd holding ${UNITS} units on ${MACHINES} machines ` +
    `(the API pages 100 units per request).\n\n${table}\n`;
  console.log(md);
  const results = join(root, "bench/results");
  writeFileSync(join(results, "cli.json"), JSON.stringify({ date, machine, units: UNITS, runs: RUNS, rows }, null, 2) + "\n");
  writeFileSync(join(results, "cli.md"), md);
} finally {
  await api.close();
  client.close();
  rmSync(dir, { recursive: true, force: true });
}
