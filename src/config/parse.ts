// Pure configuration parsing: TOML text plus FLEET_* variables in, a typed Config out.
import TOML from "@iarna/toml";
import { DEFAULTS } from "./defaults.ts";
import { KEYS, envName, suggestKey, type ApplyContext } from "./keys.ts";
import type { Config } from "./types.ts";
import { BadValue } from "./values.ts";

/** A configuration the daemon cannot start with; one line per problem found. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string | string[]) {
    const list = typeof problems === "string" ? [problems] : problems;
    super(list.join("\n"));
    this.name = "ConfigError";
    this.problems = list;
  }
}

export type Env = Record<string, string | undefined>;

const DEPRECATED_WARNING = (key: string) => `Config option ${key} is no longer supported - ignoring`;

function parseToml(text: string, sourceName: string): Record<string, unknown> {
  try {
    return TOML.parse(text.replace(/^\uFEFF/, ""));
  } catch (err) {
    const e = err as { line?: number; col?: number; message?: string };
    const what = (e.message ?? String(err)).split("\n")[0]?.replace(/ at row \d+, col \d+, pos \d+:?$/, "") ?? "";
    const lineNo = (e.line ?? 0) + 1;
    let problem = `Cannot parse config file ${sourceName}: line ${lineNo}: ${what.charAt(0).toLowerCase()}${what.slice(1)}`;
    // The original's INI format allowed unquoted strings; say how to write them in TOML.
    const line = text.split("\n")[lineNo - 1] ?? "";
    const unquoted = /^\s*([A-Za-z0-9_-]+)\s*=\s*([^\s"'[{].*?)\s*$/.exec(line);
    if (unquoted) problem += ` (quote string values: ${unquoted[1]}="${unquoted[2]}")`;
    throw new ConfigError(problem);
  }
}

/**
 * Builds the Config from defaults, then the file's text (when given), then FLEET_* variables
 * from env, which win. Unknown FLEET_* variables are ignored (some are used elsewhere), but
 * an unknown key in the file is an error. Every problem found is reported in one ConfigError.
 */
export function parseConfig(
  text: string | undefined,
  sourceName: string | undefined,
  env: Env = {},
): { config: Config; warnings: string[] } {
  const ctx: ApplyContext = { config: structuredClone(DEFAULTS) as Config, deprecated: new Map() };
  const problems: string[] = [];
  const apply = (key: string, raw: unknown, where: string) => {
    try {
      KEYS[key]?.(ctx, raw);
    } catch (err) {
      if (!(err instanceof BadValue)) throw err;
      problems.push(`Invalid configuration in ${where}: ${err.message}`);
    }
  };

  if (text !== undefined) {
    const source = sourceName ?? "config file";
    const seen = new Map<string, string>();
    for (const [written, raw] of Object.entries(parseToml(text, source))) {
      const key = written.toLowerCase(); // the original's keys were case-insensitive
      if (!Object.hasOwn(KEYS, key)) {
        const hint = suggestKey(key);
        problems.push(
          `Unknown configuration key ${JSON.stringify(written)} in ${source}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ""}`,
        );
        continue;
      }
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        problems.push(`Invalid configuration in ${source}: ${written}: given twice (also as ${earlier})`);
        continue;
      }
      seen.set(key, written);
      apply(key, raw, `${source}: ${written}`);
    }
  }
  for (const key of Object.keys(KEYS)) {
    const name = envName(key);
    const raw = env[name];
    if (raw !== undefined) apply(key, raw, `environment ${name}`);
  }

  const config = ctx.config;
  problems.push(...crossCheck(config));
  if (problems.length > 0) throw new ConfigError(problems);

  const warnings: string[] = [];
  for (const [key, active] of ctx.deprecated) if (active) warnings.push(DEPRECATED_WARNING(key));
  warnings.push(...securityWarnings(config));
  if (config.disableWatches) {
    // The original's scale workaround: its watches woke every machine on every change. Ours
    // cover only the machine's own keys, and without them nothing would be noticed.
    warnings.push("Config option disable_watches has no effect: each machine watches only its own keys in etcd - ignoring");
  }
  return { config, warnings };
}

/** Keys that only make sense together; the values may come from different sources. */
function crossCheck(c: Config): string[] {
  const out: string[] = [];
  const pair = (a: string, av: unknown, b: string, bv: unknown) => {
    if (Boolean(av) !== Boolean(bv)) {
      out.push(`Invalid configuration: ${av ? a : b} is set but ${av ? b : a} is not (they go together)`);
    }
  };
  pair("etcd_certfile", c.etcdCertfile, "etcd_keyfile", c.etcdKeyfile);
  pair("api_tls_cert", c.apiTlsCert, "api_tls_key", c.apiTlsKey);
  if (c.apiTlsCa && !c.apiTlsCert) {
    out.push("Invalid configuration: api_tls_ca is set but api_tls_cert is not (client certificates need TLS)");
  }
  return out;
}

function securityWarnings(c: Config): string[] {
  const out: string[] = [];
  // What the API's TCP listeners lack (or TLS without one) is judged when the daemon opens them
  // (src/api/listeners.ts): only then are the sockets systemd passes known too.
  const plain = c.etcdServers.filter((s) => s.startsWith("http://"));
  if ((c.etcdUsername || c.etcdPassword) && plain.length > 0) {
    out.push(
      `etcd_username and etcd_password are sent in clear text to ${plain.join(", ")}: anyone on the path can read them; use https:// etcd_servers`,
    );
  }
  return out;
}
