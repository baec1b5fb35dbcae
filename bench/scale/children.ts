// The benchmark's child processes (the engine process, hollow-machine workers): spawned with an
// IPC channel, their stderr in a log file, and a request/answer helper with a deadline.
import { closeSync, openSync } from "node:fs";
import type { Subprocess } from "bun";

interface Waiter {
  type: string;
  resolve: (m: unknown) => void;
  reject: (e: Error) => void;
}

export class Child<Req extends { type: string }, Rep extends { type: string }> {
  private readonly proc: Subprocess;
  private readonly waiters: Waiter[] = [];
  private exited = false;

  constructor(readonly name: string, script: string, args: string[], opts: { logFile: string; env?: Record<string, string> }) {
    const fd = openSync(opts.logFile, "a");
    try {
      // FLEET_SCALE_CPU_PROF=<dir>: every child writes a CPU profile there when it exits.
      const prof = process.env.FLEET_SCALE_CPU_PROF;
      const runtime = prof ? ["--cpu-prof", `--cpu-prof-dir=${prof}`] : [];
      this.proc = Bun.spawn([process.execPath, ...runtime, script, ...args], {
        stdin: "ignore", stdout: fd, stderr: fd,
        env: { ...process.env, ...opts.env },
        ipc: (m) => this.onMessage(m as Rep),
      });
    } finally {
      closeSync(fd);
    }
    void this.proc.exited.then((code) => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.name} exited with ${code} (log: ${opts.logFile})`));
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** Sends `req` and resolves with the next message of type `answer`. */
  request<T extends Rep["type"]>(req: Req, answer: T, timeoutMs: number): Promise<Extract<Rep, { type: T }>> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const p = this.next(answer, timeoutMs);
    this.proc.send(req);
    return p;
  }

  /** Resolves with the next message of type `type` (e.g. "ready", sent unasked). */
  next<T extends Rep["type"]>(type: T, timeoutMs: number): Promise<Extract<Rep, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`${this.name} sent no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const w: Waiter = {
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<Rep, { type: T }>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(w);
    });
  }

  /** Gives the process `graceMs` to exit on its own (a CPU profile takes a moment), then kills it. */
  async kill(graceMs = 0): Promise<void> {
    if (!this.exited && graceMs > 0) await Promise.race([this.proc.exited, Bun.sleep(graceMs)]);
    if (!this.exited) this.proc.kill("SIGKILL");
    await this.proc.exited;
  }

  private onMessage(m: Rep): void {
    if (m.type === "error") {
      const message = (m as unknown as { message: string }).message;
      for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.name}: ${message}`));
      return;
    }
    const i = this.waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
  }
}
