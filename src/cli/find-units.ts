// fleetctl's findUnits (compatibility.md §6.5.1): the registered units named by the
// arguments, in argument order; unknown names are skipped (quirk Q10 kept).
import { mangleUnitName } from "../unit/unit-name.ts";
import { type FleetClient, type Unit } from "./client.ts";
import { errorText } from "../lib/error-text.ts";
import type { Ctx } from "./command.ts";
import { lookupUnits } from "./pipeline.ts";

export async function findUnits(client: FleetClient, args: readonly string[]): Promise<Unit[]> {
  const names = args.map((arg) => mangleUnitName(arg));
  const byName = await lookupUnits((n) => client.readUnits({ names: n }), names);
  const out: Unit[] = [];
  for (const name of names) {
    const u = byName.get(name);
    if (u) out.push(u);
  }
  return out;
}

/**
 * The units named by stop, unload, destroy and restart's arguments, or the exit code when there
 * is nothing to act on: no arguments and no known unit are not errors (fleetctl exits 0).
 * `afterFind` runs between finding and that last check (restart creates units from local files
 * there); an exit code from it ends the command.
 */
export async function findUnitsOrExit(ctx: Ctx, afterFind?: () => Promise<number | undefined>): Promise<Unit[] | number> {
  if (ctx.args.length === 0) {
    ctx.io.err("No units given\n");
    return 0;
  }
  let units: Unit[];
  try {
    units = await findUnits(ctx.client, ctx.args);
  } catch (err) {
    ctx.io.err(`${errorText(err)}\n`);
    return 1;
  }
  const code = await afterFind?.();
  if (code !== undefined) return code;
  if (units.length === 0) {
    ctx.io.err("Units not found in registry\n");
    return 0;
  }
  return units;
}

/** How a command words the two ways looking up a unit can fail (each as fleetctl printed it). */
export interface LookupWords {
  failed: (name: string, error: string) => string;
  missing: (name: string) => string;
}

/** The unit named, or undefined after printing why not: the client failed, or no such unit. */
export async function getUnitOrSay(ctx: Ctx, name: string, words: LookupWords): Promise<Unit | undefined> {
  let unit: Unit | undefined;
  try {
    unit = await ctx.client.getUnit(name);
  } catch (err) {
    ctx.io.err(`${words.failed(name, errorText(err))}\n`);
    return undefined;
  }
  if (!unit) ctx.io.err(`${words.missing(name)}\n`);
  return unit;
}

/** Go's %v of a []string: `[a b]`. */
export function goList(names: readonly string[]): string {
  return `[${names.join(" ")}]`;
}
