// `fleet <command> ...`: the roles and words of the top-level command line, declared with cac.
// Only the first word is fleet's; the rest belongs to the role. `--version` and `--help` are
// words here, aliases of `version` and `help`, so only their listed spellings count (cac's flag
// parser would also take -version, --v or --version=1). Not loaded for `fleet ctl` (main.ts).
import { cac, type CAC } from "cac";

export type Role = "daemon" | "ctl" | "sandbox" | "version" | "help";

export type FleetCommand = { role: Role; args: string[] } | { role: undefined; word: string | undefined };

function fleetCli(): CAC {
  const cli = cac("fleet");
  cli.command("daemon [--config FILE]", "run the fleet daemon (engine, agent and API) on this host");
  cli.command("ctl <command> ...", 'the fleetctl client (run "fleet ctl help")');
  cli.command("sandbox <command> ...", 'a local cluster of systemd machines on this host (run "fleet sandbox help")');
  cli.command("version", "print the version").alias("--version").alias("-v");
  cli.command("help").alias("--help").alias("-h");
  return cli;
}

/** The role the first word names, with the words that follow; or the word no role has. */
export function readFleetCommand(argv: readonly string[]): FleetCommand {
  const [word, ...args] = argv;
  const command = word === undefined ? undefined : fleetCli().commands.find((c) => c.isMatched(word));
  return command ? { role: command.name as Role, args } : { role: undefined, word };
}

/** The usage text: each described command with its arguments, as declared. */
export function fleetUsage(): string {
  const lines = fleetCli().commands.filter((c) => c.description !== "").map((c) => `  ${c.rawName.padEnd(23)}  ${c.description}`);
  return `Usage: fleet <command> [args...]

Commands:
${lines.join("\n")}

Invoked through a link named fleetd or fleetctl, fleet takes that role directly.
`;
}
