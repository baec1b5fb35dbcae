// Benchmark: the agent on one real systemd machine (src/sandbox), `bin/fleet daemon` running as a
// unit inside it, etcd on the host bridge. Measures (1) the time from 100 schedule entries
// written to all 100 units reported active in etcd, and (2) the daemon's CPU time while 200
// units sit idle for 60 s (target: under 1% of one core). Needs root and a built bin/fleet.
// `bun bench/agent.ts` prints the figures and writes bench/results/agent.{json,md}.
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join } from "node:path";
import type { Machine } from "../src/sandbox/index.ts";
import { waitFor } from "../src/lib/wait-for.ts";
import { DAEMON_UNIT, type Fleet, scheduleMany, serviceText, startDaemon, startFleet } from "../test/support/functional/agent-harness.ts";

const FIRST = 100;
const TOTAL = 200;
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 60_000);

function units(from: number, to: number): { name: string; text: string }[] {
  const out = [];
  for (let i = from; i < to; i++) {
    out.push({ name: `bench-${String(i).padStart(3, "0")}.service`, text: serviceText(`bench ${i}`, "/bin/sleep infinity") });
  }
  return out;
}

/** How many of this machine's published states are active. */
async function activeCount(fleet: Fleet, m: Machine): Promise<number> {
  const { kvs } = await fleet.client.range(fleet.keys.states, { prefix: true });
  let n = 0;
  for (const kv of kvs) {
    if (!kv.key.endsWith(`/${m.machineId}`)) continue;
    if ((JSON.parse(kv.value) as { activeState: string }).activeState === "active") n++;
  }
  return n;
}

/** Time from writing `batch` to `expected` units active in etcd (ms, polled every 10 ms). */
async function timeToActive(fleet: Fleet, m: Machine, batch: { name: string; text: string }[], expected: number): Promise<number> {
  const t0 = performance.now();
  await scheduleMany(fleet, m, batch);
  await waitFor(async () => (await activeCount(fleet, m)) >= expected, { timeoutMs: 120_000, what: `${expected} units active`, intervalMs: 10 });
  return performance.now() - t0;
}

/** utime + stime of a process inside the machine, in seconds. */
async function cpuSeconds(m: Machine, pid: number, ticksPerSecond: number): Promise<number> {
  const stat = await m.readFile(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces) start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** The daemon's SIGUSR1 state dump, read back from its journal. */
async function dumpStats(m: Machine): Promise<Record<string, number>> {
  await m.systemctl("kill", "-s", "USR1", DAEMON_UNIT);
  const line = await waitFor(async () => {
    const lines = (await m.journal(DAEMON_UNIT)).split("\n").filter((l) => l.includes('"Stats":'));
    return lines.at(-1);
  }, { timeoutMs: 10_000, what: "the state dump" });
  const stats = line.match(/"Stats":(\{[^}]*\})/)?.[1];
  if (!stats) throw new Error(`No stats in the state dump: ${line.slice(0, 200)}`);
  return JSON.parse(stats) as Record<string, number>;
}

async function journalCount(m: Machine, pattern: RegExp): Promise<number> {
  return (await m.journal(DAEMON_UNIT)).split("\n").filter((l) => pattern.test(l)).length;
}

