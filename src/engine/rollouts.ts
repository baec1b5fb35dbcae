// The leader's rollout reconciler (rollout/plan.ts decides): beside the placement, on its own
// Worker, it drives every active rollout in `<p>/rollouts/`. A round reads the informers, plans
// each rollout, and writes each changed record (and, when one succeeds, the unit records' new
// hash in the same transaction), fenced by the leader's epoch and by the record's revision, so
// an operator's pause or abort written meanwhile is never overwritten: the write fails and the
// next round plans from it. The placement planner then gives each instance the version the
// record says (rollout/hashes.ts), and the agent restarts the instance whose hash changed. The
// record in etcd is the whole state, so a new leader goes on where the last one stopped.
import type { EtcdClient } from "../registry/etcd/index.ts";
import { cmp, op } from "../registry/etcd/txn.ts";
import type { Informer } from "../registry/informer.ts";
import { childPair, type KeySpace } from "../registry/keys.ts";
import { fenceCompare } from "../registry/leader-key.ts";
import type { ScheduleEntry, UnitRecord, UnitStateRecord } from "../registry/models.ts";
import { encodeRecord, scheduleKeyParts } from "../registry/records.ts";
import type { Logger } from "../log/logger.ts";
import type { Clock } from "../lib/clock.ts";
import { Worker } from "../lib/worker.ts";
import { errorText } from "../lib/error-text.ts";
import { coveredBy } from "../rollout/hashes.ts";
import { describeEvent } from "../rollout/describe.ts";
import { planRollout, type RolloutInput } from "../rollout/plan.ts";
import { isActiveRollout, type RolloutRecord } from "../rollout/types.ts";
import { awaitEcho } from "./plan-writes.ts";
import type { LeaderElection, Term } from "./leader.ts";

export interface RolloutReconcilerDeps {
  etcd: Pick<EtcdClient, "txn">;
  keys: KeySpace;
  election: Pick<LeaderElection, "fence">;
  log: Logger;
  clock: Clock;
  random?: () => number;
  units: Informer<UnitRecord>;
  schedule: Informer<ScheduleEntry>;
  rollouts: Informer<RolloutRecord>;
  /** A new cache of the agents' reports (started, watched and closed here, while rollouts are active). */
  makeStates: () => Informer<UnitStateRecord>;
  /** Told about each rollout that ended, with its end state. */
  onFinished?: (state: RolloutRecord["state"]) => void;
}

export class RolloutReconciler {
  private term: Term | undefined;
  private readonly worker: Worker;
  private states: Informer<UnitStateRecord> | undefined;

  constructor(private readonly d: RolloutReconcilerDeps) {
    this.worker = new Worker({
      clock: d.clock,
      random: d.random,
      coalesceMs: 20,
      retry: { baseMs: 200, capMs: 5000 },
      run: () => this.round(),
      onError: (e, delay) => d.log.warn(`Rollout round failed, retrying in ${delay} ms: ${errorText(e)}`),
    });
  }

  /** Leads in `term` (with warm caches), or no longer leads. */
  setTerm(term: Term | undefined): void {
    this.term = term;
    if (term) this.worker.kick(0);
  }

  kick(): void {
    if (this.term) this.worker.kick();
  }

  async stop(): Promise<void> {
    this.term = undefined;
    // Closed first: a round waiting for its first list ends with it.
    const closing = this.dropStates();
    await this.worker.stop();
    await closing;
    await this.dropStates();
  }

  /** The agents' reports, listed: watched from the first active rollout on. */
  private async statesNow(): Promise<Informer<UnitStateRecord>> {
    if (!this.states) {
      const states = this.d.makeStates();
      states.onChange(() => this.kick());
      this.states = states.start();
    }
    await this.states.synced;
    return this.states;
  }

  private async dropStates(): Promise<void> {
    const states = this.states;
    this.states = undefined;
    await states?.close();
  }

  /** One pass over the active rollouts; resolves to the delay until the next is due, if any. */
  private async round(): Promise<number | undefined> {
    const term = this.term;
    if (!term) return undefined;
    const { d } = this;
    let wakeAt = Infinity;
    const echoes = new Map<Informer<unknown>, number>();
    const active = [...d.rollouts.entries()].filter(([, r]) => isActiveRollout(r.state));
    if (active.length === 0) {
      await this.dropStates();
      return undefined;
    }
    const states = await this.statesNow();
    if (this.term !== term) return undefined;
    for (const [key, record] of active) {
      if (this.term !== term) break;
      const now = d.clock.now();
      const plan = planRollout(this.inputFor(record, states, now));
      if (plan.wakeAt !== undefined) wakeAt = Math.min(wakeAt, plan.wakeAt);
      if (!plan.record) continue;
      const mod = d.rollouts.modRevision(key) ?? 0;
      const compare = [fenceCompare(d.election.fence(term)), cmp.modRevision(key, "=", mod)];
      const success = [op.put(key, encodeRecord("rollouts", d.keys, key, plan.record))];
      for (const w of plan.unitHashes) {
        const ukey = d.keys.unit(w.unit);
        const u = d.units.get(ukey);
        if (!u) continue;
        compare.push(cmp.modRevision(ukey, "=", d.units.modRevision(ukey) ?? 0));
        success.push(op.put(ukey, encodeRecord("units", d.keys, ukey, { ...u, hash: w.hash, description: plan.record.description })));
      }
      const res = await d.etcd.txn({ compare, success });
      if (!res.succeeded) {
        // Changed meanwhile (an operator's request, a unit written) or no longer the leader:
        // the informers bring the change and kick the next round.
        d.log.debug(`Rollout of ${record.unit}: the record or a unit changed while planning; planning again`);
        wakeAt = Math.min(wakeAt, now + 200);
        continue;
      }
      for (const step of plan.steps) d.log.info(`Rollout of ${record.unit}: ${describeEvent(step)}`);
      if (!isActiveRollout(plan.record.state)) d.onFinished?.(plan.record.state);
      echoes.set(d.rollouts as Informer<unknown>, res.revision);
      if (plan.unitHashes.length > 0) echoes.set(d.units as Informer<unknown>, res.revision);
    }
    await awaitEcho(d.clock, d.log, echoes);
    return wakeAt === Infinity ? undefined : Math.max(0, wakeAt - d.clock.now());
  }

  private inputFor(record: RolloutRecord, statesCache: Informer<UnitStateRecord>, now: number): RolloutInput {
    const { keys } = this.d;
    const units: RolloutInput["units"][number][] = [];
    for (const [, u] of this.d.units.entries()) if (coveredBy(record.unit, u.name)) units.push(u);
    const names = new Set(units.map((u) => u.name));
    const entries: RolloutInput["entries"][number][] = [];
    for (const k of this.d.schedule.keys()) {
      const parts = scheduleKeyParts(keys, k);
      if (parts && names.has(parts[1])) entries.push({ unit: parts[1], machine: parts[0] });
    }
    const states: RolloutInput["states"][number][] = [];
    for (const [k, s] of statesCache.entries()) {
      const pair = childPair(keys.states, k);
      if (pair && names.has(pair[0])) states.push({ unit: pair[0], machine: pair[1], ...s });
    }
    return { record, units, entries, states, now };
  }
}
