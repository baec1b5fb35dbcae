// restart (compatibility.md §6.6.9): one unit after the other, stop (desired loaded) and wait
// for loaded, then start and wait for launched and active (quirk Q8 fixed: the original waited
// for launched both times). Global units are restarted with systemctl on every machine that
// reports them (quirk Q9 fixed: that was a no-op).
import { type Unit } from "./client.ts";
import { errorText } from "../lib/error-text.ts";
import { blockAttemptsFlag, type Command, type Ctx, flagInt, sshPortFlag } from "./command.ts";
import { built, runOnUnitMachines } from "./cmd-remote.ts";
import { findUnitsOrExit } from "./find-units.ts";
import { systemctlArgv } from "./ssh.ts";
import { lazyCreateUnits } from "./unit-files.ts";
import { isGlobalUnit } from "./unit-info.ts";
import { waitAndReport } from "./wait.ts";
import { blockAttempts, type WaitGoal } from "./wait-logic.ts";

/** The steps of restarting one non-global unit. Pure. */
export function restartPlan(unit: Unit): { skip: string } | { steps: { set: "loaded" | "launched"; goals: WaitGoal[] }[]; info: string } {
  const start = { set: "launched" as const, goals: [{ kind: "state", state: "launched" }, { kind: "active" }] as WaitGoal[] };
  if (unit.currentState === "inactive") return { skip: `Unable to restart unit ${unit.name} in state inactive` };
  if (unit.currentState === "loaded") return { steps: [start], info: `Unit(${unit.name}) already loaded, starting.` };
  return {
    steps: [{ set: "loaded", goals: [{ kind: "state", state: "loaded" }] }, start],
    info: `Unit(${unit.name}) was restarted.`,
  };
}

async function runRestart(ctx: Ctx): Promise<number> {
  const attempts = blockAttempts(false, flagInt(ctx, "block-attempts"));
  // Found before creating: units new from local files are created, not restarted.
  const units = await findUnitsOrExit(ctx, async () => {
    const created = await lazyCreateUnits(ctx, ctx.args, { command: "restart", replace: false, attempts });
    return typeof created === "number" ? created : undefined;
  });
  if (typeof units === "number") return units;
  const globals: Unit[] = [];
  for (const unit of units) {
    if (isGlobalUnit(unit)) {
      if (!globals.some((g) => g.name === unit.name)) globals.push(unit);
      continue;
    }
    const plan = restartPlan(unit);
    if ("skip" in plan) {
      ctx.io.err(`${plan.skip}\n`);
      continue;
    }
    for (const step of plan.steps) {
      try {
        await ctx.client.setUnitDesiredState(unit.name, step.set);
      } catch (err) {
        ctx.io.err(`Error setting target state for unit ${unit.name}: ${errorText(err)}\n`);
        return 1;
      }
      const res = await waitAndReport(ctx, [{ name: unit.name, goals: step.goals }], attempts, "restart");
      if (res.code !== 0) {
        ctx.io.err(`Error waiting for unit states, exit status: ${res.code}\n`);
        return 1;
      }
    }
    ctx.log.info(plan.info);
  }
  for (const unit of globals) {
    const argv = built(ctx, () => systemctlArgv("restart", unit.name));
    if (!argv) return 1;
    const code = await runOnUnitMachines(ctx, unit.name, argv, flagInt(ctx, "ssh-port"));
    if (code !== 0) {
      ctx.io.err(`Error restarting global units ${JSON.stringify(globals.map((g) => g.name))} err: exit status ${code}\n`);
      return 1;
    }
  }
  return 0;
}

export const restartCommand: Command = {
  name: "restart",
  short: "Instruct systemd to rolling restart one or more units in the cluster.",
  long: "Restarts one or more units in the cluster, one after the other: each is stopped and started again, and fleetctl waits until it runs before restarting the next. If they are stopped it starts them.\n\nInstructs systemd on the host machine to restart the unit, deferring to systemd completely for any custom stop and start directives (i.e. ExecStop and ExecStart options in the unit file).\n\nRestart operations on global units are always non-blocking: systemctl restart runs over SSH on every machine that reports the unit.\n\nRestart a single unit:\n\tfleetctl restart foo.service",
  usage: "restart [--block-attempts=N] UNIT...",
  flags: [blockAttemptsFlag("units are restarted"), sshPortFlag],
  needsClient: true,
  run: runRestart,
};
