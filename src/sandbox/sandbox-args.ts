// The command line of `fleet sandbox`. Pure: argv in, a typed command or an error out. cac
// declares the flags and commands; lib/cac-argv.ts reads them in Go's flag syntax.
import { type CAC, type Command, cac } from "cac";
import { asDuration, asMetadata } from "../config/values.ts";
import { type FlagProblem, longName, readArgv } from "../lib/cac-argv.ts";

export const DEFAULT_NAME = "fleet";
export const DEFAULT_MACHINES = 3;
export const MAX_MACHINES = 64;
export const DEFAULT_AGENT_TTL = "5s";

export const USAGE = `Usage: fleet sandbox <command> [--name NAME] [options]

A local fleet cluster on this host: real systemd machines in Linux namespaces, each running
fleet daemon (installed from contrib/systemd), and an etcd on the machines' bridge. Needs root.

Commands:
  up [--machines N] [--etcd URL] [--metadata [mN:]K=V,...] [--examples]
                      boot N machines (default ${DEFAULT_MACHINES}) and an etcd, start fleet (and the host's
                      sshd, for fleet ctl status, journal and ssh) in each, wait until all
                      have registered, and print the FLEETCTL_* lines to use it
  env                 print those lines again (also in /run/fleet-sandbox/NAME/env)
  status              the machines: address, machine ID, systemd, fleet and sshd state
  ssh mN [COMMAND...] a shell in machine mN, or run COMMAND there
  kill mN             kill machine mN at once (its units move to other machines)
  start mN            boot machine mN again (same machine ID) and start fleet and sshd in it
  dashboard [--port N] serve the dashboard on http://127.0.0.1:PORT/ui/ in the foreground
                      (up starts one in the background; the page signs in with FLEETCTL_TOKEN)
  down                remove everything the sandbox made

Options:
  --name NAME         which sandbox (default "${DEFAULT_NAME}"): a lowercase letter, then up to 15 letters or digits
  --machines N        how many machines (1-${MAX_MACHINES})
  --etcd URL          use this etcd instead of starting one: the machines must reach the URL,
                      and down leaves it and the keys under /fleet/ as they are
  --metadata M        machine metadata: "K=V,..." for every machine, "mN:K=V,..." for one; repeatable
  --examples          start examples/units: hello.service, monitor.service (global), web@1 and web@2
  --agent-ttl D       how soon a dead machine's units move (default ${DEFAULT_AGENT_TTL})
  --binary PATH       the fleet binary to install in the machines (default: this one)
`;

interface Common {
  name: string;
  stateRoot?: string;
}

export type SandboxArgs =
  | ({ command: "help" } & Common)
  | ({
      command: "up";
      machines: number;
      etcd?: string;
      /** Metadata by machine name, every machine listed. */
      metadata: Record<string, Record<string, string>>;
      examples: boolean;
      agentTtl: string;
      binary?: string;
    } & Common)
  | ({ command: "down" | "status" | "env" } & Common)
  | ({ command: "dashboard"; port?: number } & Common)
  | ({ command: "kill" | "start"; machine: string } & Common)
  | ({ command: "ssh"; machine: string; rest: string[] } & Common);

/** The command line of `fleet sandbox`, declared for cac; the help text is USAGE. */
function sandboxCli(): CAC {
  const cli = cac("fleet sandbox").option("--name <name>", "").option("--state-root <dir>", "").option("-h, --help", "");
  cli.command("up").option("--machines <n>", "").option("--etcd <url>", "").option("--metadata <spec>", "")
    .option("--examples", "").option("--agent-ttl <duration>", "").option("--binary <path>", "");
  cli.command("dashboard").option("--port <n>", "");
  for (const name of ["down", "status", "env", "ssh", "kill", "start", "help"]) cli.command(name);
  return cli;
}

function problemText(p: FlagProblem): string {
  switch (p.kind) {
    case "unknown-flag":
      return `unknown flag ${p.arg}`;
    case "takes-no-value":
      return `flag --${p.name} takes no value`;
    case "needs-value":
      return `flag --${p.name} needs a value`;
  }
}

