// JSON output as fleet's Go server wrote it: no trailing newline, and `<`, `>`, `&`, U+2028 and
// U+2029 escaped as \u003c etc. so a response can never be mistaken for HTML or script.

const ESCAPES: Record<string, string> = {
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

/**
 * Encodes a value like Go's json.Marshal. Field order is the caller's: build objects with keys
 * in the order fleet emits them. The characters escaped here occur only inside JSON strings,
 * so replacing them in the whole text cannot touch the structure.
 */
export function encodeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => ESCAPES[c] ?? c);
}

/**
 * Builds an object from [key, value] pairs in order, leaving out empty values the way Go's
 * `omitempty` does: "", false, 0, null/undefined, and empty arrays or objects.
 */
export function omitEmpty(pairs: [string, unknown][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of pairs) {
    if (!isEmpty(v)) out[k] = v;
  }
  return out;
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === "" || v === false || v === 0) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.keys(v as object).length === 0;
  return false;
}

/** Go encodes map keys sorted: so do we, for metadata maps. */
export function sortedRecord(rec: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(rec).sort()) out[k] = rec[k] as string;
  return out;
}

export const JSON_CONTENT_TYPE = "application/json";

export function jsonResponse(status: number, value: unknown, headers?: Record<string, string>): Response {
  return new Response(encodeJson(value), {
    status,
    headers: { "Content-Type": JSON_CONTENT_TYPE, ...headers },
  });
}
