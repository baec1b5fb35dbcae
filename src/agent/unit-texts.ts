// Unit file texts by hash, fetched from `unitfiles/<hash>` once and kept while a schedule entry
// or a file on disk refers to them (content-addressed, so an entry never goes stale). A schedule
// entry carries the text of a small unit itself; the others a reconcile prefetches in one request.
import type { Logger } from "../log/logger.ts";
import type { KeyValue } from "../registry/etcd/index.ts";
import { invalidRecords, type InvalidRecords } from "../registry/invalid-records.ts";
import type { KeySpace } from "../registry/keys.ts";
import { decodeUnitFile } from "../registry/records.ts";

export class UnitTexts {
  private readonly texts = new Map<string, string>();
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(
    private readonly keys: KeySpace,
    private readonly fetch: (hash: string) => Promise<KeyValue | undefined>,
    private readonly log?: Logger,
    private readonly invalid: InvalidRecords = invalidRecords,
    private readonly fetchMany?: (hashes: readonly string[]) => Promise<Map<string, KeyValue>>,
  ) {}

  get size(): number {
    return this.texts.size;
  }

  async get(hash: string): Promise<string> {
    const cached = this.texts.get(hash);
    if (cached !== undefined) return cached;
    let p = this.inFlight.get(hash);
    if (!p) {
      p = this.load(hash).finally(() => this.inFlight.delete(hash));
      this.inFlight.set(hash, p);
    }
    return p;
  }

  /** A text its schedule entry carried (the entry's decoder checked that it hashes to `hash`). */
  seed(hash: string, text: string): void {
    if (!this.texts.has(hash)) this.texts.set(hash, text);
  }

  /**
   * Fetches the texts of `hashes` not yet known, in one request. Best effort: a text it could not
   * get (missing, unreadable, etcd unreachable) is left for get(), which says why.
   */
  async prefetch(hashes: Iterable<string>): Promise<void> {
    const missing = [...new Set(hashes)].filter((h) => !this.texts.has(h) && !this.inFlight.has(h));
    if (missing.length === 0 || !this.fetchMany) return;
    let found: Map<string, KeyValue>;
    try {
      found = await this.fetchMany(missing);
    } catch {
      return;
    }
    for (const [hash, kv] of found) {
      if (this.texts.has(hash)) continue;
      const decoded = decodeUnitFile(this.keys, kv);
      if (decoded.ok) this.texts.set(hash, decoded.value.text);
    }
  }

  /** Forgets every text whose hash is not in `referenced`. */
  retain(referenced: ReadonlySet<string>): void {
    for (const hash of this.texts.keys()) if (!referenced.has(hash)) this.texts.delete(hash);
  }

  private async load(hash: string): Promise<string> {
    const kv = await this.fetch(hash);
    if (kv === undefined) throw new Error(`Unit file ${hash} is not in etcd (unitfiles/${hash} is missing)`);
    // The hash is the name: a text that does not match it, or is no unit file, never reaches systemd.
    const decoded = decodeUnitFile(this.keys, kv);
    if (!decoded.ok) {
      this.invalid.report(decoded.failure, kv.modRevision, this.log);
      throw new Error(`Unit file ${hash} in etcd cannot be used: ${decoded.failure.reason}`);
    }
    this.texts.set(hash, decoded.value.text);
    return decoded.value.text;
  }
}
