// Follows GET /fleet/v1/events with fetch() (EventSource cannot send the Authorization header),
// resuming with Last-Event-ID after any break, and saying whether it is live.
import type { FleetEvent, StreamControl } from "../model/api-types.ts";
import { SseParser } from "../model/sse.ts";
import { type Api, ApiFailure, failureMessage } from "./api.ts";

export type StreamStatus = { state: "connecting" } | { state: "live"; revision: number } | { state: "lost"; why: string; retryInMs: number };

export interface StreamHandlers {
  event(e: FleetEvent): void;
  /** Events up to `revision` cannot be told: re-read what the page shows. */
  reset(revision: number): void;
  status(s: StreamStatus): void;
}

/** Heartbeats come every 15 s; a stream silent for longer than this is taken as broken. */
const SILENCE_MS = 40_000;
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 15_000;

export class EventFollower {
  private stopped = false;
  private abort: AbortController | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly api: Api,
    private lastId: string,
    private readonly on: StreamHandlers,
  ) {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
  }

  /** Reconnects now instead of after the back-off (the page's "Reconnect" button). */
  retryNow(): void {
    this.wake?.();
  }

  private async run(): Promise<void> {
    let delay = RETRY_MIN_MS;
    while (!this.stopped) {
      this.on.status({ state: "connecting" });
      let why: string;
      try {
        const opened = await this.follow();
        if (opened) delay = RETRY_MIN_MS;
        why = "the daemon ended the stream";
      } catch (err) {
        if (err instanceof ApiFailure && err.status === 401) return;
        why = err instanceof Error ? err.message : String(err);
      }
      if (this.stopped) return;
      this.on.status({ state: "lost", why, retryInMs: delay });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      delay = Math.min(RETRY_MAX_MS, delay * 2);
    }
  }

  /** One connection; true when it got as far as `open`. */
  private async follow(): Promise<boolean> {
    const abort = (this.abort = new AbortController());
    let silence = setTimeout(() => abort.abort(new Error("no heartbeat for 40 s")), SILENCE_MS);
    const quiet = () => {
      clearTimeout(silence);
      silence = setTimeout(() => abort.abort(new Error("no heartbeat for 40 s")), SILENCE_MS);
    };
    let opened = false;
    try {
      const res = await this.api.fetch("/fleet/v1/events", { headers: { Accept: "text/event-stream", "Last-Event-ID": this.lastId }, signal: abort.signal });
      if (!res.ok || !res.body) throw new Error(await failureMessage(res));
      const parser = new SseParser();
      const decoder = new TextDecoder();
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return opened;
        quiet();
        for (const m of parser.push(decoder.decode(value, { stream: true }))) {
          const data = JSON.parse(m.data) as FleetEvent | StreamControl;
          if (m.lastEventId) this.lastId = m.lastEventId;
          if (data.kind === "open") {
            opened = true;
            this.on.status({ state: "live", revision: data.revision });
          } else if (data.kind === "reset") {
            this.on.reset(data.revision);
          } else if (data.kind === "end") {
            // The daemon closes the stream next; the loop resumes from the last id.
          } else {
            this.on.event(data);
          }
        }
      }
    } catch (err) {
      if (abort.signal.aborted && abort.signal.reason instanceof Error) throw abort.signal.reason;
      throw err;
    } finally {
      clearTimeout(silence);
    }
  }
}
