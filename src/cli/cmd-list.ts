// list-machines, list-units and list-unit-files (compatibility.md §6.6.12-§6.6.14).
import { type Machine, type RolloutView } from "./client.ts";
import { errorText } from "../lib/error-text.ts";
import { type Command, type Ctx, flagBool, flagString, fullFlag, noLegendFlag, outputFlag, outputFormat } from "./command.ts";
import {
  formatMachines, formatUnitFiles, formatUnitStates, MACHINE_FIELDS_DEFAULT, machinesJson, type TableOptions, type TableResult,
  UNIT_FILE_FIELDS_DEFAULT, UNIT_STATE_FIELDS_DEFAULT, unitFilesJson, unitStatesJson,
} from "./list-format.ts";

function printTable(ctx: Ctx, result: TableResult): number {
  if (!result.ok) {
    ctx.io.err(`${result.error}\n`);
    return 1;
  }
  for (const w of result.warnings) ctx.io.err(`${w}\n`);
  ctx.io.out(result.text);
  return 0;
}

function tableOptions(ctx: Ctx): TableOptions {
  return { fields: flagString(ctx, "fields"), full: flagBool(ctx, "full"), noLegend: flagBool(ctx, "no-legend") };
}

/** The table, or with -o json the v1 API's objects (--fields, --full and --no-legend are for tables). */
function print(ctx: Ctx, table: () => TableResult, json: () => string): number {
  if (outputFormat(ctx) !== "json") return printTable(ctx, table());
  ctx.io.out(json());
  return 0;
}

async function runListMachines(ctx: Ctx): Promise<number> {
  outputFormat(ctx);
  let machines: Machine[];
  try {
    machines = await ctx.machines();
  } catch (err) {
    ctx.io.err(
      `Error retrieving list of active machines from fleet API (${errorText(err)})\n` +
        "Possible issues:\n  etcd is unhealthy and/or lost quorum\n  connection cannot be established to any etcd servers\n",
    );
    return 1;
  }
  return print(ctx, () => formatMachines(machines, tableOptions(ctx)), () => machinesJson(machines));
}

/** Lists `what` (with the machines, for the table's legends) and prints it; list-units and list-unit-files. */
async function listUnitsWith<T>(
  ctx: Ctx, what: () => Promise<T[]>, format: (rows: T[], machines: Machine[], opts: TableOptions) => TableResult, json: (rows: T[]) => string,
): Promise<number> {
  const asJson = outputFormat(ctx) === "json";
  let rows: T[];
  let machines: Machine[];
  try {
    [rows, machines] = await Promise.all([what(), asJson ? [] : ctx.machines()]);
  } catch (err) {
    ctx.io.err(`Error retrieving list of units from repository: ${errorText(err)}\n`);
    return 1;
  }
  return print(ctx, () => format(rows, machines, tableOptions(ctx)), () => json(rows));
}

const runListUnits = (ctx: Ctx) => listUnitsWith(ctx, () => ctx.client.listUnitStates(), formatUnitStates, unitStatesJson);
/** list-unit-files: while a rollout holds units, HASH shows the version each instance runs. */
async function runListUnitFiles(ctx: Ctx): Promise<number> {
  // A daemon without rollouts (an older one) answers 404: then there are none to show.
  const rollouts = outputFormat(ctx) === "json" ? Promise.resolve([]) : ctx.client.listRollouts().catch((): RolloutView[] => []);
  let held: RolloutView[] = [];
  const read = async () => {
    const [rows, r] = await Promise.all([ctx.client.listUnits(), rollouts]);
    held = r;
    return rows;
  };
  return listUnitsWith(ctx, read, (rows, machines, opts) => formatUnitFiles(rows, machines, opts, held), unitFilesJson);
}

const fieldsFlag = (def: string, keys: string) => ({
  name: "fields",
  type: "string" as const,
  default: def,
  usage: `Columns to print for each Unit. Valid fields are "${keys}"`,
});

export const listMachinesCommand: Command = {
  name: "list-machines",
  short: "Enumerate the current hosts in the cluster",
  long: "Lists all active machines within the cluster. Previously active machines will not appear in this list.\n\nFor easily parsable output, you can remove the column headers:\n\tfleetctl list-machines --no-legend\n\nOutput the list without truncation:\n\tfleetctl list-machines --full\n\nFor programs, the v1 API's machine objects as a JSON array (one object a line):\n\tfleetctl list-machines -o json",
  usage: "list-machines [-l|--full] [--no-legend] [-o json]",
  flags: [fullFlag, noLegendFlag, outputFlag("the machines"), { ...fieldsFlag(MACHINE_FIELDS_DEFAULT, "allocatable,cpu,drained,ip,machine,memory,metadata"), usage: 'Columns to print for each Machine. Valid fields are "allocatable,cpu,drained,ip,machine,memory,metadata"' }],
  needsClient: true,
  run: runListMachines,
};

export const listUnitsCommand: Command = {
  name: "list-units",
  short: "List the current state of units in the cluster",
  long: "Lists the state of all units in the cluster loaded onto a machine.\n\nFor easily parsable output, you can remove the column headers:\n\tfleetctl list-units --no-legend\n\nOutput the list without truncation:\n\tfleetctl list-units --full\n\nFor programs, the v1 API's unit state objects as a JSON array (one object a line):\n\tfleetctl list-units -o json",
  usage: "list-units [--no-legend] [-l|--full] [--fields] [-o json]",
  flags: [fullFlag, noLegendFlag, fieldsFlag(UNIT_STATE_FIELDS_DEFAULT, "active,hash,load,machine,reason,sub,unit"), outputFlag("the unit states")],
  needsClient: true,
  run: runListUnits,
};

export const listUnitFilesCommand: Command = {
  name: "list-unit-files",
  short: "List the units that exist in the cluster.",
  long: "Lists all unit files that exist in the cluster (whether or not they are loaded onto a machine).\n\nFor programs, the v1 API's unit objects (with their options) as a JSON array (one object a line):\n\tfleetctl list-unit-files -o json",
  usage: "list-unit-files [--fields] [-o json]",
  flags: [
    { ...fullFlag, short: undefined },
    noLegendFlag,
    fieldsFlag(UNIT_FILE_FIELDS_DEFAULT, "desc,dstate,global,hash,state,target,tmachine,unit"),
    outputFlag("the units"),
  ],
  needsClient: true,
  run: runListUnitFiles,
};
