// The leader's collector of orphan dynamic metadata: metadata/<id> keys whose machine has been
// gone for a long time. Dynamic metadata outlives its machine on purpose, so a machine that
// reboots, or is down for maintenance, comes back with it; a machine gone for good would leave
// its key forever. The rule: a machine absent for ORPHAN_METADATA_AFTER_MS without a break, as
// seen by this leader, loses its dynamic metadata. A new leader starts counting afresh, which
// can only delay a removal, never hasten one.
import type { EngineWrites } from "../registry/engine-writes.ts";
import type { Informer } from "../registry/informer.ts";
import { childName, type KeySpace } from "../registry/keys.ts";
import type { Logger } from "../log/logger.ts";
import type { LeaderElection, Term } from "./leader.ts";

/** A day: longer than any reboot or ordinary maintenance, short enough not to pile up keys. */
export const ORPHAN_METADATA_AFTER_MS = 24 * 3_600_000;
/** Deletes in groups of this many: one fenced transaction each (two compares per key, plus the fence). */
const GROUP = 50;

export interface MetadataCollectorDeps {
  writes: Pick<EngineWrites, "deleteMetadata">;
  keys: KeySpace;
  election: Pick<LeaderElection, "fence">;
  log: Logger;
  /** How long a machine must be absent before its metadata goes (default ORPHAN_METADATA_AFTER_MS). */
  afterMs?: number;
}

export class MetadataCollector {
  /** Machine id -> when this leader first saw its metadata without a machine, and that key's revision. */
  private readonly absent = new Map<string, { since: number; modRevision: number }>();
  private readonly afterMs: number;

  constructor(private readonly d: MetadataCollectorDeps) {
    this.afterMs = d.afterMs ?? ORPHAN_METADATA_AFTER_MS;
  }

  /** A new term: what the last leader saw (or this one, before it lost) no longer counts. */
  reset(): void {
    this.absent.clear();
  }

  /** The machine registered again: its absence ended, however briefly it stays. */
  machineSeen(id: string): void {
    this.absent.delete(id);
  }

  /**
   * Removes the metadata of machines absent for afterMs. Returns when the next one falls due,
   * so the engine can wake for it. A delete also requires that the machine is still absent and
   * the metadata unchanged in etcd; one that fails leaves everything as it is for the next round.
   */
  async collect(term: Term, caches: { machines: Pick<Informer<unknown>, "has">; metadata: Pick<Informer<unknown>, "keys" | "modRevision"> }, now: number): Promise<number | undefined> {
    const { keys } = this.d;
    const due: { id: string; modRevision: number }[] = [];
    const present = new Set<string>();
    let next: number | undefined;
    for (const key of caches.metadata.keys()) {
      const id = childName(keys.metadatas, key);
      if (id === undefined) continue;
      present.add(id);
      const modRevision = caches.metadata.modRevision(key) ?? 0;
      if (caches.machines.has(keys.machine(id))) {
        this.absent.delete(id);
        continue;
      }
      let seen = this.absent.get(id);
      // Written since (only possible while the machine was live): the absence starts again.
      if (!seen || seen.modRevision !== modRevision) this.absent.set(id, (seen = { since: now, modRevision }));
      const at = seen.since + this.afterMs;
      if (at <= now) due.push({ id, modRevision });
      else next = next === undefined ? at : Math.min(next, at);
    }
    for (const id of this.absent.keys()) if (!present.has(id)) this.absent.delete(id);
    for (let i = 0; i < due.length; i += GROUP) {
      const group = due.slice(i, i + GROUP);
      if (!(await this.d.writes.deleteMetadata(this.d.election.fence(term), group))) continue;
      for (const g of group) {
        this.absent.delete(g.id);
        this.d.log.info(`Removed the dynamic metadata of machine ${g.id}: the machine has been gone for ${span(this.afterMs)} or more`);
      }
    }
    return next;
  }
}

function span(ms: number): string {
  if (ms >= 3_600_000) return `${+(ms / 3_600_000).toFixed(1)} h`;
  if (ms >= 60_000) return `${+(ms / 60_000).toFixed(1)} min`;
  return `${+(ms / 1000).toFixed(1)} s`;
}
