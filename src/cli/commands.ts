// The command table, help and completion (which need the table), and how a typed word picks a
// command: an exact name, else a unique prefix (compatibility.md §6.1).
import { catCommand } from "./cmd-cat.ts";
import { destroyCommand } from "./cmd-destroy.ts";
import { drainCommand, undrainCommand } from "./cmd-drain.ts";
import { eventsCommand } from "./cmd-events.ts";
import { fdForwardCommand } from "./cmd-fd-forward.ts";
import { listMachinesCommand, listUnitFilesCommand, listUnitsCommand } from "./cmd-list.ts";
import { verifyCommand, versionCommand } from "./cmd-misc.ts";
import { journalCommand, sshCommand, statusCommand } from "./cmd-remote.ts";
import { restartCommand } from "./cmd-restart.ts";
import { rolloutCommand, updateCommand } from "./cmd-rollout.ts";
import { loadCommand, startCommand, submitCommand } from "./cmd-start.ts";
import { stopCommand, unloadCommand } from "./cmd-stop.ts";
import type { Command } from "./command.ts";
import { bashCompletion } from "./completion.ts";
import { commandHelp, rootHelp } from "./help.ts";
import { UsageError } from "./args.ts";

const helpCommand: Command = {
  name: "help",
  short: "Help about any command",
  long: 'Help provides help for any command in the application.\nSimply type fleetctl help [path to command] for full details.',
  usage: "help [command]",
  flags: [],
  needsClient: false,
  run: async (ctx) => {
    const word = ctx.args[0];
    if (word === undefined) {
      ctx.io.out(rootHelp(COMMANDS));
      return 0;
    }
    const cmd = resolveCommand(word);
    if (!cmd) throw new UsageError(`Unknown help topic ${JSON.stringify(word)}${suggestionText(word)}`);
    ctx.io.out(commandHelp(cmd));
    return 0;
  },
};

const completionCommand: Command = {
  name: "completion",
  short: "Output a shell completion script (bash)",
  long: "Prints a bash completion script for fleetctl and \"fleet ctl\" to stdout.\n\nLoad it in the current shell:\n\tsource <(fleetctl completion bash)\n\nInstall it for every shell:\n\tfleetctl completion bash > /etc/bash_completion.d/fleetctl",
  usage: "completion bash",
  flags: [],
  needsClient: false,
  run: async (ctx) => {
    if (ctx.args.length !== 1 || ctx.args[0] !== "bash") {
      throw new UsageError(ctx.args.length === 0 ? "completion needs a shell name: bash" : `unsupported shell ${JSON.stringify(ctx.args.join(" "))}: only bash is supported`);
    }
    ctx.io.out(bashCompletion(COMMANDS));
    return 0;
  },
};

export const COMMANDS: readonly Command[] = [
  catCommand,
  completionCommand,
  destroyCommand,
  drainCommand,
  eventsCommand,
  fdForwardCommand,
  helpCommand,
  journalCommand,
  listMachinesCommand,
  listUnitFilesCommand,
  listUnitsCommand,
  loadCommand,
  restartCommand,
  rolloutCommand,
  sshCommand,
  startCommand,
  statusCommand,
  stopCommand,
  submitCommand,
  undrainCommand,
  unloadCommand,
  updateCommand,
  verifyCommand,
  versionCommand,
];

/** The command a word names: exact, else the only command it is a prefix of. */
export function resolveCommand(word: string, commands: readonly Command[] = COMMANDS): Command | undefined {
  const exact = commands.find((c) => c.name === word);
  if (exact) return exact;
  if (word === "") return undefined;
  const matches = commands.filter((c) => c.name.startsWith(word));
  return matches.length === 1 ? matches[0] : undefined;
}

/** Commands within edit distance 2 of the word, or that it is a prefix of (cobra's suggestions). */
export function suggestions(word: string, commands: readonly Command[] = COMMANDS): string[] {
  const w = word.toLowerCase();
  return commands
    .filter((c) => !c.hidden && !c.deprecated)
    .filter((c) => levenshtein(w, c.name.toLowerCase()) <= 2 || c.name.toLowerCase().startsWith(w))
    .map((c) => c.name);
}

export function suggestionText(word: string): string {
  const s = suggestions(word);
  return s.length === 0 ? "" : `\n\nDid you mean this?\n${s.map((n) => `\t${n}\n`).join("")}`;
}

export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
