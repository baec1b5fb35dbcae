// A clock that moves only when the test says so: timers fire in order, each at its own time, as
// advance() passes it. Every loop takes a Clock (src/lib/clock.ts), so any of them can run here.
import type { Clock, TimerHandle } from "../../src/lib/clock.ts";

interface Timer {
  at: number;
  ms: number;
  fn: () => void;
}

export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();

  constructor(start = 1_000_000) {
    this.t = start;
  }

  now = (): number => this.t;

  setTimeout = (fn: () => void, ms: number): TimerHandle => {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), ms: Math.max(0, ms), fn });
    return id;
  };

  clearTimeout = (handle: TimerHandle): void => {
    this.timers.delete(handle as number);
  };

  /** The delays of the timers armed and not yet fired, soonest first. */
  get pending(): number[] {
    return this.sorted().map(([, t]) => t.ms);
  }

  /** When the soonest timer fires (undefined when none is armed). */
  get nextAt(): number | undefined {
    return this.sorted()[0]?.[1].at;
  }

  /** Moves time forward by `ms`, firing each timer that falls due on the way, at its own time. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const first = this.sorted()[0];
      if (!first || first[1].at > end) break;
      const [id, timer] = first;
      this.timers.delete(id);
      this.t = Math.max(this.t, timer.at);
      timer.fn();
    }
    this.t = end;
  }

  /** Moves to the soonest timer and fires it (and any due at the same time); false when none is armed. */
  fireNext(): boolean {
    const at = this.nextAt;
    if (at === undefined) return false;
    this.advance(at - this.t);
    return true;
  }

  private sorted(): [number, Timer][] {
    return [...this.timers].sort(([a, x], [b, y]) => x.at - y.at || a - b);
  }
}
