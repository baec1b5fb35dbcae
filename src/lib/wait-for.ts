// Deadline-bound polling: the one way the sandbox, the tests and the benchmarks wait for a
// condition (fleet ctl's waits poll the API on their own terms, cli/wait.ts).
import { errorText } from "./error-text.ts";

export interface WaitOptions {
  /** Give up after this long. */
  timeoutMs: number;
  /** What is being waited for, named in the error, e.g. "m1 to reach running". */
  what: string | (() => string);
  /** Pause between checks; defaults to 50 ms. */
  intervalMs?: number;
}

export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly lastError?: unknown,
  ) {
    const cause = lastError === undefined ? "" : `; last error: ${errorText(lastError)}`;
    super(`Timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    this.name = "WaitTimeoutError";
  }
}

/**
 * Calls `condition` until it returns a truthy value and returns that value. An exception
 * from `condition` counts as "not yet" and is reported if the deadline passes.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  opts: WaitOptions,
): Promise<Exclude<T, false | null | undefined | 0 | "">> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 50;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as Exclude<T, false | null | undefined | 0 | "">;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const what = typeof opts.what === "function" ? opts.what() : opts.what;
      throw new WaitTimeoutError(what, opts.timeoutMs, lastError);
    }
    await Bun.sleep(Math.min(interval, left));
  }
}

