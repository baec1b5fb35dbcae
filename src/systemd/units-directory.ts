// fleet's units directory on disk: checked (and created) before the agent uses it, and unit
// files written, listed and removed there without following symbolic links. The directory is
// fleet's alone: the agent removes every unit file there that is not scheduled here, and
// systemd runs what is linked from it as root.
import { randomBytes } from "node:crypto";
import {
  chmodSync, closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync,
  renameSync, rmSync, type Stats, unlinkSync, writeSync,
} from "node:fs";
import { join, posix } from "node:path";
import { hostSystemdTrees, OWN_DIRECTORY_WHY, unitsDirectoryProblem } from "./unit-paths.ts";

/** The directory cannot be fleet's; the message names it and the reason. */
export class UnitsDirectoryError extends Error {
  override readonly name = "UnitsDirectoryError";
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`Cannot use units_directory ${path}: ${problem}`);
  }
}

export interface UnitsDirectoryOptions {
  /** Who may own the directory, its parents and its files (default: root and this process's user). */
  owners?: readonly number[];
  /** systemd's unit trees (default: this host's, for this process's user). */
  trees?: readonly string[];
}

function defaultOwners(): number[] {
  const me = process.geteuid?.() ?? 0;
  return me === 0 ? [0] : [0, me];
}

function ownerText(owners: readonly number[]): string {
  return owners.length === 1 ? "root" : `root or uid ${owners.filter((o) => o !== 0).join(", ")}`;
}

function mode(st: Stats): string {
  return `mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")}`;
}

/** Each path from `/` down to `abs`: `/`, `/a`, `/a/b`. */
function prefixes(abs: string): string[] {
  const parts = abs.split("/").filter((p) => p !== "");
  return ["/", ...parts.map((_, i) => `/${parts.slice(0, i + 1).join("/")}`)];
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Checks the units directory and creates what is missing of it (0755, owned by this process).
 * Refused: a path in, at or above systemd's unit directories (also once symbolic links are
 * resolved); a component not owned by root (a symbolic link included), or a parent writable by
 * group or others without the sticky bit (anyone could swap the directory); a directory that is
 * not a directory, not owned by root, or writable by group or others.
 */
export function prepareUnitsDirectory(path: string, opts: UnitsDirectoryOptions = {}): void {
  const owners = opts.owners ?? defaultOwners();
  const trees = opts.trees ?? hostSystemdTrees();
  const fail = (problem: string): never => {
    throw new UnitsDirectoryError(path, problem);
  };
  const lexical = unitsDirectoryProblem(path, trees);
  if (lexical) fail(`it is ${lexical} (${OWN_DIRECTORY_WHY})`);
  const abs = posix.resolve(path);
  try {
    const missing: string[] = [];
    for (const p of prefixes(abs)) {
      const st = lstatOrUndefined(p);
      if (!st) {
        missing.push(p);
        continue;
      }
      if (!owners.includes(st.uid)) fail(`${p} is ${st.isSymbolicLink() ? "a symbolic link " : ""}owned by uid ${st.uid}, not ${ownerText(owners)}`);
      if (st.isDirectory() && (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) fail(`${p} is writable by group or others (${mode(st)})`);
    }
    for (const p of missing) {
      mkdirSync(p, { mode: 0o755 });
      // mkdir's mode is reduced by the umask; the directory must be exactly 0755.
      chmodSync(p, 0o755);
    }
    const real = realpathSync(abs);
    if (real !== abs) {
      const resolved = unitsDirectoryProblem(real, trees);
      if (resolved) fail(`it resolves to ${real}, which is ${resolved} (${OWN_DIRECTORY_WHY})`);
    }
    for (const p of prefixes(real)) {
      const st = lstatSync(p);
      if (!owners.includes(st.uid)) fail(`${p} is owned by uid ${st.uid}, not ${ownerText(owners)}`);
      const last = p === real;
      if (last && !st.isDirectory()) fail(`${p} is not a directory`);
      const writable = (st.mode & 0o022) !== 0;
      if (writable && (last || (st.mode & 0o1000) === 0)) fail(`${p} is writable by group or others (${mode(st)})`);
    }
  } catch (err) {
    if (err instanceof UnitsDirectoryError) throw err;
    fail((err as Error).message);
  }
}

/**
 * Writes `<dir>/<name>` atomically without following symbolic links: a new temporary file
 * (O_EXCL|O_NOFOLLOW, so nothing planted under its name is written through), renamed over the
 * name (which replaces a link there instead of writing to its target).
 */
export function writeUnitFile(dir: string, name: string, text: string): void {
  const tmp = join(dir, `.${name}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    try {
      writeSync(fd, text);
      fchmodSync(fd, 0o644);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(dir, name));
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Whether a file is one fleet wrote: a regular file owned by root (or this process's user). */
function isOwnFile(st: Stats, owners: readonly number[]): boolean {
  return st.isFile() && owners.includes(st.uid);
}

/**
 * Removes `<dir>/<name>` if it is a file fleet wrote. Anything else there (a symbolic link, a
 * directory, another user's file) is left alone: "kept". Nothing there: "absent".
 */
export function removeUnitFile(dir: string, name: string, owners: readonly number[] = defaultOwners()): "removed" | "absent" | "kept" {
  const path = join(dir, name);
  const st = lstatOrUndefined(path);
  if (!st) return "absent";
  if (!isOwnFile(st, owners)) return "kept";
  unlinkSync(path);
  return "removed";
}

/**
 * The text of `<dir>/<name>` if it is a file fleet wrote, else undefined. Opened without
 * following a link (O_NOFOLLOW) and without blocking on a FIFO (O_NONBLOCK).
 */
export function readUnitFile(dir: string, name: string, owners: readonly number[] = defaultOwners()): string | undefined {
  let fd: number;
  try {
    fd = openSync(join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined; // gone, or a symbolic link (ELOOP)
  }
  try {
    return isOwnFile(fstatSync(fd), owners) ? readFileSync(fd, "utf8") : undefined;
  } finally {
    closeSync(fd);
  }
}

/** The names in the directory that pass `isName` (none when it does not exist). */
export function unitFileNames(dir: string, isName: (name: string) => boolean): string[] {
  try {
    return readdirSync(dir).filter(isName).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}
