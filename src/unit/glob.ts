// Glob patterns with Go path.Match semantics, used by Conflicts and Replaces (§3.3): `*` matches
// any run without `/`, `?` one character other than `/`, `[...]` a class (ranges, `^` negation,
// `\` escapes), and `\` escapes outside classes. Matching goes chunk by chunk (a chunk is the
// text between stars) and takes the leftmost place where each chunk fits, as Go does, rather
// than searching every split: the two differ for some patterns whose classes match `/`.
//
// Characters are compared as code points. Go walks bytes when it skips ahead for a `*`, which
// only differs for non-ASCII names, and valid unit names are ASCII.

class BadPattern extends Error {}

interface Chunk {
  star: boolean;
  chunk: string[];
  rest: string[];
}

/** Splits off leading stars and the chunk up to the next star outside a class. */
function scanChunk(pattern: string[]): Chunk {
  let start = 0;
  while (start < pattern.length && pattern[start] === "*") start += 1;
  let inClass = false;
  let end = start;
  for (; end < pattern.length; end++) {
    const c = pattern[end];
    if (c === "\\") {
      if (end + 1 < pattern.length) end += 1;
    } else if (c === "[") {
      inClass = true;
    } else if (c === "]") {
      inClass = false;
    } else if (c === "*" && !inClass) {
      break;
    }
  }
  return { star: start > 0, chunk: pattern.slice(start, end), rest: pattern.slice(end) };
}

/**
 * Matches one chunk against the start of `s`, returning what is left of `s`, or null when it
 * does not match. The whole chunk is always read, so a malformed chunk throws BadPattern even
 * when `s` has already failed to match.
 */
function matchChunk(chunk: string[], s: string[]): string[] | null {
  let failed = false;
  let ci = 0;
  let si = 0;

  const classChar = (): number => {
    let c = chunk[ci];
    if (c === undefined || c === "-" || c === "]") throw new BadPattern();
    if (c === "\\") {
      ci += 1;
      c = chunk[ci];
      if (c === undefined) throw new BadPattern();
    }
    ci += 1;
    // A class must still be closed by something after this character.
    if (ci >= chunk.length) throw new BadPattern();
    return c.codePointAt(0)!;
  };

  while (ci < chunk.length) {
    if (!failed && si >= s.length) failed = true;
    const c = chunk[ci]!;
    if (c === "[") {
      const r = failed ? -1 : s[si]!.codePointAt(0)!;
      if (!failed) si += 1;
      ci += 1;
      let negated = false;
      if (chunk[ci] === "^") {
        negated = true;
        ci += 1;
      }
      let matched = false;
      for (let ranges = 0; ; ranges++) {
        if (chunk[ci] === "]" && ranges > 0) {
          ci += 1;
          break;
        }
        const lo = classChar();
        let hi = lo;
        if (chunk[ci] === "-") {
          ci += 1;
          hi = classChar();
        }
        if (lo <= r && r <= hi) matched = true;
      }
      if (matched === negated) failed = true;
    } else if (c === "?") {
      if (!failed) {
        if (s[si] === "/") failed = true;
        si += 1;
      }
      ci += 1;
    } else {
      let literal = c;
      if (c === "\\") {
        ci += 1;
        if (ci >= chunk.length) throw new BadPattern();
        literal = chunk[ci]!;
      }
      if (!failed) {
        if (s[si] !== literal) failed = true;
        si += 1;
      }
      ci += 1;
    }
  }
  return failed ? null : s.slice(si);
}

/** Whether Go's path.Match would accept the pattern's syntax (ErrBadPattern otherwise). */
export function isValidGlob(pattern: string): boolean {
  let rest = Array.from(pattern);
  try {
    while (rest.length > 0) {
      const scanned = scanChunk(rest);
      matchChunk(scanned.chunk, []);
      rest = scanned.rest;
    }
  } catch (err) {
    if (err instanceof BadPattern) return false;
    throw err;
  }
  return true;
}

/** Go's path.Match(pattern, name), where a malformed pattern never matches. */
export function globMatch(pattern: string, name: string): boolean {
  if (!isValidGlob(pattern)) return false;
  let rest = Array.from(pattern);
  let s = Array.from(name);
  next: while (rest.length > 0) {
    const { star, chunk, rest: after } = scanChunk(rest);
    rest = after;
    if (star && chunk.length === 0) return !s.includes("/");
    const here = matchChunk(chunk, s);
    // The last chunk must consume the whole name; earlier ones may leave the rest to later.
    if (here !== null && (here.length === 0 || rest.length > 0)) {
      s = here;
      continue;
    }
    if (star) {
      for (let i = 0; i < s.length && s[i] !== "/"; i++) {
        const skipped = matchChunk(chunk, s.slice(i + 1));
        if (skipped === null || (rest.length === 0 && skipped.length > 0)) continue;
        s = skipped;
        continue next;
      }
    }
    return false;
  }
  return s.length === 0;
}
