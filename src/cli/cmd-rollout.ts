// update and rollout (our extension): roll a new version of a running unit out instance by
// instance, driven by the engine leader (docs/api.md, "Rollouts"). update starts a rollout per
// unit file and, unless --no-block, prints each step the engine takes (its words) until every
// rollout ends; it exits non-zero when one did not succeed. rollout status|pause|resume|abort
// shows or steers one.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { loadUnitFile, shortUnitHash, UnitFileError } from "../unit/unit-file.ts";
import { mangleUnitName } from "../unit/unit-name.ts";
import { policyText, type RolloutView } from "../rollout/view.ts";
import type { ControlRequest } from "../rollout/control.ts";
import { errorText } from "../lib/error-text.ts";
import { UsageError } from "./args.ts";
import type { RolloutPolicyFlags } from "./client.ts";
import { type Command, type Ctx, flagBool, flagInt, flagString, noLegendFlag } from "./command.ts";
import { renderTable } from "./table.ts";

/** How often a waiting update reads its rollouts again. */
const POLL_MS = 500;
/** How long a rollout may wait for an engine to take it up before the user is told. */
const NOT_TAKEN_UP_MS = 30_000;
const ENDED = ["succeeded", "failed", "reverted", "aborted"];

function policyFlags(ctx: Ctx): RolloutPolicyFlags {
  const p: RolloutPolicyFlags = {};
  if (ctx.flagsSet.has("max-parallel")) p.maxParallel = flagInt(ctx, "max-parallel");
  if (ctx.flagsSet.has("min-healthy-time")) p.minHealthyTime = flagString(ctx, "min-healthy-time");
  if (ctx.flagsSet.has("deadline")) p.deadline = flagString(ctx, "deadline");
  if (ctx.flagsSet.has("auto-revert")) p.autoRevert = flagBool(ctx, "auto-revert");
  return p;
}

/** The unit a file argument names and its options, or the error line. */
function readUnitFile(ctx: Ctx, arg: string): { name: string; options: ReturnType<typeof loadUnitFile>["options"] } | string {
  const name = mangleUnitName(arg);
  let text: string;
  try {
    text = readFileSync(resolve(ctx.cwd, arg), "utf8");
  } catch (err) {
    return `Error updating ${name}: cannot read unit file ${arg}: ${errorText(err)}`;
  }
  try {
    return { name, options: loadUnitFile(text, name).options };
  } catch (err) {
    return `Error updating ${name}: ${err instanceof UnitFileError ? err.reason : errorText(err)}`;
  }
}

async function runUpdate(ctx: Ctx): Promise<number> {
  if (ctx.args.length === 0) throw new UsageError("update needs at least one unit file");
  const flags = policyFlags(ctx);
  const started: RolloutView[] = [];
  for (const arg of ctx.args) {
    const file = readUnitFile(ctx, arg);
    if (typeof file === "string") {
      ctx.io.err(`${file}\n`);
      return 1;
    }
    try {
      const r = await ctx.client.startRollout(file.name, file.options, flags);
      ctx.io.out(`Rollout of ${r.unit} to ${shortUnitHash(r.to)} started (${policyText(r.policy)})\n`);
      started.push(r);
    } catch (err) {
      ctx.io.err(`Error updating ${file.name}: ${errorText(err)}\n`);
      return 1;
    }
  }
  if (flagBool(ctx, "no-block")) return 0;
  return waitForRollouts(ctx, started.map((r) => r.unit));
}

/** Prints each new step of the rollouts until all have ended; 0 when every one succeeded. */
async function waitForRollouts(ctx: Ctx, units: string[]): Promise<number> {
  const printed = new Map<string, number>(units.map((u) => [u, 0]));
  const ends = new Map<string, string>();
  const since = Date.now();
  const told = new Set<string>();
  for (;;) {
    for (const unit of units) {
      if (ends.has(unit)) continue;
      let r: RolloutView | undefined;
      try {
        r = await ctx.client.getRollout(unit);
      } catch (err) {
        ctx.io.err(`Error reading the rollout of ${unit}: ${errorText(err)}\n`);
        return 1;
      }
      if (!r) {
        ctx.io.err(`The rollout of ${unit} is gone (a newer one replaced it?)\n`);
        return 1;
      }
      for (const l of r.log) {
        if (l.n <= printed.get(unit)!) continue;
        ctx.io.out(`${unit}: ${l.text}\n`);
        printed.set(unit, l.n);
      }
      if (ENDED.includes(r.state)) ends.set(unit, r.state);
      if (r.log.length === 0 && !told.has(unit) && Date.now() - since >= NOT_TAKEN_UP_MS) {
        told.add(unit);
        ctx.io.err(`No engine has taken up the rollout of ${unit} yet: is an engine leading, and does it run a fleet with rolling updates? Still waiting\n`);
      }
    }
    if (ends.size === units.length) break;
    await Bun.sleep(POLL_MS);
  }
  const bad = [...ends].filter(([, state]) => state !== "succeeded");
  for (const [unit, state] of bad) ctx.io.err(`Rollout of ${unit} ${state}\n`);
  return bad.length === 0 ? 0 : 1;
}

