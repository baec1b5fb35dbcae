// A list+watch cache of one etcd prefix: the decoded value of every key, kept current by a
// watch resumed from the list's revision. When the watch cannot resume (history compacted, or
// a failure the client cannot reconnect through) it re-lists and emits the difference, so a
// consumer sees every add, update and delete exactly once and never the same change twice.
// A value its decoder refuses is skipped: told about once (invalid-records.ts), the last good
// value of the key kept, and the key listed in invalidEntries() until it is fixed or deleted.
import type { Backoff } from "../lib/backoff.ts";
import type { Clock } from "../lib/clock.ts";
import { Worker, type Round } from "../lib/worker.ts";
import { prefixEnd } from "./etcd/index.ts";
import type { EtcdClient, KeyValue, Watch } from "./etcd/index.ts";
import type { Logger } from "../log/logger.ts";
import { invalidRecords, type InvalidRecords } from "./invalid-records.ts";
import { decodeRecord, type Decoded, type RecordFailure, type RecordKind, type RecordTypes } from "./records.ts";
import type { KeySpace } from "./keys.ts";
import { errorText } from "../lib/error-text.ts";

export type ChangeType = "add" | "update" | "delete";

export interface InformerChange<T> {
  /** The full etcd key. */
  key: string;
  type: ChangeType;
  /** The new value; undefined for a delete. */
  value: T | undefined;
  /** The value before; undefined for an add. */
  prev: T | undefined;
  /** "list" when the change was found by (re-)listing rather than delivered by the watch. */
  source: "list" | "watch";
}

/**
 * Called with each batch of changes; an empty batch when only the set of invalid keys changed
 * (a key turned unreadable, or an unreadable one was fixed or deleted).
 */
export type ChangeListener<T> = (changes: InformerChange<T>[]) => void;

export interface InformerOptions<T> {
  etcd: Pick<EtcdClient, "range" | "watch">;
  prefix: string;
  /** Decodes one value; a failure (or a throw) skips the key, keeping a cached value. */
  decode: (kv: KeyValue) => Decoded<T>;
  log?: Logger;
  /** Where refused values are told about (default: the daemon's one reporter). */
  invalid?: InvalidRecords;
  /** Keys per range request while listing (default 1000); pages share one revision. */
  pageSize?: number;
  /** Back-off between failed list or watch attempts. */
  retry?: Backoff;
  random?: () => number;
  /** The clock of the back-off (default the system's), so tests can drive it. */
  clock?: Clock;
}

interface Entry<T> {
  value: T;
  modRevision: number;
  createRevision: number;
  /** "0" when the key has no lease. */
  lease: string;
}

const DEFAULT_RETRY: Backoff = { baseMs: 100, capMs: 5000 };

/** A watch ended without an error and without close(): back off before the next, quietly. */
class WatchEnded extends Error {}

export class Informer<T> {
  readonly prefix: string;
  /** Resolves once the first list is in the cache (or when closed before that). */
  readonly synced: Promise<void>;
  private readonly cache = new Map<string, Entry<T>>();
  /** Keys whose current value was refused, with why and at which revision. */
  private readonly invalid = new Map<string, { failure: RecordFailure; modRevision: number; createRevision: number }>();
  private readonly listeners = new Set<ChangeListener<T>>();
  private readonly waiters: { revision: number; resolve: () => void }[] = [];
  private readonly log: Logger | undefined;
  private resolveSynced!: () => void;
  private rev = 0;
  private started = false;
  private closed = false;
  private watch: Watch | undefined;
  /** The next session lists first (at the start, and after a failure or a compaction). */
  private needList = true;
  /** refresh() calls so far; a list begun after the n-th call answers it. */
  private refreshes = 0;
  private readonly refreshWaiters: { n: number; resolve: () => void }[] = [];
  /** Serialises lists: the sessions' and resync()'s. */
  private listing: Promise<unknown> = Promise.resolve();
  /** Runs list+watch sessions, one after the other, backing off after a failure. */
  private readonly worker: Worker;

  constructor(private readonly opts: InformerOptions<T>) {
    this.prefix = opts.prefix;
    this.log = opts.log;
    this.synced = new Promise((resolve) => (this.resolveSynced = resolve));
    this.worker = new Worker({
      clock: opts.clock,
      random: opts.random,
      retry: opts.retry ?? DEFAULT_RETRY,
      run: (round) => this.session(round),
      onError: (e, delay) => {
        if (!(e instanceof WatchEnded)) this.log?.warn(`Cannot list or watch ${this.prefix}, retrying in ${delay} ms: ${errorText(e)}`);
      },
    });
  }

  /** Starts listing and watching; listeners added before see the initial keys as adds. */
  start(): this {
    if (this.started || this.closed) return this;
    this.started = true;
    this.worker.kick(0);
    return this;
  }

  /** Every key up to this revision has been applied. 0 before the first list. */
  get revision(): number {
    return this.rev;
  }

  get size(): number {
    return this.cache.size;
  }

  get(key: string): T | undefined {
    return this.cache.get(key)?.value;
  }

  has(key: string): boolean {
    return this.cache.has(key);
  }

