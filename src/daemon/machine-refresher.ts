// The machine refresher (compatibility.md §8.1): every minute, re-detect the public IP when
// public_ip is not configured, and re-put the machine record (under the same lease) when it
// changed, so list-machines and SSH follow a DHCP renewal without a daemon restart.
import type { Logger } from "../log/logger.ts";
import type { Clock } from "../lib/clock.ts";
import { errorText } from "../lib/error-text.ts";
import { Worker } from "../lib/worker.ts";

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
  /** The system clock by default; tests drive the refresher on a manual one. */
  clock?: Clock;
}

export class MachineRefresher {
  /** One refresh a round, every intervalMs (a refresh tells about its own failures). */
  private readonly worker: Worker;
  private stopped = false;
  /** The last update failed: try again on the next tick even if the IP stayed the same. */
  private retry = false;

  constructor(private readonly opts: MachineRefresherOptions) {
    this.worker = new Worker({
      clock: opts.clock,
      run: async () => {
        await this.refresh();
        return this.interval();
      },
    });
  }

  start(): void {
    if (this.stopped) return;
    this.worker.kick(this.interval());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.worker.stop();
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

  private interval(): number {
    return this.opts.intervalMs ?? 60_000;
  }
}
