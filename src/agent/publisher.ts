// Publishes this machine's unit states to `states/<name>/<machineID>` under the machine lease.
// Reports are coalesced: a burst of D-Bus signals becomes one transaction per flush (split only
// at etcd's per-transaction operation limit), and a unit whose state did not change is not
// written again. Only this machine's key is ever deleted (quirk Q18 fixed).
import type { Logger } from "../log/logger.ts";
import type { Backoff } from "../lib/backoff.ts";
import { systemClock, type Clock } from "../lib/clock.ts";
import { Worker, type Round } from "../lib/worker.ts";
import type { EtcdClient } from "../registry/etcd/index.ts";
import type { KeySpace } from "../registry/keys.ts";
import type { UnitStateRecord } from "../registry/models.ts";
import { InvalidRecordError } from "../registry/records.ts";
import { UnitStates, type StateChange } from "../registry/unit-states.ts";
import { errorText } from "../lib/error-text.ts";

export interface ReportedState {
  loadState: string;
  activeState: string;
  subState: string;
  hash: string;
  /** A service's MainPID while it has one (see UnitState). */
  mainPid?: number;
  /** Why the agent refused the unit here (fleet's, not systemd's); absent otherwise. */
  reason?: string;
}

export interface PublisherOptions {
  etcd: Pick<EtcdClient, "txn">;
  keys: KeySpace;
  machineId: string;
  log: Logger;
  /**
   * How long a report waits for others to join its transaction (default 20 ms; at 50 ms a start
   * reported active 35 ms later). In a burst reports still share transactions: those that come
   * while one is written wait for the next.
   */
  coalesceMs?: number;
  /** etcd's --max-txn-ops (default 128). */
  maxOpsPerTxn?: number;
  /** Back-off after a failed write (default 200 ms doubling to 5 s). */
  retry?: Backoff;
  clock?: Clock;
  random?: () => number;
}

export interface PublisherStats {
  /** Transactions that succeeded. */
  txns: number;
  /** Keys written or deleted. */
  ops: number;
}

const UNKNOWN = "?";

export class StatePublisher {
  /** What etcd should hold, by unit. */
  private readonly states = new Map<string, UnitStateRecord>();
  /** What etcd holds under the current lease, as written (UNKNOWN: present, content unknown). */
  private readonly written = new Map<string, string>();
  private readonly dirty = new Set<string>();
  private lease: string | undefined;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  readonly stats: PublisherStats = { txns: 0, ops: 0 };
  private readonly store: UnitStates;
  private readonly clock: Clock;
  /** Flushes: a burst of reports joins one, a failed one is retried after a back-off. */
  private readonly worker: Worker;

  constructor(private readonly opts: PublisherOptions) {
    this.store = new UnitStates(opts.etcd, opts.keys, opts.machineId);
    this.clock = opts.clock ?? systemClock;
    this.worker = new Worker({
      clock: this.clock,
      random: opts.random,
      retry: opts.retry ?? { baseMs: 200, capMs: 5000 },
      coalesceMs: opts.coalesceMs ?? 20,
      run: (round) => this.flush(round),
      // Once per outage, not once per retry.
      onError: (e, _delay, failures) => {
        if (failures === 1) this.opts.log.warn(`Cannot publish unit states, will retry: ${errorText(e)}`);
      },
      onRoundEnd: () => {
        if (this.dirty.size === 0) this.wakeIdle();
      },
    });
  }

  /**
   * Publishes under `lease` from now on (undefined: hold everything back). `existingKeys` are
   * keys already bound to a resumed lease: states among them that are no longer reported are
   * deleted. Every state is written again under the new lease.
   */
  setLease(lease: string | undefined, existingKeys: readonly string[] = []): void {
    this.lease = lease;
    this.written.clear();
    this.worker.resetFailures();
    for (const key of existingKeys) {
      const unit = this.store.unitOf(key);
      if (unit !== undefined) {
        this.written.set(unit, UNKNOWN);
        this.dirty.add(unit);
      }
    }
    for (const unit of this.states.keys()) this.dirty.add(unit);
    this.kick(0);
  }

