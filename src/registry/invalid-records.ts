// Where refused records are told about: one log line and one count per key and revision, however
// many readers (engine, agent, API requests, CLI polls) meet the same bad record, and however
// often. A record fixed and broken again has a new revision, so it is told about again.
import type { Logger } from "../log/logger.ts";
import { fleetMetrics, type FleetMetrics } from "../metrics/fleet.ts";
import type { RecordFailure } from "./records.ts";

export class InvalidRecords {
  /** `key\0revision` of every failure told about, oldest first. */
  private readonly seen = new Set<string>();
  private told = 0;

  constructor(
    private readonly metrics: Pick<FleetMetrics, "registryInvalidRecords"> = fleetMetrics,
    /** How many key-revisions are remembered; past it the oldest may be told about again. */
    private readonly max = 10_000,
  ) {}

  /** Failures told about so far (for tests and the fuzz summary). */
  get count(): number {
    return this.told;
  }

  /**
   * Logs (as a warning) and counts the failure, the first time this key at this revision fails.
   * Returns whether it was the first time.
   */
  report(failure: RecordFailure, modRevision: number, log?: Pick<Logger, "warn">): boolean {
    const id = `${failure.key}\0${modRevision}`;
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > this.max) this.seen.delete(this.seen.values().next().value as string);
    this.told++;
    this.metrics.registryInvalidRecords.inc({ kind: failure.kind });
    log?.warn(`Skipping ${failure.key}${modRevision > 0 ? ` at revision ${modRevision}` : ""}: ${failure.reason}`);
    return true;
  }
}

/** The daemon's one reporter, shared by its engine, agent and API so each failure is told once. */
export const invalidRecords = new InvalidRecords();
