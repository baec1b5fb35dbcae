// The one way tests wait: for a condition, with a deadline, never for a fixed time. It is
// src/lib/wait-for.ts (the sandbox's waits) with what a test needs on top: a condition that
// throws fails the wait at once unless the test says errors are expected meanwhile, and a wait
// that times out names what it waited for, the last value it saw and the last error.
import { waitFor } from "../../src/lib/wait-for.ts";

export interface UntilOptions {
  /** Give up after this long; default 20 s. */
  timeoutMs?: number;
  /** Pause between checks; default 20 ms. */
  intervalMs?: number;
  /**
   * An exception from the condition counts as "not yet" (the last one is named if the deadline
   * passes), for conditions that read something that may be briefly unreachable: etcd
   * restarting, a machine booting, a server not yet listening. Off by default, so that a
   * condition that breaks (an `expect` in it, a bug) fails the test at its first check.
   */
  retryErrors?: boolean;
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | "">;

/**
 * Calls `cond` until it returns a truthy value and returns that value. `opts` may be just the
 * timeout in ms. `what` reads as "waiting for <what>"; a function is called only for the message.
 */
export async function until<T>(what: string | (() => string), cond: () => T | Promise<T>, opts: number | UntilOptions = {}): Promise<Truthy<T>> {
  const { timeoutMs = 20_000, intervalMs = 20, retryErrors = false } = typeof opts === "number" ? { timeoutMs: opts } : opts;
  let last: { value: unknown } | undefined;
  const describe = () => {
    const text = typeof what === "function" ? what() : what;
    // A plain `false` or nothing says no more than the timeout itself.
    return last === undefined || last.value === false || last.value === undefined ? text : `${text} (last value: ${Bun.inspect(last.value)})`;
  };
  const check = async () => {
    const value = await cond();
    last = { value };
    return value;
  };
  if (retryErrors) return waitFor(check, { what: describe, timeoutMs, intervalMs });
  // waitFor retries on an exception; carrying it out as a value ends the wait with it instead.
  const outcome = await waitFor(async () => {
    try {
      const value = await check();
      return value ? { value } : undefined;
    } catch (error) {
      return { error };
    }
  }, { what: describe, timeoutMs, intervalMs });
  if ("error" in outcome) throw outcome.error;
  return outcome.value as Truthy<T>;
}

/**
 * The other side of `until`: checks `check` over and over for `ms` (a fault that must change
 * nothing while it lasts) and fails at the first check that throws.
 */
export async function holdFor(ms: number, check: () => unknown, intervalMs = 500): Promise<void> {
  const end = Date.now() + ms;
  do {
    await check();
    await Bun.sleep(Math.max(0, Math.min(intervalMs, end - Date.now())));
  } while (Date.now() < end);
}
