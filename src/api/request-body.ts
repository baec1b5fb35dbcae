// Request bodies decoded the way fleet's Go server decoded them: JSON keys matched
// case-insensitively (the last match wins), unknown keys ignored, null leaves a field empty,
// and type mismatches reported with Go's decoder wording.
import { ApiError } from "./errors.ts";
import { machineIdProblem } from "../registry/record-values.ts";
import type { UnitOption } from "../unit/types.ts";

/** The fields of a PUT /units/{name} body that the server uses ("" when absent). */
export interface UnitBody {
  name: string;
  desiredState: string;
  options: UnitOption[];
}

export type MetadataOpKind = "add" | "remove" | "replace";

export interface MetadataOp {
  op: MetadataOpKind;
  machineId: string;
  key: string;
  /** "" for remove. */
  value: string;
}

/** The 413 for a body over the limit; the limit is named so the client knows what to change. */
function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, `request body is larger than the limit of ${maxBytes} bytes (api_max_request_bytes)`);
}

/**
 * Checks a request's Content-Length before anything reads the body: 400 when it is not a
 * number, 413 when it is over the limit (the claim is believed: a client that announces a huge
 * body is refused before sending it). Fetch joins repeated headers with ", "; equal repeats are
 * one length, as in Go's server.
 */
export function checkContentLength(headers: Headers, maxBytes: number): void {
  const raw = headers.get("content-length");
  if (raw === null) return;
  const values = new Set(raw.split(",").map((v) => v.trim()));
  const [only] = values;
  if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only)) {
    throw new ApiError(400, `invalid Content-Length ${JSON.stringify(raw.slice(0, 64))}`);
  }
  if (Number(only) > maxBytes) throw tooLarge(maxBytes);
}

/**
 * The body as text, read as it streams and refused with 413 as soon as it passes the limit, so
 * a huge body (chunked, or longer than its Content-Length said) is never held whole.
 */
export async function readRequestBody(req: Request, maxBytes: number): Promise<string> {
  checkContentLength(req.headers, maxBytes);
  if (req.body === null) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  // Like Request.text(): UTF-8, a leading BOM dropped, invalid bytes replaced.
  return new TextDecoder().decode(Buffer.concat(chunks, total));
}

/** 415 unless exactly one Content-Type is given and its media type is application/json. */
export function checkJsonContentType(headers: Headers): void {
  const raw = headers.get("content-type");
  // Fetch joins repeated headers with ", "; a single media type never holds an unquoted comma.
  const values = raw === null ? [] : splitOutsideQuotes(raw, ",");
  if (values.length !== 1) throw new ApiError(415, `expected 1 Content-Type, got ${values.length}`);
  if (mediaType(values[0] as string) !== "application/json") {
    throw new ApiError(415, "only acceptable Content-Type is application/json");
  }
}

/** The lower-cased media type, or undefined when the value does not parse (Go's mime rules, simplified). */
function mediaType(value: string): string | undefined {
  const [type, ...params] = splitOutsideQuotes(value, ";").map((s) => s.trim());
  if (!type || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(type)) return undefined;
  for (const p of params) {
    if (p === "") continue;
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+=("([^"\\]|\\.)*"|[!#$%&'*+.^_`|~0-9A-Za-z-]+)$/.test(p)) return undefined;
  }
  return type.toLowerCase();
}

function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (quoted && c === "\\") {
      cur += c + (s[i + 1] ?? "");
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted) {
      out.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

/** Parses a JSON body; Go's Decoder says `EOF` for an empty one. Throws a plain Error. */
function parseJson(text: string): unknown {
  if (text.trim() === "") throw new Error("EOF");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`invalid JSON: ${(err as Error).message.replace(/^JSON Parse error: /, "")}`);
  }
}

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (typeof v === "boolean") return "bool";
  return typeof v;
}

function typeError(v: unknown, target: string): Error {
  return new Error(`json: cannot unmarshal ${kindOf(v)} into ${target}`);
}

