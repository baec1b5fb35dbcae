// Progress of `fleet sandbox` on stderr: one line per step. On a terminal the line of the step
// under way is redrawn with its duration when it ends; elsewhere each step is one plain line.

export interface Progress {
  /** Starts a step; the previous one (if any) ends. */
  step(text: string): void;
  /** Ends the current step. */
  done(): void;
  /** A line of its own (a note or a warning). */
  note(text: string): void;
}

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export function createProgress(stream: ProgressStream = process.stderr, now: () => number = Date.now): Progress {
  const tty = stream.isTTY === true;
  let current: { text: string; since: number } | undefined;
  const end = () => {
    if (!current) return;
    if (tty) stream.write(`\r\x1b[K${current.text} (${formatSeconds(now() - current.since)})\n`);
    current = undefined;
  };
  return {
    step(text) {
      end();
      current = { text, since: now() };
      stream.write(tty ? `${text} ...` : `${text}\n`);
    },
    done: end,
    note(text) {
      if (tty && current) stream.write("\r\x1b[K");
      stream.write(`${text}\n`);
      if (tty && current) stream.write(`${current.text} ...`);
    },
  };
}

export function silentProgress(): Progress {
  return { step() {}, done() {}, note() {} };
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