function statusText(r: RolloutView, noLegend: boolean): string {
  const lines = [
    `Rollout of ${r.unit}: ${r.summary}`,
    `Version: ${r.instances[0] ? shortUnitHash(r.instances[0].from) : "-"} -> ${shortUnitHash(r.to)}${r.description ? ` (${r.description})` : ""}`,
    `Policy: ${policyText(r.policy)}`,
    `Started: ${r.createdAt}`,
    "",
  ];
  const rows = r.instances.map((i) => [i.name, i.machineID ? `${i.machineID.slice(0, 8)}...` : "-", i.phase, shortUnitHash(i.from), shortUnitHash(i.hash)]);
  const table = rows.length === 0 ? "No instances found yet\n" : renderTable(noLegend ? undefined : ["INSTANCE", "MACHINE", "PHASE", "FROM", "RUNS"], rows);
  const steps = r.log.map((l) => `${l.at} ${l.text}\n`).join("");
  return `${lines.join("\n")}\n${table}\n${steps}`;
}

async function runRollout(ctx: Ctx): Promise<number> {
  const [verb, unitArg, ...rest] = ctx.args;
  if (verb === undefined) throw new UsageError("rollout needs a subcommand: status, pause, resume or abort");
  if (!["status", "pause", "resume", "abort"].includes(verb)) throw new UsageError(`unknown rollout subcommand ${JSON.stringify(verb)}: expect status, pause, resume or abort`);
  if (rest.length > 0) throw new UsageError(`rollout ${verb} takes one unit`);
  if (verb === "status" && unitArg === undefined) return listRollouts(ctx);
  if (unitArg === undefined) throw new UsageError(`rollout ${verb} needs a unit`);
  const unit = mangleUnitName(unitArg);
  try {
    if (verb === "status") {
      const r = await ctx.client.getRollout(unit);
      if (!r) {
        ctx.io.err(`There is no rollout of ${unit}\n`);
        return 1;
      }
      ctx.io.out(statusText(r, flagBool(ctx, "no-legend")));
      return 0;
    }
    const r = await ctx.client.controlRollout(unit, verb as ControlRequest);
    const done = { pause: "paused", resume: "resumed", abort: "aborting: the replaced instances go back to the old version" }[verb as ControlRequest];
    ctx.io.out(`Rollout of ${r.unit} ${done}\n`);
    return 0;
  } catch (err) {
    ctx.io.err(`Error: cannot ${verb === "status" ? "read" : verb} the rollout of ${unit}: ${errorText(err)}\n`);
    return 1;
  }
}

async function listRollouts(ctx: Ctx): Promise<number> {
  let all: RolloutView[];
  try {
    all = await ctx.client.listRollouts();
  } catch (err) {
    ctx.io.err(`Error: cannot list rollouts: ${errorText(err)}\n`);
    return 1;
  }
  const rows = all.map((r) => [r.unit, r.state, shortUnitHash(r.to), r.summary.slice(r.summary.indexOf(":") + 2), r.createdAt]);
  ctx.io.out(renderTable(flagBool(ctx, "no-legend") ? undefined : ["UNIT", "STATE", "TO", "PROGRESS", "STARTED"], rows));
  return 0;
}

export const updateCommand: Command = {
  name: "update",
  short: "Roll a new version of running units out instance by instance",
  long:
    "Replaces a running unit, every instance of a template (give the template file, e.g. web@.service),\n" +
    "or a global unit on every machine, with the version in UNIT_FILE, a few instances at a time.\n" +
    "Each replaced instance must stay active in systemd with the same main process for the minimum\n" +
    "healthy time before the next one is touched. An instance that does not become healthy within\n" +
    "the deadline stops the rollout; with --auto-revert the replaced instances go back to the old\n" +
    "version. The engine leader drives the rollout: it goes on if this command exits.\n\n" +
    "Defaults come from the unit file's [X-Fleet] section (RolloutMaxParallel=, RolloutMinHealthyTime=,\n" +
    "RolloutDeadline=, RolloutAutoRevert=), then 1, 10s, 5m and false.\n\n" +
    "Update a template's instances two at a time:\n\tfleetctl update --max-parallel=2 web@.service\n\n" +
    "Start the rollout and return at once:\n\tfleetctl update --no-block mon.service",
  usage: "update [--max-parallel=N] [--min-healthy-time=DURATION] [--deadline=DURATION] [--auto-revert] [--no-block] UNIT_FILE...",
  flags: [
    { name: "max-parallel", type: "int", default: 1, usage: "Replace up to N instances at a time (default: the unit's RolloutMaxParallel=, else 1)." },
    { name: "min-healthy-time", type: "string", default: "10s", usage: "How long a replaced instance must stay active with the same main PID (default: RolloutMinHealthyTime=, else 10s)." },
    { name: "deadline", type: "string", default: "5m", usage: "How long a replaced instance has to become healthy (default: RolloutDeadline=, else 5m)." },
    { name: "auto-revert", type: "bool", default: false, usage: "When an instance fails, put the replaced instances back on the old version (default: RolloutAutoRevert=)." },
    { name: "no-block", type: "bool", default: false, usage: "Start the rollouts and exit without waiting for them." },
  ],
  needsClient: true,
  run: runUpdate,
};

export const rolloutCommand: Command = {
  name: "rollout",
  short: "Show, pause, resume or abort the rollout of a unit",
  long:
    "status UNIT prints a rollout's state, each instance's phase and version, and its steps;\n" +
    "status alone lists every rollout. pause stops replacing new instances (those in flight are\n" +
    "still watched), resume goes on, abort puts every replaced instance back on the old version.\n\n" +
    "\tfleetctl rollout status web@.service\n\tfleetctl rollout abort web@.service",
  usage: "rollout status [UNIT] | rollout pause|resume|abort UNIT",
  flags: [noLegendFlag],
  needsClient: true,
  run: runRollout,
};
