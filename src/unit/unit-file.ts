// Unit files: the go-systemd lexer (compatibility.md §2.1), the canonical serialisation
// (§2.2) and the content hash (§2.3). The canonical text is what gets hashed, stored, written
// by agents and shown by `fleetctl cat`, so parse → serialize must be a fixed point.
import { goIsSpace, goQuote, goTrimSpace } from "./go-text.ts";
import type { UnitOption } from "./types.ts";
import { sha1Hex } from "../lib/sha1.ts";

/** systemd's LINE_MAX on Linux; go-systemd refuses longer lines rather than let systemd truncate. */
export const LINE_MAX = 2048;

/**
 * The largest unit file fleet takes, in bytes of its text (as read, and in canonical form). A
 * unit's text goes to etcd in one request (etcd refuses requests over 1.5 MiB by default), is
 * cached by every engine and API server, and arrives at the API as JSON options inside a body
 * of at most api_max_request_bytes (1 MiB by default): 512 KiB leaves room for that JSON. Real
 * unit files are a few KiB.
 */
export const MAX_UNIT_FILE_BYTES = 512 * 1024;
/**
 * The most options a unit file may have. Each option costs more as JSON than as text (its
 * section name is repeated, plus ~35 bytes of syntax): 4096 options of a 512 KiB file still fit
 * a 1 MiB body. Real units have a few dozen.
 */
export const MAX_UNIT_OPTIONS = 4096;

/** A unit file that does not parse. `reason` is go-systemd's own message. */
export class UnitFileError extends Error {
  override readonly name = "UnitFileError";
  constructor(
    readonly reason: string,
    /** 1-based line of the input where the problem was found. */
    readonly line: number,
    readonly unitName?: string,
  ) {
    super(`Cannot parse unit file${unitName ? ` ${unitName}` : ""}: line ${line}: ${reason}`);
  }
}

/** A unit file over a limit (MAX_UNIT_FILE_BYTES, MAX_UNIT_OPTIONS); `reason` names the unit and the limit. */
export class UnitFileLimitError extends UnitFileError {
  constructor(reason: string, unitName?: string) {
    super(reason, 1, unitName);
    this.message = `Cannot use unit file${unitName ? ` ${unitName}` : ""}: ${reason}`;
  }
}

function unitLabel(unitName: string | undefined): string {
  return unitName ? `unit file ${unitName}` : "the unit file";
}

function tooManyOptions(unitName: string | undefined): UnitFileLimitError {
  return new UnitFileLimitError(`${unitLabel(unitName)} has more options than the limit of ${MAX_UNIT_OPTIONS}`, unitName);
}

const NL = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const utf8Encoder = new TextEncoder();
// ignoreBOM keeps a U+FEFF that starts a value instead of silently dropping it.
const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

type Step = () => Step | null;

/**
 * A byte-level lexer with the same steps as go-systemd's, because its line-length guard runs
 * between steps: before every step but the first (its read buffer is still empty then), the
 * next LINE_MAX bytes must hold a `\r` or `\n` when at least LINE_MAX bytes remain. go-systemd
 * measures "remain" as what its 4096-byte bufio buffer happens to hold, which lets long lines
 * through in files over 4 KiB depending on where buffer refills fall; here the whole rest of
 * the input counts, which is identical for files up to 4 KiB and deterministic beyond.
 */
class Lexer {
  readonly options: UnitOption[] = [];
  /** The line each option starts on, when asked for (lines: true). */
  readonly lines: number[] | undefined;
  private readonly bytes: Uint8Array;
  private readonly nextTerminator: Int32Array;
  private pos = 0;
  /** Where the option being read starts, and how far lines have been counted (positions only grow). */
  private optionAt = 0;
  private counted = { pos: 0, line: 1 };

