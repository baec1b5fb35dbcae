// Benchmark: fleet ctl against a real sandbox cluster (`fleet sandbox up`: real systemd machines
// in namespaces, each running `fleet daemon` from this build, etcd on the host bridge). Measures
// (1) blocking `fleet ctl start` of one new unit (from a local template), spawn to exit, as
// p50/p90/p99 over --starts runs; (2) `fleet ctl start --no-block` of N units at once: the
// command's time, and the time from its start until all N are active (watched with blocking
// reads of /fleet/v1/state). With --old-binary, an older fleet ctl runs the same commands against
// the same cluster, interleaved, for the figures beside. The host's load average is recorded
// with every figure: other work shares this machine.
//
//   bun bench/live.ts [--latency-machines 3] [--batch-machines 25] [--starts 40] [--batches 250,1000]
//                     [--old-binary PATH] [--skip-latency] [--skip-batch]
//
// Needs root and ./build; writes bench/results/live.{json,md}.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, freemem, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { sseFrames } from "../src/cli/sse.ts";

const root = join(import.meta.dir, "..");
const NEW = join(root, "bin/fleet");
const { values: args } = parseArgs({
  options: {
    "latency-machines": { type: "string", default: "3" },
    "batch-machines": { type: "string", default: "25" },
    starts: { type: "string", default: "40" },
    batches: { type: "string", default: "250,1000" },
    "old-binary": { type: "string" },
    "skip-latency": { type: "boolean", default: false },
    "skip-batch": { type: "boolean", default: false },
  },
});
const OLD = args["old-binary"];
const STARTS = Number(args.starts);
const BATCHES = args.batches!.split(",").map(Number).filter((n) => n > 0);

interface Cluster {
  name: string;
  env: Record<string, string>;
}

const load = () => Number(loadavg()[0]!.toFixed(2));

