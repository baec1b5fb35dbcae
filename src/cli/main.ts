// `fleet ctl` / `fleetctl`: parse the command line, connect, run one command, exit with its code.
// Usage errors exit 2 (quirk Q1 fixed: the original exited 0).
import { createLogger } from "../log/logger.ts";
import { VERSION } from "../version.ts";
import { findCommandWord, parseFlags, UsageError, type FlagSpec, type ParsedFlags } from "./args.ts";
import { type FleetClient, type Machine } from "./client.ts";
import { errorText } from "../lib/error-text.ts";
import type { Command, Ctx } from "./command.ts";
import { COMMANDS, resolveCommand, suggestionText } from "./commands.ts";
import { connect } from "./connect.ts";
import { InitError } from "./endpoint.ts";
import { applyEnvironment, GLOBAL_FLAGS, globalOptions } from "./global-flags.ts";
import { commandHelp, rootHelp } from "./help.ts";
import { type Io, processIo } from "./io.ts";
import { createReporter } from "./progress.ts";
import { versionWarning } from "./version-check.ts";

export interface CtlEnvironment {
  io?: Io;
  env?: Record<string, string | undefined>;
  cwd?: string;
}

const ALL_FLAGS: FlagSpec[] = [...GLOBAL_FLAGS, ...COMMANDS.flatMap((c) => c.flags)];

export async function runCtl(args: string[], environment: CtlEnvironment = {}): Promise<number> {
  const io = environment.io ?? processIo();
  const env = environment.env ?? process.env;
  const cwd = environment.cwd ?? process.cwd();
  let cmd: Command | undefined;
  try {
    if (args.length === 0) {
      io.out(rootHelp(COMMANDS));
      return 0;
    }
    if (args[0] === "--version" || args[0] === "-v") {
      io.out(`fleetctl version ${VERSION}\n`);
      return 0;
    }
    const at = findCommandWord(args, ALL_FLAGS);
    if (at < 0) {
      // Only flags: check them, then show the overview.
      const parsed = parseFlags(args, GLOBAL_FLAGS);
      if (parsed.values.version === true) {
        io.out(`fleetctl version ${VERSION}\n`);
        return 0;
      }
      io.out(rootHelp(COMMANDS));
      return 0;
    }
    const word = args[at]!;
    cmd = resolveCommand(word);
    if (!cmd) throw new UsageError(`unknown command ${JSON.stringify(word)} for "fleetctl"${suggestionText(word)}`);
    const specs = [...GLOBAL_FLAGS, ...cmd.flags];
    const before = args.slice(0, at);
    const after = args.slice(at + 1);
    let parsed: ParsedFlags;
    if (cmd.interspersed === false) {
      // Flags end at the command's first argument (ssh's remote command keeps its own flags).
      parsed = parseFlags(after, specs, { interspersed: false });
      const early = parseFlags(before, specs);
      for (const name of early.set) {
        if (parsed.set.has(name)) continue;
        parsed.values[name] = early.values[name]!;
        parsed.set.add(name);
      }
      parsed.deprecatedUsed.push(...early.deprecatedUsed);
    } else {
      parsed = parseFlags([...before, ...after], specs);
    }
    if (parsed.values.help === true) {
      io.out(commandHelp(cmd));
      return 0;
    }
    applyEnvironment(parsed, env);
    const global = globalOptions(parsed.values);
    const log = createLogger({ verbosity: global.debug ? 1 : 0, journal: false, write: (line) => io.err(`${line}\n`) });
    if (cmd.deprecated) io.err(`Command ${JSON.stringify(cmd.name)} is deprecated, ${cmd.deprecated}\n`);
    for (const f of parsed.deprecatedUsed) io.err(`Flag --${f.name} has been deprecated, ${f.deprecated}\n`);

    let client: FleetClient | undefined;
    if (cmd.needsClient) {
      try {
        const conn = await connect(global, global.debug ? (line) => log.debug(line) : undefined, log);
        client = conn.client;
        for (const w of conn.warnings) log.warn(w);
      } catch (err) {
        io.err(`Unable to initialize client: ${errorText(err)}\n`);
        return 1;
      }
    }
    let machines: Promise<Machine[]> | undefined;
    const fetchMachines = () => {
      if (!client) return Promise.reject(new Error("no client"));
      machines = client.listMachines();
      // A failed listing is not cached: the next caller tries again.
      machines.catch(() => (machines = undefined));
      return machines;
    };
    const ctx: Ctx = {
      io,
      global,
      flags: parsed.values,
      flagsSet: parsed.set,
      args: parsed.positionals,
      cwd,
      log,
      client: client as FleetClient,
      machines: () => machines ?? fetchMachines(),
      refreshMachines: fetchMachines,
      reporter: createReporter(io),
    };
    try {
      if (client && (global.driver.toLowerCase() === "etcd")) {
        const warning = await versionWarning(ctx).catch(() => undefined);
        if (warning) io.err(warning);
      }
      return await cmd.run(ctx);
    } finally {
      await client?.close();
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`Error: ${err.message}\n`);
      io.err(cmd && cmd.name !== "help" ? `Run 'fleetctl help ${cmd.name}' for usage.\n` : "Run 'fleetctl help' for usage.\n");
      return 2;
    }
    if (err instanceof InitError) {
      io.err(`Unable to initialize client: ${err.message}\n`);
      return 1;
    }
    io.err(`fleetctl: ${errorText(err)}\n`);
    return 1;
  }
}
