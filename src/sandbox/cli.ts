// `fleet sandbox <command>`: a local fleet cluster of real systemd machines on this host.
// Parsing, the root check, and what each command prints; the work is in sandbox.ts.
import { realpathSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { Cluster } from "./cluster.ts";
import { ETCD_MISSING, findEtcd } from "./etcd-process.ts";
import { EXAMPLE_UNITS } from "./examples.ts";
import { DASHBOARD_PORT, dashboardUrl, serveDashboard } from "./dashboard.ts";
import { createProgress, formatSeconds } from "./progress.ts";
import { ENV_FILE, readSandboxRecord, type SandboxRecord } from "./sandbox-record.ts";
import {
  bootSandbox, cleanupStaleClusters, enableSsh, ensureDashboard, envMachine, runExamples, sandboxDir, stateRootOf, findSandbox, type Found, killMachine, listSandboxes, machineStatuses, removeSandbox,
  type SandboxRef, startMachine, writeEnv,
} from "./sandbox.ts";
import { parseSandboxArgs, type SandboxArgs, USAGE } from "./sandbox-args.ts";
import { SSHD_MISSING } from "./ssh-access.ts";

export const NEEDS_ROOT = "fleet sandbox needs root: it boots systemd machines in Linux namespaces";

export async function runSandbox(argv: string[]): Promise<number> {
  let args: SandboxArgs;
  try {
    args = parseSandboxArgs(argv);
  } catch (err) {
    process.stderr.write(`fleet sandbox: ${(err as Error).message}\nRun "fleet sandbox help" for usage.\n`);
    return 2;
  }
  if (args.command === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write(`${NEEDS_ROOT}\n`);
    return 1;
  }
  const ref: SandboxRef = { name: args.name, stateRoot: args.stateRoot };
  try {
    switch (args.command) {
      case "up":
        return await up(ref, args);
      case "down":
        return await down(ref);
      case "status":
        return await status(ref);
      case "env":
        return env(ref);
      case "ssh":
        return await ssh(ref, args.machine, args.rest);
      case "dashboard": {
        // `up` starts it before the sandbox is complete, so a booting sandbox will do too.
        const found = findSandbox(ref);
        if (found.kind !== "live" && found.kind !== "booting") return notLive(ref, found);
        return await dashboard(ref, readSandboxRecord(sandboxDir(ref)), args.port);
      }
      case "kill":
        return await withLive(ref, async (cluster, record) => {
          const apiBefore = envMachine(cluster);
          await killMachine(cluster, record, args.machine);
          process.stderr.write(`Killed ${args.machine}; its units move once its lease expires (agent_ttl ${record.agentTtl})\n`);
          const apiNow = envMachine(cluster);
          if (apiBefore?.name === args.machine) {
            const where = apiNow ? `the API of ${apiNow.name} now: eval "$(fleet sandbox env${nameFlag(ref)})"` : "no machine runs now";
            process.stderr.write(`FLEETCTL_ENDPOINT pointed at ${args.machine}; use ${where}\n`);
          }
          return 0;
        });
      case "start":
        return await withLive(ref, async (cluster, record) => {
          await startMachine(cluster, record, args.machine, createProgress());
          process.stderr.write(`${args.machine} is back with machine ID ${cluster.machine(args.machine).machineId}\n`);
          return 0;
        });
    }
  } catch (err) {
    process.stderr.write(`fleet sandbox ${args.command}: ${(err as Error).message}\n`);
    return 1;
  }
}

async function up(ref: SandboxRef, args: Extract<SandboxArgs, { command: "up" }>): Promise<number> {
  const etcdPath = args.etcd === undefined ? findEtcdOrNull() : undefined;
  if (args.etcd === undefined && etcdPath === undefined) {
    process.stderr.write(`${ETCD_MISSING}\n`);
    return 1;
  }
  const binary = args.binary === undefined ? defaultBinary() : givenBinary(args.binary);
  const progress = createProgress();
  const started = Date.now();
  for (const note of await cleanupStaleClusters(ref.stateRoot)) progress.note(note);

  const found = findSandbox(ref);
  switch (found.kind) {
    case "live": {
      const n = found.cluster.machines.length;
      const asked = n === args.machines ? "" : ` (not ${args.machines}: run fleet sandbox down first to change it)`;
      process.stderr.write(`Sandbox ${ref.name} is already up with ${plural(n, "machine")}${asked}\n`);
      if (args.examples) {
        progress.step(`Starting the example units (${EXAMPLE_UNITS.join(", ")})`);
        const out = await runExamples(found.cluster, found.record);
        progress.done();
        process.stderr.write(out);
      }
      if (!(await enableSsh(found.cluster, found.record, progress))) process.stderr.write(`${SSHD_MISSING}\n`);
      await ensureDashboard(found.cluster, found.record, ref);
      // The same lines as `env` (they name the dashboard too).
      process.stdout.write(writeEnv(found.cluster, found.record));
      return 0;
    }
    case "booting":
      throw new Error(`Sandbox ${ref.name} is being created by process ${found.pid} right now`);
    case "foreign":
      throw new Error(`Cannot create sandbox ${ref.name}: a cluster of that name exists that fleet sandbox did not make`);
    case "broken":
      progress.note(`Sandbox ${ref.name} is broken (${found.why}): removing it`);
      await removeSandbox(ref, { hard: true });
      break;
    case "stale":
    case "none":
      break;
  }

  // Ctrl-C while booting: exit, and the cluster's exit hook kills what was made (etcd included).
  const onSignal = () => {
    process.stderr.write(`\nfleet sandbox up: interrupted; removing what was made\n`);
    process.exit(130);
  };
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const s of signals) process.on(s, onSignal);
  try {
    const result = await bootSandbox({
      ...ref,
      machines: args.machines,
      etcd: args.etcd,
      etcdPath,
      metadata: args.metadata,
      examples: args.examples,
      binary,
      agentTtl: args.agentTtl,
      progress,
    });
    const { cluster, record } = result;
    if (result.examples) process.stderr.write(result.examples);
    if (!result.ssh) process.stderr.write(`${SSHD_MISSING}\n`);
    const ips = cluster.machines.map((m) => `${m.name} ${m.ip}`).join(", ");
    process.stdout.write(
      `# Sandbox ${ref.name} is up in ${formatSeconds(Date.now() - started)}: ${ips}; etcd ${record.etcd.endpoint}\n` +
        `# Use it: source ${join(cluster.dir, ENV_FILE)}   (or: eval "$(fleet sandbox env${nameFlag(ref)})")\n` +
        dashboardLine(record) +
        writeEnv(cluster, record),
    );
    return 0;
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}

async function down(ref: SandboxRef): Promise<number> {
  const found = findSandbox(ref);
  if (found.kind === "none") {
    process.stderr.write(`No sandbox named ${ref.name}\n`);
    return 0;
  }
  if (found.kind === "booting") throw new Error(`Sandbox ${ref.name} is being created by process ${found.pid}; interrupt that first`);
  if (found.kind === "foreign") throw new Error(`Cannot remove ${ref.name}: fleet sandbox did not make it`);
  const progress = createProgress();
  progress.step(`Removing sandbox ${ref.name}`);
  await removeSandbox(ref, { hard: found.kind === "stale" });
  progress.done();
  return 0;
}

async function status(ref: SandboxRef): Promise<number> {
  const found = findSandbox(ref);
  if (found.kind !== "live") return notLive(ref, found);
  const { cluster, record } = found;
  const rows = await machineStatuses(cluster, record);
  const lines = [
    `Sandbox ${ref.name}: ${plural(cluster.machines.length, "machine")} on ${cluster.bridge ?? "-"} (${cluster.subnet}.0/24)`,
    `etcd: ${record.etcd.endpoint}${record.etcd.own ? " (started by the sandbox)" : ""}`,
    `env: ${join(cluster.dir, ENV_FILE)}`,
    `dashboard: ${record.dashboardPort ? `${dashboardUrl(record.dashboardPort)} (sign in with FLEETCTL_TOKEN)` : "not started (fleet sandbox up starts it)"}`,
    "",
  ];
  const table = [["MACHINE", "IP", "MACHINE ID", "SYSTEMD", "FLEET", "SSHD"], ...rows.map((r) => [r.name, r.ip, r.machineId, r.systemd, r.fleet, r.sshd])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) lines.push(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "));
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

function env(ref: SandboxRef): number {
  const found = findSandbox(ref);
  if (found.kind !== "live") return notLive(ref, found);
  if (!found.cluster.machines.some((m) => m.isStarted())) process.stderr.write(`No machine of sandbox ${ref.name} is running\n`);
  process.stdout.write(writeEnv(found.cluster, found.record));
  return 0;
}

async function ssh(ref: SandboxRef, machine: string, rest: string[]): Promise<number> {
  return withLive(ref, async (cluster) => {
    const m = cluster.machine(machine);
    if (!m.isStarted()) throw new Error(`Cannot enter ${machine}: it is not running (fleet sandbox start ${machine})`);
    const shell = rest.length === 0 ? ["/bin/bash", "-l"] : ["/bin/sh", "-c", rest.join(" ")];
    const proc = Bun.spawn(m.enterArgv(shell), {
      stdio: ["inherit", "inherit", "inherit"],
      env: {
        PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        HOME: "/root",
        LANG: "C.UTF-8",
        TERM: process.env.TERM ?? "dumb",
      },
    });
    // The terminal's Ctrl-C is for the shell in the machine, not for us.
    const ignore = () => {};
    process.on("SIGINT", ignore);
    try {
      return await proc.exited;
    } finally {
      process.off("SIGINT", ignore);
    }
  });
}

/** The line `up` prints about the dashboard (a shell comment: stdout is meant for eval). */
function dashboardLine(record: SandboxRecord): string {
  if (!record.dashboardPort) return "";
  return `# Dashboard: ${dashboardUrl(record.dashboardPort)}   (sign in with the token: FLEETCTL_TOKEN in the env file)\n`;
}

/** Serves the dashboard in the foreground until SIGINT or SIGTERM. */
async function dashboard(ref: SandboxRef, record: SandboxRecord, port: number | undefined): Promise<number> {
  const chosen = port ?? record.dashboardPort ?? DASHBOARD_PORT;
  const server = serveDashboard(ref.name, stateRootOf(ref), record, chosen);
  process.stderr.write(`Serving the dashboard of sandbox ${ref.name} on ${dashboardUrl(server.port ?? chosen)} (sign in with FLEETCTL_TOKEN)\n`);
  await new Promise<void>((resolve) => {
    for (const s of ["SIGINT", "SIGTERM"] as const) process.once(s, () => resolve());
  });
  await server.stop(true);
  return 0;
}

async function withLive(ref: SandboxRef, fn: (cluster: Cluster, record: SandboxRecord) => Promise<number>): Promise<number> {
  const found = findSandbox(ref);
  if (found.kind !== "live") return notLive(ref, found);
  return fn(found.cluster, found.record);
}

function notLive(ref: SandboxRef, found: Found): number {
  switch (found.kind) {
    case "none": {
      const others = listSandboxes(ref.stateRoot).filter((n) => n !== ref.name);
      const hint = others.length ? ` (there is ${others.join(", ")}: use --name)` : " (fleet sandbox up creates one)";
      process.stderr.write(`No sandbox named ${ref.name}${hint}\n`);
      break;
    }
    case "booting":
      process.stderr.write(`Sandbox ${ref.name} is being created by process ${found.pid}\n`);
      break;
    case "stale":
      process.stderr.write(`Sandbox ${ref.name} was left half-made by a crash: fleet sandbox down${nameFlag(ref)} removes it\n`);
      break;
    case "broken":
      process.stderr.write(`Sandbox ${ref.name} is broken (${found.why}): fleet sandbox down${nameFlag(ref)} removes it\n`);
      break;
    case "foreign":
      process.stderr.write(`${ref.name} is not a sandbox: fleet sandbox did not make it\n`);
      break;
    case "live":
      return 0;
  }
  return 1;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function nameFlag(ref: SandboxRef): string {
  return ref.name === "fleet" ? "" : ` --name ${ref.name}`;
}

function findEtcdOrNull(): string | undefined {
  try {
    return findEtcd();
  } catch {
    return undefined;
  }
}

function givenBinary(path: string): string {
  try {
    return realpathSync(resolve(path));
  } catch {
    throw new Error(`Cannot use --binary ${path}: no such file`);
  }
}

/** This executable when compiled; from source (bun src/main.ts), the built bin/fleet. */
function defaultBinary(): string {
  const exe = realpathSync(process.execPath);
  if (basename(exe) !== "bun") return exe;
  return realpathSync(resolve(import.meta.dir, "../../bin/fleet"));
}
