// How a wait shows itself. Result lines go to stdout. A pending reason from the engine is
// printed to stderr once per change, on any output. On a terminal (stderr is a TTY) one status
// line is redrawn in place; otherwise a reason that has not changed for a while is printed once,
// so a long wait in a script or CI log still says what it waits for.
import type { Io } from "./io.ts";

export interface WaitStatus {
  name: string;
  why: string;
}

export interface WaitReporter {
  line(text: string): void;
  pending(name: string, reason: string): void;
  /** A line for stderr, e.g. why a unit was placed where it was. */
  note?(text: string): void;
  status(open: readonly WaitStatus[]): void;
  clear(): void;
}

/** How long (ms) a reason must stay the same before a non-terminal output prints it. */
export const QUIET_REPORT_AFTER_MS = 5000;

/**
 * Decides which waiting reasons a non-terminal output prints: each (unit, reason) once, after it
 * has been unchanged for `afterMs`. Pure; the caller passes the clock.
 */
export class QuietStatusTracker {
  private readonly since = new Map<string, { why: string; at: number; printed: boolean }>();

  constructor(private readonly afterMs = QUIET_REPORT_AFTER_MS) {}

  update(open: readonly WaitStatus[], now: number): string[] {
    const out: string[] = [];
    const names = new Set(open.map((s) => s.name));
    for (const name of [...this.since.keys()]) if (!names.has(name)) this.since.delete(name);
    for (const { name, why } of open) {
      const prev = this.since.get(name);
      if (!prev || prev.why !== why) {
        this.since.set(name, { why, at: now, printed: false });
        continue;
      }
      if (!prev.printed && now - prev.at >= this.afterMs) {
        prev.printed = true;
        out.push(`Still waiting for ${name}: ${why}`);
      }
    }
    return out;
  }
}

/** The one-line status shown on a terminal, cut to the terminal's width. */
export function statusLine(open: readonly WaitStatus[], columns: number): string {
  if (open.length === 0) return "";
  const first = open[0]!;
  const more = open.length > 1 ? ` (+${open.length - 1} more)` : "";
  const text = `${first.why}${more}`;
  const max = Math.max(10, columns - 1);
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

export function createReporter(io: Io, now: () => number = Date.now): WaitReporter {
  let drawn = false;
  const tracker = new QuietStatusTracker();
  const clearLine = () => {
    if (drawn) {
      io.err("\r\x1b[2K");
      drawn = false;
    }
  };
  return {
    line(text) {
      clearLine();
      io.out(`${text}\n`);
    },
    pending(name, reason) {
      clearLine();
      io.err(`Unit ${name} is pending: ${reason}\n`);
    },
    note(text) {
      clearLine();
      io.err(`${text}\n`);
    },
    status(open) {
      if (io.stderrIsTTY) {
        clearLine();
        const text = statusLine(open, io.columns());
        if (text) {
          io.err(text);
          drawn = true;
        }
        return;
      }
      for (const line of tracker.update(open, now())) io.err(`${line}\n`);
    },
    clear: clearLine,
  };
}
