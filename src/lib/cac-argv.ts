// A command line read with cac, in Go's flag syntax: what `fleet daemon` and `fleet sandbox`
// accept (`-x` and `--x`, `--x=v` and `--x v`). cac declares the flags (names, aliases, which
// take a value) and parses them; this front keeps cac's parser (mri) from what would change
// their meaning: it would turn values into numbers (`--machines 1e1` is 10), read `--no-x` as x
// set to false, take `-config` for the flags c, o, n, f, i, g, not let a value start with "-",
// consume the next word for `--x=` and read a lone "-" as a flag. So cac is handed canonical
// `--name` tokens whose values are opaque placeholders, and the words never reach it.
// (fleet ctl keeps its own parser, cli/args.ts: docs/design-decisions.md says why.)
import type { CAC, Command } from "cac";

type Option = Command["options"][number];

/** What is wrong with a command line, as data: each command words it its own way. */
export type FlagProblem =
  /** `arg` as typed; `name` without its dashes and value. */
  | { kind: "unknown-flag"; arg: string; name: string }
  | { kind: "needs-value"; name: string }
  | { kind: "takes-no-value"; name: string };

export interface ReadRules {
  /**
   * Called with the words so far after each word: true ends the flags there, and the rest of
   * argv is `rest` as it stands (the daemon stops at its first word, as Go's flag package does;
   * `fleet sandbox ssh mN` passes what follows to the machine).
   */
  stopAfter?: (words: readonly string[]) => boolean;
  /** Flags that end the command line where they stand, whatever follows (the daemon's --version). */
  final?: readonly string[];
}

export interface ReadArgv {
  /** The words (not flags) before `--` or a stop, in order. */
  words: string[];
  /** What follows `--` or a stop, verbatim. */
  rest: string[];
  /** Each flag given, by its long name, in the order first given: its values, [] for a switch. */
  flags: Map<string, string[]>;
}

/** A flag's spellings as declared, with their dashes: `-h, --help` gives ["-h", "--help"]. */
export function flagSpellings(option: Option): string[] {
  return option.rawName.replace(/[<[].*$/, "").split(",").map((s) => s.trim());
}

/** A flag's long name, without dashes: the name it is looked up by and reported under. */
export function longName(option: Option): string {
  const names = flagSpellings(option).map((s) => s.replace(/^-{1,2}/, ""));
  return names.reduce((a, b) => (b.length > a.length ? b : a));
}

interface FlagSpec {
  long: string;
  /** cac's key for it in `cli.options` (camelCase). */
  key: string;
  takesValue: boolean;
}

/** Every flag declared, global or on any command, by each of its spellings without dashes. */
function declaredFlags(cli: CAC): Map<string, FlagSpec> {
  const out = new Map<string, FlagSpec>();
  for (const command of [cli.globalCommand, ...cli.commands]) {
    for (const option of command.options) {
      const spec = { long: longName(option), key: option.name, takesValue: option.isBoolean !== true };
      for (const spelling of flagSpellings(option)) out.set(spelling.replace(/^-{1,2}/, ""), spec);
    }
  }
  return out;
}

// A placeholder cac cannot take for a number, a boolean or a flag.
const VALUE = "@";

/** Reads argv against the flags declared on `cli`, or says what is wrong with the first bad flag. */
export function readArgv(cli: CAC, argv: readonly string[], rules: ReadRules = {}): ReadArgv | { problem: FlagProblem } {
  const declared = declaredFlags(cli);
  const tokens: string[] = [];
  const values: string[] = [];
  const words: string[] = [];
  let rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      rest = argv.slice(i + 1);
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      words.push(arg);
      if (rules.stopAfter?.(words)) {
        rest = argv.slice(i + 1);
        break;
      }
      continue;
    }
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = declared.get(name);
    if (!spec) return { problem: { kind: "unknown-flag", arg, name } };
    if (rules.final?.includes(spec.long)) {
      tokens.push(`--${spec.long}`);
      break;
    }
    if (!spec.takesValue) {
      if (eq >= 0) return { problem: { kind: "takes-no-value", name } };
      tokens.push(`--${spec.long}`);
      continue;
    }
    const value = eq >= 0 ? body.slice(eq + 1) : argv[++i];
    if (value === undefined) return { problem: { kind: "needs-value", name } };
    tokens.push(`--${spec.long}=${VALUE}${values.push(value) - 1}`);
  }
  cli.parse(["", "", ...tokens], { run: false });
  const byKey = new Map([...declared.values()].map((s) => [s.key, s]));
  const flags = new Map<string, string[]>();
  // cac's options come in the order first given; an alias's key (h for help) follows its flag's.
  for (const [key, value] of Object.entries(cli.options)) {
    const spec = byKey.get(key);
    if (!spec || flags.has(spec.long)) continue;
    flags.set(spec.long, spec.takesValue ? [value].flat().map((v) => values[Number(String(v).slice(VALUE.length))]!) : []);
  }
  return { words, rest, flags };
}