  /** The mod revision of the cached value of `key`. */
  modRevision(key: string): number | undefined {
    return this.cache.get(key)?.modRevision;
  }

  /** The revision that created `key` (an unreadable key's too), if it is known. */
  createRevision(key: string): number | undefined {
    return this.invalid.get(key)?.createRevision ?? this.cache.get(key)?.createRevision;
  }

  /** The lease the key is attached to ("0" for none), if the key is cached. */
  leaseOf(key: string): string | undefined {
    return this.cache.get(key)?.lease;
  }

  *entries(): IterableIterator<[string, T]> {
    for (const [k, e] of this.cache) yield [k, e.value];
  }

  *values(): IterableIterator<T> {
    for (const e of this.cache.values()) yield e.value;
  }

  keys(): IterableIterator<string> {
    return this.cache.keys();
  }

  /** Keys whose current value could not be decoded, and why (a cached last good value may remain). */
  *invalidEntries(): IterableIterator<[string, RecordFailure]> {
    for (const [k, e] of this.invalid) yield [k, e.failure];
  }

  /** Calls `cb` with each batch of changes, synchronously after the cache has applied it. */
  onChange(cb: ChangeListener<T>): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Resolves once the cache reflects `revision` (or the informer is closed). */
  waitForRevision(revision: number): Promise<void> {
    if (this.rev >= revision || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ revision, resolve }));
  }

  /**
   * Re-lists now and applies the difference (a safety net against missed events, and a way to
   * be sure the cache is at least as new as the moment of the call). Resolves to the number of
   * changes found; a healthy watch makes that 0.
   */
  resync(): Promise<number> {
    return this.exclusive(() => this.relist());
  }

  /**
   * The safety net's re-list, skipped when `observedRevision` (the highest revision etcd has
   * reported to this client, keepalives included) is no newer than the cache: nothing in etcd
   * changed since, so a list could find nothing, and an idle cluster costs etcd no reads.
   */
  resyncIfBehind(observedRevision: number): Promise<number> {
    if (observedRevision > 0 && observedRevision <= this.rev) return Promise.resolve(0);
    return this.resync();
  }

  /**
   * Lists again and watches anew; resolves once a list begun after the call is applied. For when
   * the watch may be stuck: after etcd was unreachable, a stream whose connection died without a
   * word (a network cut, etcd's host gone) delivers nothing, or only once TCP's retransmission
   * back-off lets it, which after a long cut is many seconds. Nothing is lost or repeated: the
   * list applies the difference and the new watch starts after it.
   */
  refresh(): Promise<void> {
    if (!this.started || this.closed) return Promise.resolve();
    const n = ++this.refreshes;
    const done = new Promise<void>((resolve) => this.refreshWaiters.push({ n, resolve }));
    this.needList = true;
    this.watch?.close();
    this.worker.retryNow();
    return done;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watch?.close();
    this.resolveSynced();
    this.flushWaiters(true);
    this.answerRefreshes(Infinity);
    await this.worker.stop();
  }

  /** One session: list if needed, then watch until the watch ends; due again at once after a compaction. */
  private async session(round: Round): Promise<number | undefined> {
    if (this.closed) return undefined;
    try {
      // A refresh() during the list asks for one more.
      while (this.needList) {
        const asked = this.refreshes;
        this.needList = false;
        await this.exclusive(() => this.relist());
        this.resolveSynced();
        this.answerRefreshes(asked);
      }
      const watch = this.opts.etcd.watch(this.prefix, { prefix: true, startRevision: this.rev + 1 });
      this.watch = watch;
      if (this.closed) watch.close();
      for await (const batch of watch) {
        round.progressed();
        if (batch.kind === "events") this.applyEvents(batch.events, batch.revision);
        else if (batch.kind === "progress") this.advance(batch.revision);
        else {
          this.log?.info(`Watch of ${this.prefix} fell behind compaction at revision ${batch.compactRevision}; listing again`);
          this.needList = true;
        }
      }
    } catch (e) {
      if (!this.closed) this.needList = true;
      throw e;
    } finally {
      this.watch = undefined;
    }
    if (this.closed) return undefined;
    // Only close() or a closed client ends a watch otherwise: do not spin.
    if (!this.needList) throw new WatchEnded(`The watch of ${this.prefix} ended`);
    return 0;
  }

  private exclusive<R>(fn: () => Promise<R>): Promise<R> {
    const next = this.listing.then(fn, fn);
    this.listing = next.catch(() => undefined);
    return next;
  }

  /** Lists the prefix at one revision and applies the difference to the cache. */
  private async relist(): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const { kvs, revision } = await this.listAll();
      if (this.closed) return 0;
      // The watch may have applied newer events while we listed: an older list would undo them.
      if (revision < this.rev) {
        if (attempt < 5) continue;
        return 0;
      }
      return this.applyList(kvs, revision);
    }
  }

  private async listAll(): Promise<{ kvs: KeyValue[]; revision: number }> {
    const limit = this.opts.pageSize ?? 1000;
    const end = prefixEnd(this.prefix);
    const first = await this.opts.etcd.range(this.prefix, { prefix: true, limit });
    const kvs = [...first.kvs];
    let more = first.more;
    while (more && kvs.length > 0) {
      const after = `${kvs[kvs.length - 1]!.key}\0`;
      const page = await this.opts.etcd.range(after, { rangeEnd: end, limit, revision: first.revision });
      kvs.push(...page.kvs);
      more = page.more && page.kvs.length > 0;
    }
    return { kvs, revision: first.revision };
  }

  private applyList(kvs: KeyValue[], revision: number): number {
    const changes: InformerChange<T>[] = [];
    const seen = new Set<string>();
    let invalidChanged = false;
    for (const kv of kvs) {
      seen.add(kv.key);
      const old = this.cache.get(kv.key);
      if (old && old.modRevision === kv.modRevision) continue;
      if (this.invalid.get(kv.key)?.modRevision === kv.modRevision) continue;
      if (this.invalid.has(kv.key)) invalidChanged = true;
      if (!this.put(kv, old, "list", changes)) invalidChanged = true;
    }
    for (const [key, old] of this.cache) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      changes.push({ key, type: "delete", value: undefined, prev: old.value, source: "list" });
    }
    for (const key of this.invalid.keys()) {
      if (seen.has(key)) continue;
      this.invalid.delete(key);
      invalidChanged = true;
    }
    this.advance(revision);
    this.emit(changes, invalidChanged);
    return changes.length;
  }

  private applyEvents(events: { type: "put" | "delete"; kv: KeyValue }[], revision: number): void {
    const changes: InformerChange<T>[] = [];
    let invalidChanged = false;
    for (const { type, kv } of events) {
      // Already reflected by a list that was newer than this event.
      if (kv.modRevision <= this.rev || !kv.key.startsWith(this.prefix)) continue;
      const old = this.cache.get(kv.key);
      if (this.invalid.has(kv.key)) invalidChanged = true;
      if (type === "delete") {
        this.invalid.delete(kv.key);
        if (!old) continue;
        this.cache.delete(kv.key);
        changes.push({ key: kv.key, type: "delete", value: undefined, prev: old.value, source: "watch" });
        continue;
      }
      if (!this.put(kv, old, "watch", changes)) invalidChanged = true;
    }
    this.advance(revision);
    this.emit(changes, invalidChanged);
  }

  /** Caches the decoded value of `kv` and records the change; false when the value was refused. */
  private put(kv: KeyValue, old: Entry<T> | undefined, source: InformerChange<T>["source"], changes: InformerChange<T>[]): boolean {
    const value = this.decode(kv);
    if (value === undefined) return false;
    this.cache.set(kv.key, { value: value.v, modRevision: kv.modRevision, createRevision: kv.createRevision, lease: kv.lease });
    changes.push({ key: kv.key, type: old ? "update" : "add", value: value.v, prev: old?.value, source });
    return true;
  }

  /** The decoded value, or undefined (told about, and the key marked invalid) when refused. */
  private decode(kv: KeyValue): { v: T } | undefined {
    let decoded: Decoded<T>;
    try {
      decoded = this.opts.decode(kv);
    } catch (e) {
      // A decoder that throws is a bug; the key is still skipped rather than the informer stopped.
      decoded = { ok: false, failure: { kind: "unknown", key: kv.key, reason: `the decoder failed: ${errorText(e)}` } };
    }
    if (decoded.ok) {
      this.invalid.delete(kv.key);
      return { v: decoded.value };
    }
    this.invalid.set(kv.key, { failure: decoded.failure, modRevision: kv.modRevision, createRevision: kv.createRevision });
    (this.opts.invalid ?? invalidRecords).report(decoded.failure, kv.modRevision, this.log);
    return undefined;
  }

  private advance(revision: number): void {
    if (revision > this.rev) this.rev = revision;
    this.flushWaiters(false);
  }

  /** Resolves the refresh() calls up to the n-th. */
  private answerRefreshes(n: number): void {
    for (let i = this.refreshWaiters.length - 1; i >= 0; i--) {
      const w = this.refreshWaiters[i]!;
      if (w.n > n) continue;
      this.refreshWaiters.splice(i, 1);
      w.resolve();
    }
  }

  private flushWaiters(all: boolean): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (all || w.revision <= this.rev) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  private emit(changes: InformerChange<T>[], invalidChanged = false): void {
    if (changes.length === 0 && !invalidChanged) return;
    for (const cb of [...this.listeners]) {
      try {
        cb(changes);
      } catch (e) {
        this.log?.error(`A listener of ${this.prefix} failed: ${errorText(e)}`);
      }
    }
  }
}

/** The registry's decoder for one kind of record (records.ts), for an informer of that family. */
export function recordDecoder<K extends RecordKind>(kind: K, keys: KeySpace): (kv: KeyValue) => Decoded<RecordTypes[K]> {
  return (kv) => decodeRecord(kind, keys, kv);
}

/** Accepts every value as `read` makes it (for families whose keys alone matter). */
export function acceptAll<T>(read: (kv: KeyValue) => T): (kv: KeyValue) => Decoded<T> {
  return (kv) => ({ ok: true, value: read(kv) });
}

