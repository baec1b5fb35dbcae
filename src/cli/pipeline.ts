// Batch commands keep many requests in flight (submitting, loading, starting, stopping or
// destroying hundreds of units used to cost one round trip after the other) and still print in
// the order of their arguments and stop at the first error, as fleetctl did.

/** How many requests one command keeps in flight at most. */
export const PIPELINE_DEPTH = 32;

export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * Runs `work` for each item, up to `depth` at a time, starting them in order, and hands each
 * outcome to `take` in the items' order, as soon as it and every one before it have finished.
 * `take` returning false stops the batch: no later item starts, the ones already started are
 * awaited and their outcomes dropped (up to depth - 1 of them may have done their work). Returns
 * whether every item was taken.
 */
export async function inOrder<T, R>(
  items: readonly T[],
  work: (item: T, index: number) => Promise<R>,
  take: (outcome: Outcome<R>, item: T, index: number) => boolean | void,
  depth = PIPELINE_DEPTH,
): Promise<boolean> {
  const running: Promise<Outcome<R>>[] = [];
  let started = 0;
  let taken = 0;
  const fill = () => {
    while (started < items.length && started - taken < depth) {
      const i = started++;
      running[i] = work(items[i]!, i).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      );
    }
  };
  fill();
  while (taken < items.length) {
    const outcome = await running[taken]!;
    if (take(outcome, items[taken]!, taken) === false) {
      await Promise.all(running.slice(taken + 1));
      return false;
    }
    taken++;
    fill();
  }
  return true;
}

/** The units named, by name (absent when the registry has none), in as few requests as the client can. */
export async function lookupUnits<U extends { name: string }>(
  read: (names: readonly string[]) => Promise<{ value: U[] }>,
  names: readonly string[],
): Promise<Map<string, U>> {
  const unique = [...new Set(names)];
  if (unique.length === 0) return new Map();
  const { value } = await read(unique);
  return new Map(value.map((u) => [u.name, u]));
}
