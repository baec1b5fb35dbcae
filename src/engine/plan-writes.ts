// The leader's plan, written: each action logged with its reason, checked and encoded by the
// registry, and written in transactions fenced by the term's epoch: all of a plan's changes to one
// machine in one transaction where they fit (a move's removal and new entry side by side), and
// transactions that share no machine or unit in flight side by side. Then the wait until the
// engine's own watches have seen the writes, so the next plan starts from them.
import type { Clock, TimerHandle } from "../lib/clock.ts";
import type { Logger } from "../log/logger.ts";
import type { FleetMetrics } from "../metrics/fleet.ts";
import { prepareWrite, transactions, type EngineWrites, type PreparedWrite, type TiedWrite } from "../registry/engine-writes.ts";
import type { Informer } from "../registry/informer.ts";
import type { KeySpace } from "../registry/keys.ts";
import { InvalidRecordError } from "../registry/records.ts";
import type { EngineAction } from "../scheduler/types.ts";
import type { LeaderElection, Term } from "./leader.ts";
import { describeAction, movesIn, writeFor, writeOrder, type EngineSnapshot } from "./state.ts";

/** How long a leader waits for its own writes to come back through the watches. */
const ECHO_TIMEOUT_MS = 5000;
/** Transactions in flight at once (each chain's in order). */
const IN_FLIGHT = 8;

export interface PlanWriterDeps {
  keys: KeySpace;
  writes: Pick<EngineWrites, "commit">;
  election: Pick<LeaderElection, "fence" | "deposed">;
  log: Logger;
  metrics: FleetMetrics;
  /** Operations per transaction. */
  maxOpsPerTxn: number;
  /** The informers whose caches the writes must reach before the next plan. */
  watched: readonly Informer<unknown>[];
  /** Whether the engine still leads in `term`. */
  leads: () => boolean;
}

/**
 * Writes the plan's actions; per watched informer, the revision its cache must reach (that of
 * the last batch that changed a key of its prefix), or undefined when this engine turned out to
 * be deposed. Tasks are counted by kind once written, and as failed when their transaction fails.
 */
export async function writePlan(
  d: PlanWriterDeps, term: Term, actions: readonly EngineAction[], snap: EngineSnapshot, now: number,
): Promise<Map<Informer<unknown>, number> | undefined> {
  const writes: TiedWrite[] = [];
  const kindOf = new Map<PreparedWrite, string>();
  const moves = movesIn(actions, snap);
  const withNext = new Set<PreparedWrite>();
  let removal: { unit: string; write: PreparedWrite } | undefined;
  for (const a of writeOrder(actions, moves)) {
    const w = writeFor(a, snap, a.kind === "schedule" ? moves.get(a.unit) : undefined);
    if (!w) continue;
    let prepared;
    try {
      prepared = prepareWrite(d.keys, w, term.epoch, now);
    } catch (e) {
      // Never store what a reader would refuse; the other actions go ahead.
      if (!(e instanceof InvalidRecordError)) throw e;
      d.log.error(`Not writing the action "${describeAction(a)}": ${e.message}`);
      continue;
    }
    // A move's removal and addition are written in one transaction.
    if (a.kind === "schedule" && removal?.unit === a.unit && writes.at(-1)?.write === removal.write) withNext.add(removal.write);
    removal = a.kind === "unschedule" && moves.has(a.unit) ? { unit: a.unit, write: prepared } : undefined;
    const ties = "machine" in a ? [`m:${a.machine}`] : [];
    // A unit that runs on one machine at a time: its removal precedes its addition elsewhere.
    if (snap.units.get(a.unit)?.global !== true) ties.push(`u:${a.unit}`);
    writes.push({ write: prepared, ties });
    kindOf.set(prepared, a.kind);
    if (a.kind === "clear-pending") d.log.debug(describeAction(a));
    else d.log.info(describeAction(a));
  }
  const echoes = new Map<Informer<unknown>, number>();
  const chains = transactions(writes, d.maxOpsPerTxn, withNext);
  let stop: { deposed: true } | { error: unknown } | undefined;
  const commit = async (batch: PreparedWrite[]): Promise<void> => {
    let res;
    try {
      res = await d.writes.commit(d.election.fence(term), batch);
    } catch (e) {
      for (const w of batch) d.metrics.engineTaskFailureCount.inc({ type: kindOf.get(w) ?? "unknown" });
      stop ??= { error: e };
      return;
    }
    if (!res.succeeded) {
      if (!stop) d.election.deposed(term, `etcd refused a write of epoch ${term.epoch}: another engine leads`);
      stop ??= { deposed: true };
      return;
    }
    batch.forEach((w, i) => {
      d.metrics.engineTaskCount.inc({ type: kindOf.get(w) ?? "unknown" });
      // A delete of a key that was not there changes nothing and sends no event.
      if (!res.changed[i]) return;
      const inf = d.watched.find((x) => w.key.startsWith(x.prefix));
      if (inf) echoes.set(inf, Math.max(echoes.get(inf) ?? 0, res.revision));
    });
  };
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < chains.length) {
      for (const batch of chains[next++]!) {
        if (stop || !d.leads()) return;
        await commit(batch);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, chains.length) }, lane));
  if (stop && "error" in stop) throw stop.error;
  if (stop || !d.leads()) return undefined;
  return echoes;
}

/** Waits until the informers the writes touched have seen them (at most ECHO_TIMEOUT_MS on `clock`). */
export async function awaitEcho(clock: Clock, log: Logger, echoes: ReadonlyMap<Informer<unknown>, number>): Promise<void> {
  if (echoes.size === 0) return;
  let timer: TimerHandle | undefined;
  const timeout = new Promise<boolean>((r) => (timer = clock.setTimeout(() => r(true), ECHO_TIMEOUT_MS)));
  const timedOut = await Promise.race([Promise.all([...echoes].map(([i, rev]) => i.waitForRevision(rev))).then(() => false), timeout]);
  clock.clearTimeout(timer);
  if (timedOut) log.warn(`The engine's own writes did not come back through its watches within ${ECHO_TIMEOUT_MS} ms; planning on`);
}
