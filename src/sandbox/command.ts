// Running host commands with captured output, a deadline, and readable failures.
import { readFileSync } from "node:fs";

export interface RunOptions {
  stdin?: string | Uint8Array;
  /** The complete environment of the command (nothing is inherited when given). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** True when the command was killed at its deadline. */
  timedOut: boolean;
}

export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly result: RunResult,
  ) {
    const why = result.timedOut ? "timed out" : `failed with exit code ${result.code}`;
    const detail = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-5).join("\n");
    super(`Command "${argv.join(" ")}" ${why}${detail ? `: ${detail}` : ""}`);
    this.name = "CommandError";
  }
}

const DEFAULT_TIMEOUT_MS = 60_000;

export async function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const stdin = typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin;
  const proc = Bun.spawn(argv, {
    stdin: stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: opts.env ?? (process.env as Record<string, string>),
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killTree(proc.pid);
  }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  try {
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return { code, stdout, stderr, timedOut };
  } finally {
    clearTimeout(timer);
  }
}

/** Like `run`, but a non-zero exit or a timeout throws a CommandError; returns stdout. */
export async function runOk(argv: string[], opts: RunOptions = {}): Promise<string> {
  const result = await run(argv, opts);
  if (result.code !== 0 || result.timedOut) throw new CommandError(argv, result);
  return result.stdout;
}

/**
 * SIGKILLs a process and all its descendants, children first found from /proc. Needed
 * because nsenter forks the command into the machine and does not pass signals on.
 */
export function killTree(pid: number): void {
  const all: number[] = [];
  const visit = (p: number) => {
    all.push(p);
    for (const child of childrenOf(p)) visit(child);
  };
  visit(pid);
  for (const p of all) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** The start time of a process in clock ticks since boot (identifies it despite pid reuse). */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: count after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const value = Number(fields[19]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** True when the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return !/^State:\s+[ZX]/m.test(status);
  } catch {
    return false;
  }
}
