// One reader of the event hub: a place in the stream, read forward revision by revision. A
// reader whose place the hub still holds reads the shared ring; one from further back first
// reads etcd's history through a watch of its own, and moves to the ring at the first revision
// after the ring's floor (nothing between its place and that revision exists, so nothing is lost
// or told twice). The hub ends a ring reader that falls behind the ring (hub.ts).
import type { Watch, WatchBatch } from "../registry/etcd/index.ts";
import { errorText } from "../lib/error-text.ts";
import type { Clock, TimerHandle } from "../lib/clock.ts";
import type { EventRing, RevisionBatch } from "./ring.ts";
import { isAfter, type Cursor } from "./types.ts";

export type ReaderStep =
  /** The next revision: its events after the reader's place, and the keys it changed. */
  | { kind: "batch"; batch: RevisionBatch }
  /** Revisions up to `revision` cannot be read (compacted, or not in this etcd): go on from there. */
  | { kind: "reset"; revision: number; reason: string }
  /** Nothing new within the time asked. */
  | { kind: "idle" }
  /** The reader is done: dropped, the hub failed, or the daemon is stopping. */
  | { kind: "end"; reason: string; cause: EndCause };

export type EndCause = "slow" | "failed" | "closed";

/** What a reader needs of its hub. */
export interface ReaderHub {
  readonly ring: EventRing;
  /** The clock of the reader's waits. */
  readonly clock: Clock;
  /** Changes whenever the hub restarts its watch (after a compaction); the ring then starts anew. */
  readonly generation: number;
  /** Resolves at the next change of the ring or of the hub's state. */
  changed(): Promise<void>;
  /** A watch of etcd's history of the key prefix from `revision` on. */
  history(revision: number): Watch;
  /** The watch batch's revisions, derived and encoded as the hub does. */
  batchesOf(batch: Extract<WatchBatch, { kind: "events" }>): RevisionBatch[];
  detach(reader: EventReader): void;
}

export interface ReaderOptions {
  /** Who reads, for log lines (e.g. the client's address). */
  client: string;
  /** Called once when the hub ends the reader (not when the reader closes itself). */
  onEnd?: (step: Extract<ReaderStep, { kind: "end" }>) => void;
}

export class EventReader {
  private mode: "ring" | "history";
  private generation: number;
  private watch: Watch | undefined;
  private iterator: AsyncIterator<WatchBatch> | undefined;
  private pendingWatch: Promise<IteratorResult<WatchBatch>> | undefined;
  private queue: RevisionBatch[] = [];
  private pendingReset: Extract<ReaderStep, { kind: "reset" }> | undefined;
  private ended: Extract<ReaderStep, { kind: "end" }> | undefined;
  private closed = false;

  constructor(private readonly hub: ReaderHub, public cursor: Cursor, readonly opts: ReaderOptions, reset?: { revision: number; reason: string }) {
    this.generation = hub.generation;
    this.mode = this.ringCovers(cursor) ? "ring" : "history";
    if (reset) this.pendingReset = { kind: "reset", ...reset };
  }

  /** True while the reader reads the shared ring (false while it catches up from etcd's history). */
  get live(): boolean {
    return this.mode === "ring";
  }

  /** The next step; `idle` when nothing came within `timeoutMs` (no data is lost by waiting again). */
  async next(timeoutMs = Number.POSITIVE_INFINITY): Promise<ReaderStep> {
    const deadline = this.hub.clock.now() + timeoutMs;
    for (;;) {
      if (this.ended) return this.ended;
      if (this.closed) return { kind: "end", reason: "closed", cause: "closed" };
      if (this.pendingReset) {
        const r = this.pendingReset;
        this.pendingReset = undefined;
        return r;
      }
      if (this.mode === "history") {
        const step = await this.fromHistory(deadline);
        if (step) return step;
        continue;
      }
      const step = this.fromRing();
      if (step) return step;
      if (!(await within(this.hub.changed(), deadline, this.hub.clock))) return { kind: "idle" };
    }
  }

  /** Stops reading: the hub forgets the reader and its history watch closes. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopHistory();
    this.hub.detach(this);
  }

  /** The hub ends the reader. */
  end(reason: string, cause: EndCause): void {
    if (this.ended || this.closed) return;
    this.ended = { kind: "end", reason, cause };
    this.stopHistory();
    this.opts.onEnd?.(this.ended);
  }

