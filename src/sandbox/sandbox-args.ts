// The command line of `fleet sandbox`. Pure: argv in, a typed command or an error out.
import { asDuration, asMetadata } from "../config/values.ts";

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
  | ({ command: "kill" | "start"; machine: string } & Common)
  | ({ command: "ssh"; machine: string; rest: string[] } & Common);

const COMMANDS = ["up", "down", "status", "env", "ssh", "kill", "start", "help"] as const;
const VALUE_FLAGS = new Set(["name", "machines", "etcd", "metadata", "agent-ttl", "binary", "state-root"]);
const BOOL_FLAGS = new Set(["examples", "help"]);
const UP_ONLY = new Set(["machines", "etcd", "metadata", "agent-ttl", "binary", "examples"]);

export function parseSandboxArgs(argv: readonly string[]): SandboxArgs {
  const values = new Map<string, string[]>();
  const positional: string[] = [];
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    // After `ssh mN`, everything is the command to run in the machine.
    if (command === "ssh" && positional.length >= 1) {
      positional.push(...argv.slice(i));
      break;
    }
    if (arg === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("-") && arg !== "-") {
      const body = arg.replace(/^--?/, "");
      const eq = body.indexOf("=");
      const flag = eq < 0 ? body : body.slice(0, eq);
      if (flag === "h") {
        values.set("help", ["true"]);
        continue;
      }
      if (BOOL_FLAGS.has(flag)) {
        if (eq >= 0) throw new Error(`flag --${flag} takes no value`);
        values.set(flag, ["true"]);
        continue;
      }
      if (!VALUE_FLAGS.has(flag)) throw new Error(`unknown flag ${arg}`);
      const value = eq >= 0 ? body.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new Error(`flag --${flag} needs a value`);
      values.set(flag, [...(values.get(flag) ?? []), value]);
      continue;
    }
    if (command === undefined) command = arg;
    else positional.push(arg);
  }
  const last = (flag: string) => values.get(flag)?.at(-1);
  const common: Common = { name: last("name") ?? DEFAULT_NAME, stateRoot: last("state-root") };
  if (!/^[a-z][a-z0-9]{0,15}$/.test(common.name)) {
    throw new Error(`cannot use sandbox name "${common.name}": a lowercase letter, then up to 15 letters or digits`);
  }
  if (values.has("help") || command === undefined || command === "help") return { command: "help", ...common };
  if (!(COMMANDS as readonly string[]).includes(command)) throw new Error(`unknown command "${command}"`);
  if (command !== "up") {
    const misplaced = [...values.keys()].find((f) => UP_ONLY.has(f));
    if (misplaced) throw new Error(`flag --${misplaced} applies to up only`);
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
        metadata: parseMetadata(values.get("metadata") ?? [], machines),
        examples: values.has("examples"),
        agentTtl: parseTtl(last("agent-ttl") ?? DEFAULT_AGENT_TTL),
        binary: last("binary"),
      };
    }
    case "down":
    case "status":
    case "env":
      if (positional.length > 0) throw new Error(`${command} takes no arguments, got "${positional.join(" ")}"`);
      return { command, ...common };
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
