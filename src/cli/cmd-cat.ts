// cat (compatibility.md §6.6.7): the unit's canonical text, with no newline added.
import { serializeUnitFile } from "../unit/unit-file.ts";
import { mangleUnitName } from "../unit/unit-name.ts";
import type { Command, Ctx } from "./command.ts";
import { getUnitOrSay } from "./find-units.ts";

async function runCat(ctx: Ctx): Promise<number> {
  if (ctx.args.length !== 1) {
    ctx.io.err("One unit file must be provided\n");
    return 1;
  }
  const unit = await getUnitOrSay(ctx, mangleUnitName(ctx.args[0]!), {
    failed: (name, why) => `Error retrieving Unit ${name}: ${why}`,
    missing: (name) => `Unit ${name} not found`,
  });
  if (!unit) return 1;
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
