// Events for the dashboard: in words, and which of them concern a unit or a machine.
import { eventText } from "../../events/text.ts";
import type { FleetEvent } from "./api-types.ts";

/**
 * An event in words for the dashboard's activity lists: the sentences `fleet ctl events` prints
 * (src/events/text.ts), with `name(id)` giving a machine's label (its short id, and hostname when known).
 */
export function describeEvent(e: FleetEvent, name: (id: string) => string): string {
  return eventText(e, name);
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
