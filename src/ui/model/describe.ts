// One event in words, for the dashboard's activity lists: the one place its text is made.
import type { FleetEvent } from "./api-types.ts";

/** `name(id)` gives a machine's label (its short id, and hostname when known). */
export function describeEvent(e: FleetEvent, name: (id: string) => string): string {
  const why = (r: string | undefined) => (r ? `: ${r}` : "");
  switch (e.kind) {
    case "unit.submitted":
      return `${e.unit} ${e.replaced ? "replaced by a new unit file" : "submitted"} (${e.global ? "global, " : ""}desired ${e.desiredState})`;
    case "unit.desired":
      return `${e.unit} desired ${e.desiredState}${e.previous ? ` (was ${e.previous})` : ""}`;
    case "unit.placed":
      return `${e.unit} placed on ${name(e.machine)}${why(e.reason)}`;
    case "unit.moved":
      return `${e.unit} moved from ${name(e.from)} to ${name(e.to)}${why(e.reason)}`;
    case "unit.unscheduled":
      return `${e.unit} unscheduled from ${name(e.machine)}`;
    case "unit.pending":
      return `${e.unit} pending: ${e.reason}`;
    case "unit.state":
      return `${e.unit} on ${name(e.machine)}: ${e.loadState} ${e.activeState} ${e.subState}${why(e.reason)}`;
    case "unit.state-removed":
      return `${e.unit} no longer reported by ${name(e.machine)}`;
    case "unit.destroyed":
      return `${e.unit} destroyed`;
    case "machine.joined":
      return `machine ${name(e.machine)} joined${e.publicIP ? ` (${e.publicIP})` : ""}`;
    case "machine.lost":
      return `machine ${name(e.machine)} lost`;
    case "machine.drained":
      return `machine ${name(e.machine)} drained`;
    case "machine.undrained":
      return `machine ${name(e.machine)} undrained`;
    case "leader.changed":
      return e.machine === null ? "no engine leader" : `engine leader is now ${name(e.machine)}`;
  }
}

/** Whether an event is about a unit (by name) or names a machine. */
export function eventConcerns(e: FleetEvent, what: { unit?: string; machine?: string }): boolean {
  if (what.unit !== undefined) return "unit" in e && e.unit === what.unit;
  if (what.machine !== undefined) {
    const ids = [("machine" in e ? e.machine : null), ("from" in e ? e.from : null), ("to" in e ? e.to : null), ("previous" in e ? e.previous : null)];
    return ids.includes(what.machine);
  }
  return false;
}
