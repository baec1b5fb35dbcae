// The shape of a fleetctl command and the context it runs with.
import type { Logger } from "../log/logger.ts";
import { UsageError, type FlagSpec, type FlagValue } from "./args.ts";
import type { FleetClient, Machine } from "./client.ts";
import type { GlobalOptions } from "./global-flags.ts";
import type { Io } from "./io.ts";
import type { WaitReporter } from "./progress.ts";

export interface Ctx {
  io: Io;
  global: GlobalOptions;
  /** This command's flag values (defaults included) and which were given. */
  flags: Record<string, FlagValue>;
  flagsSet: ReadonlySet<string>;
  args: string[];
  cwd: string;
  log: Logger;
  /** Present for commands with `needsClient`. */
  client: FleetClient;
  /** The machine list, fetched once per invocation. */
  machines(): Promise<Machine[]>;
  /** Fetches the machine list again (a unit landed on a machine not seen yet). */
  refreshMachines(): Promise<Machine[]>;
  reporter: WaitReporter;
}

export interface Command {
  name: string;
  /** One line, shown in the command list (the original's exact text). */
  short: string;
  /** Shown under DESCRIPTION in the command's help. */
  long?: string;
  /** The use line, e.g. `submit UNIT...`. */
  usage: string;
  flags: FlagSpec[];
  /** false: flags end at the first argument (ssh's remote command). */
  interspersed?: boolean;
  /** Printed as `Command "<name>" is deprecated, <text>`. */
  deprecated?: string;
  /** Not listed in help. */
  hidden?: boolean;
  /** Connect to fleet before running. */
  needsClient: boolean;
  run(ctx: Ctx): Promise<number>;
}

export function flagBool(ctx: Ctx, name: string): boolean {
  return ctx.flags[name] === true;
}

export function flagInt(ctx: Ctx, name: string): number {
  return Number(ctx.flags[name] ?? 0);
}

export function flagString(ctx: Ctx, name: string): string {
  return String(ctx.flags[name] ?? "");
}

// Flags shared by several commands, with the original's help texts.
export const blockAttemptsFlag = (what: string): FlagSpec => ({
  name: "block-attempts",
  type: "int",
  default: 0,
  usage: `Wait until the ${what}, performing up to N attempts before giving up. A value of 0 indicates no limit. Does not apply to global units.`,
});
export const noBlockFlag = (what: string): FlagSpec => ({
  name: "no-block",
  type: "bool",
  default: false,
  usage: `Do not wait until the ${what} before exiting. Always the case for global units.`,
});
export const replaceFlag = (usage: string): FlagSpec => ({ name: "replace", type: "bool", default: false, usage });
export const signFlag: FlagSpec = { name: "sign", type: "bool", default: false, usage: "DEPRECATED - this option cannot be used" };
export const sshPortFlag: FlagSpec = { name: "ssh-port", type: "int", default: 22, usage: "Connect to remote hosts over SSH using this TCP port." };
export const fullFlag: FlagSpec = { name: "full", short: "l", type: "bool", default: false, usage: "Do not ellipsize fields on output" };
export const noLegendFlag: FlagSpec = { name: "no-legend", type: "bool", default: false, usage: "Do not print a legend (column headers)" };

/** `-o json`: the v1 API's objects instead of a table (list commands) or of sentences (events). */
export const outputFlag = (what: string): FlagSpec => ({
  name: "output", short: "o", type: "string", default: "", usage: `Output format: "json" prints ${what} with the v1 API's field names.`,
});

/** The --output format asked for: undefined for the default text, "json", or a usage error. */
export function outputFormat(ctx: Ctx): "json" | undefined {
  const v = flagString(ctx, "output");
  if (v === "" || v === "text") return undefined;
  if (v === "json") return "json";
  throw new UsageError(`invalid argument ${JSON.stringify(v)} for "--output" flag: expected json`);
}

export const SIGN_WARNING = "WARNING: The signed/verified units feature is DEPRECATED and cannot be used.";
