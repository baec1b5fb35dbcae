// A watch over the gateway's streaming /v3/watch: one HTTP request per connection, reconnected
// with back-off from the revision after the last one delivered, so nothing is lost or repeated.
import { backoffDelay } from "../../lib/backoff.ts";
import { decodeKv, encodeRange, int, type WireKeyValue } from "./codec.ts";
import { EtcdError, GrpcCode, kindFromGrpc } from "./errors.ts";
import { ndjson } from "./ndjson.ts";
import type { OpenStream, Transport } from "./transport.ts";
import type { Watch, WatchBatch, WatchEvent, WatchOptions } from "./types.ts";

const RECONNECT = { baseMs: 100, capMs: 5000 };

interface WireWatchResponse {
  header?: { revision?: string };
  created?: boolean;
  canceled?: boolean;
  compact_revision?: string;
  cancel_reason?: string;
  events?: { type?: string; kv?: WireKeyValue; prev_kv?: WireKeyValue }[];
}

interface WireMessage {
  result?: WireWatchResponse;
  error?: { grpc_code?: number; message?: string };
}

export class EtcdWatch implements Watch {
  private readonly ac = new AbortController();
  private readonly aborted: Promise<void>;
  private iterated = false;

  constructor(
    private readonly transport: Transport,
    private readonly key: string,
    private readonly opts: WatchOptions,
    private readonly onClose: (w: EtcdWatch) => void,
  ) {
    this.aborted = new Promise((resolve) => this.ac.signal.addEventListener("abort", () => resolve(), { once: true }));
    const s = opts.signal;
    if (s?.aborted) this.close();
    else s?.addEventListener("abort", () => this.close(), { once: true });
  }

  get closed(): boolean {
    return this.ac.signal.aborted;
  }

  close(): void {
    if (this.closed) return;
    this.ac.abort();
    this.onClose(this);
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    if (this.iterated) throw new Error(`Cannot iterate the watch on ${this.key} twice`);
    this.iterated = true;
    return this.run();
  }

  private async *run(): AsyncGenerator<WatchBatch> {
    // The next revision to deliver; unknown until the first connection says where "now" is.
    let next = this.opts.startRevision;
    let failures = 0;
    try {
      while (!this.closed) {
        let stream: OpenStream;
        try {
          stream = await this.transport.openStream({ path: "/v3/watch", body: this.createRequest(next), op: "watch", key: this.key }, this.ac.signal);
        } catch (e) {
          if (this.closed || this.transport.isClosed) return;
          if (!reconnectable(e)) throw e;
          await this.pause(++failures);
          continue;
        }
        try {
          for await (const raw of ndjson(stream.res.body!)) {
            const msg = raw as WireMessage;
            if (msg.error) {
              const code = msg.error.grpc_code ?? GrpcCode.unavailable;
              if (code === GrpcCode.unauthenticated) this.transport.tokens.invalidate(stream.token);
              else if (code === GrpcCode.permissionDenied || code === GrpcCode.invalidArgument) {
                throw this.error(stream.endpoint, code, msg.error.message ?? "watch failed");
              }
              break;
            }
            const r = msg.result;
            if (!r) continue;
            if (r.canceled) {
              const compacted = int(r.compact_revision);
              if (compacted > 0) {
                yield { kind: "compacted", compactRevision: compacted };
                return;
              }
              const reason = r.cancel_reason ?? "watch canceled by etcd";
              if (/Unauthenticated|auth token/.test(reason)) {
                this.transport.tokens.invalidate(stream.token);
                break;
              }
              throw this.error(stream.endpoint, /permission denied/.test(reason) ? GrpcCode.permissionDenied : GrpcCode.unknown, reason);
            }
            if (r.created) {
              failures = 0;
              if (next === undefined) next = int(r.header?.revision) + 1;
              continue;
            }
            const events = r.events;
            if (events && events.length > 0) {
              const decoded = events.map(decodeEvent);
              const last = decoded[decoded.length - 1]!.kv.modRevision;
              // etcd never splits one revision's events over two responses, so resuming after
              // the last event's revision neither drops nor repeats any.
              next = last + 1;
              yield { kind: "events", revision: last, events: decoded };
            } else {
              const rev = int(r.header?.revision);
              if (next === undefined || rev + 1 > next) next = rev + 1;
              if (this.opts.progressNotify) yield { kind: "progress", revision: rev };
            }
          }
        } catch (e) {
          if (this.closed) return;
          if (e instanceof EtcdError) throw e;
          // The stream broke (etcd stopped, connection reset, Bun's body timeout): reconnect.
        } finally {
          stream.end();
        }
        if (this.closed) return;
        await this.pause(++failures);
      }
    } finally {
      this.close();
    }
  }

  private createRequest(next: number | undefined): unknown {
    const o = this.opts;
    const req: Record<string, unknown> = encodeRange(this.key, o);
    if (next !== undefined) req.start_revision = String(next);
    if (o.prevKv) req.prev_kv = true;
    if (o.progressNotify) req.progress_notify = true;
    return { create_request: req };
  }

  private async pause(failures: number): Promise<void> {
    await Promise.race([Bun.sleep(backoffDelay(failures, RECONNECT)), this.aborted]);
  }

  private error(endpoint: string, code: number, detail: string): EtcdError {
    return new EtcdError({ kind: kindFromGrpc(code, detail), endpoint, op: "watch", key: this.key, code, detail });
  }
}

function decodeEvent(e: { type?: string; kv?: WireKeyValue; prev_kv?: WireKeyValue }): WatchEvent {
  const ev: WatchEvent = { type: e.type === "DELETE" ? "delete" : "put", kv: decodeKv(e.kv ?? {}) };
  if (e.prev_kv) ev.prevKv = decodeKv(e.prev_kv);
  return ev;
}

/** Failures a reconnect can fix; wrong credentials, TLS set-up or a bad request cannot. */
function reconnectable(e: unknown): boolean {
  if (!(e instanceof EtcdError)) return false;
  if (e.detail.startsWith("TLS:")) return false;
  if (e.kind === "unauthenticated") return e.op !== "authenticate as";
  return e.kind === "unavailable" || e.kind === "timeout";
}