  /** The current state of `unit`; undefined when it is no longer here (its key is deleted). */
  report(unit: string, state: ReportedState | undefined): void {
    const old = this.states.get(unit);
    if (!state) {
      if (!old) return;
      this.states.delete(unit);
    } else {
      if (old && same(old, state)) return;
      this.states.set(unit, { ...state, since: new Date(this.clock.now()).toISOString() });
    }
    this.dirty.add(unit);
    this.kick();
  }

  /** Writes everything again (a safety net against keys changed behind our back). */
  republish(): void {
    this.written.clear();
    for (const unit of this.states.keys()) this.dirty.add(unit);
    this.kick(0);
  }

  get(unit: string): UnitStateRecord | undefined {
    return this.states.get(unit);
  }

  /** Resolves once every report so far is in etcd (or the publisher is closed or has no lease). */
  async idle(): Promise<void> {
    while (!this.closed && this.lease && (this.dirty.size > 0 || this.worker.running)) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  close(): void {
    this.closed = true;
    // A write in flight is not waited for: it is under the lease, which outlives the daemon.
    void this.worker.stop();
    this.wakeIdle();
  }

  /** For the state dump. */
  dump(): { states: Record<string, UnitStateRecord>; toPublish: string[]; lease: string | undefined } {
    return { states: Object.fromEntries(this.states), toPublish: [...this.dirty].sort(), lease: this.lease };
  }

  /** A flush is wanted; none runs without a lease or with nothing to write. */
  private kick(delayMs?: number): void {
    if (this.closed || !this.lease) return this.wakeIdle();
    if (this.dirty.size > 0) this.worker.kick(delayMs);
  }

  /** Writes what changed, split at etcd's per-transaction limit; throws (to be retried) when etcd fails. */
  private async flush(round: Round): Promise<void> {
    const lease = this.lease;
    if (!lease) return;
    const units = [...this.dirty].sort();
    this.dirty.clear();
    const ops: StateChange[] = [];
    for (const unit of units) {
      const rec = this.states.get(unit);
      const value = rec && this.encode(unit, rec);
      if (value !== undefined) {
        if (this.written.get(unit) !== value) ops.push({ unit, value });
      } else if (this.written.has(unit)) {
        ops.push({ unit, value: undefined });
      }
    }
    const max = this.opts.maxOpsPerTxn ?? 128;
    for (let i = 0; i < ops.length; i += max) {
      const chunk = ops.slice(i, i + max);
      try {
        await this.store.write(lease, chunk);
      } catch (e) {
        // Everything not yet written goes back into the queue, unless reported again meanwhile.
        for (const c of ops.slice(i)) this.dirty.add(c.unit);
        throw e;
      }
      if (this.lease !== lease) return;
      this.stats.txns++;
      this.stats.ops += chunk.length;
      for (const c of chunk) {
        if (c.value === undefined) this.written.delete(c.unit);
        else this.written.set(c.unit, c.value);
      }
    }
    if (round.failures > 0) this.opts.log.info("Publishing unit states again");
  }

  /** The record's JSON, or undefined (logged) when a reader would refuse it: then none is published. */
  private encode(unit: string, rec: UnitStateRecord): string | undefined {
    try {
      return this.store.encode(unit, rec);
    } catch (e) {
      if (!(e instanceof InvalidRecordError)) throw e;
      this.opts.log.warn(`Not publishing the state of ${unit}: ${e.failure.reason}`);
      return undefined;
    }
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

function same(a: UnitStateRecord, b: ReportedState): boolean {
  return a.loadState === b.loadState && a.activeState === b.activeState && a.subState === b.subState && a.hash === b.hash && a.reason === b.reason && a.mainPid === b.mainPid;
}