/** The object's values under the given field names, matched case-insensitively. */
function fields(obj: Record<string, unknown>, names: readonly string[]): Map<string, unknown> {
  const byLower = new Map(names.map((n) => [n.toLowerCase(), n]));
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(obj)) {
    const name = byLower.get(k.toLowerCase());
    if (name !== undefined) out.set(name, v);
  }
  return out;
}

function stringField(v: unknown, target: string): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw typeError(v, `Go struct field ${target} of type string`);
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Decodes a Unit body; any problem is 400 `unable to decode body: <reason>`. */
export function decodeUnitBody(text: string): UnitBody {
  try {
    const v = parseJson(text);
    if (v === null) return { name: "", desiredState: "", options: [] };
    if (!isObject(v)) throw typeError(v, "Go value of type schema.Unit");
    const f = fields(v, ["currentState", "desiredState", "machineID", "name", "options"]);
    // Read-only fields are ignored, but like Go they must still have the right type.
    stringField(f.get("currentState"), "Unit.currentState");
    stringField(f.get("machineID"), "Unit.machineID");
    return {
      name: stringField(f.get("name"), "Unit.name"),
      desiredState: stringField(f.get("desiredState"), "Unit.desiredState"),
      options: decodeOptions(f.get("options")),
    };
  } catch (err) {
    throw new ApiError(400, `unable to decode body: ${(err as Error).message}`);
  }
}

function decodeOptions(v: unknown): UnitOption[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw typeError(v, "Go struct field Unit.options of type []*schema.UnitOption");
  return v.map((o) => {
    if (!isObject(o)) throw typeError(o, "Go struct field Unit.options of type schema.UnitOption");
    const f = fields(o, ["name", "section", "value"]);
    return {
      section: stringField(f.get("section"), "UnitOption.options.section"),
      name: stringField(f.get("name"), "UnitOption.options.name"),
      value: stringField(f.get("value"), "UnitOption.options.value"),
    };
  });
}

const METADATA_PATH = /^\/([^/]+)\/metadata\/([A-Za-z0-9_.-]+)$/;

/**
 * Decodes and validates every PATCH /machines operation before any is applied (400 with the
 * original's messages). The value is fleet's nested `{"value": "..."}` or, as JSON Patch and
 * the original's API doc suggest, a bare string (quirk Q13, compatibility.md §7.6).
 */
export function decodeMetadataOps(text: string): MetadataOp[] {
  let raw: { op: string; path: string; value: string }[];
  try {
    const v = parseJson(text);
    if (v === null) return [];
    if (!Array.isArray(v)) throw typeError(v, "Go value of type []api.machineMetadataOp");
    raw = v.map((o) => {
      if (o === null) return { op: "", path: "", value: "" };
      if (!isObject(o)) throw typeError(o, "Go value of type api.machineMetadataOp");
      const f = fields(o, ["op", "path", "value"]);
      return {
        op: stringField(f.get("op"), "machineMetadataOp.op"),
        path: stringField(f.get("path"), "machineMetadataOp.Path"),
        value: metadataValue(f.get("value")),
      };
    });
  } catch (err) {
    throw new ApiError(400, (err as Error).message);
  }
  return raw.map(({ op, path, value }) => {
    if (op !== "add" && op !== "remove" && op !== "replace") {
      throw new ApiError(400, "invalid op: expect add, remove, or replace");
    }
    const m = METADATA_PATH.exec(path);
    if (!m) throw new ApiError(400, "machine metadata path invalid");
    const idProblem = machineIdProblem(m[1] as string);
    if (idProblem) throw new ApiError(400, `machine metadata path invalid: ${idProblem}`);
    if (op !== "remove" && value === "") {
      throw new ApiError(400, "invalid value: add and replace require a value");
    }
    return { op, machineId: m[1] as string, key: m[2] as string, value: op === "remove" ? "" : value };
  });
}

function metadataValue(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (!isObject(v)) throw typeError(v, "Go struct field machineMetadataOp.Value of type struct { Value string }");
  return stringField(fields(v, ["value"]).get("value"), "machineMetadataOp.Value.Value");
}
