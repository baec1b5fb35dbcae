// The hand-over benchmark (issue 12): real systemd machines in namespaces (the end-to-end
// tests' cluster: `fleet daemon` installed from contrib/systemd, agent_ttl 3 s, the engine's
// lease 3 s), one etcd on the host. Each scenario runs a number of tries; the figure of each is
// timed on the host's clock from etcd's watch events and, for stale copies, from systemd inside
// the machine. Then, with `--units-per-machine-idle` units on every machine: etcd's requests
// by kind while nothing happens, and each daemon's resident memory. Writes
// bench/results/handover.json (every run, by label and size) and handover.md, and prints them.
// Needs root and ./build.
//
//   bun bench/handover/main.ts                                  5 machines, 5 tries of each
//   bun bench/handover/main.ts --machines 25 --tries 3 --scenarios halt,leader-stop
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { execSync } from "node:child_process";
import { Registry } from "../../src/registry/registry.ts";
import { waitFor } from "../../src/lib/wait-for.ts";
import { AGENT_TTL_MS, DAEMON_UNIT, E2eCluster, ENGINE_INTERVAL_S } from "../../test/support/functional/e2e-fixture.ts";
import { diffCounters, scrape } from "../scale/etcd-metrics.ts";
import { ClusterView } from "./observer.ts";
import { renderHandover, type HandoverRun, type IdleFigures, type ScenarioFigures } from "./report.ts";
import { type Ctx, runTry, type ScenarioName, SCENARIOS, submit } from "./scenarios.ts";

const RESULTS = join(import.meta.dir, "..", "results");

function load(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  return a.length === 0 ? NaN : a[Math.floor((a.length - 1) / 2)]!;
}

