// The hand-over benchmark's records (bench/results/handover.json) and their markdown (handover.md):
// per run, each scenario's figure over its tries (median and maximum, with the load average at
// each try), the other times of a try as medians, and the idle figures. Pure.
import type { ScenarioName, TryResult } from "./scenarios.ts";

export interface ScenarioFigures {
  tries: TryResult[];
  /** The 1-minute load average as each try began. */
  loads: number[];
}

export interface IdleFigures {
  seconds: number;
  unitsPerMachine: number;
  loadStart: number;
  loadEnd: number;
  /** etcd requests per machine per second, by kind (watchEvents: events etcd sent). */
  perMachinePerSecond: Record<string, number>;
  /** The daemons' resident memory (MB). */
  rssMB: { max: number; median: number };
}

export interface HandoverRun {
  label: string;
  machines: number;
  date: string;
  commit: string;
  host: { cpus: number; model: string; bun: string };
  agentTtlSeconds: number;
  engineIntervalSeconds: number;
  scenarios: Partial<Record<ScenarioName, ScenarioFigures>>;
  idle?: IdleFigures;
}

const WHAT: Record<ScenarioName, { figure: string; target: string }> = {
  "halt": { figure: "clean shutdown of a host (not the leader): halt → its units active elsewhere", target: "≤ 1.5" },
  "halt-leader": { figure: "clean shutdown of the leader's host: halt → its units active elsewhere", target: "≤ 1.5" },
  "leader-stop": { figure: "leader's daemon stopped: a unit submitted then → active", target: "≤ 1.5" },
  "leader-kill": { figure: "leader's daemon killed (SIGKILL): a unit submitted then → active", target: "" },
  "network-cut": { figure: "machine cut off the network past agent_ttl: back → its stale copies stopped", target: "≤ 1" },
  "freeze": { figure: "machine frozen past agent_ttl: thawed → its stale copies stopped", target: "≤ 1" },
  "daemon-down": { figure: "daemon stopped past agent_ttl: started → its stale copies stopped", target: "≤ 1" },
};

const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "—");

function quantiles(xs: number[]): { p50: number; max: number } {
  const a = [...xs].sort((x, y) => x - y);
  return { p50: a.length ? a[Math.floor((a.length - 1) / 2)]! : NaN, max: a.length ? a[a.length - 1]! : NaN };
}

function scenarioRows(run: HandoverRun): string[] {
  const rows: string[] = [];
  for (const [name, fig] of Object.entries(run.scenarios) as [ScenarioName, ScenarioFigures][]) {
    const q = quantiles(fig.tries.map((t) => t.figure));
    const keys = [...new Set(fig.tries.flatMap((t) => Object.keys(t.detail)))];
    const detail = keys.map((k) => `${k} ${fmt(quantiles(fig.tries.map((t) => t.detail[k] ?? NaN).filter(Number.isFinite)).p50)}`).join(", ");
    const loads = `${Math.min(...fig.loads)}–${Math.max(...fig.loads)}`;
    rows.push(`| ${WHAT[name].figure} | ${WHAT[name].target} | ${fig.tries.length} | ${fmt(q.p50)} | ${fmt(q.max)} | ${fig.tries.map((t) => fmt(t.figure)).join(", ")} | ${detail} | ${loads} |`);
  }
  return rows;
}

function idleLines(idle: IdleFigures): string[] {
  const kinds = Object.entries(idle.perMachinePerSecond).map(([k, v]) => `${k} ${v}`).join(", ");
  return [
    `- idle ${idle.seconds} s with ${idle.unitsPerMachine} units on every machine (load ${idle.loadStart} → ${idle.loadEnd}): etcd requests per machine per second: ${kinds}`,
    `- daemon resident memory (VmRSS) after that: median ${idle.rssMB.median} MB, largest ${idle.rssMB.max} MB (target ≤ 40)`,
  ];
}

export function renderRun(run: HandoverRun): string {
  const lines = [
    `## ${run.label}: ${run.machines} machines (${run.date.slice(0, 16).replace("T", " ")}, ${run.commit})`,
    "",
    `${run.host.cpus} CPUs (${run.host.model}), Bun ${run.host.bun}; agent_ttl ${run.agentTtlSeconds} s, engine_reconcile_interval ${run.engineIntervalSeconds} s (leader lease ${Math.round(run.engineIntervalSeconds * 5 * 10) / 10} s).`,
    "",
  ];
  if (Object.keys(run.scenarios).length > 0) {
    lines.push("| what (seconds) | target | tries | p50 | max | each try | other times (p50) | load average |", "|---|---:|---:|---:|---:|---|---|---|", ...scenarioRows(run), "");
  }
  if (run.idle) lines.push(...idleLines(run.idle), "");
  return lines.join("\n");
}

export function renderHandover(runs: readonly HandoverRun[]): string {
  return [
    "# Hand-over benchmark (issue 12)",
    "",
    "`bun bench/handover/main.ts [--machines N] [--tries N] [--scenarios a,b] [--label L]` (root, after",
    "`./build`): real systemd machines in namespaces running `fleet daemon` as installed from",
    "contrib/systemd, one etcd on the host; times on the host's clock from etcd's watch events, and",
    "for stale copies from systemd inside the machine. Each run below is kept in handover.json.",
    "",
    ...runs.map(renderRun),
  ].join("\n");
}
