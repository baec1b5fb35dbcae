// Creating units from local files or templates before submit, load, start and restart act on
// them: fleetctl's getUnitFile and lazyCreateUnits (compatibility.md §6.5.2-§6.5.4).
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { loadUnitFile, parseUnitFileLines, UnitFileError, unitHash } from "../unit/unit-file.ts";
import { parseRequirements, RequirementsError } from "../unit/requirements.ts";
import { appendDefaultUnitType, mangleUnitName, unitNameInfo, validateUnitName } from "../unit/unit-name.ts";
import type { DesiredState, UnitOption } from "../unit/types.ts";
import { type Unit } from "./client.ts";
import { errorText } from "../lib/error-text.ts";
import type { Ctx } from "./command.ts";
import { inOrder, lookupUnits } from "./pipeline.ts";
import { checkUnit } from "./unit-info.ts";
import { waitForCommand, type WaitSpec } from "./wait.ts";

export class CreateError extends Error {}

function readLocal(ctx: Ctx, path: string, name: string, how: "file" | "template", arg: string): UnitOption[] {
  let text: string;
  try {
    text = readFileSync(resolve(ctx.cwd, path), "utf8");
  } catch (err) {
    throw new CreateError(`failed getting Unit(${arg}) from ${how}: ${errorText(err)}`);
  }
  let options: UnitOption[];
  try {
    options = loadUnitFile(text, name).options;
  } catch (err) {
    const why = err instanceof UnitFileError ? err.reason : errorText(err);
    throw new CreateError(`failed getting Unit(${arg}) from ${how}: ${why}`);
  }
  checkLines(text, name);
  return options;
}

/**
 * A value whose error names its line (a resource request, Spread=) is reported with its line in
 * this file; the checks after it (checkUnit) only see the canonical text, whose lines differ.
 */
function checkLines(text: string, name: string): void {
  const raw = parseUnitFileLines(text, name);
  try {
    parseRequirements(raw.options, name, raw.lines);
  } catch (err) {
    if (!(err instanceof RequirementsError)) throw err;
    if (err.line !== undefined) throw new CreateError(err.message);
  }
}

function isFile(ctx: Ctx, path: string): boolean {
  const p = resolve(ctx.cwd, path);
  return existsSync(p) && !statSync(p).isDirectory();
}

/** The local template file of an instance argument: `<dir of arg>/foo@.service`. */
function localTemplatePath(arg: string, template: string): string {
  return join(dirname(arg), template);
}

/** Registered templates looked up once per command, however many instances name them. */
export type TemplateCache = Map<string, Promise<Unit | undefined>>;

/**
 * The options for a new unit named after `arg` (`.service` already appended): the local file,
 * else the template's from the registry, else the local template file. A warning goes to `warn`.
 */
export async function getUnitFile(
  ctx: Ctx, arg: string, templates: TemplateCache = new Map(), warn = (line: string) => ctx.io.err(line),
): Promise<UnitOption[]> {
  const name = mangleUnitName(arg);
  if (isFile(ctx, arg)) return readLocal(ctx, arg, name, "file", arg);
  const info = unitNameInfo(name);
  if (!info) throw new CreateError(`error extracting information from unit name ${name}`);
  if (!info.isInstance) throw new CreateError(`unable to find Unit(${name}) in Registry or on filesystem`);

  const tmplPath = localTemplatePath(arg, info.template);
  let registered: Unit | undefined;
  try {
    let lookup = templates.get(info.template);
    if (!lookup) templates.set(info.template, (lookup = ctx.client.getUnit(info.template)));
    registered = await lookup;
  } catch (err) {
    throw new CreateError(`failed getting Unit(${arg}) from template: ${errorText(err)}`);
  }
  if (registered) {
    if (isFile(ctx, tmplPath)) {
      const local = readLocal(ctx, tmplPath, info.template, "template", arg);
      if (unitHash(local) !== unitHash(registered.options)) {
        warn(`WARNING: Unit ${info.template} in registry differs from local template unit file ${arg}. Add --replace to override.\n`);
      }
    }
    return registered.options;
  }
  if (isFile(ctx, tmplPath)) return readLocal(ctx, tmplPath, info.template, "template", arg);
  throw new CreateError(`failed getting Unit(${arg}) from template: unable to find template Unit(${info.template}) in Registry or on filesystem`);
}

/** Which desired states each command may replace a unit in (§6.5.4). */
const REPLACEABLE: Record<string, readonly DesiredState[]> = {
  submit: ["inactive"],
  load: ["inactive", "loaded"],
  start: ["inactive", "loaded", "launched"],
};

export interface LazyCreateOptions {
  command: "submit" | "load" | "start" | "restart";
  replace: boolean;
  /** blockAttempts(): -1 (look once), 0 (no limit) or N. */
  attempts: number;
}

/** Checks a new unit as fleetctl did before creating it; unknown [X-Fleet] keys only warn. */
function checkNewUnit(name: string, options: UnitOption[], warn: (w: string) => void): void {
  const checked = checkUnit(name, options);
  if ("problem" in checked) throw new CreateError(checked.problem);
  for (const w of checked.unit.warnings) warn(w);
}

async function create(ctx: Ctx, name: string, options: UnitOption[]): Promise<void> {
  try {
    await ctx.client.createUnit(name, options);
  } catch (err) {
    throw new CreateError(`failed creating unit ${name}: ${errorText(err)}`);
  }
}

/**
 * Creates the units that do not exist yet (and, with --replace, replaces changed ones), then
 * waits for them to report `inactive`. Returns the units named, as the registry has them now
 * (read, or just written), when that is done; else the exit code (1) after printing `Error
 * creating units: <why>`.
 */
