// The reconcile loop, written once. Kicks are coalesced into rounds, one round runs at a time, a
// kick during a round asks for another after it, a failed round is retried after an exponential
// back-off with jitter, and stop() ends it all. A round says itself when it is due again: that
// makes periodic work (a lease renewal) and long work (a list+watch that runs until it breaks)
// the same loop. Every loop of the daemon (engine, agent, state publisher, presence, leader
// election, informers) is built on this and on one Clock, so each can run on fake time.
import { backoffDelay, type Backoff } from "./backoff.ts";
import { systemClock, type Clock, type TimerHandle } from "./clock.ts";

const DEFAULT_RETRY: Backoff = { baseMs: 100, capMs: 5000 };

/** What a round is told. */
export interface Round {
  /** Aborted by stop(): a long round (a watch, a wait) ends on it. */
  readonly signal: AbortSignal;
  /** Rounds in a row that failed just before this one (0 after a success). */
  readonly failures: number;
  /** A long round made progress (a watch delivered): a failure after it starts the back-off afresh. */
  progressed(): void;
}

export interface WorkerOptions {
  /**
   * One round. Resolves to the delay in ms after which the next round is due on its own
   * (periodic work, a retry the round planned), or undefined to wait for a kick. A throw is a
   * failure: the round runs again after the back-off.
   */
  run(round: Round): Promise<number | undefined | void>;
  /** Back-off between failed rounds (default 100 ms doubling to 5 s; a round that never throws needs none). */
  retry?: Backoff;
  clock?: Clock;
  random?: () => number;
  /** How long a kick waits for others to join its round (default 0). */
  coalesceMs?: number;
  /** The earliest time the next round may start (to pace rounds); none by default. */
  notBefore?: () => number;
  /**
   * Whether a kick during a back-off waits for it (the default: a failing round is not retried
   * on every change) or runs a round after the coalescing delay all the same.
   */
  kicksWaitForRetry?: boolean;
  /** Told about each failure (none after stop()), with the delay before the retry and the count in a row. */
  onError?: (error: unknown, retryInMs: number, failures: number) => void;
  /** Called after each round, once the worker no longer counts it as running. */
  onRoundEnd?: () => void;
}

export class Worker {
  private readonly clock: Clock;
  private readonly ac = new AbortController();
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  /** A kick asked for a round that has not started yet, due no later than kickAt. */
  private kicked = false;
  private kickAt = Infinity;
  /** When a round is due on its own: as the last round said, or its retry. */
  private dueAt: number | undefined;
  private retryAt = 0;
  private failed = 0;
  private current: Promise<void> | undefined;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: WorkerOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /**
   * A round is wanted within `delayMs` (default coalesceMs). During a round: another one after
   * it, once the coalescing delay has passed. During a back-off: at its end (see kicksWaitForRetry).
   */
  kick(delayMs = this.opts.coalesceMs ?? 0): void {
    if (this.stopped) return;
    this.kicked = true;
    if (this.current) return;
    this.kickAt = Math.min(this.kickAt, this.clock.now() + Math.max(0, delayMs));
    this.arm();
  }

  /** A round now, without waiting out a back-off: what made rounds fail is known to work again. */
  retryNow(): void {
    if (this.stopped) return;
    this.retryAt = 0;
    if (this.dueAt !== undefined) this.dueAt = Math.min(this.dueAt, this.clock.now());
    this.kick(0);
  }

  /** Forgets past failures: the next one starts the back-off afresh (a retry already timed stays). */
  resetFailures(): void {
    this.failed = 0;
  }

  get running(): boolean {
    return this.current !== undefined;
  }

  /** Failed rounds in a row. */
  get failures(): number {
    return this.failed;
  }

  /** When a round is due on its own (as the last round said, or its retry); undefined when none is. */
  get nextDueAt(): number | undefined {
    return this.stopped ? undefined : this.dueAt;
  }

  /** Resolves once no round runs and none is kicked (rounds due on their own later do not count). */
  async idle(): Promise<void> {
    while (!this.stopped && (this.current || this.kicked)) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  /** No more rounds: timers are cleared, the round's signal aborted, and the round in flight awaited. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.kicked = false;
      this.clearTimer();
      this.ac.abort();
    }
    await this.current;
    this.wakeIdle();
  }

  private arm(): void {
    if (this.stopped || this.current) return;
    let kickAt = this.kicked ? this.kickAt : Infinity;
    if (this.opts.kicksWaitForRetry !== false) kickAt = Math.max(kickAt, this.retryAt);
    let at = Math.min(kickAt, this.dueAt ?? Infinity);
    if (at === Infinity) return this.clearTimer();
    if (this.opts.notBefore) at = Math.max(at, this.opts.notBefore());
    if (this.timer !== undefined && this.timerAt === at) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.start();
    }, Math.max(0, at - this.clock.now()));
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private start(): void {
    if (this.stopped || this.current) return;
    this.kicked = false;
    this.kickAt = Infinity;
    this.dueAt = undefined;
    this.current = this.round().finally(() => {
      this.current = undefined;
      if (this.kicked) this.kickAt = this.clock.now() + (this.opts.coalesceMs ?? 0);
      this.arm();
      this.opts.onRoundEnd?.();
      if (!this.kicked) this.wakeIdle();
    });
  }

  private async round(): Promise<void> {
    const round: Round = { signal: this.ac.signal, failures: this.failed, progressed: () => (this.failed = 0) };
    try {
      const next = await this.opts.run(round);
      if (this.stopped) return;
      this.failed = 0;
      this.retryAt = 0;
      this.dueAt = typeof next === "number" ? this.clock.now() + Math.max(0, next) : undefined;
    } catch (e) {
      if (this.stopped) return;
      const delay = backoffDelay(++this.failed, this.opts.retry ?? DEFAULT_RETRY, this.opts.random);
      this.retryAt = this.clock.now() + delay;
      this.dueAt = this.retryAt;
      try {
        this.opts.onError?.(e, delay, this.failed);
      } catch {
        // Telling about a failure must not stop the retry (nor reject into nowhere).
      }
    }
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
