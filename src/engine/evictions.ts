// The brake on moving units off lost machines (architecture.md §4, §9 "reschedule storms"):
//  - lease probe: machines cut off together stop renewing together, but their leases expire up
//    to one keepalive interval (agent_ttl / 3) apart. So when a machine vanishes, the engine asks
//    etcd for the remaining TTL of every live machine's lease: a lease renewed every agent_ttl/3
//    never has less than 2/3 of its TTL left, while those cut off with the vanished one have at
//    most 1/3 left. Those below half are suspects, counted by the partition guard as vanishing;
//    the vanished machine's units move as soon as the answer is in, with no waiting.
//  - settle (when a probe is not possible or failed): a machine's units wait until no machine
//    has vanished for `settleMs`, so that leases expiring close together are seen together.
//  - partition guard: when more than half of the machines vanished within one agent TTL, no
//    unit moves. It resumes when enough machines return (no longer more than half gone), when
//    `pauseMaxMs` passed (then those machines are treated as failed), or when an operator says
//    so (resume()).
//  - rate limit: a token bucket of `perSecond` evictions with bursts of `burst`. Units leaving
//    drained machines spend the same tokens (and wait out a settle or pause like the others):
//    a drain is one more source of restarts elsewhere, and the bucket bounds them all.
// Decisions are logged; the planner gets `maxEvictions` and the hold text for pending reasons.
import type { Logger } from "../log/logger.ts";
import type { Clock } from "../lib/clock.ts";

export interface EvictionPolicy {
  perSecond: number;
  burst: number;
  /** The partition guard's window: one agent TTL. */
  windowMs: number;
  settleMs: number;
  /** 0: stay paused until machines return or resume() is called. */
  pauseMaxMs: number;
  /** Whether the engine can probe the live machines' leases (else the settle applies). */
  probe?: boolean;
}

export interface EvictionBudget {
  maxEvictions: number;
  /** Why units wait, for their pending reason; stable while the cause is. */
  hold: string;
  /** When the budget may grow: plan again then if units are still waiting. */
  recheckAt: number | undefined;
  /** Probe the live machines' leases (then report with probed() and plan again). */
  probe?: true;
}

interface Probe {
  startedAt: number;
  /** Live machines whose lease missed a renewal, with when it runs out. */
  suspects: Map<string, number>;
  failed: boolean;
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
  private probe: Probe | undefined;
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
    this.probe?.suspects.delete(id);
  }

  /**
   * The answer to a probe started at `startedAt`: each live machine's remaining lease time in
   * ms (0 for a lease already gone). Below half a TTL means it missed a renewal.
   */
  probed(startedAt: number, remainingMs: ReadonlyMap<string, number>): void {
    const suspects = new Map<string, number>();
    for (const [id, ms] of remainingMs) if (ms < this.policy.windowMs / 2) suspects.set(id, startedAt + ms);
    this.probe = { startedAt, suspects, failed: false };
    if (suspects.size > 0) {
      this.log.info(`Lease probe: ${suspects.size} more machine${suspects.size === 1 ? "" : "s"} stopped renewing: ${[...suspects.keys()].sort().slice(0, 10).join(", ")}${suspects.size > 10 ? ", ..." : ""}`);
    }
  }

  /** A probe started at `startedAt` failed: machines lost by then wait out the settle instead. */
  probeFailed(startedAt: number): void {
    this.probe = { startedAt, suspects: new Map(), failed: true };
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
    // Suspects count as vanishing until their lease should have run out (and a little after,
    // for etcd to notice); one still live after that renewed after all.
    const grace = Math.max(1000, this.policy.windowMs / 10);
    const suspects = [...(this.probe?.suspects ?? [])]
      .filter(([id, until]) => live.has(id) && now <= until + grace && !this.accepted.has(id))
      .map(([id]) => id);
    const suspectsEnd = Math.min(...suspects.map((id) => this.probe!.suspects.get(id)! + grace));
    if (this.pause) {
      for (const id of [...recent, ...suspects]) this.pause.machines.add(id);
      const away = [...this.pause.machines].filter((id) => !live.has(id)).length;
      const gone = away + suspects.length;
      const total = live.size + away;
      if (!partitionSuspected(total, total - gone)) {
        this.resume(`${this.pause.machines.size - gone} of ${this.pause.machines.size} vanished machines are back`);
      } else if (this.policy.pauseMaxMs > 0 && now - this.pause.since >= this.policy.pauseMaxMs) {
        this.resume(`${gone} of ${total} machines stayed away for ${seconds(now - this.pause.since)}; treating them as failed`);
      }
    } else if (recent.length > 0 && partitionSuspected(live.size + recent.length, live.size - suspects.length)) {
      const total = live.size + recent.length;
      this.pause = { since: now, machines: new Set([...recent, ...suspects]), total };
      const more = suspects.length > 0 ? ` and ${suspects.length} more stopped renewing their leases` : "";
      this.log.warn(
        `Pausing evictions: ${recent.length} of ${total} machines vanished${more} within ${seconds(this.policy.windowMs)}; this looks like a partition, not failures`,
      );
    }

    if (this.pause) {
      let recheckAt = this.policy.pauseMaxMs > 0 ? this.pause.since + this.policy.pauseMaxMs : undefined;
      // A suspect that renews after all may end the pause: look again when its lease would end.
      if (suspects.length > 0) recheckAt = Math.min(recheckAt ?? Infinity, suspectsEnd + 1);
      return { maxEvictions: 0, hold: `evictions paused: ${this.pause.machines.size} of ${this.pause.total} machines vanished at once`, recheckAt };
    }
    if (lost.size === 0 && !draining) return { maxEvictions: 0, hold: "", recheckAt: undefined };

    // Machines lost since the last probe that it did not already see going.
    const lostNow = [...this.vanished].filter(([id]) => !live.has(id) && !this.accepted.has(id));
    const probe = this.probe;
    if (this.policy.probe && lostNow.some(([id, at]) => !probe || (at > probe.startedAt && !probe.suspects.has(id)))) {
      return { maxEvictions: 0, hold: "checking whether more machines are vanishing", recheckAt: undefined, probe: true };
    }
    // Every lost machine is covered by a probe now; a failed one leaves the settle to guard.
    const last = !this.policy.probe || probe?.failed ? Math.max(-Infinity, ...lostNow.map(([, at]) => at)) : -Infinity;
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

/**
 * The partition guard's test: more than half of the machines vanished at once looks like a
 * partition, not failures, so the engine pauses evictions (`maxEvictions: 0`). The governor owns
 * the time window; this is only the arithmetic.
 */
export function partitionSuspected(previousLiveCount: number, currentLiveCount: number): boolean {
  const lost = previousLiveCount - currentLiveCount;
  return lost > 0 && lost * 2 > previousLiveCount;
}
