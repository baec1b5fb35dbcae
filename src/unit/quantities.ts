// Amounts of memory and CPU as systemd writes them (MemoryMax=512M, CPUQuota=50%) and as fleet
// shows them. Memory is counted in bytes, CPU in thousandths of a CPU ("millis": 500 is half a
// CPU), both as integers so sums and comparisons are exact. Parsers return the amount or a
// problem in words (meant to follow the value in a message); they never throw.

export type Parsed = { ok: true; value: number } | { ok: false; problem: string };

const KIB = 1024;
/** systemd's parse_size suffixes (base 1024), largest first. */
const SIZE_SUFFIXES: readonly [string, number][] = [
  ["E", KIB ** 6], ["P", KIB ** 5], ["T", KIB ** 4], ["G", KIB ** 3], ["M", KIB ** 2], ["K", KIB], ["B", 1], ["", 1],
];
const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

const SIZE_RULE = "bytes, or a number with a K, M, G, T, P or E suffix, e.g. 512M or 1.5G";
const CPU_RULE = "CPUs such as 0.5 or 2, thousandths of one such as 500m, or a percentage of one such as 50%";

/**
 * A size as systemd's parse_size reads it: digits with an optional fraction and suffix (base
 * 1024), rounded down to whole bytes. `infinity` and percentages are not sizes: callers that
 * accept them look for them first.
 */
export function parseSize(text: string): Parsed {
  const s = text.trim();
  const suffix = SIZE_SUFFIXES.find(([sfx]) => sfx !== "" && s.endsWith(sfx)) ?? ["", 1];
  const digits = s.slice(0, s.length - suffix[0].length).trimEnd();
  const m = DECIMAL.exec(digits);
  if (!m) return { ok: false, problem: `is not a size (${SIZE_RULE})` };
  const whole = Number(m[1]);
  const fraction = m[2] === undefined ? 0 : Number(`0.${m[2]}`);
  const bytes = Math.floor(whole * suffix[1] + fraction * suffix[1]);
  if (!Number.isSafeInteger(bytes)) return { ok: false, problem: "is too large" };
  return { ok: true, value: bytes };
}

/** The parts per unit of systemd's parse_permyriad: `%`, `‰` and `‱`. */
const RATIO_SUFFIXES: readonly [string, number][] = [["%", 100], ["‰", 1000], ["‱", 10000]];

/** A share written as systemd writes CPUQuota= (50%, 125%, 5‰), in thousandths of one CPU. */
export function parsePercentOfCpu(text: string): Parsed | undefined {
  const s = text.trim();
  const suffix = RATIO_SUFFIXES.find(([sfx]) => s.endsWith(sfx));
  if (suffix === undefined) return undefined;
  const m = DECIMAL.exec(s.slice(0, -suffix[0].length).trimEnd());
  if (!m) return { ok: false, problem: `is not a percentage (${CPU_RULE})` };
  const millis = Math.round((Number(m[0]) * 1000) / suffix[1]);
  if (!Number.isSafeInteger(millis)) return { ok: false, problem: "is too large" };
  return { ok: true, value: millis };
}

/** An amount of CPU: `2`, `0.5`, `500m` or `50%` (of one CPU), in thousandths of a CPU. */
export function parseCpu(text: string): Parsed {
  const s = text.trim();
  const ratio = parsePercentOfCpu(s);
  if (ratio !== undefined) return ratio;
  if (s.endsWith("m")) {
    const m = /^\d+$/.exec(s.slice(0, -1));
    if (!m) return { ok: false, problem: `is not an amount of CPU (${CPU_RULE})` };
    const millis = Number(m[0]);
    return Number.isSafeInteger(millis) ? { ok: true, value: millis } : { ok: false, problem: "is too large" };
  }
  const m = DECIMAL.exec(s);
  if (!m) return { ok: false, problem: `is not an amount of CPU (${CPU_RULE})` };
  const millis = Math.round(Number(m[0]) * 1000);
  if (!Number.isSafeInteger(millis)) return { ok: false, problem: "is too large" };
  return { ok: true, value: millis };
}

/** Bytes as systemd shows them: the largest base-1024 suffix, at most one decimal (1.5G, 512M, 100B). */
export function formatBytes(bytes: number): string {
  for (const [sfx, size] of SIZE_SUFFIXES) {
    if (sfx === "B" || sfx === "") break;
    if (bytes >= size) {
      const shown = Math.floor((bytes / size) * 10) / 10;
      return `${Number.isInteger(shown) ? shown : shown.toFixed(1)}${sfx}`;
    }
  }
  return `${bytes}B`;
}

/** Thousandths of a CPU as a number of CPUs: 500 is "0.5", 2000 is "2", 125 is "0.125". */
export function formatCpu(millis: number): string {
  return String(millis / 1000);
}

/** "0.5 CPU", "2 CPUs". */
export function formatCpus(millis: number): string {
  return `${formatCpu(millis)} CPU${millis <= 1000 ? "" : "s"}`;
}
