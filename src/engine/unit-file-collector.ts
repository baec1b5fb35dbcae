// The leader's collector of unit files no unit or schedule entry refers to (architecture.md §4).
// Unit files are content-addressed and shared, so a file looks unused to the engine for a moment
// whenever a unit with the same text is being created: two guards keep that file.
import type { EngineWrites } from "../registry/engine-writes.ts";
import type { Informer } from "../registry/informer.ts";
import type { KeySpace } from "../registry/keys.ts";
import type { ScheduleEntry, UnitRecord } from "../registry/models.ts";
import type { Logger } from "../log/logger.ts";
import type { RolloutRecord } from "../rollout/types.ts";
import { unreferencedFiles } from "./state.ts";
import type { LeaderElection, Term } from "./leader.ts";

export interface CollectorDeps {
  writes: Pick<EngineWrites, "deleteUnitFiles">;
  keys: KeySpace;
  election: Pick<LeaderElection, "fence" | "holds" | "deposed">;
  log: Logger;
  units: Informer<UnitRecord>;
  schedule: Informer<ScheduleEntry>;
  /** Rollouts keep both their versions' files until they end. */
  rollouts?: Informer<RolloutRecord>;
  files: Pick<Informer<unknown>, "keys" | "modRevision">;
  /** Whether the engine still leads in the term it started collecting in. */
  leads: () => boolean;
}

/** Deletes in groups of this many: one fenced transaction each. */
const GROUP = 50;

/**
 * Deletes unit files no unit or schedule entry refers to. Each delete also requires that the
 * file was last written no later than the units cache: a unit created since (which writes its
 * file in the same transaction) makes the delete fail instead of losing the file.
 */
export async function collectUnitFiles(d: CollectorDeps, term: Term): Promise<void> {
  const { keys, log } = d;
  // A rollout writes its new file with its record, so a file is also accounted for by the
  // rollouts seen; the deletes then check that nothing newer was written under either.
  const guard = d.rollouts === undefined ? undefined : { units: d.units.revision, rollouts: d.rollouts.revision };
  const seen = Math.max(d.units.revision, d.rollouts?.revision ?? 0);
  const rollouts = [...(d.rollouts?.entries() ?? [])].map(([k, record]) => [k, { record, modRevision: d.rollouts!.modRevision(k) ?? 0 }] as [string, { record: RolloutRecord; modRevision: number }]);
  const unused = unreferencedFiles(keys, d.files.keys(), { units: d.units.entries(), schedule: d.schedule.entries(), rollouts });
  // A file newer than the units we have seen is most likely a unit being created: wait for it.
  const hashes = unused.filter((h) => (d.files.modRevision(keys.unitFile(h)) ?? 0) <= seen);
  if (hashes.length < unused.length) {
    log.debug(`Not collecting unit files ${unused.filter((h) => !hashes.includes(h)).join(", ")} yet: written after the units this engine has seen`);
  }
  if (hashes.length === 0) return;
  const attempt = (group: string[]): Promise<boolean> => d.writes.deleteUnitFiles(d.election.fence(term), group, seen, guard);
  for (let i = 0; i < hashes.length; i += GROUP) {
    if (!d.leads()) return;
    const group = hashes.slice(i, i + GROUP);
    let removed = group;
    if (!(await attempt(group))) {
      if (!(await d.election.holds(term))) {
        d.election.deposed(term, `etcd refused a write of epoch ${term.epoch}: another engine leads`);
        return;
      }
      // One file was written again (or several): find out which, one by one.
      removed = [];
      for (const h of group) if (group.length > 1 && (await attempt([h]))) removed.push(h);
    }
    for (const h of removed) log.info(`Removed unit file ${h}: no unit refers to it`);
    const kept = group.filter((h) => !removed.includes(h));
    if (kept.length > 0) log.debug(`Kept unit files ${kept.join(", ")}: written again since the units were read`);
  }
}
