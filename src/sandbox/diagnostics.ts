// What to show when something on a machine went wrong: the tail of each machine's journal.
import type { Machine } from "./machine.ts";

export async function journalTails(machines: readonly Machine[], lines = 60, unit?: string): Promise<string> {
  const parts = await Promise.all(
    machines.map(async (m) => {
      const journal = await m.journal(unit).catch((err: unknown) => `(cannot read the journal: ${(err as Error).message})\n`);
      return `----- journal of ${m.name} (${m.ip})${unit ? ` for ${unit}` : ""} -----\n${journal.trimEnd().split("\n").slice(-lines).join("\n")}`;
    }),
  );
  return parts.join("\n");
}

/** Runs fn; if it throws, writes the machines' journal tails to stderr, then rethrows. */
export async function withJournalOnFailure<T>(machines: readonly Machine[], fn: () => Promise<T>, unit?: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    process.stderr.write(`${await journalTails(machines, 60, unit)}\n`);
    throw err;
  }
}
