// Exponential back-off with jitter, and jittered periods: so that machines that failed, or
// started, together do not retry, or wake, together.

export interface Backoff {
  baseMs: number;
  capMs: number;
}

/**
 * Delay before retry number `n` (1-based): base * 2^(n-1), capped, then scaled by a random
 * factor in [0.5, 1) so that clients that failed together do not retry together.
 */
export function backoffDelay(n: number, b: Backoff, random: () => number = Math.random): number {
  const exp = Math.min(b.capMs, b.baseMs * 2 ** Math.max(0, n - 1));
  return Math.round(exp * (0.5 + random() / 2));
}

/** `ms` scaled by a random factor in [1 - spread, 1 + spread). */
export function jitter(ms: number, random: () => number, spread = 0.2): number {
  return Math.round(ms * (1 - spread + 2 * spread * random()));
}
