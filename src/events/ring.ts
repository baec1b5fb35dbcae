// The daemon's memory of recent revisions: every revision of the key prefix after `floor`, with
// its events (each encoded once, shared by every client) and the keys it changed (for blocking
// reads). Bounded in events and bytes: the oldest revisions go first, and `floor` moves up.
import type { FleetEvent } from "./types.ts";

export interface StoredEvent {
  event: FleetEvent;
  /** The event's JSON, encoded once for every client. */
  json: string;
}

/** One etcd revision of the key prefix. */
export interface RevisionBatch {
  revision: number;
  events: StoredEvent[];
  /** Every key the revision put or deleted. */
  keys: string[];
}

export interface RingLimits {
  maxEvents: number;
  maxBytes: number;
}

export class EventRing {
  private batches: RevisionBatch[] = [];
  private start = 0;
  private eventCount = 0;
  private byteCount = 0;
  /** Every revision after this one (up to head) is held. */
  floor = 0;
  /** The last revision held, or floor when none is. */
  head = 0;

  constructor(private readonly limits: RingLimits) {}

  get events(): number {
    return this.eventCount;
  }

  get bytes(): number {
    return this.byteCount;
  }

  /** Forgets everything: revisions after `revision` will follow. */
  reset(revision: number): void {
    this.batches = [];
    this.start = 0;
    this.eventCount = 0;
    this.byteCount = 0;
    this.floor = revision;
    this.head = revision;
  }

  /** Adds the next revision; returns the new floor (moved up when old revisions had to go). */
  append(batch: RevisionBatch): number {
    if (batch.revision <= this.head) throw new Error(`Revision ${batch.revision} is not after ${this.head}`);
    this.batches.push(batch);
    this.head = batch.revision;
    this.eventCount += batch.events.length;
    this.byteCount += sizeOf(batch);
    // The newest revision always stays, however large: a client at the head can still read it.
    while (this.start < this.batches.length - 1 && (this.eventCount > this.limits.maxEvents || this.byteCount > this.limits.maxBytes)) {
      const old = this.batches[this.start++]!;
      this.eventCount -= old.events.length;
      this.byteCount -= sizeOf(old);
      this.floor = old.revision;
    }
    if (this.start > 1024 && this.start * 2 > this.batches.length) {
      this.batches = this.batches.slice(this.start);
      this.start = 0;
    }
    return this.floor;
  }

  /** The first revision held after `revision`, if any. */
  after(revision: number): RevisionBatch | undefined {
    let lo = this.start;
    let hi = this.batches.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.batches[mid]!.revision <= revision) lo = mid + 1;
      else hi = mid;
    }
    return this.batches[lo];
  }

}

function sizeOf(b: RevisionBatch): number {
  let n = 64;
  for (const e of b.events) n += e.json.length;
  for (const k of b.keys) n += k.length;
  return n;
}
