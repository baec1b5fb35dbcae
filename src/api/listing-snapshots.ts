// The listings behind paginated responses (units, states, machines).
import { readIndex } from "./blocking.ts";

/**
 * Page 1 of a listing always reads fresh; later pages reuse the snapshot taken for the most
 * recent page 1 of the same listing while it is younger than `maxAgeMs`. Paging through N
 * items then costs one etcd read instead of one per page (the original re-listed everything
 * for every page: quadratic at 10,000 units), and a client sees one consistent listing.
 */
export class ListingSnapshots {
  readonly #entries = new Map<string, { at: number; value: Promise<unknown>; index?: number }>();

  constructor(
    private readonly maxAgeMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  get<T>(key: string, page: number, load: () => Promise<T>): Promise<T> {
    const at = this.now();
    const hit = this.#entries.get(key);
    // The revision a page reflects is that of its snapshot (X-Fleet-Index, blocking.ts).
    const read = readIndex.getStore();
    if (page > 1 && hit && at - hit.at <= this.maxAgeMs) {
      if (read && hit.index !== undefined) read.index = hit.index;
      return hit.value as Promise<T>;
    }
    for (const [k, e] of this.#entries) if (at - e.at > this.maxAgeMs) this.#entries.delete(k);
    const value = load();
    this.#entries.set(key, { at, value, index: read?.index });
    // A failed read is not kept: the next request tries again.
    value.catch(() => {
      if (this.#entries.get(key)?.value === value) this.#entries.delete(key);
    });
    return value;
  }
}
