// Help text in fleetctl's own layout (compatibility.md §6.1): NAME, USAGE, VERSION (root
// only), COMMANDS, DESCRIPTION, OPTIONS, GLOBAL OPTIONS. Pure.
import { VERSION } from "../version.ts";
import type { FlagSpec } from "./args.ts";
import type { Command } from "./command.ts";
import { GLOBAL_FLAGS } from "./global-flags.ts";
import { tabwrite } from "./table.ts";

export const ROOT_SHORT = "fleetctl is a command-line interface to fleet, the cluster-wide CoreOS init system.";

function flagLine(f: FlagSpec): string {
  const names = f.short ? `-${f.short}, --${f.name}` : `--${f.name}`;
  const def = f.type === "string" ? JSON.stringify(f.default) : String(f.default);
  return `\t${names}=${def}\t${f.usage}\n`;
}

function flagBlock(flags: readonly FlagSpec[]): string {
  return tabwrite(flags.filter((f) => !f.hidden).map(flagLine).join(""));
}

export function rootHelp(commands: readonly Command[]): string {
  const list = tabwrite(
    commands
      .filter((c) => !c.hidden && !c.deprecated)
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((c) => `\t${c.name}\t${c.short}\n`)
      .join(""),
  );
  return (
    `NAME:\n\tfleetctl - ${ROOT_SHORT}\n\n` +
    "USAGE:\n\tfleetctl [global options] <command> [command options] [arguments...]\n\n" +
    `VERSION:\n\t${VERSION}\n\n` +
    `COMMANDS:\n${list}\n` +
    `GLOBAL OPTIONS:\n${flagBlock(GLOBAL_FLAGS)}\n` +
    'Global options can also be configured via upper-case environment variables prefixed by "FLEETCTL_"\n' +
    'For example, "some-flag" => "FLEETCTL_SOME_FLAG"\n\n' +
    'Run "fleetctl help <command>" for more details on a specific command.\n'
  );
}

export function commandHelp(cmd: Command): string {
  let out = `NAME:\n\tfleetctl ${cmd.name} - ${cmd.short}\n\n`;
  out += `USAGE:\n\tfleetctl ${cmd.usage}\n\n`;
  if (cmd.long) out += `DESCRIPTION:\n${cmd.long.split("\n").map((l) => (l === "" ? "\n" : `\t${l}\n`)).join("")}\n`;
  const local = cmd.flags.filter((f) => !f.hidden);
  if (local.length > 0) out += `OPTIONS:\n${flagBlock(local)}\n`;
  out += `GLOBAL OPTIONS:\n${flagBlock(GLOBAL_FLAGS)}`;
  return out;
}