  constructor(
    text: string,
    private readonly unitName: string | undefined,
    lines = false,
  ) {
    this.lines = lines ? [] : undefined;
    this.bytes = utf8Encoder.encode(text);
    const n = this.bytes.length;
    if (n > MAX_UNIT_FILE_BYTES) {
      throw new UnitFileLimitError(`${unitLabel(unitName)} is ${n} bytes, more than the limit of ${MAX_UNIT_FILE_BYTES} (512 KiB)`, unitName);
    }
    this.nextTerminator = new Int32Array(n + 1);
    this.nextTerminator[n] = n;
    for (let i = n - 1; i >= 0; i--) {
      const b = this.bytes[i];
      this.nextTerminator[i] = b === NL || b === CR ? i : this.nextTerminator[i + 1]!;
    }
  }

  run(): UnitOption[] {
    let step: Step | null = this.nextSection;
    let first = true;
    while (step !== null) {
      if (!first) this.guardLineLength();
      first = false;
      step = step();
    }
    return this.options;
  }

  private guardLineLength(): void {
    const remaining = this.bytes.length - this.pos;
    if (remaining >= LINE_MAX && this.nextTerminator[this.pos]! - this.pos >= LINE_MAX) {
      this.fail(`line too long (max ${LINE_MAX} bytes)`, this.pos);
    }
  }

  private fail(reason: string, at: number): never {
    let line = 1;
    for (let i = 0; i < at && i < this.bytes.length; i++) if (this.bytes[i] === NL) line += 1;
    throw new UnitFileError(reason, line, this.unitName);
  }

  private lineAt(pos: number): number {
    const c = this.counted;
    for (; c.pos < pos; c.pos++) if (this.bytes[c.pos] === NL) c.line++;
    return c.line;
  }

  private decode(start: number, end: number): string {
    return utf8Decoder.decode(this.bytes.subarray(start, end));
  }

  private atEnd(): boolean {
    return this.pos >= this.bytes.length;
  }

  /** Reads one UTF-8 encoded code point, as bufio.ReadRune does. */
  private readRune(): number {
    const b0 = this.bytes[this.pos]!;
    let size = 1;
    let cp = b0;
    if (b0 >= 0xf0) {
      size = 4;
      cp = b0 & 0x07;
    } else if (b0 >= 0xe0) {
      size = 3;
      cp = b0 & 0x0f;
    } else if (b0 >= 0xc0) {
      size = 2;
      cp = b0 & 0x1f;
    }
    for (let i = 1; i < size; i++) cp = (cp << 6) | ((this.bytes[this.pos + i] ?? 0) & 0x3f);
    this.pos += size;
    return cp;
  }

  /** Reads through the next `\n`. At end of input one trailing `\r` is also dropped. */
  private toEOL(): { start: number; end: number; eof: boolean } {
    const start = this.pos;
    const nl = this.bytes.indexOf(NL, start);
    if (nl === -1) {
      let end = this.bytes.length;
      if (end > start && this.bytes[end - 1] === CR) end -= 1;
      this.pos = this.bytes.length;
      return { start, end, eof: true };
    }
    this.pos = nl + 1;
    return { start, end: nl, eof: false };
  }

  private readonly nextSection: Step = () => {
    if (this.atEnd()) return null;
    const r = this.readRune();
    if (r === 0x5b /* [ */) return this.sectionName;
    if (r === 0x23 /* # */ || r === 0x3b /* ; */) return this.ignoreLine(this.nextSection);
    return this.nextSection;
  };

  private readonly sectionName: Step = () => {
    const start = this.pos;
    const close = this.bytes.indexOf(0x5d /* ] */, start);
    if (close === -1) this.fail("unable to find end of section", start - 1);
    this.pos = close + 1;
    return this.sectionSuffix(this.decode(start, close));
  };

  private sectionSuffix(section: string): Step {
    return () => {
      const { start, end } = this.toEOL();
      const garbage = goTrimSpace(this.decode(start, end));
      if (garbage !== "") {
        this.fail(`found garbage after section name ${section}: ${goQuote(garbage)}`, start);
      }
      return this.sectionOrOption(section);
    };
  }

