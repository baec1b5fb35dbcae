// Go-style duration strings ("30s", "1m30s", "500ms", "1.5h"), the format fleet's agent_ttl
// always used, so existing configs keep working.

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "\u00b5s": 1e-3, // micro sign
  "\u03bcs": 1e-3, // Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /^(\d*)(?:\.(\d*))?([a-z\u00b5\u03bc]+)/;

/** A human explanation of a bad duration, shaped to follow a key name ("agent_ttl: ..."). */
export function durationProblem(text: string): string {
  return `${JSON.stringify(text)} is not a duration (e.g. "30s", "1m30s")`;
}

/**
 * Parses a Go duration string into milliseconds (fractional below 1 ms). A sign is allowed,
 * and "0" needs no unit; every other number needs one. Throws a RangeError naming the text.
 */
export function parseDuration(text: string): number {
  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") throw new RangeError(durationProblem(text));
  let total = 0;
  while (rest !== "") {
    const m = PART.exec(rest);
    const whole = m?.[1] ?? "";
    const frac = m?.[2] ?? "";
    const unitMs = m ? UNIT_MS[m[3] ?? ""] : undefined;
    if (!m || unitMs === undefined || (whole === "" && frac === "")) {
      throw new RangeError(durationProblem(text));
    }
    total += Number(`${whole || "0"}.${frac || "0"}`) * unitMs;
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}