export function parseSandboxArgs(argv: readonly string[]): SandboxArgs {
  const cli = sandboxCli();
  // After `ssh mN`, everything is the command to run in the machine.
  const read = readArgv(cli, argv, { stopAfter: (words) => words[0] === "ssh" && words.length >= 2 });
  if ("problem" in read) throw new Error(problemText(read.problem));
  const { flags } = read;
  // A word after `--` is never the command.
  const command = read.words[0];
  const positional = [...read.words.slice(1), ...read.rest];
  const last = (flag: string) => flags.get(flag)?.at(-1);
  const common: Common = { name: last("name") ?? DEFAULT_NAME, stateRoot: last("state-root") };
  if (!/^[a-z][a-z0-9]{0,15}$/.test(common.name)) {
    throw new Error(`cannot use sandbox name "${common.name}": a lowercase letter, then up to 15 letters or digits`);
  }
  if (flags.has("help") || command === undefined || command === "help") return { command: "help", ...common };
  const matched = cli.commands.find((c) => c.isMatched(command));
  if (!matched) throw new Error(`unknown command "${command}"`);
  const misplaced = [...flags.keys()].find((f) => !declares(cli.globalCommand, f) && !declares(matched, f));
  if (misplaced) {
    const owner = cli.commands.find((c) => declares(c, misplaced))!;
    throw new Error(`flag --${misplaced} applies to ${owner.name} only`);
  }
  switch (command) {
    case "up": {
      if (positional.length > 0) throw new Error(`up takes no arguments, got "${positional.join(" ")}"`);
      const machines = parseMachines(last("machines"));
      return {
        command: "up",
        ...common,
        machines,
        etcd: parseEtcdUrl(last("etcd")),
        metadata: parseMetadata(flags.get("metadata") ?? [], machines),
        examples: flags.has("examples"),
        agentTtl: parseTtl(last("agent-ttl") ?? DEFAULT_AGENT_TTL),
        binary: last("binary"),
      };
    }
    case "down":
    case "status":
    case "env":
      if (positional.length > 0) throw new Error(`${command} takes no arguments, got "${positional.join(" ")}"`);
      return { command, ...common };
    case "dashboard": {
      if (positional.length > 0) throw new Error(`dashboard takes no arguments, got "${positional.join(" ")}"`);
      const raw = last("port");
      if (raw === undefined) return { command, ...common };
      const port = Number(raw);
      if (!/^\d+$/.test(raw) || port < 1 || port > 65535) throw new Error(`--port must be a port number from 1 to 65535, got "${raw}"`);
      return { command, ...common, port };
    }
    case "kill":
    case "start": {
      if (positional.length !== 1) throw new Error(`${command} takes one machine name, e.g. ${command} m2`);
      return { command, ...common, machine: machineName(positional[0]!) };
    }
    default: {
      const [machine, ...rest] = positional;
      if (machine === undefined) throw new Error("ssh needs a machine name, e.g. ssh m1");
      return { command: "ssh", ...common, machine: machineName(machine), rest };
    }
  }
}

function declares(command: Command, flag: string): boolean {
  return command.options.some((o) => longName(o) === flag);
}

function machineName(arg: string): string {
  if (!/^m[1-9][0-9]*$/.test(arg)) throw new Error(`"${arg}" is not a machine name (m1, m2, ...)`);
  return arg;
}

function parseMachines(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_MACHINES;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_MACHINES) throw new Error(`--machines must be a whole number from 1 to ${MAX_MACHINES}, got "${raw}"`);
  return n;
}

function parseEtcdUrl(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`--etcd must be a URL such as http://10.0.0.5:2379, got "${raw}"`);
  }
  if (url.protocol !== "http:") throw new Error(`--etcd must be an http URL (the sandbox passes no TLS files), got "${raw}"`);
  if (/^(127\.|localhost$|\[::1\]$)/.test(url.hostname)) {
    throw new Error(`--etcd ${raw} is this host's loopback, which machines cannot reach: give an address of another interface`);
  }
  return raw.replace(/\/+$/, "");
}

/** "K=V,..." for every machine and "mN:K=V,..." for one; later values win. */
export function parseMetadata(specs: readonly string[], machines: number): Record<string, Record<string, string>> {
  const all: Record<string, string> = {};
  const one = new Map<string, Record<string, string>>();
  for (const spec of specs) {
    const target = /^(m[0-9]+):(.*)$/s.exec(spec);
    let pairs: Record<string, string>;
    try {
      pairs = asMetadata(target ? target[2] : spec);
    } catch (err) {
      throw new Error(`cannot parse --metadata "${spec}": ${(err as Error).message}`);
    }
    if (!target) {
      Object.assign(all, pairs);
      continue;
    }
    const name = target[1]!;
    const index = Number(name.slice(1));
    if (index < 1 || index > machines) throw new Error(`--metadata "${spec}" names ${name}, but the sandbox has m1 to m${machines}`);
    one.set(name, { ...one.get(name), ...pairs });
  }
  const out: Record<string, Record<string, string>> = {};
  for (let i = 1; i <= machines; i++) out[`m${i}`] = { ...all, ...one.get(`m${i}`) };
  return out;
}

function parseTtl(raw: string): string {
  try {
    asDuration(raw, 1000, "at least 1s");
  } catch (err) {
    throw new Error(`cannot use --agent-ttl "${raw}": ${(err as Error).message}`);
  }
  return raw;
}
