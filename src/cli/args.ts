// A pflag-like command-line parser for fleetctl: `--flag=value`, `--flag value`, one-letter
// flags as both `-l` and `--l` (quirk Q2 fixed), booleans as `--flag` or `--flag=false`, `--`
// ends flags, and flags interspersed with arguments. Pure: no I/O, no environment.

export type FlagType = "bool" | "string" | "int" | "float";
export type FlagValue = string | number | boolean;

export interface FlagSpec {
  /** Long name, used as `--name`. */
  name: string;
  /** One-letter alias accepted both as `-x` and `--x`. */
  short?: string;
  type: FlagType;
  default: FlagValue;
  usage: string;
  /** Shown in help and printed as a warning when the flag is used. */
  deprecated?: string;
  /** Not listed in help (aliases kept for compatibility). */
  hidden?: boolean;
  /** The value goes to this other flag (deprecated aliases such as --etcd-cafile). */
  aliasOf?: string;
}

export interface ParsedFlags {
  values: Record<string, FlagValue>;
  /** Names (canonical) of the flags given on the command line. */
  set: Set<string>;
  positionals: string[];
  /** Deprecated flags that were used, for warnings. */
  deprecatedUsed: FlagSpec[];
}

/** A command line that cannot be parsed: exit code 2 (quirk Q1 fixed). */
export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface ParseOptions {
  /** When false, the first positional argument ends flag parsing (ssh's remote command). */
  interspersed?: boolean;
}

/** Parses `tokens` against `specs`. Values start at the specs' defaults. */
export function parseFlags(tokens: readonly string[], specs: readonly FlagSpec[], options: ParseOptions = {}): ParsedFlags {
  const interspersed = options.interspersed ?? true;
  const byName = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const spec of specs) {
    byName.set(spec.name, spec);
    if (spec.short) byShort.set(spec.short, spec);
  }
  const values: Record<string, FlagValue> = {};
  for (const spec of specs) if (!spec.aliasOf) values[spec.name] = spec.default;
  const set = new Set<string>();
  const deprecatedUsed: FlagSpec[] = [];
  const positionals: string[] = [];

  const assign = (spec: FlagSpec, raw: string, shown: string) => {
    const target = spec.aliasOf ? byName.get(spec.aliasOf) ?? spec : spec;
    values[target.name] = convert(target.type, raw, shown);
    set.add(target.name);
    if (spec.deprecated && !deprecatedUsed.includes(spec)) deprecatedUsed.push(spec);
  };

  let i = 0;
  while (i < tokens.length) {
    const tok = tokens[i]!;
    i++;
    if (tok === "--") {
      positionals.push(...tokens.slice(i));
      break;
    }
    if (!tok.startsWith("-") || tok === "-") {
      positionals.push(tok);
      if (!interspersed) {
        positionals.push(...tokens.slice(i));
        break;
      }
      continue;
    }
    if (tok.startsWith("--")) {
      const body = tok.slice(2);
      const eq = body.indexOf("=");
      const name = eq < 0 ? body : body.slice(0, eq);
      const spec = byName.get(name) ?? (name.length === 1 ? byShort.get(name) : undefined);
      if (!spec || name === "") throw new UsageError(`unknown flag: --${name}`);
      if (eq >= 0) {
        assign(spec, body.slice(eq + 1), `--${name}`);
      } else if (spec.type === "bool") {
        assign(spec, "true", `--${name}`);
      } else {
        if (i >= tokens.length) throw new UsageError(`flag needs an argument: --${name}`);
        assign(spec, tokens[i]!, `--${name}`);
        i++;
      }
      continue;
    }
    // One or more one-letter flags: -l, -lf, -n5, -n 5, -l=false.
    const letters = tok.slice(1);
    for (let j = 0; j < letters.length; j++) {
      const c = letters[j]!;
      const spec = byShort.get(c);
      if (!spec) throw new UsageError(`unknown shorthand flag: '${c}' in ${tok}`);
      const rest = letters.slice(j + 1);
      if (rest.startsWith("=")) {
        assign(spec, rest.slice(1), `-${c}`);
        break;
      }
      if (spec.type === "bool") {
        assign(spec, "true", `-${c}`);
        continue;
      }
      if (rest !== "") {
        assign(spec, rest, `-${c}`);
      } else {
        if (i >= tokens.length) throw new UsageError(`flag needs an argument: '${c}' in ${tok}`);
        assign(spec, tokens[i]!, `-${c}`);
        i++;
      }
      break;
    }
  }
  return { values, set, positionals, deprecatedUsed };
}

/** Converts a flag's text to its type, with pflag-like error messages. */
export function convert(type: FlagType, raw: string, shown: string): FlagValue {
  const bad = (why: string) => new UsageError(`invalid argument ${JSON.stringify(raw)} for "${shown}" flag: ${why}`);
  switch (type) {
    case "string":
      return raw;
    case "bool": {
      const b = parseBool(raw);
      if (b === undefined) throw bad("not a boolean (use true or false)");
      return b;
    }
    case "int": {
      const n = parseInteger(raw);
      if (n === undefined) throw bad("not an integer");
      return n;
    }
    case "float": {
      const f = raw.trim() === "" ? NaN : Number(raw);
      if (!Number.isFinite(f)) throw bad("not a number");
      return f;
    }
  }
}

/** Go's strconv.ParseBool. */
export function parseBool(raw: string): boolean | undefined {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(raw)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(raw)) return false;
  return undefined;
}

function parseInteger(raw: string): number | undefined {
  const m = /^([+-]?)(0x[0-9a-fA-F]+|[0-9]+)$/.exec(raw);
  if (!m) return undefined;
  const n = Number(m[2]) * (m[1] === "-" ? -1 : 1);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The flags that take a value (so a command word can be told from a flag's value). */
export function valueFlagNames(specs: readonly FlagSpec[]): { long: Set<string>; short: Set<string> } {
  const long = new Set<string>();
  const short = new Set<string>();
  for (const s of specs) {
    if (s.type === "bool") continue;
    long.add(s.name);
    if (s.short) {
      short.add(s.short);
      long.add(s.short);
    }
  }
  return { long, short };
}

/**
 * Finds the command word among `tokens` the way cobra does: skip flags (and the value of a flag
 * known to take one). Returns its index, or -1 when there is none.
 */
export function findCommandWord(tokens: readonly string[], specs: readonly FlagSpec[]): number {
  const { long, short } = valueFlagNames(specs);
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if (tok === "--") return i + 1 < tokens.length ? i + 1 : -1;
    if (!tok.startsWith("-") || tok === "-") return i;
    if (tok.startsWith("--")) {
      if (!tok.includes("=") && long.has(tok.slice(2))) i++;
    } else if (tok.length === 2 && short.has(tok[1]!)) {
      i++;
    }
  }
  return -1;
}
