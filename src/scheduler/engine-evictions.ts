// The brake on moving units off lost machines (design.md §4, §9 "reschedule storms"):
//  - settle: a machine's units wait until no machine has vanished for `settleMs`. Machines cut
//    off together stop renewing together, so their leases expire within one keepalive interval
//    (agent_ttl / 3) of each other; waiting that long lets the partition guard see all of them.
//  - partition guard: when more than half of the machines vanished within one agent TTL, no
//    unit moves. It resumes when enough machines return (no longer more than half gone), when
//    `pauseMaxMs` passed (then those machines are treated as failed), or when an operator says
//    so (resume()).
//  - rate limit: a token bucket of `perSecond` evictions with bursts of `burst`. Units leaving
//    drained machines spend the same tokens (and wait out a settle or pause like the others):
//    a drain is one more source of restarts elsewhere, and the bucket bounds them all.
// Decisions are logged; the planner gets `maxEvictions` and the hold text for pending reasons.
import type { Logger } from "../log/logger.ts";
import { partitionSuspected } from "./plan.ts";
import type { Clock } from "./engine-clock.ts";

export interface EvictionPolicy {
  perSecond: number;
  burst: number;
  /** The partition guard's window: one agent TTL. */
  windowMs: number;
  settleMs: number;
  /** 0: stay paused until machines return or resume() is called. */
  pauseMaxMs: number;
}

export interface EvictionBudget {
  maxEvictions: number;
  /** Why units wait, for their pending reason; stable while the cause is. */
  hold: string;
  /** When the budget may grow: plan again then if units are still waiting. */
  recheckAt: number | undefined;
}

interface Pause {
  since: number;
  machines: Set<string>;
  total: number;
}

export class EvictionGovernor {
  /** Machines gone and not back, with when they were first seen gone. */
  private readonly vanished = new Map<string, number>();
  /** Vanished machines that no longer count towards a partition (resumed past them). */
  private readonly accepted = new Set<string>();
  private pause: Pause | undefined;
  private tokens: number;
  private refilledAt: number;

  constructor(private readonly policy: EvictionPolicy, private readonly clock: Clock, private readonly log: Logger) {
    this.tokens = policy.burst;
    this.refilledAt = clock.now();
  }

  get paused(): boolean {
    return this.pause !== undefined;
  }

  machineRemoved(id: string): void {
    if (!this.vanished.has(id)) this.vanished.set(id, this.clock.now());
  }

  machineAdded(id: string): void {
    this.vanished.delete(id);
    this.accepted.delete(id);
  }

  /**
   * The budget for one plan. `live` are the live machine ids; `lost` the gone machines that
   * still have units scheduled (those whose units would move); `draining` whether units wait to
   * leave drained machines.
   */
  budget(live: ReadonlySet<string>, lost: ReadonlySet<string>, draining = false): EvictionBudget {
    const now = this.clock.now();
    // Lost before we were watching (e.g. a new leader finds entries of dead machines).
    for (const id of lost) if (!this.vanished.has(id)) this.vanished.set(id, now);
    for (const id of [...this.vanished.keys()]) if (live.has(id)) this.machineAdded(id);

    const recent = [...this.vanished]
      .filter(([id, at]) => now - at <= this.policy.windowMs && !this.accepted.has(id))
      .map(([id]) => id);
    if (this.pause) {
      for (const id of recent) this.pause.machines.add(id);
      const gone = [...this.pause.machines].filter((id) => !live.has(id));
      const total = live.size + gone.length;
      if (!partitionSuspected(total, live.size)) {
        this.resume(`${this.pause.machines.size - gone.length} of ${this.pause.machines.size} vanished machines are back`);
      } else if (this.policy.pauseMaxMs > 0 && now - this.pause.since >= this.policy.pauseMaxMs) {
        this.resume(`${gone.length} of ${total} machines stayed away for ${seconds(now - this.pause.since)}; treating them as failed`);
      }
    } else if (recent.length > 0 && partitionSuspected(live.size + recent.length, live.size)) {
      const total = live.size + recent.length;
      this.pause = { since: now, machines: new Set(recent), total };
      this.log.warn(
        `Pausing evictions: ${recent.length} of ${total} machines vanished within ${seconds(this.policy.windowMs)}; this looks like a partition, not failures`,
      );
    }

    if (this.pause) {
      const recheckAt = this.policy.pauseMaxMs > 0 ? this.pause.since + this.policy.pauseMaxMs : undefined;
      return { maxEvictions: 0, hold: `evictions paused: ${this.pause.machines.size} of ${this.pause.total} machines vanished at once`, recheckAt };
    }
    if (lost.size === 0 && !draining) return { maxEvictions: 0, hold: "", recheckAt: undefined };

    let last = -Infinity;
    for (const [id, at] of this.vanished) if (!live.has(id) && !this.accepted.has(id)) last = Math.max(last, at);
    if (now - last < this.policy.settleMs) {
      return { maxEvictions: 0, hold: "waiting to see whether more machines vanish", recheckAt: last + this.policy.settleMs };
    }

    this.refill(now);
    const max = Math.floor(this.tokens);
    const recheckAt = max > 0 ? undefined : now + Math.ceil(((1 - (this.tokens - max)) * 1000) / this.policy.perSecond);
    return { maxEvictions: max, hold: "eviction rate limit", recheckAt };
  }

  /** Units moved off lost machines by a plan that was written. */
  consumed(n: number): void {
    this.tokens = Math.max(0, this.tokens - n);
  }

  /** Ends a pause (an operator's decision); the machines gone now count as failed. */
  resume(reason = "resumed by an operator"): void {
    const p = this.pause;
    if (!p) return;
    this.pause = undefined;
    for (const id of p.machines) this.accepted.add(id);
    for (const id of this.vanished.keys()) this.accepted.add(id);
    this.log.info(`Resuming evictions: ${reason}`);
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.refilledAt);
    this.refilledAt = now;
    this.tokens = Math.min(this.policy.burst, this.tokens + (elapsed * this.policy.perSecond) / 1000);
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