async function run(argv: string[], env: Record<string, string> = {}, cwd = root): Promise<{ code: number; out: string; err: string; ms: number; t0: number }> {
  const t0 = performance.now();
  const p = Bun.spawn(argv, { cwd, env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err, ms: performance.now() - t0, t0 };
}

async function must(argv: string[], env: Record<string, string> = {}, cwd = root) {
  const r = await run(argv, env, cwd);
  if (r.code !== 0) throw new Error(`${argv.slice(0, 6).join(" ")}${argv.length > 6 ? " ..." : ""} exited ${r.code}: ${r.err.slice(0, 2000)}`);
  return r;
}

async function up(machines: number): Promise<Cluster> {
  const name = `bl${machines}`;
  console.error(`Booting a sandbox of ${machines} machines (${name})...`);
  await must([NEW, "sandbox", "up", "--name", name, "--machines", String(machines), "--binary", NEW]);
  const env: Record<string, string> = {};
  for (const line of readFileSync(`/run/fleet-sandbox/${name}/env`, "utf8").split("\n")) {
    const m = /^export (FLEETCTL_[A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  // Booting many machines saturates this host for a while (each daemon starting, systemd in each
  // machine): measure once the CPUs are mostly idle again, or after two minutes. (The load
  // average lags, and here it counts tasks that use no CPU: it stayed near 18 on an idle host.)
  await quiet();
  console.error(`Sandbox ${name} is up; load ${load()}`);
  return { name, env };
}

/** The share of CPU time this host spent busy over `ms`, from /proc/stat. */
async function busyShare(ms: number): Promise<number> {
  const read = () => {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await Bun.sleep(ms);
  const b = read();
  return b.total === a.total ? 0 : 1 - (b.idle - a.idle) / (b.total - a.total);
}

/** Waits until the CPUs were at least 90% idle over two seconds, or two minutes have passed. */
async function quiet(): Promise<void> {
  const until = Date.now() + 120_000;
  while (Date.now() < until && (await busyShare(2000)) > 0.1);
}

async function down(c: Cluster): Promise<void> {
  await run([NEW, "sandbox", "down", "--name", c.name]);
}

/** A GET of the API as fleet ctl sends it (https, the sandbox's CA and token). */
function get(c: Cluster, path: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`${c.env.FLEETCTL_ENDPOINT}/fleet/v1/${path}`, {
    headers: { Authorization: `Bearer ${c.env.FLEETCTL_TOKEN}` },
    tls: { ca: readFileSync(c.env.FLEETCTL_CA_FILE!, "utf8") },
    signal,
  } as RequestInit);
}

/** A GET's JSON and X-Fleet-Index. */
async function api(c: Cluster, path: string): Promise<{ body: Record<string, unknown>; index?: number }> {
  let res: Response;
  for (let attempt = 1; ; attempt++) {
    res = await get(c, path);
    // 503: the daemon's etcd request timed out on this saturated host; fleet ctl asks again too.
    if (res.status !== 503 || attempt === 10) break;
    console.error(`GET ${path}: 503 ${await res.text()}; asking again`);
    await Bun.sleep(250);
  }
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  const index = res.headers.get("X-Fleet-Index");
  return { body: (await res.json()) as Record<string, unknown>, index: index === null ? undefined : Number(index) };
}

/** Every unit state, from all pages; the first page waits past `after` when given. */
async function states(c: Cluster, after?: number): Promise<{ list: { name: string; systemdActiveState: string }[]; index?: number }> {
  const list: { name: string; systemdActiveState: string }[] = [];
  let token: string | undefined;
  let index: number | undefined;
  do {
    const q = token ? `state?nextPageToken=${token}` : after === undefined ? "state" : `state?waitIndex=${after}&wait=30s`;
    const r = await api(c, q);
    if (!token) index = r.index;
    list.push(...((r.body.states as typeof list | undefined) ?? []));
    token = r.body.nextPageToken as string | undefined;
  } while (token);
  return { list, index };
}

/** Resolves when `count(states)` holds, looking again after every change of the states. */
async function whenStates(c: Cluster, done: (s: { name: string; systemdActiveState: string }[]) => boolean): Promise<number> {
  let after: number | undefined;
  for (;;) {
    const { list, index } = await states(c, after);
    if (done(list)) return performance.now();
    after = index;
  }
}

async function unitCount(c: Cluster, prefix: string): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const r = await api(c, token ? `units?nextPageToken=${token}` : "units");
    n += ((r.body.units as { name: string }[] | undefined) ?? []).filter((u) => u.name.startsWith(prefix)).length;
    token = r.body.nextPageToken as string | undefined;
  } while (token);
  return n;
}

/** Destroys the units whose names start with `prefix` and waits until no machine reports them. */
async function clean(c: Cluster, bin: string, dir: string, names: string[], prefix: string): Promise<void> {
  for (let i = 0; i < names.length; i += 500) await must([bin, "ctl", "destroy", "--no-block", ...names.slice(i, i + 500)], c.env, dir);
  await whenStates(c, (s) => !s.some((x) => x.name.startsWith(prefix)));
  if ((await unitCount(c, prefix)) !== 0) throw new Error(`units ${prefix}* are still there`);
}

/**
 * Resolves (to the moment) when `n` units matching `glob` are active by the event stream's state
 * reports; the stream is open when this returns, so nothing after it is missed. When the stream
 * ends early (a dropped client), the states are read instead.
 */
async function whenActive(c: Cluster, glob: string, n: number): Promise<{ done: Promise<number> }> {
  const res = await get(c, `events?unit=${encodeURIComponent(glob)}&kinds=unit.state`);
  if (!res.ok || !res.body) throw new Error(`GET events: ${res.status} ${await res.text()}`);
  const prefix = glob.replace(/\*$/, "");
  const done = (async () => {
    const active = new Set<string>();
    for await (const f of sseFrames(res.body!, 60_000)) {
      if (!f.data) continue;
      const e = JSON.parse(f.data) as { kind: string; unit?: string; activeState?: string };
      if (e.kind !== "unit.state" || !e.unit) continue;
      if (e.activeState === "active") active.add(e.unit);
      else active.delete(e.unit);
      if (active.size >= n) {
        void res.body!.cancel().catch(() => {});
        return performance.now();
      }
    }
    console.error(`The event stream ended with ${active.size} of ${n} active; reading the states instead`);
    return whenStates(c, (s) => s.filter((x) => x.name.startsWith(prefix) && x.systemdActiveState === "active").length >= n);
  })();
  return { done };
}

/**
 * When each event about units matching `glob` reached this process, by unit and kind (the first
 * of each; `unit.state` only once active): where a start's time goes, seen from outside.
 */
function followEvents(c: Cluster, glob: string): { seen: Map<string, Map<string, number>>; stop: () => void } {
  const seen = new Map<string, Map<string, number>>();
  const ac = new AbortController();
  void (async () => {
    const res = await get(c, `events?unit=${encodeURIComponent(glob)}&kinds=unit.desired,unit.placed,unit.state`, ac.signal);
    for await (const f of sseFrames(res.body!, 60_000)) {
      if (!f.data) continue;
      const e = JSON.parse(f.data) as { kind: string; unit?: string; activeState?: string };
      if (!e.unit || (e.kind === "unit.state" && e.activeState !== "active")) continue;
      let byKind = seen.get(e.unit);
      if (!byKind) seen.set(e.unit, (byKind = new Map()));
      if (!byKind.has(e.kind)) byKind.set(e.kind, performance.now());
    }
  })().catch(() => {});
  return { seen, stop: () => ac.abort() };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** Medians of one start's parts: spawn -> desired state written, -> placed, -> active reported, -> exit. */
interface Breakdown {
  toDesired: number;
  toPlaced: number;
  toActive: number;
  toExit: number;
}

interface LatencyRow {
  cli: string;
  breakdown?: Breakdown;
  runs: number;
  p50: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  loadBefore: number;
  loadAfter: number;
}

async function latency(c: Cluster, machines: number): Promise<LatencyRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "fleet-bench-live-"));
  writeFileSync(join(dir, "lat@.service"), "[Unit]\nDescription=latency %i\n\n[Service]\nExecStart=/bin/sleep infinity\n");
  const clis = [{ label: "new", bin: NEW }, ...(OLD ? [{ label: "old", bin: OLD }] : [])];
  const times: Record<string, number[]> = Object.fromEntries(clis.map((x) => [x.label, []]));
  const names: string[] = [];
  const loadBefore = load();
  const events = followEvents(c, "lat@*");
  const spans: { name: string; t0: number; t1: number }[] = [];
  try {
    // Two warm-up starts each (the daemons' first event readers, caches), then the runs, interleaved.
    for (let i = -2; i < STARTS; i++) {
      for (const cli of clis) {
        const name = `lat@${cli.label}${i + 2}.service`;
        names.push(name);
        const r = await must([cli.bin, "ctl", "start", name], c.env, dir);
        if (!r.out.includes(`Unit ${name} launched on`)) throw new Error(`start ${name}: ${r.out} ${r.err}`);
        if (i >= 0) times[cli.label]!.push(r.ms);
        if (i >= 0 && cli.label === "new") spans.push({ name, t0: r.t0, t1: r.t0 + r.ms });
      }
    }
    const loadAfter = load();
    const parts = spans.flatMap(({ name, t0, t1 }) => {
      const e = events.seen.get(name);
      const [d, p, a] = [e?.get("unit.desired"), e?.get("unit.placed"), e?.get("unit.state")];
      return d && p && a ? [{ toDesired: d - t0, toPlaced: p - d, toActive: a - p, toExit: t1 - a }] : [];
    });
    const breakdown: Breakdown | undefined = parts.length === 0 ? undefined : {
      toDesired: median(parts.map((x) => x.toDesired)), toPlaced: median(parts.map((x) => x.toPlaced)),
      toActive: median(parts.map((x) => x.toActive)), toExit: median(parts.map((x) => x.toExit)),
    };
    await clean(c, NEW, dir, names, "lat@");
    return clis.map((cli) => {
      const t = times[cli.label]!.sort((a, b) => a - b);
      return {
        cli: cli.label, runs: t.length, p50: pct(t, 50), p90: pct(t, 90), p99: pct(t, 99), min: t[0]!, max: t.at(-1)!, loadBefore, loadAfter,
        ...(cli.label === "new" && breakdown ? { breakdown } : {}),
      };
    });
  } finally {
    events.stop();
    rmSync(dir, { recursive: true, force: true });
    console.error(`latency on ${machines} machines done`);
  }
}

