// status, journal and ssh: commands that run on a unit's machine through the system ssh client
// (compatibility.md §6.6.8, §6.6.10, §6.6.11, §6.7; quirks Q9 and Q22 fixed).
import { mangleUnitName } from "../unit/unit-name.ts";
import { type Machine } from "./client.ts";
import { errorText } from "../lib/error-text.ts";
import { type Command, type Ctx, flagBool, flagInt, flagString, sshPortFlag } from "./command.ts";
import { sshSettings } from "./connect.ts";
import { getUnitOrSay } from "./find-units.ts";
import { localMachineId, prepareKnownHosts, runInteractive, runOnMachine, type RemoteRun } from "./remote.ts";
import { journalctlArgv, machineAddressError, sshArgv, systemctlArgv } from "./ssh.ts";
import { isGlobalUnit } from "./unit-info.ts";

const doesNotExist = (name: string) => `Unit ${name} does not exist.`;

function remote(ctx: Ctx, port: number): RemoteRun {
  return { io: ctx.io, machines: () => ctx.machines(), ssh: sshSettings(ctx.global, port), localId: localMachineId() };
}

/**
 * A command line from its builder, or undefined with the error printed: the builders refuse
 * values that must not reach ssh, systemctl or journalctl (an invalid unit name, say).
 */
export function built(ctx: Ctx, build: () => string[]): string[] | undefined {
  try {
    return build();
  } catch (err) {
    ctx.io.err(`${errorText(err)}\n`);
    return undefined;
  }
}

/** Runs argv on every machine that reports a state for the unit (global units, quirk Q9). */
export async function runOnUnitMachines(ctx: Ctx, name: string, argv: string[], port: number): Promise<number> {
  let machineIds: string[];
  try {
    machineIds = [...new Set((await ctx.client.listUnitStates({ unitName: name })).map((s) => s.machineID))].sort();
  } catch (err) {
    ctx.io.err(`Error retrieving unit states of ${name}: ${errorText(err)}\n`);
    return 1;
  }
  if (machineIds.length === 0) {
    ctx.io.err(`Global unit ${name} is not reported by any machine.\n`);
    return 1;
  }
  const r = remote(ctx, port);
  for (const [i, id] of machineIds.entries()) {
    if (i > 0) ctx.io.out("\n");
    const code = await runOnMachine(r, id, argv);
    if (code !== 0) return code;
  }
  return 0;
}

async function runStatus(ctx: Ctx): Promise<number> {
  const port = flagInt(ctx, "ssh-port");
  const globals: string[] = [];
  let shown = 0;
  for (const arg of ctx.args) {
    const name = mangleUnitName(arg);
    const unit = await getUnitOrSay(ctx, name, { failed: (_, why) => `Error retrieving unit: ${why}`, missing: doesNotExist });
    if (!unit) return 1;
    if (isGlobalUnit(unit)) {
      globals.push(name);
      continue;
    }
    if (unit.currentState === "inactive" || !unit.machineID) {
      ctx.io.err(`Unit ${name} does not appear to be loaded.\n`);
      return 1;
    }
    const argv = built(ctx, () => systemctlArgv("status", name));
    if (!argv) return 1;
    if (shown++ > 0) ctx.io.out("\n");
    const code = await runOnMachine(remote(ctx, port), unit.machineID, argv);
    if (code !== 0) return code;
  }
  for (const name of globals) {
    const argv = built(ctx, () => systemctlArgv("status", name));
    if (!argv) return 1;
    if (shown++ > 0) ctx.io.out("\n");
    const code = await runOnUnitMachines(ctx, name, argv, port);
    if (code !== 0) return code;
  }
  return 0;
}

async function runJournal(ctx: Ctx): Promise<number> {
  if (ctx.args.length !== 1) {
    ctx.io.err("One unit file must be provided.\n");
    return 1;
  }
  const name = mangleUnitName(ctx.args[0]!);
  const unit = await getUnitOrSay(ctx, name, { failed: (n, why) => `Error retrieving unit ${n}: ${why}`, missing: doesNotExist });
  if (!unit) return 1;
  if (isGlobalUnit(unit)) {
    ctx.io.err(`Unable to retrieve journal of global unit ${name}.\n`);
    return 1;
  }
  if (unit.currentState === "inactive" || !unit.machineID) {
    ctx.io.err(`Unit ${name} does not appear to be running.\n`);
    return 1;
  }
  const argv = built(ctx, () =>
    journalctlArgv(name, {
      lines: flagInt(ctx, "lines"),
      follow: flagBool(ctx, "follow"),
      output: flagString(ctx, "output"),
      sudo: flagBool(ctx, "sudo"),
    }),
  );
  if (!argv) return 1;
  return runOnMachine(remote(ctx, flagInt(ctx, "ssh-port")), unit.machineID, argv);
}

