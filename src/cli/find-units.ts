// fleetctl's findUnits (fleet-reference.md §6.5.1): the registered units named by the
// arguments, in argument order; unknown names are skipped (quirk Q10 kept).
import { mangleUnitName } from "../unit/unit-name.ts";
import type { FleetClient, Unit } from "./client.ts";

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

/** Go's %v of a []string: `[a b]`. */
export function goList(names: readonly string[]): string {
  return `[${names.join(" ")}]`;
}
