// drain and undrain (our extension, like kubectl drain/uncordon): mark a machine for planned
// maintenance so the engine moves its non-global units elsewhere and places nothing new there.
// drain waits until every unit that can leave has left, naming the ones that cannot and why.
import { UsageError } from "./args.ts";
import { type Machine, type Unit } from "./client.ts";
import { errorText } from "../lib/error-text.ts";
import { blockAttemptsFlag, type Command, type Ctx, flagBool, flagInt, noBlockFlag } from "./command.ts";
import { attemptsBudgetMs } from "./wait-logic.ts";
import { UnitReads } from "./unit-reads.ts";
import { shortId } from "../lib/short-id.ts";
import type { PendingKind } from "../scheduler/reasons.ts";

/** A machine named by its full id or a unique prefix of it (as `ssh` looks machines up). */
export function findMachine(machines: readonly Machine[], arg: string): Machine | string {
  const exact = machines.find((m) => m.id === arg);
  if (exact) return exact;
  const found = machines.filter((m) => m.id.startsWith(arg));
  if (found.length === 1) return found[0]!;
  return found.length === 0 ? `Machine ${arg} does not exist` : `Machine ${arg} is ambiguous: it is a prefix of ${found.length} machines`;
}

const legend = (id: string): string => `${shortId(id)}...`;

/** The pending kind of a unit that fits no machine but the drained one it is on. */
const DRAIN_BLOCKED: PendingKind = "drain-blocked";

function oneMachineArg(ctx: Ctx, verb: string): string {
  if (ctx.args.length !== 1 || ctx.args[0] === "") throw new UsageError(`${verb} takes exactly one machine`);
  return ctx.args[0]!;
}

/** The non-global units scheduled on `id`. */
function unitsOn(units: readonly Unit[], id: string): Unit[] {
  return units.filter((u) => u.machineID === id);
}

async function runDrain(ctx: Ctx): Promise<number> {
  const m = findMachine(await ctx.machines(), oneMachineArg(ctx, "drain"));
  if (typeof m === "string") {
    ctx.io.err(`${m}\n`);
    return 1;
  }
  // Every unit, read again after each change: the first read is also the list to watch leave.
  const reads = new UnitReads(ctx.client, undefined);
  let units = await reads.next(0);
  const initial = unitsOn(units, m.id);
  try {
    await ctx.client.drainMachine(m.id);
  } catch (err) {
    ctx.io.err(`Error draining machine ${m.id}: ${errorText(err)}\n`);
    return 1;
  }
  if (flagBool(ctx, "no-block")) {
    ctx.io.out(`Machine ${legend(m.id)} drained; not waiting for its ${initial.length} unit${initial.length === 1 ? "" : "s"} to move\n`);
    return 0;
  }
  // A unit that cannot leave says so in its pending record: kind drain-blocked, about this
  // machine (one held by the eviction rate limit is drain-held, and still moving).
  const cannotLeave = (u: Unit): boolean => u.pendingKind === DRAIN_BLOCKED && u.pendingMachineID === m.id;
  const deadline = Date.now() + attemptsBudgetMs(flagInt(ctx, "block-attempts"));
  const left = new Set<string>();
  // The first look is the reading from before the drain: the drain itself changes no unit, so
  // only what it caused is waited for.
  for (let first = true; ; first = false) {
    if (!first) units = await reads.next(deadline);
    const here = unitsOn(units, m.id);
    for (const u of initial) {
      if (left.has(u.name) || here.some((h) => h.name === u.name)) continue;
      left.add(u.name);
      const now = units.find((x) => x.name === u.name)?.machineID;
      ctx.io.out(now ? `Unit ${u.name} moved to ${legend(now)}\n` : `Unit ${u.name} left machine ${legend(m.id)}\n`);
    }
    const stay = here.filter(cannotLeave);
    if (stay.length === here.length) {
      for (const u of stay) ctx.io.out(`Unit ${u.name} stays: ${u.pendingReason}\n`);
      const stays = stay.length === 0 ? "" : `, ${stay.length} stay${stay.length === 1 ? "s" : ""} (${stay.map((u) => u.name).join(", ")})`;
      ctx.io.out(`Machine ${legend(m.id)} drained: ${left.size} unit${left.size === 1 ? "" : "s"} moved${stays}\n`);
      return 0;
    }
    if (Date.now() >= deadline) {
      const waiting = here.filter((u) => !stay.includes(u)).map((u) => u.name);
      ctx.io.err(`Timed out waiting for machine ${legend(m.id)} to drain: ${waiting.length} unit${waiting.length === 1 ? "" : "s"} still to move (${waiting.join(", ")})\n`);
      return 1;
    }
  }
}

async function runUndrain(ctx: Ctx): Promise<number> {
  const arg = oneMachineArg(ctx, "undrain");
  // A drained machine that went away can still be undrained by its full id.
  const m = findMachine(await ctx.machines(), arg);
  const id = typeof m === "string" ? arg : m.id;
  try {
    if (!(await ctx.client.undrainMachine(id))) {
      ctx.io.err(typeof m === "string" ? `${m}\n` : `Machine ${legend(id)} is not drained\n`);
      return 1;
    }
  } catch (err) {
    ctx.io.err(`Error undraining machine ${id}: ${errorText(err)}\n`);
    return 1;
  }
  ctx.io.out(`Machine ${legend(id)} undrained\n`);
  return 0;
}

export const drainCommand: Command = {
  name: "drain",
  short: "Move units off a machine for planned maintenance",
  long:
    "Marks a machine drained: the engine moves its units to other machines that fit them and\n" +
    "schedules nothing new there. Global units stay. A unit that fits no other machine stays\n" +
    "and its reason is printed. MACHINE is a machine ID or a unique prefix of one.\n\n" +
    "Wait until every unit that can leave has left (the default), or not:\n\tfleetctl drain --no-block 1a2b3c4d",
  usage: "drain [--no-block] [--block-attempts=N] MACHINE",
  flags: [
    { ...blockAttemptsFlag("units have left the machine"), usage: "Wait until the units have left the machine, performing up to N attempts before giving up. A value of 0 indicates no limit." },
    { ...noBlockFlag("units have left the machine"), usage: "Do not wait until the units have left the machine before exiting." },
  ],
  needsClient: true,
  run: runDrain,
};

export const undrainCommand: Command = {
  name: "undrain",
  short: "Let a drained machine receive units again",
  long: "Removes a machine's drain mark: new units may be scheduled there again. Units that moved away stay where they are.",
  usage: "undrain MACHINE",
  flags: [],
  needsClient: true,
  run: runUndrain,
};
