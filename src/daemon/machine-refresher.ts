// The machine refresher (fleet-reference.md §8.1): every minute, re-detect the public IP when
// public_ip is not configured, and re-put the machine record (under the same lease) when it
// changed, so list-machines and SSH follow a DHCP renewal without a daemon restart.
import type { Logger } from "../log/logger.ts";
import { errorText } from "../lib/error-text.ts";

/** Timers, replaceable so tests drive the refresher without waiting. */
export interface RefreshClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface MachineRefresherOptions {
  /** The configured public_ip, read on every tick (a reload may set or clear it). */
  configured: () => string | undefined;
  /** Finds the public IP from the host (identity.ts detectPublicIp without a configured one). */
  detect: () => string;
  /** The IP the machine record carries now. */
  current: () => string;
  /** Records the new IP and re-puts the machine record. */
  update: (ip: string) => Promise<void>;
  log: Logger;
  /** Default 60 s. */
  intervalMs?: number;
  clock?: RefreshClock;
}

const realClock: RefreshClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export class MachineRefresher {
  private timer: unknown;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** The last update failed: try again on the next tick even if the IP stayed the same. */
  private retry = false;

  constructor(private readonly opts: MachineRefresherOptions) {}

  start(): void {
    if (this.stopped) return;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock().clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One refresh; returns whether the IP changed. The timer calls it; tests may too. */
  async refresh(): Promise<boolean> {
    const { opts } = this;
    if (opts.configured()) return false;
    let ip: string;
    try {
      ip = opts.detect();
    } catch (e) {
      opts.log.warn(`Cannot detect the public IP: ${errorText(e)}`);
      return false;
    }
    const before = opts.current();
    if (ip === before && !this.retry) return false;
    if (ip !== before) opts.log.info(`Public IP changed from ${before || "-"} to ${ip || "-"}; updating the machine record`);
    try {
      await opts.update(ip);
      this.retry = false;
    } catch (e) {
      this.retry = true;
      opts.log.warn(`Cannot update the machine record with public IP ${ip || "-"}: ${errorText(e)}`);
    }
    return ip !== before;
  }

  private clock(): RefreshClock {
    return this.opts.clock ?? realClock;
  }

  private schedule(): void {
    this.timer = this.clock().setTimeout(() => {
      this.timer = undefined;
      this.running = this.refresh().then(() => undefined).finally(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule();
      });
    }, this.opts.intervalMs ?? 60_000);
  }
}
