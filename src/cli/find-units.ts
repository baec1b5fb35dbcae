// fleetctl's findUnits (fleet-reference.md §6.5.1): the registered units named by the
// arguments, in argument order; unknown names are skipped (quirk Q10 kept).
import { mangleUnitName } from "../unit/unit-name.ts";
import { type FleetClient, type Unit } from "./client.ts";
import { errorText } from "../lib/error-text.ts";
import type { Ctx } from "./command.ts";

export async function findUnits(client: FleetClient, args: readonly string[]): Promise<Unit[]> {
  const all = await client.listUnits();
  const byName = new Map(all.map((u) => [u.name, u]));
  const out: Unit[] = [];
  for (const arg of args) {
    const u = byName.get(mangleUnitName(arg));
    if (u) out.push(u);
  }
  return out;
}

/**
 * The units named by stop, unload and destroy's arguments, or the exit code when there is
 * nothing to act on: no arguments and no known unit are not errors (fleetctl exits 0).
 */
export async function findUnitsOrExit(ctx: Ctx): Promise<Unit[] | number> {
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
  if (units.length === 0) {
    ctx.io.err("Units not found in registry\n");
    return 0;
  }
  return units;
}

/** Go's %v of a []string: `[a b]`. */
export function goList(names: readonly string[]): string {
  return `[${names.join(" ")}]`;
}
