// Timers that shutdown can cut short: a loop sleeping through a back-off must not delay stop().

export class Sleeper {
  private readonly waiting = new Set<() => void>();

  /** Resolves after `ms`, or at once on wakeAll(). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiting.add(done);
    });
  }

  wakeAll(): void {
    for (const done of [...this.waiting]) done();
  }
}
