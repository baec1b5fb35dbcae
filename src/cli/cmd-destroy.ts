// destroy (compatibility.md §6.6.6; quirk Q7 fixed: it waits unless --no-block, and what it
// waits for is the unit gone and unloaded from every machine that reported it).
import { errorText } from "../lib/error-text.ts";
import { blockAttemptsFlag, type Command, type Ctx, flagBool, flagInt, noBlockFlag } from "./command.ts";
import { findUnitsOrExit } from "./find-units.ts";
import { inOrder } from "./pipeline.ts";
import { isGlobalUnit } from "./unit-info.ts";
import { waitAndReport, type WaitSpec } from "./wait.ts";
import { blockAttempts } from "./wait-logic.ts";

async function runDestroy(ctx: Ctx): Promise<number> {
  const units = await findUnitsOrExit(ctx);
  if (typeof units === "number") return units;
  let code = 0;
  const waits: WaitSpec[] = [];
  const once = [...new Map(units.map((u) => [u.name, u])).values()];
  // A failure does not stop the others, as before: each is said in the arguments' order.
  await inOrder(once, (unit) => ctx.client.destroyUnit(unit.name), (outcome, unit) => {
    if (!outcome.ok) {
      ctx.io.err(`Error destroying units: ${errorText(outcome.error)}\n`);
      code = 1;
      return;
    }
    // Already gone (a concurrent destroy): nothing to say, as fleetctl did.
    if (!outcome.value) return;
    ctx.io.out(`Destroyed ${unit.name}\n`);
    if (!isGlobalUnit(unit)) waits.push({ name: unit.name, goals: [{ kind: "gone" }] });
  });
  const attempts = blockAttempts(flagBool(ctx, "no-block"), flagInt(ctx, "block-attempts"));
  // --no-block: destroy prints no "Triggered" lines, unlike start and stop.
  if (attempts < 0) return code;
  const res = await waitAndReport(ctx, waits, attempts, "destroy");
  return res.code !== 0 ? res.code : code;
}

export const destroyCommand: Command = {
  name: "destroy",
  short: "Destroy one or more units in the cluster",
  long: "Completely remove one or more running or submitted units from the cluster.\n\nInstructs systemd on the host machine to destroy the unit, deferring to systemd completely for any custom stop directives (i.e. ExecStop option in the unit file).\n\nDestroyed units are impossible to start unless re-submitted.\n\nUnless --no-block is given, fleetctl waits until the units are gone from every machine that ran them.",
  usage: "destroy UNIT...",
  flags: [blockAttemptsFlag("units are destroyed"), noBlockFlag("units have been destroyed")],
  needsClient: true,
  run: runDestroy,
};