  private ignoreLine(next: Step): Step {
    return () => {
      for (;;) {
        const { start, end: lineEnd } = this.toEOL();
        // go-systemd drops exactly one trailing space before looking for the continuation.
        let end = lineEnd;
        if (end > start && this.bytes[end - 1] === 0x20) end -= 1;
        if (!(end > start && this.bytes[end - 1] === BACKSLASH)) return next;
      }
    };
  }

  private sectionOrOption(section: string): Step {
    return () => {
      if (this.atEnd()) return null;
      const before = this.pos;
      const r = this.readRune();
      if (goIsSpace(r)) return this.sectionOrOption(section);
      if (r === 0x5b /* [ */) return this.sectionName;
      if (r === 0x23 /* # */ || r === 0x3b /* ; */) {
        return this.ignoreLine(this.sectionOrOption(section));
      }
      this.pos = before;
      return this.optionName(section);
    };
  }

  private optionName(section: string): Step {
    return () => {
      const start = this.pos;
      for (;;) {
        if (this.atEnd()) {
          this.fail("unexpected end of file while parsing option name", start);
        }
        const b = this.bytes[this.pos]!;
        if (b === NL || b === CR) {
          this.fail("unexpected newline encountered while parsing option name", start);
        }
        if (b === 0x3d /* = */) break;
        this.pos += 1;
      }
      const name = goTrimSpace(this.decode(start, this.pos));
      this.optionAt = start;
      this.pos += 1;
      return this.optionValue(section, name, "");
    };
  }

  private optionValue(section: string, name: string, partial: string): Step {
    return () => {
      const { start, end, eof } = this.toEOL();
      const line = this.decode(start, end);
      if (goTrimSpace(line) !== "") {
        let value = partial + line;
        if (this.bytes[end - 1] === BACKSLASH) {
          if (!eof) value += "\n";
          return this.optionValue(section, name, value);
        }
        partial = value;
      }
      if (this.options.length === MAX_UNIT_OPTIONS) throw tooManyOptions(this.unitName);
      this.options.push({ section, name, value: trimOptionValue(partial) });
      this.lines?.push(this.lineAt(this.optionAt));
      return this.sectionOrOption(section);
    };
  }
}

/**
 * go-systemd's final trim of a value: whitespace goes at both ends, but a value that ended in
 * a continuation followed by a blank line keeps one `\n`.
 */
export function trimOptionValue(value: string): string {
  return value.endsWith("\n") ? `${goTrimSpace(value)}\n` : goTrimSpace(value);
}

/**
 * Parses unit file text into its options, in file order, repeated options included.
 * Throws UnitFileError; `name` (the unit's name) only appears in the error message.
 */
export function parseUnitFile(text: string, name?: string): UnitOption[] {
  return new Lexer(text, name).run();
}

/** parseUnitFile, with the 1-based line each option starts on (for messages about one option). */
export function parseUnitFileLines(text: string, name?: string): { options: UnitOption[]; lines: number[] } {
  const lexer = new Lexer(text, name, true);
  return { options: lexer.run(), lines: lexer.lines! };
}

/**
 * The canonical text (go-systemd `Serialize`): one header per section in order of first
 * appearance, options grouped under it, sections separated by a blank line. Names and values
 * are trimmed as the parser would (quirk of §2.3), so options that did not come from the parser
 * still get the text and hash they will have when read back.
 */
export function serializeUnitFile(options: readonly UnitOption[]): string {
  const sections = new Map<string, string[]>();
  for (const option of options) {
    let lines = sections.get(option.section);
    if (lines === undefined) {
      lines = [];
      sections.set(option.section, lines);
    }
    lines.push(`${goTrimSpace(option.name)}=${trimOptionValue(option.value)}\n`);
  }
  return [...sections].map(([section, lines]) => `[${section}]\n${lines.join("")}`).join("\n");
}

