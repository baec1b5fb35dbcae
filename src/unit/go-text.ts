// Go's notions of whitespace and quoting. The original's messages and trimming rules were
// defined by Go's standard library, and JavaScript's differ in small ways (String.prototype.trim
// strips U+FEFF but not U+0085; JSON.stringify escapes differently from %q), so parsing and
// error texts use these instead.

/** unicode.IsSpace: Latin-1 spaces plus the Unicode White_Space property. */
export function goIsSpace(cp: number): boolean {
  switch (cp) {
    case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x20: case 0x85: case 0xa0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200a;
  }
}

/** strings.TrimSpace. */
export function goTrimSpace(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && goIsSpace(s.codePointAt(start)!)) start += 1;
  while (end > start && goIsSpace(s.codePointAt(end - 1)!)) end -= 1;
  return s.slice(start, end);
}

/** strings.Fields: split around runs of whitespace, no empty fields. */
export function goFields(s: string): string[] {
  const fields: string[] = [];
  let current = "";
  for (const ch of s) {
    if (goIsSpace(ch.codePointAt(0)!)) {
      if (current !== "") fields.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  if (current !== "") fields.push(current);
  return fields;
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

function escapeRune(ch: string, quote: string): string {
  const cp = ch.codePointAt(0)!;
  if (ch === quote || ch === "\\") return `\\${ch}`;
  if (cp >= 0x20 && cp < 0x7f) return ch;
  switch (ch) {
    case "\x07": return "\\a";
    case "\b": return "\\b";
    case "\f": return "\\f";
    case "\n": return "\\n";
    case "\r": return "\\r";
    case "\t": return "\\t";
    case "\v": return "\\v";
  }
  if (cp < 0x80) return `\\x${cp.toString(16).padStart(2, "0")}`;
  if (PRINTABLE.test(ch)) return ch;
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, "0")}`;
  return `\\U${cp.toString(16).padStart(8, "0")}`;
}

/** fmt's %q of a string (strconv.Quote). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) out += escapeRune(ch, '"');
  return `${out}"`;
}

/** fmt's %q of a rune (strconv.QuoteRune). */
export function goQuoteRune(ch: string): string {
  return `'${escapeRune(ch, "'")}'`;
}
