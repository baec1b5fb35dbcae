// GET /fleet/v1/events: the cluster's events as Server-Sent Events (docs/api.md, "Events"). Each
// client reads the daemon's shared hub at its own place; the stream is pulled by the connection,
// so a client that stops reading holds nothing but its place, and the hub drops it when the ring
// moves past that place. Heartbeat comments keep proxies from closing a quiet stream.
import type { EventHub } from "../events/hub.ts";
import { matches, type EventFilter } from "../events/filter.ts";
import type { EventReader, ReaderStep } from "../events/reader.ts";
import { cursorId, EVENT_KINDS, parseCursor, type Cursor, type EventKind } from "../events/types.ts";
import { isValidGlob } from "../unit/glob.ts";
import { validateUnitName } from "../unit/unit-name.ts";
import { MACHINE_ID_MAX } from "../registry/record-values.ts";
import { allowIdle, clientOf } from "./connection.ts";
import { ApiError } from "./errors.ts";
import type { EventStreamMetrics } from "./event-metrics.ts";

export interface EventsContext {
  hub: EventHub;
  metrics: EventStreamMetrics;
  /** How often a quiet stream gets a comment line (default 15 s). */
  heartbeatMs?: number;
}

export interface EventQuery {
  /** Where to resume: after this event or revision; undefined for now. */
  from?: Cursor;
  filter: EventFilter;
}

export const DEFAULT_HEARTBEAT_MS = 15_000;
/** Browsers reconnect after this long (ms) when the stream ends. */
const RETRY_MS = 2000;
const MACHINE_PREFIX = new RegExp(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,${MACHINE_ID_MAX - 1}}$`);
const GLOB_CHARS = /[*?[\\]/;

/** The stream's parameters from the query and Last-Event-ID, or a 400 naming the bad one. */
export function eventQuery(params: URLSearchParams, headers: Headers): EventQuery {
  const q: EventQuery = { filter: {} };
  // An EventSource reconnects to the same URL with Last-Event-ID: it wins over since=.
  const last = headers.get("last-event-id");
  const [name, value] = last !== null && last.trim() !== "" ? ["Last-Event-ID", last] : ["since", params.get("since")];
  if (value !== null) {
    q.from = parseCursor(value);
    if (!q.from) throw new ApiError(400, `invalid ${name} ${JSON.stringify(value)}: expected an event id (REVISION-INDEX) or a revision`);
  }
  const units = listParam(params, "unit");
  for (const u of units) {
    const problem = GLOB_CHARS.test(u) ? (isValidGlob(u) ? undefined : "not a valid glob pattern") : validateUnitName(u);
    if (problem !== undefined) throw new ApiError(400, `invalid unit ${JSON.stringify(u)}: ${problem}`);
  }
  if (units.length > 0) q.filter.units = units;
  const machines = listParam(params, "machine");
  for (const m of machines) {
    if (!MACHINE_PREFIX.test(m)) throw new ApiError(400, `invalid machine ${JSON.stringify(m)}: expected a machine ID or its first characters`);
  }
  if (machines.length > 0) q.filter.machines = machines;
  const kinds = listParam(params, "kinds");
  for (const k of kinds) {
    if (!(EVENT_KINDS as readonly string[]).includes(k)) {
      throw new ApiError(400, `invalid kinds: unknown event kind ${JSON.stringify(k)} (known: ${EVENT_KINDS.join(", ")})`);
    }
  }
  if (kinds.length > 0) q.filter.kinds = new Set(kinds as EventKind[]);
  return q;
}

/** Every value of a parameter, repeated or comma-separated; an empty one counts as absent. */
function listParam(params: URLSearchParams, name: string): string[] {
  return params.getAll(name).flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
}

export async function streamEvents(ctx: EventsContext, req: Request, params: URLSearchParams): Promise<Response> {
  const q = eventQuery(params, req.headers);
  const client = clientOf(req);
  const heartbeatMs = ctx.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  let stream: EventStream | undefined;
  const reader = await ctx.hub.open(q.from, { client, onEnd: (step) => stream?.end(step) });
  stream = new EventStream(reader, q.filter, heartbeatMs, ctx);
  // A client that reads nothing, not even heartbeats, for three of them is gone.
  allowIdle(req, Math.ceil((3 * heartbeatMs) / 1000));
  return new Response(stream.body, {
    headers: {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache",
      // nginx would otherwise hold events back to fill its buffer.
      "X-Accel-Buffering": "no",
    },
  });
}

const encoder = new TextEncoder();

/** One client's stream: pulled by the connection, written from the reader's steps. */
class EventStream {
  readonly body: ReadableStream<Uint8Array>;
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private done = false;
  /** When the client was last sent anything: a heartbeat is due heartbeatMs after it. */
  private wrote = Date.now();

  constructor(
    private readonly reader: EventReader,
    private readonly filter: EventFilter,
    private readonly heartbeatMs: number,
    private readonly ctx: EventsContext,
  ) {
    ctx.metrics.clients.inc();
    const opened = { id: cursorId(reader.cursor), revision: reader.cursor.revision, kind: "open" };
    this.body = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.controller = c;
        c.enqueue(encoder.encode(`retry: ${RETRY_MS}\n${frame(opened.id, JSON.stringify(opened))}`));
      },
      pull: () => this.pull(),
      cancel: () => this.finish(),
    }, { highWaterMark: 0 });
  }

  /**
   * Writes what the reader has next: events that pass the filter, a reset, or a heartbeat when
   * nothing was written for heartbeatMs (however many events the filter held back meanwhile).
   */
  private async pull(): Promise<void> {
    while (!this.done) {
      const due = this.wrote + this.heartbeatMs - Date.now();
      const step: ReaderStep = due > 0 ? await this.reader.next(due) : { kind: "idle" };
      if (this.done) return;
      const text = this.render(step);
      if (text === undefined) continue;
      this.controller!.enqueue(encoder.encode(text));
      this.wrote = Date.now();
      if (step.kind === "end") this.close();
      return;
    }
  }

  private render(step: ReaderStep): string | undefined {
    switch (step.kind) {
      case "batch": {
        let out = "";
        let n = 0;
        for (const e of step.batch.events) {
          if (!matches(this.filter, e.event)) continue;
          out += frame(e.event.id, e.json);
          n++;
        }
        if (n === 0) return undefined;
        this.ctx.metrics.sent.inc(undefined, n);
        return out;
      }
      case "reset": {
        const id = String(step.revision);
        return frame(id, JSON.stringify({ id, revision: step.revision, kind: "reset", reason: step.reason }));
      }
      case "idle":
        return ": heartbeat\n\n";
      case "end":
        this.ctx.metrics.dropped.inc({ reason: step.cause === "closed" ? "stopping" : step.cause });
        // No id: a client that reconnects resumes after the last event it had.
        return `data: ${JSON.stringify({ kind: "end", reason: step.reason })}\n\n`;
    }
  }

  /** The hub ended the reader (the client is too slow, etcd failed, the daemon stops). */
  end(step: Extract<ReaderStep, { kind: "end" }>): void {
    if (this.done || !this.controller) return;
    this.controller.enqueue(encoder.encode(this.render(step)!));
    this.close();
  }

  private close(): void {
    if (this.done) return;
    this.finish();
    try {
      this.controller?.close();
    } catch {
      // Already closed by the other side.
    }
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.reader.close();
    this.ctx.metrics.clients.dec();
  }
}

function frame(id: string, json: string): string {
  return `id: ${id}\ndata: ${json}\n\n`;
}
