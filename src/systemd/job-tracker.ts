// Matches systemd's JobRemoved signals to the jobs we wait for. A signal can be processed before
// the reply that named the job resolves its promise, so recent results are kept for a while.

const KEEP_RECENT = 1024;

export class JobTracker {
  private readonly recent = new Map<string, string>();
  private readonly waiters = new Map<string, { resolve: (result: string) => void; reject: (err: Error) => void }>();

  /** Records that a job finished with `result` ("done", "failed", "canceled", ...). */
  removed(job: string, result: string): void {
    const waiter = this.waiters.get(job);
    if (waiter) {
      this.waiters.delete(job);
      waiter.resolve(result);
      return;
    }
    this.recent.set(job, result);
    if (this.recent.size > KEEP_RECENT) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
  }

  /** The job's result once it is removed; rejects after timeoutMs. */
  wait(job: string, timeoutMs: number): Promise<string> {
    const known = this.recent.get(job);
    if (known !== undefined) {
      this.recent.delete(job);
      return Promise.resolve(known);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(job);
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for job ${job}`));
      }, timeoutMs);
      this.waiters.set(job, {
        resolve: (result) => {
          clearTimeout(timer);
          resolve(result);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  }

  cancelAll(reason: string): void {
    for (const [job, waiter] of this.waiters) waiter.reject(new Error(`Cannot wait for job ${job}: ${reason}`));
    this.waiters.clear();
  }
}
