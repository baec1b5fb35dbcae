// Which events a client asked for: units by name or glob, machines by id or prefix (the short id
// fleetctl shows), and kinds. Pure; the API parses and checks the query (src/api/events.ts).
import { globMatch } from "../unit/glob.ts";
import type { EventKind, FleetEvent } from "./types.ts";

export interface EventFilter {
  /** Unit names or globs (Go path.Match, like Conflicts=); an event about any of them passes. */
  units?: readonly string[];
  /** Machine ids or prefixes; an event naming a machine that starts with any of them passes. */
  machines?: readonly string[];
  kinds?: ReadonlySet<EventKind>;
}

/** The machines an event names: where a unit is, went or came from, or which machine it is about. */
export function machinesOf(e: FleetEvent): string[] {
  switch (e.kind) {
    case "unit.moved":
      return [e.from, e.to];
    case "leader.changed":
      return [e.machine, e.previous].filter((m): m is string => typeof m === "string");
    default:
      return "machine" in e && e.machine !== undefined ? [e.machine] : [];
  }
}

export function matches(f: EventFilter, e: FleetEvent): boolean {
  if (f.kinds && !f.kinds.has(e.kind)) return false;
  if (f.units) {
    const unit = "unit" in e ? e.unit : undefined;
    if (unit === undefined || !unitMatches(f.units, unit)) return false;
  }
  if (f.machines) {
    const ms = machinesOf(e);
    if (!f.machines.some((p) => ms.some((m) => m.startsWith(p)))) return false;
  }
  return true;
}

/** Whether a unit name is one of the names, or matches one of the globs. */
export function unitMatches(patterns: readonly string[], name: string): boolean {
  return patterns.some((p) => p === name || globMatch(p, name));
}
