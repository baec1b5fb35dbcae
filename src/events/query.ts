// What a reader of the event stream asks for, checked in one place for the API (which answers a
// problem with 400) and fleet ctl (which refuses the flag before connecting): where to start, the
// filters, and whether to stop once caught up. Pure.
import { isValidGlob } from "../unit/glob.ts";
import { validateUnitName } from "../unit/unit-name.ts";
import { MACHINE_ID_MAX } from "../registry/record-values.ts";
import type { EventFilter } from "./filter.ts";
import { EVENT_KINDS, parseCursor, type Cursor, type EventKind } from "./types.ts";

/** Where a stream starts: after a place, at the oldest place the daemon's buffer holds, or now. */
export type StreamStart = Cursor | "oldest" | undefined;

/** A value the stream cannot take; `message` names the parameter and the problem. */
export class EventQueryError extends Error {
  override readonly name = "EventQueryError";
}

const MACHINE_PREFIX = new RegExp(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,${MACHINE_ID_MAX - 1}}$`);
/** The characters that make a unit filter a glob rather than a name. */
export const GLOB_CHARS = /[*?[\\]/;

/** `since` (or Last-Event-ID, named by `param`): an event id, a revision, or `oldest`. */
export function parseStart(param: string, value: string): StreamStart {
  if (value.trim() === "oldest") return "oldest";
  const c = parseCursor(value);
  if (!c) throw new EventQueryError(`invalid ${param} ${JSON.stringify(value)}: expected an event id (REVISION-INDEX), a revision or "oldest"`);
  return c;
}

/** `until`: only `now` (the stream ends once it has told what happened before it opened). */
export function parseUntil(value: string): "now" {
  if (value.trim() !== "now") throw new EventQueryError(`invalid until ${JSON.stringify(value)}: expected "now"`);
  return "now";
}

/** The filters from lists of values (each already split on commas); an empty list is no filter. */
export function parseFilter(units: readonly string[], machines: readonly string[], kinds: readonly string[]): EventFilter {
  const filter: EventFilter = {};
  for (const u of units) {
    const problem = GLOB_CHARS.test(u) ? (isValidGlob(u) ? undefined : "not a valid glob pattern") : validateUnitName(u);
    if (problem !== undefined) throw new EventQueryError(`invalid unit ${JSON.stringify(u)}: ${problem}`);
  }
  if (units.length > 0) filter.units = [...units];
  for (const m of machines) {
    if (!MACHINE_PREFIX.test(m)) throw new EventQueryError(`invalid machine ${JSON.stringify(m)}: expected a machine ID or its first characters`);
  }
  if (machines.length > 0) filter.machines = [...machines];
  for (const k of kinds) {
    if (!(EVENT_KINDS as readonly string[]).includes(k)) {
      throw new EventQueryError(`invalid kinds: unknown event kind ${JSON.stringify(k)} (known: ${EVENT_KINDS.join(", ")})`);
    }
  }
  if (kinds.length > 0) filter.kinds = new Set(kinds as EventKind[]);
  return filter;
}

/** Values of a list parameter, repeated or comma-separated; empty ones count as absent. */
export function splitList(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
}