/** Where `fleetctl ssh` connects: a machine id prefix or a unit's machine. */
export async function sshTarget(ctx: Ctx, machines: readonly Machine[]): Promise<{ machineId: string; address: string; rest: string[] } | { error: string }> {
  const machineFlag = flagString(ctx, "machine");
  const unitFlag = flagString(ctx, "unit");
  if (machineFlag && unitFlag) return { error: "Both machine and unit flags provided, please specify only one." };
  const byMachine = (prefix: string): Machine | undefined => {
    const found = machines.filter((m) => m.id.startsWith(prefix));
    if (found.length > 1) throw new Error("found more than one machine");
    return found[0];
  };
  const byUnit = async (arg: string): Promise<Machine | undefined> => {
    const unit = await ctx.client.getUnit(mangleUnitName(arg));
    if (!unit) return undefined;
    if (isGlobalUnit(unit)) throw new Error("global units unsupported");
    return machines.find((m) => m.id === unit.machineID) ?? { id: unit.machineID ?? "", primaryIP: "", metadata: {} };
  };
  let rest = [...ctx.args];
  let machine: Machine | undefined;
  try {
    if (machineFlag) {
      machine = byMachine(machineFlag);
      if (!machine) throw new Error("machine does not exist");
    } else if (unitFlag) {
      machine = await byUnit(unitFlag);
      if (!machine) throw new Error("unit does not exist");
    } else {
      const arg = rest.shift();
      if (arg === undefined) throw new Error("one machine or unit must be provided");
      const m = byMachine(arg);
      const u = await byUnit(arg).catch(() => undefined);
      if (m && u) {
        throw new Error(`ambiguous argument, both machine and unit found for \`${arg}\`.\nPlease use flag \`--machine\` or \`--unit\` to refine the search`);
      }
      machine = m ?? u;
      if (!machine) throw new Error("could not find matching unit or machine");
    }
  } catch (err) {
    return { error: `Unable to proceed: ${errorText(err)}` };
  }
  const dash = rest.indexOf("--");
  if (dash >= 0) rest = rest.slice(dash + 1);
  return { machineId: machine.id, address: machine.primaryIP, rest };
}

async function runSsh(ctx: Ctx): Promise<number> {
  let machines: Machine[];
  try {
    machines = await ctx.machines();
  } catch (err) {
    ctx.io.err(`Unable to proceed: ${errorText(err)}\n`);
    return 1;
  }
  const target = await sshTarget(ctx, machines);
  if ("error" in target) {
    ctx.io.err(`${target.error}\n`);
    return 1;
  }
  if (!target.address) {
    ctx.io.err("Could not determine address of machine.\n");
    return 1;
  }
  const refused = machineAddressError(target.machineId, target.address);
  if (refused) {
    ctx.io.err(`${refused}\n`);
    return 1;
  }
  const settings = { ...sshSettings(ctx.global, flagInt(ctx, "ssh-port")), forwardAgent: flagBool(ctx, "forward-agent") };
  const argv = built(ctx, () => sshArgv(target.address, settings, target.rest.join(" ")));
  if (!argv) return 1;
  prepareKnownHosts(settings);
  return runInteractive(argv, ctx.io, "Failed building SSH client");
}

export const statusCommand: Command = {
  name: "status",
  short: "Output the status of one or more units in the cluster",
  long: "Output the status of one or more units currently running in the cluster. Supports glob matching of units in the current working directory or matches previously started units.\n\nShow status of a single unit:\n\tfleetctl status foo.service\n\nShow status of an entire directory with glob matching:\n\tfleetctl status myservice/*\n\nFor a global unit, the status is shown from every machine that reports it.\n\nThis command runs systemctl over SSH (the system ssh client) on the unit's machine.",
  usage: "status [--ssh-port=N] UNIT...",
  flags: [sshPortFlag],
  needsClient: true,
  run: runStatus,
};

export const journalCommand: Command = {
  name: "journal",
  short: "Print the journal of a unit in the cluster to stdout",
  long: "Outputs the journal of a unit by connecting to the machine that the unit occupies.\n\nRead the last 10 lines:\n\tfleetctl journal foo.service\n\nRead the last 100 lines:\n\tfleetctl journal --lines 100 foo.service\n\nThis command does not work with global units.",
  usage: "journal [--lines=N] [--ssh-port=N] [-f|--follow] [--output=STRING] <unit>",
  flags: [
    { name: "lines", type: "int", default: 10, usage: "Number of recent log lines to return" },
    { name: "follow", short: "f", type: "bool", default: false, usage: "Continuously print new entries as they are appended to the journal." },
    sshPortFlag,
    { name: "sudo", type: "bool", default: false, usage: "Execute journal command with sudo" },
    { name: "output", type: "string", default: "short", usage: "Output mode. This will be passed unaltered to journalctl on the remote host, and hence supports the same modes as that command." },
  ],
  needsClient: true,
  run: runJournal,
};

export const sshCommand: Command = {
  name: "ssh",
  short: "Open interactive shell on a machine in the cluster",
  long: "Open an interactive shell on a specific machine in the cluster or on the machine where the specified unit is located.\n\nfleetctl tries to detect whether your first argument is a machine or a unit. To skip this check use the --machine or --unit flags.\n\nOpen a shell on a machine:\n\tfleetctl ssh 2444264c-eac2-4eff-a490-32d5e5e4af24\n\nOpen a shell from your laptop, to the machine running a specific unit, using a cluster member as a bastion host:\n\tfleetctl --tunnel 10.10.10.10 ssh foo.service\n\nOpen a shell on a machine and forward the authentication agent connection:\n\tfleetctl ssh -A 2444264c-eac2-4eff-a490-32d5e5e4af24\n\nTip: Create an alias for --tunnel.\n\t- Add \"alias fleetctl=fleetctl --tunnel 10.10.10.10\" to your bash profile.\n\t- Now you can run all fleet commands locally.\n\nThis command does not work with global units.",
  usage: "ssh [-A|--forward-agent] [--ssh-port=N] [--machine|--unit] {MACHINE|UNIT} [--] [COMMAND...]",
  flags: [
    { name: "machine", type: "string", default: "", usage: "Open SSH connection to a specific machine." },
    { name: "unit", type: "string", default: "", usage: "Open SSH connection to machine running provided unit." },
    { name: "forward-agent", short: "A", type: "bool", default: false, usage: "Forward local ssh-agent to target machine." },
    sshPortFlag,
  ],
  interspersed: false,
  needsClient: true,
  run: runSsh,
};
