// Reading a set of units again and again while a command waits: the first read at once, each
// later one after something about them changed. Through the API that is a blocking read
// (`waitIndex`, docs/api.md) that answers as soon as a unit's record, schedule entry, pending
// reason or state changed, with nothing between the reads lost: each waits past the revision the
// last answer reflects. Without one (the etcd driver, or a daemon older than blocking reads,
// whose answers carry no X-Fleet-Index), or after a blocking read failed, each read waits the old
// poll interval first.
import { systemClock, type Clock } from "../lib/clock.ts";
import type { FleetClient, Unit, UnitState } from "./client.ts";
import { POLL_INTERVAL_MS } from "./wait-logic.ts";

/** A blocking read asks for at most this long a wait; a longer wait is several reads. */
export const MAX_BLOCK_MS = 30_000;
/** Up to this many units' states are read one unit at a time; more read the whole list once. */
const STATES_ONE_BY_ONE = 16;

export class UnitReads {
  private index: number | undefined;
  private reads = 0;
  private blocking = true;

  constructor(
    private readonly client: FleetClient,
    /** The units to read; undefined for every unit. */
    private readonly names: readonly string[] | undefined,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Whether reads wait for changes (false once the server turned out not to tell an index). */
  get waitsForChanges(): boolean {
    return this.blocking;
  }

  /**
   * The units now (the first call), or once something about them changed, at the latest at
   * `dueAt` (a time of the clock) when nothing does. `names` narrows the set to the units still
   * waited for.
   */
  async next(dueAt: number, names = this.names): Promise<Unit[]> {
    const first = this.reads++ === 0;
    if (!first && (!this.blocking || this.index === undefined)) {
      await sleep(this.clock, Math.max(0, Math.min(POLL_INTERVAL_MS, dueAt - this.clock.now())));
      return this.read(names);
    }
    if (first) return this.read(names);
    const waitMs = Math.max(0, Math.min(MAX_BLOCK_MS, dueAt - this.clock.now()));
    try {
      const r = await this.client.readUnits({ names, after: { index: this.index!, waitMs } });
      this.index = r.index;
      return r.value;
    } catch {
      // A long read cut off (a proxy, a restarted daemon, a daemon whose watch of etcd fails):
      // one plain read decides, and its failure ends the wait as a failed poll did; the rest of
      // the wait polls, as against a daemon without blocking reads.
      this.blocking = false;
      return this.read(names);
    }
  }

  private async read(names: readonly string[] | undefined): Promise<Unit[]> {
    const r = await this.client.readUnits({ names });
    this.index = r.index;
    if (r.index === undefined) this.blocking = false;
    return r.value;
  }
}

/** The systemd states of these units, from every machine that reports them. */
export async function statesOf(client: FleetClient, names: readonly string[]): Promise<UnitState[]> {
  if (names.length === 0) return [];
  if (names.length <= STATES_ONE_BY_ONE) {
    return (await Promise.all(names.map((unitName) => client.listUnitStates({ unitName })))).flat();
  }
  const wanted = new Set(names);
  return (await client.listUnitStates()).filter((s) => wanted.has(s.name));
}

export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