async function idlePhase(ctx: Ctx, perMachine: number, idleSeconds: number, endpoint: string): Promise<IdleFigures> {
  const { c, view, registry } = ctx;
  const names = Array.from({ length: perMachine * c.machines.length }, (_, i) => `idle-${String(i).padStart(4, "0")}.service`);
  for (let i = 0; i < names.length; i += 50) await Promise.all(names.slice(i, i + 50).map((n) => submit(registry, n)));
  await waitFor(() => names.every((n) => (view.activeOn.get(n)?.size ?? 0) > 0), { timeoutMs: 300_000, what: "every idle unit active", intervalMs: 200 });
  // Let the last reports, echoes and collectors finish before counting.
  await Bun.sleep(10_000);
  const loadStart = load();
  const before = await scrape(endpoint);
  await Bun.sleep(idleSeconds * 1000);
  const d = diffCounters(before, await scrape(endpoint));
  const per = (n: number) => Math.round((n / idleSeconds / c.machines.length) * 1000) / 1000;
  const rss: number[] = [];
  for (const m of c.machines) {
    const pid = (await m.systemctl("show", "-p", "MainPID", "--value", DAEMON_UNIT)).trim();
    const status = await m.readFile(`/proc/${pid}/status`);
    rss.push(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024);
  }
  for (let i = 0; i < names.length; i += 100) await Promise.all(names.slice(i, i + 100).map((n) => registry.destroyUnit(n)));
  return {
    seconds: idleSeconds, unitsPerMachine: perMachine, loadStart, loadEnd: load(),
    perMachinePerSecond: {
      keepalives: per(d.keepalives), range: per(d.range), txn: per(d.txn), put: per(d.put), deleteRange: per(d.deleteRange),
      watchOpened: per(d.watchStreams), watchEvents: per(d.watchEvents), leaseGrant: per(d.leaseGrants), leaseRevoke: per(d.leaseRevokes), leaseTimeToLive: per(d.leaseTimeToLive),
    },
    rssMB: { max: Math.round(Math.max(...rss) * 10) / 10, median: Math.round(median(rss) * 10) / 10 },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      machines: { type: "string", default: "5" },
      tries: { type: "string", default: "5" },
      scenarios: { type: "string", default: SCENARIOS.join(",") },
      "units-per-machine": { type: "string", default: "2" },
      "units-per-machine-idle": { type: "string", default: "100" },
      idle: { type: "string", default: "60" },
      holds: { type: "string", default: "0,5,15" },
      label: { type: "string", default: "default" },
      "no-write": { type: "boolean", default: false },
    },
  });
  const scenarios = values.scenarios!.split(",").filter((x) => x !== "") as ScenarioName[];
  for (const x of scenarios) if (!SCENARIOS.includes(x) && x !== ("idle" as ScenarioName)) throw new Error(`Invalid scenario "${x}": expected one of ${SCENARIOS.join(", ")}, idle`);
  const machines = Number(values.machines);
  const tries = Number(values.tries);
  const run: HandoverRun = {
    label: values.label!, machines, date: new Date().toISOString(), commit: gitCommit(),
    host: { cpus: availableParallelism(), model: cpus()[0]?.model ?? "unknown", bun: Bun.version },
    agentTtlSeconds: AGENT_TTL_MS / 1000, engineIntervalSeconds: ENGINE_INTERVAL_S, scenarios: {},
  };
  const progress = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
  const c = await E2eCluster.start({ machines });
  const view = new ClusterView([c.fleet.client.endpoint], c.fleet.keys.prefix);
  try {
    await view.start();
    const ctx: Ctx = { c, view, registry: new Registry(c.fleet.client, c.fleet.keys.prefix), unitsPerMachine: Number(values["units-per-machine"]), tryNo: 0, holdMs: 0 };
    const holds = values.holds!.split(",").map((h) => Number(h) * 1000);
    progress(`${machines} machines registered (load ${load()})`);
    for (const name of scenarios.filter((x) => x !== ("idle" as ScenarioName))) {
      const fig: ScenarioFigures = { tries: [], loads: [] };
      for (let i = 0; i < tries; i++) {
        ctx.tryNo++;
        // A cut-off machine stays away this much longer than it takes its units to move, in turn.
        ctx.holdMs = holds[i % holds.length] ?? 0;
        const loadAt = load();
        const r = await c.step(() => runTry(ctx, name));
        fig.tries.push(r);
        fig.loads.push(loadAt);
        progress(`${name} #${i + 1}: ${r.figure} s (${Object.entries(r.detail).map(([k, v]) => `${k} ${v}`).join(", ")}; victim ${r.victim}; load ${loadAt})`);
      }
      run.scenarios[name] = fig;
    }
    if (values.scenarios!.split(",").includes("idle")) {
      run.idle = await idlePhase(ctx, Number(values["units-per-machine-idle"]), Number(values.idle), c.fleet.client.endpoint);
      progress(`idle: ${JSON.stringify(run.idle)}`);
    }
  } finally {
    await view.close().catch(() => undefined);
    await c.destroy();
  }
  const jsonPath = join(RESULTS, "handover.json");
  const mdPath = join(RESULTS, "handover.md");
  const old = existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, "utf8")) as { runs: HandoverRun[] }).runs : [];
  // A run of the same label and size keeps the scenarios this one did not repeat.
  const prev = old.find((r) => r.label === run.label && r.machines === run.machines);
  if (prev) {
    run.scenarios = { ...prev.scenarios, ...run.scenarios };
    run.idle ??= prev.idle;
  }
  const runs = [...old.filter((r) => r !== prev), run];
  const md = renderHandover(runs);
  console.log(`\n${md}`);
  if (!values["no-write"]) {
    writeFileSync(jsonPath, `${JSON.stringify({ runs }, null, 2)}\n`);
    writeFileSync(mdPath, md);
    console.log(`Wrote ${jsonPath} and ${mdPath}`);
  }
}

function gitCommit(): string {
  try {
    return execSync("git rev-parse --short HEAD", { cwd: import.meta.dir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exit(1);
});
