// The daemon's one watch of the whole key prefix, shared by every event stream and blocking read
// (design: docs/api.md, "Events"). It starts with the first reader and stops a while after the
// last one leaves, so a daemon nobody follows watches nothing but its own keys. Each revision is
// derived into events once and kept in a bounded ring that readers read at their own place; a
// reader that falls behind the ring is ended and told why, so a client that stops reading costs
// no memory of its own. A reader from before the ring reads etcd's history first (reader.ts).
import type { EtcdClient, Watch, WatchBatch } from "../registry/etcd/index.ts";
import { errorText } from "../lib/error-text.ts";
import type { KeySpace } from "../registry/keys.ts";
import type { Logger } from "../log/logger.ts";
import type { InvalidRecords } from "../registry/invalid-records.ts";
import { systemClock, type Clock, type TimerHandle } from "../lib/clock.ts";
import { markRevision } from "../registry/events-mark.ts";
import { byRevision, deriveEvents } from "./derive.ts";
import { EventReader, type ReaderHub, type ReaderOptions } from "./reader.ts";
import { EventRing, type RevisionBatch, type RingLimits } from "./ring.ts";
import type { StreamStart } from "./query.ts";
import { cursorId, type Cursor } from "./types.ts";

export interface EventHubOptions {
  etcd: Pick<EtcdClient, "watch" | "range" | "observedRevision" | "put">;
  keys: KeySpace;
  log: Logger;
  /** Where records the derivation could not read are told about (once per key and revision). */
  invalid?: InvalidRecords;
  /** How much of the recent past the ring keeps (default 10,000 events and 8 MiB). */
  limits?: Partial<RingLimits>;
  /** How long the watch outlives its last reader (default 60 s), so reconnecting clients find the ring. */
  lingerMs?: number;
  /** The clock of the linger, of readers' waits and of streams' heartbeats (the system's by default). */
  clock?: Clock;
}

export const DEFAULT_RING_LIMITS: RingLimits = { maxEvents: 10_000, maxBytes: 8 * 1024 * 1024 };

export class EventHub implements ReaderHub {
  readonly ring: EventRing;
  readonly clock: Clock;
  generation = 0;
  private readonly readers = new Set<EventReader>();
  private watch: Watch | undefined;
  private starting: Promise<void> | undefined;
  private signal = deferred();
  private lingerTimer: TimerHandle | undefined;
  private closed = false;

  constructor(private readonly opts: EventHubOptions) {
    this.ring = new EventRing({ ...DEFAULT_RING_LIMITS, ...opts.limits });
    this.clock = opts.clock ?? systemClock;
  }

  /** Whether the shared watch runs. */
  get watching(): boolean {
    return this.watch !== undefined;
  }

  get readerCount(): number {
    return this.readers.size;
  }

  /**
   * A revision this daemon knows etcd has reached: every read that starts later reflects at least
   * it. Asks etcd only when nothing was heard from it yet.
   */
  async knownRevision(): Promise<number> {
    const known = Math.max(this.opts.etcd.observedRevision(), this.watch ? this.ring.head : 0);
    return known > 0 ? known : (await this.opts.etcd.range(this.opts.keys.version)).revision;
  }

  /**
   * A reader from just after `from`, from the oldest place the ring holds, or from now. A place
   * ahead of etcd (restored from a backup, or another cluster) starts with a reset to now.
   */
  async open(from: StreamStart, opts: ReaderOptions): Promise<EventReader> {
    if (this.closed) throw new Error("The event hub is closed");
    this.clearLinger();
    await this.start();
    let cursor = from === undefined || from === "oldest"
      ? { revision: from === "oldest" ? this.ring.floor : this.ring.head, index: Number.POSITIVE_INFINITY }
      : from;
    let reset: { revision: number; reason: string } | undefined;
    if (cursor.revision > this.ring.head) {
      const { revision: current } = await this.opts.etcd.range(this.opts.keys.version);
      if (cursor.revision > current) {
        reset = { revision: this.ring.head, reason: `event ${cursorId(cursor)} is ahead of etcd, which is at revision ${current} (restored from a backup, or another cluster)` };
        cursor = { revision: this.ring.head, index: Number.POSITIVE_INFINITY };
      }
    }
    const reader = new EventReader(this, cursor, opts, reset);
    this.readers.add(reader);
    return reader;
  }

  /**
   * Where a reader that stops once caught up (until=now) stops: the ring's head when it reads the
   * ring (everything up to it is there), else a revision written now, which etcd's history will
   * reach (events-mark.ts): etcd does not say when a watch has sent all of its history.
   */
  async untilNow(reader: EventReader): Promise<number> {
    return reader.live ? this.ring.head : markRevision(this.opts.etcd, this.opts.keys);
  }

