// Runs blocking waits: polls the units every 250 ms, moves each through its goals in order,
// prints the result lines, reports why it still waits (pending reasons, progress), and gives up
// after --block-attempts. All units are waited on together; the first error ends the wait.
// The verdicts are wait-logic.ts's; the commands call waitAndReport (or waitForCommand).
import type { FleetClient, Machine, UnitState } from "./client.ts";
import type { Ctx } from "./command.ts";
import { errorText } from "../lib/error-text.ts";
import type { WaitReporter } from "./progress.ts";
import { decide, POLL_INTERVAL_MS, pollBudget, POLLS_PER_ATTEMPT, timeoutError, type WaitGoal } from "./wait-logic.ts";

export interface WaitSpec {
  name: string;
  /** Goals in order; each gets the full attempt budget from when it starts. */
  goals: WaitGoal[];
}

export interface WaitOptions {
  client: FleetClient;
  /** 0: no limit; N > 0: N attempts per goal; -1: look once and never fail (--no-block). */
  attempts: number;
  reporter: WaitReporter;
  machines: () => Promise<readonly Machine[]>;
  refreshMachines: () => Promise<readonly Machine[]>;
  sleep?: (ms: number) => Promise<void>;
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
  polls: number;
  stuckPolls: number;
  lastWhy?: string;
  lastPending?: string;
  /** Why it was placed where it is has been said. */
  noted?: boolean;
}

export async function waitForUnits(specs: readonly WaitSpec[], opts: WaitOptions): Promise<WaitResult> {
  const sleep = opts.sleep ?? ((ms: number) => Bun.sleep(ms));
  const once = opts.attempts < 0;
  const budget = once ? 1 : pollBudget(opts.attempts);
  let open: Progress[] = specs.filter((s) => s.goals.length > 0).map((spec) => ({ spec, goal: 0, polls: 0, stuckPolls: 0 }));
  let refreshed = false;
  try {
    while (open.length > 0) {
      let machines = await opts.machines();
      const observed = await Promise.all(open.map((p) => observe(opts.client, p.spec.name, p.spec.goals[p.goal]!)));
      const still: Progress[] = [];
      for (let i = 0; i < open.length; i++) {
        const p = open[i]!;
        const { unit, states } = observed[i]!;
        // A unit placed on a machine we have not listed yet: list the machines again, once.
        if (!refreshed && unit?.machineID && !machines.some((m) => m.id === unit.machineID)) {
          refreshed = true;
          machines = await opts.refreshMachines();
        }
        let finished = false;
        for (;;) {
          const goal = p.spec.goals[p.goal]!;
          const verdict = decide(p.spec.name, goal, { unit, states, machines });
          if (verdict.done) {
            if (verdict.line) opts.reporter.line(verdict.line);
            // Once per unit: restart's two goals would say it twice.
            if (verdict.note && !p.noted) opts.reporter.note?.(verdict.note);
            if (verdict.note) p.noted = true;
            p.goal++;
            p.polls = 0;
            p.stuckPolls = 0;
            p.lastWhy = undefined;
            if (p.goal >= p.spec.goals.length) {
              finished = true;
              break;
            }
            // The next goal may need other data (the systemd states): look again next poll.
            if (p.spec.goals[p.goal]!.kind !== goal.kind) break;
            continue;
          }
          if ("fatal" in verdict) return { ok: false, error: verdict.fatal, goal: goal.kind };
          p.lastWhy = verdict.why;
          if (verdict.pending !== undefined && verdict.pending !== p.lastPending) {
            opts.reporter.pending(p.spec.name, verdict.pending);
          }
          p.lastPending = verdict.pending;
          p.stuckPolls = verdict.stuck ? p.stuckPolls + 1 : 0;
          // systemd reporting `failed` for a whole attempt will not recover by itself.
          if (p.stuckPolls >= POLLS_PER_ATTEMPT) {
            return { ok: false, error: `Unit ${p.spec.name} did not become active: ${verdict.why}`, goal: goal.kind };
          }
          p.polls++;
          if (p.polls >= budget) {
            if (once) {
              finished = true;
              break;
            }
            return { ok: false, error: timeoutError(p.spec.name, goal, p.lastWhy), goal: goal.kind };
          }
          break;
        }
        if (!finished) still.push(p);
      }
      open = still;
      opts.reporter.status(open.map((p) => ({ name: p.spec.name, why: p.lastWhy ?? `waiting for ${p.spec.name}` })));
      if (open.length > 0) await sleep(POLL_INTERVAL_MS);
    }
    return { ok: true };
  } catch (err) {
    return { ok: false, error: errorText(err) };
  } finally {
    opts.reporter.clear();
  }
}

async function observe(client: FleetClient, name: string, goal: WaitGoal) {
  const needStates = goal.kind !== "state";
  const [unit, states] = await Promise.all([
    client.getUnit(name),
    needStates ? client.listUnitStates({ unitName: name }) : Promise.resolve([] as UnitState[]),
  ]);
  return { unit, states };
}
