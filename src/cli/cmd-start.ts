// submit, load and start: create the units if needed, set the desired state, wait for it
// (compatibility.md §6.6.1-§6.6.3; quirk Q6 fixed: the systemd-active check honours
// --block-attempts and --no-block prints "Triggered unit X start" once).
import { mangleUnitName } from "../unit/unit-name.ts";
import type { DesiredState } from "../unit/types.ts";
import { type Unit } from "./client.ts";
import { errorText } from "../lib/error-text.ts";
import {
  blockAttemptsFlag, type Command, type Ctx, flagBool, flagInt, noBlockFlag, replaceFlag, SIGN_WARNING, signFlag,
} from "./command.ts";
import { inOrder, lookupUnits } from "./pipeline.ts";
import { lazyCreateUnits } from "./unit-files.ts";
import { isGlobalUnit } from "./unit-info.ts";
import { waitAndReport, type WaitSpec } from "./wait.ts";
import { blockAttempts, type WaitGoal } from "./wait-logic.ts";

/** What submit, load and start refuse before anything else: the exit code, or undefined to go on. */
function refused(ctx: Ctx): number | undefined {
  if (flagBool(ctx, "sign")) {
    ctx.io.err(`${SIGN_WARNING}\n`);
    return 2;
  }
  if (ctx.args.length === 0) {
    ctx.io.err("No units given\n");
    return 0;
  }
  return undefined;
}

export async function runSubmit(ctx: Ctx): Promise<number> {
  const refusal = refused(ctx);
  if (refusal !== undefined) return refusal;
  const created = await lazyCreateUnits(ctx, ctx.args, { command: "submit", replace: flagBool(ctx, "replace"), attempts: 0 });
  return typeof created === "number" ? created : 0;
}

async function runLoadOrStart(ctx: Ctx, target: Exclude<DesiredState, "inactive">): Promise<number> {
  const command = target === "loaded" ? "load" : "start";
  const failure = target === "loaded" ? "Error loading units" : "Error starting units";
  const refusal = refused(ctx);
  if (refusal !== undefined) return refusal;
  const attempts = blockAttempts(flagBool(ctx, "no-block"), flagInt(ctx, "block-attempts"));
  // The machine list (for the result lines' legends) comes while the units are written.
  ctx.machines().catch(() => undefined);
  const created = await lazyCreateUnits(ctx, ctx.args, { command, replace: flagBool(ctx, "replace"), attempts });
  if (typeof created === "number") return created;

  // The units as creating them found or wrote them: their desired states are current.
  const names = [...new Set(ctx.args.map((arg) => mangleUnitName(arg)))];
  let found = created;
  if (names.some((n) => !found.has(n))) {
    try {
      found = await lookupUnits((n) => ctx.client.readUnits({ names: n }), names);
    } catch (err) {
      ctx.io.err(`${failure}: error retrieving unit ${names[0]} from registry: ${errorText(err)}\n`);
      return 1;
    }
  }
  const units: Unit[] = [];
  for (const name of names) {
    const unit = found.get(name);
    if (!unit) {
      ctx.io.err(`${failure}: unable to find unit ${name}\n`);
      return 1;
    }
    units.push(unit);
  }

  const waiting: WaitSpec[] = [];
  const toSet = units.filter((u) => u.desiredState !== target);
  const set = await inOrder(toSet, (unit) => ctx.client.setUnitDesiredState(unit.name, target), (outcome, unit) => {
    if (!outcome.ok) {
      ctx.io.err(`${failure}: ${errorText(outcome.error)}\n`);
      return false;
    }
    if (isGlobalUnit(unit)) {
      ctx.io.out(`Triggered global unit ${unit.name} ${command}\n`);
      return;
    }
    const goals: WaitGoal[] = [{ kind: "state", state: target }];
    if (target === "launched") goals.push({ kind: "active" });
    waiting.push({ name: unit.name, goals });
  });
  if (!set) return 1;

  const res = await waitAndReport(ctx, waiting, attempts, command);
  if (res.code !== 0) {
    ctx.io.err(res.goal === "active"
      ? "Error waiting for systemd unit states, err: 1\n"
      : "Error waiting for unit states, exit status: 1\n");
  }
  return res.code;
}

export const submitCommand: Command = {
  name: "submit",
  short: "Upload one or more units to the cluster without starting them",
  long: "Upload one or more units to the cluster without starting them. Useful for validating units before they are started.\n\nThis operation is idempotent; if a named unit already exists in the cluster, it will not be resubmitted.\n\nSubmit a single unit:\n\tfleetctl submit foo.service\n\nSubmit a directory of units with glob matching:\n\tfleetctl submit myservice/*",
  usage: "submit UNIT...",
  flags: [replaceFlag("Replace the old submitted units in the cluster with new versions."), signFlag],
  needsClient: true,
  run: runSubmit,
};

export const loadCommand: Command = {
  name: "load",
  short: "Schedule one or more units in the cluster, first submitting them if necessary.",
  long: "Load one or many units in the cluster into systemd, but do not start.\n\nSelect units to load by glob matching for units in the current working directory or matching the names of previously submitted units.\n\nFor units which are not global, load operations are performed synchronously, which means fleetctl will block until it detects that the unit(s) have transitioned to a loaded state. This behaviour can be configured with the respective --block-attempts and --no-block options. While a unit cannot be placed, the engine's reason is shown; for a unit that requests resources or has Spread=, so is why it went where it went. Load operations on global units are always non-blocking.",
  usage: "load [--no-block|--block-attempts=N] UNIT...",
  flags: [
    blockAttemptsFlag("jobs are loaded"),
    noBlockFlag("jobs have been loaded"),
    replaceFlag("Replace the old scheduled units in the cluster with new versions."),
    signFlag,
  ],
  needsClient: true,
  run: (ctx) => runLoadOrStart(ctx, "loaded"),
};

export const startCommand: Command = {
  name: "start",
  short: "Instruct systemd to start one or more units in the cluster, first submitting and loading if necessary.",
  long: "Start one or many units on the cluster. Select units to start by glob matching for units in the current working directory or matching names of previously submitted units.\n\nStart a single unit:\n\tfleetctl start foo.service\n\nStart an entire directory of units with glob matching:\n\tfleetctl start myservice/*\n\nStart an instance of a template unit (from ./foo@.service or the registered foo@.service):\n\tfleetctl start foo@1.service\n\nFor units which are not global, start operations are performed synchronously, which means fleetctl will block until it detects that the unit(s) have transitioned to a launched state and systemd reports them active. This behaviour can be configured with the respective --block-attempts and --no-block options. While a unit cannot be placed, the engine's reason is shown; for a unit that requests resources or has Spread=, so is why it went where it went. Start operations on global units are always non-blocking.",
  usage: "start [--no-block|--block-attempts=N] UNIT...",
  flags: [
    blockAttemptsFlag("units are launched"),
    noBlockFlag("units have launched"),
    replaceFlag("Replace the already started units in the cluster with new versions."),
    signFlag,
  ],
  needsClient: true,
  run: (ctx) => runLoadOrStart(ctx, "launched"),
};
