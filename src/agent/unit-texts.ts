// Unit file texts by hash, fetched from `unitfiles/<hash>` once and kept while a schedule entry
// or a file on disk refers to them (content-addressed, so an entry never goes stale).
import { contentHash } from "../systemd/unit-manager.ts";

export class UnitTexts {
  private readonly texts = new Map<string, string>();
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(private readonly fetch: (hash: string) => Promise<string | undefined>) {}

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

  /** Forgets every text whose hash is not in `referenced`. */
  retain(referenced: ReadonlySet<string>): void {
    for (const hash of this.texts.keys()) if (!referenced.has(hash)) this.texts.delete(hash);
  }

  private async load(hash: string): Promise<string> {
    const text = await this.fetch(hash);
    if (text === undefined) throw new Error(`Unit file ${hash} is not in etcd (unitfiles/${hash} is missing)`);
    // The hash is the name: a text that does not match it must never reach systemd.
    const actual = contentHash(text);
    if (actual !== hash) throw new Error(`Unit file ${hash} in etcd does not match its hash (its content hashes to ${actual})`);
    this.texts.set(hash, text);
    return text;
  }
}
