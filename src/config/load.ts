// Finding and reading the config file; everything else is parseConfig.
import { readFileSync, statSync } from "node:fs";
import { DEFAULT_CONFIG_FILE } from "./defaults.ts";
import { ConfigError, parseConfig, type Env } from "./parse.ts";
import type { Config } from "./types.ts";
import { errorText } from "../lib/error-text.ts";

export interface LoadOptions {
  /** --config: must exist and be a file. */
  file?: string;
  /** Defaults to process.env. */
  env?: Env;
  /** Used when no file is given and it exists; defaults to /etc/fleet/fleet.conf. */
  defaultFile?: string;
}

export interface Loaded {
  config: Config;
  /** The file read, or undefined when there was none (the caller logs the original's line). */
  source: string | undefined;
  /** Deprecated keys and insecure listeners, to be logged at warn level. */
  warnings: string[];
}

function reason(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === "ENOENT") return "no such file or directory";
  if (code === "EACCES") return "permission denied";
  if (code === "ENOTDIR") return "not a directory";
  return errorText(err);
}

function read(path: string): string {
  try {
    if (statSync(path).isDirectory()) throw new ConfigError(`Provided config ${path} is a directory, not a file`);
    return readFileSync(path, "utf8");
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`Unable to use config file ${path}: ${reason(err)}`);
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    // Only absence means "no default file"; an unreadable one is reported by read().
    return (err as { code?: string }).code !== "ENOENT";
  }
}

export function loadConfig(opts: LoadOptions = {}): Loaded {
  const env = opts.env ?? process.env;
  let source = opts.file;
  if (source === undefined) {
    const fallback = opts.defaultFile ?? DEFAULT_CONFIG_FILE;
    if (exists(fallback)) source = fallback;
  }
  const text = source === undefined ? undefined : read(source);
  const { config, warnings } = parseConfig(text, source, env);
  return { config, source, warnings };
}
