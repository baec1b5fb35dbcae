// The daemon's one logger: `LEVEL message` lines on stderr. Under systemd (JOURNAL_STREAM set)
// each line starts with a journald priority and carries no timestamp, since journald adds one;
// elsewhere each line starts with an ISO timestamp.

export type Level = "debug" | "info" | "warn" | "error";

/** Extra structured fields, appended as ` key=value`. */
export type Fields = Record<string, unknown>;

export interface Logger {
  /** False when debug lines are dropped, so callers can skip costly formatting. */
  readonly debugEnabled: boolean;
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  /** A logger whose lines read `component: message`. */
  child(component: string): Logger;
  /** Changes the level of every logger of this one's tree (its root and all children); SIGHUP. */
  setVerbosity(verbosity: number): void;
}

export interface LoggerOptions {
  /** > 0 enables debug lines. */
  verbosity: number;
  /** journald format; defaults to whether JOURNAL_STREAM is set. */
  journal?: boolean;
  /** Receives each line without its newline; defaults to stderr. */
  write?: (line: string) => void;
  /** The clock for timestamps outside the journal. */
  now?: () => Date;
}

const PRIORITY: Record<Level, string> = { debug: "<7>", info: "<6>", warn: "<4>", error: "<3>" };

function stderrWrite(line: string): void {
  try {
    process.stderr.write(`${line}\n`);
  } catch {
    // A closed stderr must not take the daemon down with it.
  }
}

function formatValue(v: unknown): string {
  const s = v instanceof Error ? v.message : typeof v === "string" ? v : JSON.stringify(v) ?? String(v);
  return s === "" || /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}

export function formatFields(fields: Fields | undefined): string {
  if (!fields) return "";
  let out = "";
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out += ` ${k}=${formatValue(v)}`;
  return out;
}

export function createLogger(opts: LoggerOptions): Logger {
  const journal = opts.journal ?? Boolean(process.env.JOURNAL_STREAM);
  const write = opts.write ?? stderrWrite;
  const now = opts.now ?? (() => new Date());
  // Shared by the whole tree, so a reload changes the level of every component at once.
  const level = { debug: opts.verbosity > 0 };

  const make = (prefix: string): Logger => {
    const emit = (lvl: Level, message: string, fields?: Fields) => {
      if (lvl === "debug" && !level.debug) return;
      const head = journal ? `${PRIORITY[lvl]}${lvl.toUpperCase()}` : `${now().toISOString()} ${lvl.toUpperCase()}`;
      const tail = formatFields(fields);
      // journald stores one entry per line: give every line its priority and level.
      const lines = message.split("\n");
      lines.forEach((line, i) => write(`${head} ${prefix}${line}${i === lines.length - 1 ? tail : ""}`));
    };
    return {
      get debugEnabled() {
        return level.debug;
      },
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
      child: (component) => make(`${prefix}${component}: `),
      setVerbosity: (verbosity) => {
        level.debug = verbosity > 0;
      },
    };
  };
  return make("");
}
