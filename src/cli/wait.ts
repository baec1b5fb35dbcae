// Runs blocking waits in rounds: each round reads every unit still waited for at once (and their
// systemd states when a goal needs them), moves each through its goals in order, prints the
// result lines in the units' order, reports why it still waits (pending reasons, progress), and
// gives up when a goal's --block-attempts (2 s each) have passed. Between rounds it waits for a
// change of those units (unit-reads.ts: a blocking read through the API, else 250 ms). The
// first error ends the wait. The verdicts are wait-logic.ts's; the commands call waitAndReport
// (or waitForCommand).
import { systemClock, type Clock } from "../lib/clock.ts";
import type { FleetClient, Machine, Unit } from "./client.ts";
import type { Ctx } from "./command.ts";
import { errorText } from "../lib/error-text.ts";
import type { WaitReporter } from "./progress.ts";
import { statesOf, UnitReads } from "./unit-reads.ts";
import { ATTEMPT_MS, attemptsBudgetMs, decide, timeoutError, type WaitGoal } from "./wait-logic.ts";

export interface WaitSpec {
  name: string;
  /** Goals in order; each gets the full attempt budget from when it starts. */
  goals: WaitGoal[];
}

export interface WaitOptions {
  client: FleetClient;
  /** 0: no limit; N > 0: N attempts (2 s each) per goal; -1: look once and never fail (--no-block). */
  attempts: number;
  reporter: WaitReporter;
  machines: () => Promise<readonly Machine[]>;
  refreshMachines: () => Promise<readonly Machine[]>;
  clock?: Clock;
}

export type WaitResult = { ok: true } | { ok: false; error: string; goal?: WaitGoal["kind"] };

/** What a command's context gives a wait: the client, the progress reporter, the machines. */
export type WaitCtx = Pick<Ctx, "client" | "reporter" | "machines" | "refreshMachines">;

/** waitForUnits with the client, reporter and machine list of a command's context. */
export function waitForCommand(ctx: WaitCtx, specs: readonly WaitSpec[], attempts: number): Promise<WaitResult> {
  return waitForUnits(specs, {
    client: ctx.client,
    attempts,
    reporter: ctx.reporter,
    machines: () => ctx.machines(),
    refreshMachines: () => ctx.refreshMachines(),
  });
}

/**
 * A command's wait: with --no-block (attempts < 0) fleetctl's `Triggered unit X <verb>` lines,
 * else the wait, with `Error waiting for units: ...` on failure. Returns the exit code, and the
 * error and the goal that failed for the command's own last line.
 */
export async function waitAndReport(
  ctx: WaitCtx & Pick<Ctx, "io">, specs: WaitSpec[], attempts: number, verb: string,
): Promise<{ code: number; error?: string; goal?: WaitGoal["kind"] }> {
  if (specs.length === 0) return { code: 0 };
  if (attempts < 0) {
    for (const s of specs) ctx.io.out(`Triggered unit ${s.name} ${verb}\n`);
    return { code: 0 };
  }
  const res = await waitForCommand(ctx, specs, attempts);
  if (res.ok) return { code: 0 };
  ctx.io.err(`Error waiting for units: ${res.error}\n`);
  return { code: 1, error: res.error, goal: res.goal };
}

interface Progress {
  spec: WaitSpec;
  goal: number;
  /** When the current goal started: its attempts count from there. */
  since: number;
  /** Since when systemd has reported a state that will not change by itself (failed). */
  stuckSince?: number;
  lastWhy?: string;
  lastPending?: string;
  /** Why it was placed where it is has been said. */
  noted?: boolean;
}

/**
 * Whether this round needs the unit's systemd states: its goal needs them, or its goal is reached
 * on this reading and the next one needs them (start's active check right after launched).
 */
function needsStates(p: Progress, unit: Unit | undefined, machines: readonly Machine[]): boolean {
  const goal = p.spec.goals[p.goal]!;
  if (goal.kind !== "state") return true;
  const next = p.spec.goals[p.goal + 1];
  return next !== undefined && next.kind !== "state" && decide(p.spec.name, goal, { unit, states: [], machines }).done;
}

export async function waitForUnits(specs: readonly WaitSpec[], opts: WaitOptions): Promise<WaitResult> {
  const clock = opts.clock ?? systemClock;
  const once = opts.attempts < 0;
  const budgetMs = once ? 0 : attemptsBudgetMs(opts.attempts);
  const started = clock.now();
  let open: Progress[] = specs.filter((s) => s.goals.length > 0).map((spec) => ({ spec, goal: 0, since: started }));
  const reads = new UnitReads(opts.client, open.map((p) => p.spec.name), clock);
  let refreshed = false;
  try {
    while (open.length > 0) {
      // Woken by a change, or when the soonest goal runs out of attempts or a failure has lasted one.
      const dueAt = Math.min(...open.map((p) => Math.min(p.since + budgetMs, p.stuckSince === undefined ? Infinity : p.stuckSince + ATTEMPT_MS)));
      const units = await reads.next(dueAt, open.map((p) => p.spec.name));
      const byName = new Map<string, Unit>(units.map((u) => [u.name, u]));
      let machines = await opts.machines();
      const states = await statesOf(opts.client, open.filter((p) => needsStates(p, byName.get(p.spec.name), machines)).map((p) => p.spec.name));
      const now = clock.now();
      const still: Progress[] = [];
      for (const p of open) {
        const unit = byName.get(p.spec.name);
        // A unit placed on a machine we have not listed yet: list the machines again, once.
        if (!refreshed && unit?.machineID && !machines.some((m) => m.id === unit.machineID)) {
          refreshed = true;
          machines = await opts.refreshMachines();
        }
        const obs = { unit, states: states.filter((s) => s.name === p.spec.name), machines };
        for (;;) {
          const goal = p.spec.goals[p.goal]!;
          const verdict = decide(p.spec.name, goal, obs);
          if (verdict.done) {
            if (verdict.line) opts.reporter.line(verdict.line);
            // Once per unit: restart's two goals would say it twice.
            if (verdict.note && !p.noted) opts.reporter.note?.(verdict.note);
            if (verdict.note) p.noted = true;
            Object.assign(p, { goal: p.goal + 1, since: now, stuckSince: undefined, lastWhy: undefined });
            // The next goal is judged on the same reading: it has the states when a goal needs them.
            if (p.goal < p.spec.goals.length) continue;
            break;
          }
          if ("fatal" in verdict) return { ok: false, error: verdict.fatal, goal: goal.kind };
          p.lastWhy = verdict.why;
          if (verdict.pending !== undefined && verdict.pending !== p.lastPending) {
            opts.reporter.pending(p.spec.name, verdict.pending);
          }
          p.lastPending = verdict.pending;
          p.stuckSince = verdict.stuck ? p.stuckSince ?? now : undefined;
          // systemd reporting `failed` for a whole attempt will not recover by itself.
          if (p.stuckSince !== undefined && now - p.stuckSince >= ATTEMPT_MS) {
            return { ok: false, error: `Unit ${p.spec.name} did not become active: ${verdict.why}`, goal: goal.kind };
          }
          if (!once && now - p.since >= budgetMs) {
            return { ok: false, error: timeoutError(p.spec.name, goal, p.lastWhy), goal: goal.kind };
          }
          if (!once) still.push(p);
          break;
        }
      }
      open = still;
      opts.reporter.status(open.map((p) => ({ name: p.spec.name, why: p.lastWhy ?? `waiting for ${p.spec.name}` })));
    }
    return { ok: true };
  } catch (err) {
    return { ok: false, error: errorText(err) };
  } finally {
    opts.reporter.clear();
  }
}