/** The 1-based line of each option in `serializeUnitFile(options)`, index for index. */
export function canonicalLines(options: readonly UnitOption[]): number[] {
  const sections = new Map<string, number[]>();
  for (const [i, o] of options.entries()) {
    const list = sections.get(o.section);
    if (list === undefined) sections.set(o.section, [i]);
    else list.push(i);
  }
  const lines = new Array<number>(options.length);
  let line = 0;
  for (const indexes of sections.values()) {
    // A blank line before every section but the first, then its header.
    line += line === 0 ? 1 : 2;
    for (const i of indexes) {
      lines[i] = ++line;
      // A value with continuation lines takes one line per newline it keeps.
      for (const ch of trimOptionValue(options[i]!.value)) if (ch === "\n") line++;
    }
  }
  return lines;
}

/**
 * SHA-1 (40 lowercase hex characters) of `serializeUnitFile(options)`. Equal to the `hash` of a
 * UnitFile for its own options; for options from elsewhere use unitFileFromOptions.
 */
export function unitHash(options: readonly UnitOption[]): string {
  return sha1Hex(serializeUnitFile(options));
}

/** The 7-character form of a unit hash shown by list-unit-files. */
export function shortUnitHash(hash: string): string {
  return hash.slice(0, 7);
}

/** A parsed unit file in canonical form. */
export interface UnitFile {
  /** The options of the canonical text: sections grouped, names and values trimmed. */
  options: UnitOption[];
  /** The canonical serialisation: `serializeUnitFile(options)`, and parsing it gives `options`. */
  text: string;
  /** SHA-1 of `text`. */
  hash: string;
}

const MAX_CANONICAL_ROUNDS = 4;

/**
 * Serialises and re-parses until the text stops changing. One round is not always enough: a
 * value whose last character is a backslash (`A=foo\ ` with a trailing space, or a continuation
 * at the very end of the file) serialises as a continuation line, so the stored text means
 * something else when read back (the agent, and systemd, read the stored text). The second
 * round settles it; the fixed point is what gets hashed, stored and deployed.
 */
function canonicalize(options: readonly UnitOption[], name: string | undefined): UnitFile {
  // Before serialising: options from the API have not been counted by the parser.
  if (options.length > MAX_UNIT_OPTIONS) throw tooManyOptions(name);
  let text = serializeUnitFile(options);
  for (let round = 0; round < MAX_CANONICAL_ROUNDS; round++) {
    const reparsed = parseUnitFile(text, name);
    const next = serializeUnitFile(reparsed);
    if (next === text) {
      return { options: reparsed, text, hash: sha1Hex(text) };
    }
    text = next;
  }
  throw new UnitFileError("unit file has no stable canonical form", 1, name);
}

/** Parses unit file text (a local file, or canonical text read back from etcd). */
export function loadUnitFile(text: string, name?: string): UnitFile {
  return canonicalize(parseUnitFile(text, name), name);
}

/**
 * Canonicalises options that did not come from the parser (the API's JSON body). They are
 * serialised and parsed again, as the original's validation did: a value holding a bare
 * newline, or a line over LINE_MAX, is a UnitFileError whose line refers to the canonical text.
 */
export function unitFileFromOptions(options: readonly UnitOption[], name?: string): UnitFile {
  return canonicalize(options, name);
}

/** `[Unit] Description`: the first one, as the original's list-unit-files shows; "" if none. */
export function unitDescription(options: readonly UnitOption[]): string {
  return options.find((o) => o.section === "Unit" && o.name === "Description")?.value ?? "";
}

/** Whether the unit has an `[Install]` section with at least one option (enabling, §8.6.4). */
export function hasInstallSection(options: readonly UnitOption[]): boolean {
  return options.some((o) => o.section === "Install");
}