interface BatchRow {
  cli: string;
  units: number;
  machines: number;
  commandMs: number;
  allActiveMs: number;
  loadBefore: number;
  loadAfter: number;
  /** Why the run failed (the command's error), when it did. */
  failed?: string;
}

async function batch(c: Cluster, machines: number, n: number, cli: { label: string; bin: string }): Promise<BatchRow> {
  const dir = mkdtempSync(join(tmpdir(), "fleet-bench-live-"));
  writeFileSync(join(dir, "b@.service"), "[Unit]\nDescription=batch %i\n\n[Service]\nExecStart=/bin/sleep infinity\n");
  const names = Array.from({ length: n }, (_, i) => `b@${cli.label}${i}.service`);
  try {
    // The last batch's clean-up (250 or 1,000 units stopped and removed) must not be measured here.
    await quiet();
    const loadBefore = load();
    // Followed on the event stream: a blocking read of every state after each change would load
    // the API daemon and etcd with the measurement itself. Checked against the states after.
    const allActive = (await whenActive(c, `b@${cli.label}*`, n)).done;
    allActive.catch(() => {});
    const t0 = performance.now();
    const r = await run([cli.bin, "ctl", "start", "--no-block", ...names], c.env, dir);
    if (r.code !== 0) {
      const failed = r.err.trim().split("\n").at(-1) ?? `exit ${r.code}`;
      console.error(`${n} units (${cli.label} fleet ctl) failed after ${r.ms.toFixed(0)} ms: ${failed}`);
      await clean(c, NEW, dir, names, `b@${cli.label}`);
      return { cli: cli.label, units: n, machines, commandMs: r.ms, allActiveMs: NaN, loadBefore, loadAfter: load(), failed };
    }
    const commandMs = r.ms;
    const allActiveMs = (await allActive) - t0;
    const reported = (await states(c)).list.filter((x) => x.name.startsWith(`b@${cli.label}`) && x.systemdActiveState === "active").length;
    if (reported < n) throw new Error(`The event stream counted ${n} units of b@${cli.label}* active, the states only ${reported}`);
    const loadAfter = load();
    await clean(c, NEW, dir, names, `b@${cli.label}`);
    console.error(`${n} units (${cli.label} fleet ctl): command ${commandMs.toFixed(0)} ms, all active ${allActiveMs.toFixed(0)} ms, load ${loadBefore} -> ${loadAfter}`);
    return { cli: cli.label, units: n, machines, commandMs, allActiveMs, loadBefore, loadAfter };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const started = new Date().toISOString();
const latencyRows: (LatencyRow & { machines: number })[] = [];
const batchRows: BatchRow[] = [];
const latencyMachines = Number(args["latency-machines"]);
const batchMachines = Number(args["batch-machines"]);
const freeGb = (freemem() / 2 ** 30).toFixed(1);

const ms = (x: number) => (Number.isNaN(x) ? "-" : `${Math.round(x)}`);

/** Writes what has been measured so far (after each phase: a later failure keeps it). */
function report(): void {
const machine = `${availableParallelism()} cores (${cpus()[0]?.model ?? "unknown cpu"}), ${freeGb} GiB free at the start`;
const md = [
  "# bench/live",
  "",
  `${started}, ${machine}, Bun ${Bun.version}. \`bun bench/live.ts\`: a real sandbox cluster (\`fleet sandbox up\`, every machine a`,
  "systemd in namespaces running `fleet daemon` of this build, etcd on the host bridge); fleet ctl runs on the host against",
  "the API of m1 over https with the sandbox's token, as `fleet sandbox env` sets it up. Units are `/bin/sleep infinity`",
  "services from a local template. `new` is this build's fleet ctl; `old` an earlier fleet ctl against the same cluster",
  "(interleaved with `new` for the latency runs). Load is the host's 1-minute load average before and after (2 cores, shared",
  "with other work).",
  "",
  "## Blocking `fleet ctl start` of one unit (spawn to exit)",
  "",
  "| fleet ctl | machines | runs | p50 ms | p90 ms | p99 ms | min ms | max ms | load before -> after |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---|",
  ...latencyRows.map((r) => `| ${r.cli} | ${r.machines} | ${r.runs} | ${ms(r.p50)} | ${ms(r.p90)} | ${ms(r.p99)} | ${ms(r.min)} | ${ms(r.max)} | ${r.loadBefore} -> ${r.loadAfter} |`),
  "",
  "Where a start's time goes (medians, new fleet ctl), from the moments this process received the unit's events on a stream",
  "of its own: spawn -> the desired state written (fleet ctl starting, reading, creating the unit, setting it launched),",
  "-> placed (the engine), -> systemd reported active (the agent: write, reload, start, publish), -> fleet ctl exited",
  "(it noticing, reading the states, printing, exiting). The stream's own delay is in the last two.",
  "",
  "| machines | spawn -> desired ms | -> placed ms | -> active ms | -> exit ms |",
  "|---:|---:|---:|---:|---:|",
  ...latencyRows.filter((r) => r.breakdown).map((r) => `| ${r.machines} | ${ms(r.breakdown!.toDesired)} | ${ms(r.breakdown!.toPlaced)} | ${ms(r.breakdown!.toActive)} | ${ms(r.breakdown!.toExit)} |`),
  "",
  "## `fleet ctl start --no-block` of many units",
  "",
  "| fleet ctl | units | machines | command ms | all active ms | load before -> after |",
  "|---|---:|---:|---:|---:|---|",
  ...batchRows.map((r) => `| ${r.cli} | ${r.units} | ${r.machines} | ${ms(r.commandMs)}${r.failed ? ` (failed: ${r.failed})` : ""} | ${ms(r.allActiveMs)} | ${r.loadBefore} -> ${r.loadAfter} |`),
  "",
  "p50/p90/p99 are nearest-rank percentiles. Targets (issue 11): blocking start p50 <= 250 ms and p99 <= 500 ms; 250 units",
  "submitted and all active <= 3 s on 25 machines; 1,000 units <= 10 s.",
  "",
].join("\n");
console.error(md);
const out = join(root, "bench/results");
writeFileSync(join(out, "live.json"), `${JSON.stringify({ date: started, machine, latency: latencyRows, batches: batchRows }, null, 2)}\n`);
writeFileSync(join(out, "live.md"), md);
}

if (!args["skip-latency"]) {
  const c = await up(latencyMachines);
  try {
    for (const row of await latency(c, latencyMachines)) latencyRows.push({ ...row, machines: latencyMachines });
    report();
  } finally {
    await down(c);
  }
}
if (!args["skip-batch"] && BATCHES.length > 0) {
  const c = await up(batchMachines);
  try {
    for (const n of BATCHES) {
      batchRows.push(await batch(c, batchMachines, n, { label: "new", bin: NEW }));
      if (OLD) batchRows.push(await batch(c, batchMachines, n, { label: "old", bin: OLD }));
      report();
    }
  } finally {
    await down(c);
  }
}
