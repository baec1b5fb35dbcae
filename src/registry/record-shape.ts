// Reading a parsed JSON value field by field. A mismatch throws ShapeError with the field's name
// and the problem; the decoders in records.ts turn it into a typed failure, so nothing outside
// the registry layer ever sees these throws.
import { show } from "./record-values.ts";

export class ShapeError extends Error {
  override readonly name = "ShapeError";
}

/** Throws the problem, if there is one. */
export function check(problem: string | undefined, field?: string): void {
  if (problem !== undefined) throw new ShapeError(field === undefined ? problem : `field "${field}": ${problem}`);
}

export function describeJson(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `the string ${show(v, 40)}`;
  if (typeof v === "object") return "an object";
  return `the ${typeof v} ${String(v).slice(0, 40)}`;
}

export type JsonObject = Record<string, unknown>;

export function asObject(v: unknown, what = "the value"): JsonObject {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new ShapeError(`${what} is ${describeJson(v)}, not a JSON object`);
  return v as JsonObject;
}

function own(o: JsonObject, field: string): unknown {
  return Object.hasOwn(o, field) ? o[field] : undefined;
}

export function stringField(o: JsonObject, field: string, opts: { nonEmpty?: boolean } = {}): string {
  const v = own(o, field);
  if (typeof v !== "string") throw new ShapeError(`field "${field}" is ${v === undefined ? "missing" : describeJson(v)}, not a string`);
  if (opts.nonEmpty && v === "") throw new ShapeError(`field "${field}" is empty`);
  return v;
}

export function booleanField(o: JsonObject, field: string): boolean {
  const v = own(o, field);
  if (typeof v !== "boolean") throw new ShapeError(`field "${field}" is ${v === undefined ? "missing" : describeJson(v)}, not true or false`);
  return v;
}

export function optionalBooleanField(o: JsonObject, field: string): boolean | undefined {
  return own(o, field) === undefined ? undefined : booleanField(o, field);
}

export function optionalStringField(o: JsonObject, field: string): string | undefined {
  return own(o, field) === undefined ? undefined : stringField(o, field);
}

/** A count of bytes or thousandths of a CPU: a non-negative safe integer. */
export function amountField(o: JsonObject, field: string): number {
  const v = own(o, field);
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new ShapeError(`field "${field}" is ${v === undefined ? "missing" : describeJson(v)}, not a whole number of 0 or more`);
  }
  return v;
}

export function optionalAmountField(o: JsonObject, field: string): number | undefined {
  return own(o, field) === undefined ? undefined : amountField(o, field);
}

export function oneOf<T extends string>(o: JsonObject, field: string, allowed: readonly T[]): T {
  const v = stringField(o, field);
  if (!(allowed as readonly string[]).includes(v)) throw new ShapeError(`field "${field}" is ${show(v)}, not one of ${allowed.join(", ")}`);
  return v as T;
}

export function optionalOneOf<T extends string>(o: JsonObject, field: string, allowed: readonly T[]): T | undefined {
  return own(o, field) === undefined ? undefined : oneOf(o, field, allowed);
}

export function stringList(v: unknown, what: string): string[] {
  if (!Array.isArray(v)) throw new ShapeError(`${what} is ${describeJson(v)}, not a list of strings`);
  for (const item of v) if (typeof item !== "string") throw new ShapeError(`${what} holds ${describeJson(item)}, not only strings`);
  return [...(v as string[])];
}

export function stringListField(o: JsonObject, field: string): string[] {
  return stringList(own(o, field), `field "${field}"`);
}

/** A map of strings to strings, copied into a fresh object. */
export function stringMap(v: unknown, what: string): Record<string, string> {
  const o = asObject(v, what);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(o)) {
    if (k === "") throw new ShapeError(`${what} has an empty key`);
    if (typeof val !== "string") throw new ShapeError(`${what}: key ${show(k)} holds ${describeJson(val)}, not a string`);
    Object.defineProperty(out, k, { value: val, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** A map of strings to lists of strings, copied into a fresh object. */
export function stringListMap(v: unknown, what: string): Record<string, string[]> {
  const o = asObject(v, what);
  const out: Record<string, string[]> = {};
  for (const [k, val] of Object.entries(o)) {
    Object.defineProperty(out, k, { value: stringList(val, `${what}: key ${show(k)}`), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

export function field(o: JsonObject, name: string): unknown {
  return own(o, name);
}