  /**
   * The revision of the first change after `after` for which `relevant(key)` holds, or undefined
   * when none comes within `timeoutMs` (or `signal` aborts). A gap in what can be read (a reset)
   * counts as a change: the caller reads again.
   */
  async waitForChange(after: number, relevant: (key: string) => boolean, timeoutMs: number, signal?: AbortSignal): Promise<number | undefined> {
    const reader = await this.open({ revision: after, index: Number.POSITIVE_INFINITY }, { client: "a blocking read" });
    const deadline = this.clock.now() + timeoutMs;
    const aborted = new Promise<"aborted">((resolve) => {
      if (signal?.aborted) resolve("aborted");
      signal?.addEventListener("abort", () => resolve("aborted"), { once: true });
    });
    try {
      for (;;) {
        const step = await Promise.race([reader.next(Math.max(0, deadline - this.clock.now())), aborted]);
        if (step === "aborted" || step.kind === "idle") return undefined;
        if (step.kind === "reset") return step.revision;
        if (step.kind === "end") return this.ring.head;
        if (step.batch.keys.some(relevant)) return step.batch.revision;
      }
    } finally {
      reader.close();
    }
  }

  changed(): Promise<void> {
    return this.signal.promise;
  }

  history(revision: number): Watch {
    return this.opts.etcd.watch(this.opts.keys.prefix, { prefix: true, startRevision: revision, prevKv: true });
  }

  batchesOf(batch: Extract<WatchBatch, { kind: "events" }>): RevisionBatch[] {
    return byRevision(batch.events).map(([revision, changes]) => {
      const { events, failures } = deriveEvents(this.opts.keys, revision, changes);
      for (const f of failures) this.opts.invalid?.report(f.failure, f.revision, this.opts.log);
      return { revision, events: events.map((event) => ({ event, json: JSON.stringify(event) })), keys: changes.map((c) => c.kv.key) };
    });
  }

  detach(reader: EventReader): void {
    this.readers.delete(reader);
    if (this.readers.size > 0 || this.closed || this.lingerTimer !== undefined) return;
    this.lingerTimer = this.clock.setTimeout(() => {
      this.lingerTimer = undefined;
      if (this.readers.size === 0) this.stop();
    }, this.opts.lingerMs ?? 60_000);
    // The linger alone must not keep a process alive (a test, a daemon stopping).
    (this.lingerTimer as { unref?: () => void } | undefined)?.unref?.();
  }

  private clearLinger(): void {
    if (this.lingerTimer !== undefined) this.clock.clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
  }

  /** Ends every reader and the watch; later opens fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearLinger();
    for (const r of [...this.readers]) r.end("the daemon is stopping", "closed");
    this.readers.clear();
    this.stop();
  }

  private async start(): Promise<void> {
    if (this.watch) return;
    this.starting ??= this.startWatch().finally(() => (this.starting = undefined));
    await this.starting;
  }

  private async startWatch(): Promise<void> {
    // Any read answers with etcd's revision: the ring starts there, the watch just after.
    const { revision } = await this.opts.etcd.range(this.opts.keys.version);
    if (this.closed) throw new Error("The event hub is closed");
    this.ring.reset(revision);
    this.generation++;
    const watch = this.opts.etcd.watch(this.opts.keys.prefix, { prefix: true, startRevision: revision + 1, prevKv: true });
    this.watch = watch;
    void this.pump(watch);
    this.notify();
  }

  private async pump(watch: Watch): Promise<void> {
    try {
      for await (const b of watch) {
        if (this.watch !== watch) return;
        if (b.kind === "events") {
          for (const batch of this.batchesOf(b)) this.append(batch);
        } else if (b.kind === "compacted") {
          // Only a watch cut off for longer than etcd keeps history gets here.
          this.opts.log.warn(`The event watch fell behind etcd's compaction (revision ${b.compactRevision}); starting again from now`);
          this.watch = undefined;
          await this.start().catch((e) => this.fail(`the daemon cannot watch etcd again: ${errorText(e)}`));
          return;
        }
      }
    } catch (e) {
      if (this.watch === watch) this.fail(`the daemon's watch of etcd failed: ${errorText(e)}`);
    }
  }

  /** Ends every reader: the watch cannot go on. The next reader starts it again. */
  private fail(reason: string): void {
    this.opts.log.error(`Ending ${this.readers.size} event reader(s): ${reason}`);
    for (const r of [...this.readers]) r.end(reason, "failed");
    this.readers.clear();
    this.stop();
  }

  private append(batch: RevisionBatch): void {
    const before = this.ring.floor;
    const floor = this.ring.append(batch);
    if (floor !== before) {
      for (const r of this.readers) {
        if (!r.live || r.ringCovers(r.cursor)) continue;
        const reason = `it is ${this.ring.head - r.cursor.revision} revisions behind (it read up to revision ${r.cursor.revision}, the cluster is at ${this.ring.head}), ` +
          `further than the last ${this.ring.events} events (${this.ring.bytes} bytes) this daemon keeps for slow readers`;
        this.opts.log.warn(`Dropping event stream client ${r.opts.client}: ${reason}`);
        r.end(`dropped: ${reason}`, "slow");
        this.readers.delete(r);
      }
    }
    this.notify();
  }

  private stop(): void {
    const w = this.watch;
    this.watch = undefined;
    w?.close();
    this.ring.reset(0);
    this.notify();
  }

  private notify(): void {
    const s = this.signal;
    this.signal = deferred();
    s.resolve();
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
