// Parsed unit files by hash. Unit files are content-addressed, so a cached entry never goes
// stale: listing units reads each distinct file from etcd once per daemon, not per request.
import type { Registry } from "../registry/registry.ts";
import type { UnitOption } from "../unit/types.ts";

export class UnitFileCache {
  private readonly entries = new Map<string, readonly UnitOption[]>();

  constructor(
    private readonly registry: Registry,
    private readonly maxEntries = 4096,
  ) {}

  /** The options of the unit file with this hash; undefined when etcd has no readable file. */
  async options(hash: string): Promise<readonly UnitOption[] | undefined> {
    const hit = this.entries.get(hash);
    if (hit) return hit;
    const file = await this.registry.getUnitFile(hash);
    if (file === undefined) return undefined;
    const { options } = file;
    if (this.entries.size >= this.maxEntries) {
      // Map iteration follows insertion order: drop the oldest entry.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(hash, options);
    return options;
  }
}