const fleet = await startFleet({ machines: 1 });
try {
  const m = fleet.cluster.machines[0]!;
  await startDaemon(fleet, m);
  const startMs = await timeToActive(fleet, m, units(0, FIRST), FIRST);
  const systemdActive = (await m.systemctl("list-units", "--no-legend", "--state=active", "bench-*")).trim().split("\n").length;
  if (systemdActive !== FIRST) throw new Error(`systemd reports ${systemdActive} bench units active, expected ${FIRST}`);
  const reloadsFirst = await journalCount(m, /type=reload/);
  const afterFirst = await dumpStats(m);

  const secondMs = await timeToActive(fleet, m, units(FIRST, TOTAL), TOTAL);

  const pid = Number((await m.systemctl("show", "-p", "MainPID", "--value", DAEMON_UNIT)).trim());
  const ticks = Number((await m.execOk(["getconf", "CLK_TCK"])).trim());
  // Let the last state writes settle before the idle window starts.
  await Bun.sleep(2000);
  const before = await dumpStats(m);
  const cpu0 = await cpuSeconds(m, pid, ticks);
  const t0 = performance.now();
  await Bun.sleep(IDLE_MS);
  const cpu1 = await cpuSeconds(m, pid, ticks);
  const idleMs = performance.now() - t0;
  const after = await dumpStats(m);
  const idleCpuPercent = ((cpu1 - cpu0) / (idleMs / 1000)) * 100;
  const rss = (await m.readFile(`/proc/${pid}/status`)).match(/VmRSS:\s+(\d+) kB/)?.[1];

  const result = {
    date: new Date().toISOString(),
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? "unknown",
    loadAverage: loadavg()[0] ?? 0,
    bun: Bun.version,
    agentTtl: "3s",
    firstBatch: { units: FIRST, msToAllActive: Math.round(startMs), systemdReloads: reloadsFirst, reconciles: afterFirst.reconciles, publishTxns: afterFirst.publishTxns },
    secondBatch: { units: TOTAL - FIRST, msToAllActive: Math.round(secondMs) },
    idle: {
      units: TOTAL,
      seconds: Math.round(idleMs / 100) / 10,
      cpuSeconds: Math.round((cpu1 - cpu0) * 1000) / 1000,
      cpuPercentOfOneCore: Math.round(idleCpuPercent * 1000) / 1000,
      targetPercent: 1,
      reconciles: (after.reconciles ?? 0) - (before.reconciles ?? 0),
      publishTxns: (after.publishTxns ?? 0) - (before.publishTxns ?? 0),
      daemonRssKb: rss ? Number(rss) : undefined,
    },
  };
  console.log(`100 schedule entries -> 100 units active in etcd: ${result.firstBatch.msToAllActive} ms (${reloadsFirst} systemd reloads, ${afterFirst.reconciles} reconciles, ${afterFirst.publishTxns} state transactions)`);
  console.log(`100 more (200 in all) -> all active: ${result.secondBatch.msToAllActive} ms`);
  console.log(`idle with ${TOTAL} units for ${result.idle.seconds} s: ${result.idle.cpuSeconds} s CPU = ${result.idle.cpuPercentOfOneCore}% of one core (target < 1%); ${result.idle.reconciles} reconciles, ${result.idle.publishTxns} state transactions meanwhile`);

  const outDir = join(import.meta.dir, "results");
  writeFileSync(join(outDir, "agent.json"), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(outDir, "agent.md"), `# agent benchmark

\`bun bench/agent.ts\` (root; needs \`./build\` first): one real systemd machine from src/sandbox runs
\`bin/fleet daemon\` as a systemd unit (\`agent_ttl = "3s"\`, engine disabled), etcd runs on the host's
bridge address, and schedule entries are written straight into etcd (two transactions per 100 units).
Units are \`/bin/sleep infinity\` services. "Active" means the state under \`states/<unit>/<machine>\` in
etcd says \`active\`, polled from the host every 10 ms.

- date: ${result.date}
- machine: ${result.cpus} CPUs (${result.cpuModel}); load average ${result.loadAverage.toFixed(2)} when it ended
- Bun ${result.bun}

| measure | value |
|---|---:|
| 100 schedule entries written -> 100 units active in etcd | ${result.firstBatch.msToAllActive} ms |
| systemd reloads / agent reconciles / state transactions for those 100 | ${reloadsFirst} / ${afterFirst.reconciles} / ${afterFirst.publishTxns} |
| 100 more entries (200 in all) -> all active | ${result.secondBatch.msToAllActive} ms |
| daemon CPU while ${TOTAL} units sit idle for ${result.idle.seconds} s | ${result.idle.cpuSeconds} s (${result.idle.cpuPercentOfOneCore}% of one core; target < 1%) |
| reconciles / state transactions during the idle window | ${result.idle.reconciles} / ${result.idle.publishTxns} |
| daemon resident memory | ${result.idle.daemonRssKb ?? "?"} kB |

The daemon's CPU time is utime + stime from \`/proc/<pid>/stat\` inside the machine. While idle it
only renews its lease (every TTL/3 = 1 s here) and waits on the D-Bus signal and etcd watch
streams: there is no polling loop. The machine is shared with other work, so times vary by run.
`);
} finally {
  await fleet.destroy();
}
