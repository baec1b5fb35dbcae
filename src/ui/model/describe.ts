// Which events concern a unit or a machine, for the dashboard's activity lists (their words are
// src/events/text.ts's, as `fleet ctl events` prints them).
import type { FleetEvent } from "./api-types.ts";

/** Whether an event is about a unit (by name) or names a machine. */
export function eventConcerns(e: FleetEvent, what: { unit?: string; machine?: string }): boolean {
  if (what.unit !== undefined) return "unit" in e && e.unit === what.unit;
  if (what.machine !== undefined) {
    const ids = [("machine" in e ? e.machine : null), ("from" in e ? e.from : null), ("to" in e ? e.to : null), ("previous" in e ? e.previous : null)];
    return ids.includes(what.machine);
  }
  return false;
}
