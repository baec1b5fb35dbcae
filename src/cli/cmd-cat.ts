// cat (fleet-reference.md §6.6.7): the unit's canonical text, with no newline added.
import { serializeUnitFile } from "../unit/unit-file.ts";
import { mangleUnitName } from "../unit/unit-name.ts";
import { type Unit } from "./client.ts";
import { errorText } from "../lib/error-text.ts";
import type { Command, Ctx } from "./command.ts";

async function runCat(ctx: Ctx): Promise<number> {
  if (ctx.args.length !== 1) {
    ctx.io.err("One unit file must be provided\n");
    return 1;
  }
  const name = mangleUnitName(ctx.args[0]!);
  let unit: Unit | undefined;
  try {
    unit = await ctx.client.getUnit(name);
  } catch (err) {
    ctx.io.err(`Error retrieving Unit ${name}: ${errorText(err)}\n`);
    return 1;
  }
  if (!unit) {
    ctx.io.err(`Unit ${name} not found\n`);
    return 1;
  }
  ctx.io.out(serializeUnitFile(unit.options));
  return 0;
}

export const catCommand: Command = {
  name: "cat",
  short: "Output the contents of a submitted unit",
  long: "Outputs the unit file that is currently loaded in the cluster. Useful to verify the correct version of a unit is running.",
  usage: "cat UNIT",
  flags: [],
  needsClient: true,
  run: runCat,
};
