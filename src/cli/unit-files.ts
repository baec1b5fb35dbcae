// Creating units from local files or templates before submit, load, start and restart act on
// them: fleetctl's getUnitFile and lazyCreateUnits (fleet-reference.md §6.5.2-§6.5.4).
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { loadUnitFile, parseUnitFileLines, UnitFileError, unitHash } from "../unit/unit-file.ts";
import { parseRequirements, RequirementsError } from "../unit/requirements.ts";
import { appendDefaultUnitType, mangleUnitName, unitNameInfo, validateUnitName } from "../unit/unit-name.ts";
import type { DesiredState, UnitOption } from "../unit/types.ts";
import { type Unit } from "./client.ts";
import { errorText } from "../lib/error-text.ts";
import type { Ctx } from "./command.ts";
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

/**
 * The options for a new unit named after `arg` (`.service` already appended): the local file,
 * else the template's from the registry, else the local template file.
 */
export async function getUnitFile(ctx: Ctx, arg: string): Promise<UnitOption[]> {
  const name = mangleUnitName(arg);
  if (isFile(ctx, arg)) return readLocal(ctx, arg, name, "file", arg);
  const info = unitNameInfo(name);
  if (!info) throw new CreateError(`error extracting information from unit name ${name}`);
  if (!info.isInstance) throw new CreateError(`unable to find Unit(${name}) in Registry or on filesystem`);

  const tmplPath = localTemplatePath(arg, info.template);
  let registered: Unit | undefined;
  try {
    registered = await ctx.client.getUnit(info.template);
  } catch (err) {
    throw new CreateError(`failed getting Unit(${arg}) from template: ${errorText(err)}`);
  }
  if (registered) {
    if (isFile(ctx, tmplPath)) {
      const local = readLocal(ctx, tmplPath, info.template, "template", arg);
      if (unitHash(local) !== unitHash(registered.options)) {
        ctx.io.err(`WARNING: Unit ${info.template} in registry differs from local template unit file ${arg}. Add --replace to override.\n`);
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
function checkNewUnit(ctx: Ctx, name: string, options: UnitOption[]): void {
  const checked = checkUnit(name, options);
  if ("problem" in checked) throw new CreateError(checked.problem);
  for (const w of checked.unit.warnings) ctx.log.warn(w);
}

async function create(ctx: Ctx, name: string, options: UnitOption[]): Promise<void> {
  checkNewUnit(ctx, name, options);
  try {
    await ctx.client.createUnit(name, options);
  } catch (err) {
    throw new CreateError(`failed creating unit ${name}: ${errorText(err)}`);
  }
}

/**
 * Creates the units that do not exist yet (and, with --replace, replaces changed ones), then
 * waits for them to report `inactive`. Returns undefined when that is done, else the exit code
 * (1) after printing `Error creating units: <why>`.
 */
export async function lazyCreateUnits(ctx: Ctx, args: readonly string[], o: LazyCreateOptions): Promise<number | undefined> {
  const why = await createAndWait(ctx, args, o);
  if (why === undefined) return undefined;
  ctx.io.err(`Error creating units: ${why}\n`);
  return 1;
}

async function createAndWait(ctx: Ctx, args: readonly string[], o: LazyCreateOptions): Promise<string | undefined> {
  const waits: WaitSpec[] = [];
  try {
    for (const rawArg of args) {
      const arg = appendDefaultUnitType(rawArg);
      const name = mangleUnitName(arg);
      // A name no part of fleet accepts is refused before any request is made.
      const invalid = validateUnitName(name);
      if (invalid !== undefined) throw new CreateError(invalid);
      let existing: Unit | undefined;
      try {
        existing = await ctx.client.getUnit(name);
      } catch (err) {
        throw new CreateError(`error retrieving Unit(${name}) from Registry: ${errorText(err)}`);
      }
      if (!existing) {
        await create(ctx, name, await getUnitFile(ctx, arg));
        waits.push({ name, goals: [{ kind: "state", state: "inactive", creation: true }] });
        continue;
      }
      if (!o.replace || o.command === "restart") {
        warnIfDiffers(ctx, arg, name, existing);
        continue;
      }
      const local = localForReplace(ctx, arg, name);
      if (unitHash(local) === unitHash(existing.options)) {
        ctx.io.out(`Found same Unit(${name}) in Registry, nothing to do\n`);
        continue;
      }
      if (!REPLACEABLE[o.command]!.includes(existing.desiredState)) {
        ctx.io.err(`Warning: can not replace Unit(${name}) in state '${existing.desiredState}', use the appropriate command\n`);
        continue;
      }
      await create(ctx, name, local);
      waits.push({ name, goals: [{ kind: "state", state: "inactive", creation: true }] });
    }
  } catch (err) {
    if (err instanceof CreateError) return err.message;
    return errorText(err);
  }
  if (waits.length === 0) return undefined;
  const res = await waitForCommand(ctx, waits, o.attempts);
  if (!res.ok) {
    ctx.io.err(`Error waiting on unit creation: ${res.error}\n`);
    return "One or more errors creating units";
  }
  return undefined;
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
function warnIfDiffers(ctx: Ctx, arg: string, name: string, existing: Unit): void {
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
    ctx.io.err(`WARNING: Unit ${name} in registry differs from local ${kind} ${arg}. Add --replace to override.\n`);
  }
}