  /**
   * Whether the reader has read everything up to the end of `revision` (a stream asked to stop
   * there, `until=now`).
   */
  caughtUp(revision: number): boolean {
    return this.cursor.revision > revision || (this.cursor.revision === revision && this.cursor.index === Number.POSITIVE_INFINITY);
  }

  /** Whether the ring holds everything after `c`. */
  ringCovers(c: Cursor): boolean {
    const floor = this.hub.ring.floor;
    return c.revision > floor || (c.revision === floor && c.index === Number.POSITIVE_INFINITY);
  }

  private fromRing(): ReaderStep | undefined {
    if (this.generation !== this.hub.generation) {
      // The hub lost its watch to a compaction and started again: what happened between is gone.
      this.generation = this.hub.generation;
      const revision = this.hub.ring.floor;
      this.cursor = { revision, index: Number.POSITIVE_INFINITY };
      return { kind: "reset", revision, reason: "the daemon's watch of etcd fell behind etcd's compaction and started again" };
    }
    const finite = this.cursor.index !== Number.POSITIVE_INFINITY;
    const b = this.hub.ring.after(finite ? this.cursor.revision - 1 : this.cursor.revision);
    if (!b) return undefined;
    return { kind: "batch", batch: this.take(b) };
  }

  private async fromHistory(deadline: number): Promise<ReaderStep | undefined> {
    const b = this.queue.shift();
    if (b) {
      if (b.revision > this.hub.ring.floor) {
        // Nothing lies between the reader's place and b: the ring holds b and all after it.
        this.stopHistory();
        this.mode = "ring";
        this.generation = this.hub.generation;
        return undefined;
      }
      return { kind: "batch", batch: this.take(b) };
    }
    if (!this.iterator) {
      const finite = this.cursor.index !== Number.POSITIVE_INFINITY;
      this.watch = this.hub.history(finite ? this.cursor.revision : this.cursor.revision + 1);
      this.iterator = this.watch[Symbol.asyncIterator]();
    }
    this.pendingWatch ??= this.iterator.next();
    let outcome: { value: IteratorResult<WatchBatch> } | undefined;
    try {
      outcome = await within(this.pendingWatch, deadline, this.hub.clock);
    } catch (e) {
      this.pendingWatch = undefined;
      this.end(`reading etcd's history failed: ${errorText(e)}`, "failed");
      return undefined;
    }
    if (outcome === undefined) return { kind: "idle" };
    const r = outcome.value;
    this.pendingWatch = undefined;
    if (r.done) {
      this.end("reading etcd's history ended", "failed");
      return undefined;
    }
    const w = r.value;
    if (w.kind === "events") this.queue.push(...this.hub.batchesOf(w));
    else if (w.kind === "compacted") {
      this.stopHistory();
      this.mode = "ring";
      this.generation = this.hub.generation;
      const revision = this.hub.ring.head;
      const from = this.cursor;
      this.cursor = { revision, index: Number.POSITIVE_INFINITY };
      return { kind: "reset", revision, reason: `etcd no longer holds the revisions after ${from.revision} (it compacted its history up to revision ${w.compactRevision})` };
    }
    return undefined;
  }

  /** `b` without the events the reader has had; the reader's place moves past it. */
  private take(b: RevisionBatch): RevisionBatch {
    const c = this.cursor;
    this.cursor = { revision: b.revision, index: Number.POSITIVE_INFINITY };
    if (b.revision !== c.revision) return b;
    return { ...b, events: b.events.filter((e, i) => isAfter(c, b.revision, i)) };
  }

  private stopHistory(): void {
    this.watch?.close();
    this.watch = undefined;
    this.iterator = undefined;
    this.pendingWatch = undefined;
    this.queue = [];
  }
}

/** The promise's outcome, or undefined when `deadline` (a time of `clock`) comes first. */
async function within<T>(p: Promise<T>, deadline: number, clock: Clock): Promise<{ value: T } | undefined> {
  const settled = p.then((value) => ({ value }));
  const ms = deadline - clock.now();
  if (ms === Number.POSITIVE_INFINITY || Number.isNaN(ms)) return settled;
  if (ms <= 0) return Promise.race([settled, Promise.resolve(undefined)]);
  let timer: TimerHandle | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = clock.setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clock.clearTimeout(timer);
  }
}