export async function lazyCreateUnits(ctx: Ctx, args: readonly string[], o: LazyCreateOptions): Promise<Map<string, Unit> | number> {
  const res = await createAndWait(ctx, args, o);
  if (typeof res !== "string") return res;
  ctx.io.err(`Error creating units: ${res}\n`);
  return 1;
}

/**
 * What one argument comes to, decided before any unit is written: the lines it prints (replayed in
 * argument order) and the unit to create or replace, if any.
 */
interface Step {
  name: string;
  say: (() => void)[];
  write?: UnitOption[];
}

async function createAndWait(ctx: Ctx, args: readonly string[], o: LazyCreateOptions): Promise<Map<string, Unit> | string> {
  // A name no part of fleet accepts is refused before any request for it; the arguments before
  // it are handled, as when each argument was handled in turn.
  const named: { arg: string; name: string }[] = [];
  let refusal: string | undefined;
  for (const rawArg of args) {
    const arg = appendDefaultUnitType(rawArg);
    const name = mangleUnitName(arg);
    refusal = validateUnitName(name);
    if (refusal !== undefined) break;
    named.push({ arg, name });
  }
  let known: Map<string, Unit>;
  try {
    known = await lookupUnits((names) => ctx.client.readUnits({ names }), named.map((i) => i.name));
  } catch (err) {
    return `error retrieving Unit(${named[0]!.name}) from Registry: ${errorText(err)}`;
  }
  // Every argument's step in turn, from local files and what the registry holds: a file that
  // is missing or refused stops here, before anything after it is written.
  const steps: Step[] = [];
  const templates: TemplateCache = new Map();
  for (const item of named) {
    try {
      steps.push(await plan(ctx, item.arg, item.name, known, templates, o));
    } catch (err) {
      refusal = err instanceof CreateError ? err.message : errorText(err);
      break;
    }
  }
  // Then the writes, many at once; the first that fails stops them.
  const waits: WaitSpec[] = [];
  let failure: string | undefined;
  await inOrder(steps, async (step) => {
    if (step.write) await create(ctx, step.name, step.write);
  }, (outcome, step) => {
    if (!outcome.ok) {
      failure = outcome.error instanceof CreateError ? outcome.error.message : errorText(outcome.error);
      return false;
    }
    for (const say of step.say) say();
    if (step.write) waits.push({ name: step.name, goals: [{ kind: "state", state: "inactive", creation: true }] });
  });
  if (failure !== undefined) return failure;
  if (refusal !== undefined) return refusal;
  if (waits.length === 0) return known;
  const res = await waitForCommand(ctx, waits, o.attempts);
  if (!res.ok) {
    ctx.io.err(`Error waiting on unit creation: ${res.error}\n`);
    return "One or more errors creating units";
  }
  return known;
}

/**
 * One argument's step: create its unit, replace it (--replace), or keep it and say why. What it
 * writes is taken as written for the arguments after it (a name given twice).
 */
async function plan(ctx: Ctx, arg: string, name: string, known: Map<string, Unit>, templates: TemplateCache, o: LazyCreateOptions): Promise<Step> {
  const say: (() => void)[] = [];
  const err = (line: string) => say.push(() => ctx.io.err(line));
  const write = (options: UnitOption[]): Step => {
    checkNewUnit(name, options, (w) => say.push(() => ctx.log.warn(w)));
    known.set(name, { name, options, desiredState: "inactive" });
    return { name, say, write: options };
  };
  const existing = known.get(name);
  if (!existing) return write(await getUnitFile(ctx, arg, templates, err));
  if (!o.replace || o.command === "restart") {
    warnIfDiffers(ctx, arg, name, existing, err);
    return { name, say };
  }
  const local = localForReplace(ctx, arg, name);
  if (unitHash(local) === unitHash(existing.options)) {
    say.push(() => ctx.io.out(`Found same Unit(${name}) in Registry, nothing to do\n`));
    return { name, say };
  }
  if (!REPLACEABLE[o.command]!.includes(existing.desiredState)) {
    err(`Warning: can not replace Unit(${name}) in state '${existing.desiredState}', use the appropriate command\n`);
    return { name, say };
  }
  return write(local);
}

/** The local file (or local template of an instance) that --replace submits. */
function localForReplace(ctx: Ctx, arg: string, name: string): UnitOption[] {
  if (isFile(ctx, arg)) return readLocal(ctx, arg, name, "file", arg);
  const info = unitNameInfo(name);
  if (!info?.isInstance) throw new CreateError(`error Unit ${arg} does not seem to be a template unit`);
  const tmplPath = localTemplatePath(arg, info.template);
  if (!isFile(ctx, tmplPath)) throw new CreateError(`stat ${tmplPath}: no such file or directory`);
  return readLocal(ctx, tmplPath, info.template, "template", arg);
}

/** Without --replace an existing unit is kept; say so when the local copy differs. */
function warnIfDiffers(ctx: Ctx, arg: string, name: string, existing: Unit, err: (line: string) => void): void {
  let local: UnitOption[] | undefined;
  let kind = "unit file";
  try {
    if (isFile(ctx, arg)) {
      local = readLocal(ctx, arg, name, "file", arg);
    } else {
      const info = unitNameInfo(name);
      if (info?.isInstance && isFile(ctx, localTemplatePath(arg, info.template))) {
        local = readLocal(ctx, localTemplatePath(arg, info.template), info.template, "template", arg);
        kind = "template unit file";
      }
    }
  } catch {
    // An unreadable local copy cannot differ in a way worth a warning; the registry's is used.
    return;
  }
  if (local && unitHash(local) !== unitHash(existing.options)) {
    err(`WARNING: Unit ${name} in registry differs from local ${kind} ${arg}. Add --replace to override.\n`);
  }
}
