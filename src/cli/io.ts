// The process's standard streams as the commands see them, so commands can be run in-process
// with captured output.
import { writeSync } from "node:fs";

export interface Io {
  out(text: string): void;
  err(text: string): void;
  readonly stderrIsTTY: boolean;
  readonly stdinIsTTY: boolean;
  /** Width of the terminal on stderr (80 when unknown). */
  columns(): number;
}

/**
 * Writes synchronously, so that the output is complete when the process exits right after a
 * command and stdout/stderr lines keep their relative order on a terminal.
 */
export function writeAll(fd: number, text: string): void {
  let buf = Buffer.from(text, "utf8");
  while (buf.length > 0) {
    try {
      const n = writeSync(fd, buf);
      buf = buf.subarray(n);
    } catch (err) {
      // A non-blocking pipe that is full: wait for the reader.
      if ((err as { code?: string }).code === "EAGAIN") {
        Bun.sleepSync(1);
        continue;
      }
      // A reader that went away (EPIPE): nothing more can be shown.
      if ((err as { code?: string }).code === "EPIPE") return;
      throw err;
    }
  }
}

export function processIo(): Io {
  return {
    out: (text) => writeAll(1, text),
    err: (text) => writeAll(2, text),
    stderrIsTTY: process.stderr.isTTY === true,
    stdinIsTTY: process.stdin.isTTY === true,
    columns: () => process.stderr.columns || 80,
  };
}

/** An Io that records what was written (tests, and commands that capture output). */
export function bufferIo(opts: { stderrIsTTY?: boolean; stdinIsTTY?: boolean } = {}): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: "",
    stderr: "",
    out(text: string) {
      io.stdout += text;
    },
    err(text: string) {
      io.stderr += text;
    },
    stderrIsTTY: opts.stderrIsTTY ?? false,
    stdinIsTTY: opts.stdinIsTTY ?? false,
    columns: () => 80,
  };
  return io;
}
