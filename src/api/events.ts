// GET /fleet/v1/events: the cluster's events as Server-Sent Events (docs/api.md, "Events"). Each
// client reads the daemon's shared hub at its own place; the stream is pulled by the connection,
// so a client that stops reading holds nothing but its place, and the hub drops it when the ring
// moves past that place. Heartbeat comments keep proxies from closing a quiet stream.
import type { EventHub } from "../events/hub.ts";
import { matches, type EventFilter } from "../events/filter.ts";
import { EventQueryError, parseFilter, parseStart, parseUntil, splitList, type StreamStart } from "../events/query.ts";
import type { EventReader, ReaderStep } from "../events/reader.ts";
import { cursorId } from "../events/types.ts";
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
  /** Where to start: after this event or revision, at the oldest the daemon holds, or now. */
  from?: StreamStart;
  filter: EventFilter;
  /** `now`: end the stream once it has told what the daemon knew when it opened. */
  until?: "now";
}

export const DEFAULT_HEARTBEAT_MS = 15_000;
/** Browsers reconnect after this long (ms) when the stream ends. */
const RETRY_MS = 2000;

/** The stream's parameters from the query and Last-Event-ID, or a 400 naming the bad one. */
export function eventQuery(params: URLSearchParams, headers: Headers): EventQuery {
  try {
    // An EventSource reconnects to the same URL with Last-Event-ID: it wins over since=.
    const last = headers.get("last-event-id");
    const [name, value] = last !== null && last.trim() !== "" ? ["Last-Event-ID", last] : ["since", params.get("since")];
    const until = params.get("until");
    return {
      ...(value === null ? {} : { from: parseStart(name, value) }),
      filter: parseFilter(splitList(params.getAll("unit")), splitList(params.getAll("machine")), splitList(params.getAll("kinds"))),
      ...(until === null ? {} : { until: parseUntil(until) }),
    };
  } catch (e) {
    if (e instanceof EventQueryError) throw new ApiError(400, e.message);
    throw e;
  }
}

export async function streamEvents(ctx: EventsContext, req: Request, params: URLSearchParams): Promise<Response> {
  const q = eventQuery(params, req.headers);
  const client = clientOf(req);
  const heartbeatMs = ctx.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  let stream: EventStream | undefined;
  const reader = await ctx.hub.open(q.from, { client, onEnd: (step) => stream?.end(step) });
  let until: number | undefined;
  try {
    until = q.until === "now" ? await ctx.hub.untilNow(reader) : undefined;
  } catch (e) {
    reader.close();
    throw e;
  }
  stream = new EventStream(reader, q.filter, heartbeatMs, ctx, until);
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
  private wrote: number;

  constructor(
    private readonly reader: EventReader,
    private readonly filter: EventFilter,
    private readonly heartbeatMs: number,
    private readonly ctx: EventsContext,
    /** End the stream once the reader has read up to the end of this revision (until=now). */
    private readonly until?: number,
  ) {
    ctx.metrics.clients.inc();
    this.wrote = ctx.hub.clock.now();
    const opened = { id: cursorId(reader.cursor), revision: reader.cursor.revision, kind: "open", ...(until === undefined ? {} : { until }) };
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
    const clock = this.ctx.hub.clock;
    while (!this.done) {
      if (this.until !== undefined && this.reader.caughtUp(this.until)) {
        const end = { kind: "end", reason: `told every event up to revision ${this.until} (until=now)`, done: true };
        this.controller!.enqueue(encoder.encode(`data: ${JSON.stringify(end)}\n\n`));
        this.close();
        return;
      }
      const due = this.wrote + this.heartbeatMs - clock.now();
      const step: ReaderStep = due > 0 ? await this.reader.next(due) : { kind: "idle" };
      if (this.done) return;
      const text = this.render(step);
      if (text === undefined) continue;
      this.controller!.enqueue(encoder.encode(text));
      this.wrote = clock.now();
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
