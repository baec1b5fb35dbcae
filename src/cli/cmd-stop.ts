// stop and unload (compatibility.md §6.6.4, §6.6.5; quirk Q23 fixed: unload also clears the
// desired state of a unit that is desired launched but currently inactive).
import type { DesiredState } from "../unit/types.ts";
import { type Unit } from "./client.ts";
import { errorText } from "../lib/error-text.ts";
import { blockAttemptsFlag, type Command, type Ctx, flagBool, flagInt, noBlockFlag } from "./command.ts";
import { findUnitsOrExit, goList } from "./find-units.ts";
import { inOrder } from "./pipeline.ts";
import { isGlobalUnit } from "./unit-info.ts";
import { waitAndReport } from "./wait.ts";
import { blockAttempts } from "./wait-logic.ts";

/** What stop or unload does with one unit. Pure. */
export type StopAction = "set" | "skip" | { error: string };

export function stopAction(unit: Unit): StopAction {
  if (isGlobalUnit(unit)) return "set";
  if (unit.currentState === "inactive") return { error: `Unable to stop unit ${unit.name} in state inactive` };
  if (unit.currentState === "loaded") return "skip";
  return "set";
}

export function unloadAction(unit: Unit): StopAction {
  if (isGlobalUnit(unit)) return "set";
  if (unit.currentState === "inactive" && unit.desiredState === "inactive") return "skip";
  return "set";
}

async function run(ctx: Ctx, kind: "stop" | "unload"): Promise<number> {
  const units = await findUnitsOrExit(ctx);
  if (typeof units === "number") return units;
  const target: DesiredState = kind === "stop" ? "loaded" : "inactive";
  const decide = kind === "stop" ? stopAction : unloadAction;
  // The decisions need no request: the units before the first refused one are acted on (many
  // at once), then the refusal is said, as when each unit was handled in turn.
  const acting: Unit[] = [];
  let refusal: string | undefined;
  for (const unit of units) {
    const action = decide(unit);
    if (typeof action === "object") {
      refusal = action.error;
      break;
    }
    if (action === "skip") ctx.log.debug(`Unit(${unit.name}) already ${target}, skipping.`);
    else acting.push(unit);
  }
  const names: string[] = [];
  const set = await inOrder(acting, async (unit) => {
    if (unit.desiredState !== target) await ctx.client.setUnitDesiredState(unit.name, target);
  }, (outcome, unit) => {
    if (!outcome.ok) {
      ctx.io.err(`Error setting target state for unit ${unit.name}: ${errorText(outcome.error)}\n`);
      return false;
    }
    if (isGlobalUnit(unit)) ctx.io.out(`Triggered global unit ${unit.name} ${kind}\n`);
    else if (!names.includes(unit.name)) names.push(unit.name);
  });
  if (!set) return 1;
  if (refusal !== undefined) {
    ctx.io.err(`${refusal}\n`);
    return 1;
  }
  const attempts = blockAttempts(flagBool(ctx, "no-block"), flagInt(ctx, "block-attempts"));
  const specs = names.map((name) => ({ name, goals: [{ kind: "state" as const, state: target }] }));
  const res = await waitAndReport(ctx, specs, attempts, kind);
  const done = kind === "stop" ? "stopped" : "unloaded";
  if (res.code !== 0) {
    ctx.io.err(`Failed to ${kind} units ${goList(names)}. err: ${res.error}\n`);
    return 1;
  }
  ctx.io.err(`Successfully ${done} units ${goList(names)}.\n`);
  return 0;
}

export const stopCommand: Command = {
  name: "stop",
  short: "Instruct systemd to stop one or more units in the cluster.",
  long: "Stop one or more units from running in the cluster, but allow them to be started again in the future.\n\nInstructs systemd on the host machine to stop the unit, deferring to systemd completely for any custom stop directives (i.e. ExecStop option in the unit file).\n\nFor units which are not global, stop operations are performed synchronously, which means fleetctl will block until it detects that the unit(s) have transitioned to a stopped state. This behaviour can be configured with the respective --block-attempts and --no-block options. Stop operations on global units are always non-blocking.\n\nStop a single unit:\n\tfleetctl stop foo.service\n\nStop an entire directory of units with glob matching, without waiting:\n\tfleetctl --no-block stop myservice/*",
  usage: "stop [--no-block|--block-attempts=N] UNIT...",
  flags: [blockAttemptsFlag("units have stopped"), noBlockFlag("units have stopped")],
  needsClient: true,
  run: (ctx) => run(ctx, "stop"),
};

export const unloadCommand: Command = {
  name: "unload",
  short: "Unschedule one or more units in the cluster.",
  long: "Unload one or more units from systemd on the machines they are scheduled to, and unschedule them. They stay submitted.\n\nFor units which are not global, unload operations are performed synchronously, which means fleetctl will block until it detects that the unit(s) have transitioned to an inactive state. This behaviour can be configured with the respective --block-attempts and --no-block options. Unload operations on global units are always non-blocking.",
  usage: "unload UNIT...",
  flags: [blockAttemptsFlag("units are unloaded"), noBlockFlag("units have been unloaded")],
  needsClient: true,
  run: (ctx) => run(ctx, "unload"),
};
