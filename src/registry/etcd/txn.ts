// Transactions: Compare and Op builders, and their JSON wire form.
import { b64, decodeKv, decodeKvs, encodeRange, int, type WireKeyValue } from "./codec.ts";
import type { Compare, CompareOp, DeleteOptions, DeleteResult, Op, OpResponse, PutOptions, PutResult, RangeOptions, RangeResult, Txn } from "./types.ts";

export const cmp = {
  createRevision: (key: string, op: CompareOp, revision: number, opts?: { prefix?: boolean }): Compare =>
    ({ target: "createRevision", key, op, value: revision, ...opts }),
  modRevision: (key: string, op: CompareOp, revision: number, opts?: { prefix?: boolean }): Compare =>
    ({ target: "modRevision", key, op, value: revision, ...opts }),
  version: (key: string, op: CompareOp, version: number, opts?: { prefix?: boolean }): Compare =>
    ({ target: "version", key, op, value: version, ...opts }),
  value: (key: string, op: CompareOp, value: string, opts?: { prefix?: boolean }): Compare =>
    ({ target: "value", key, op, value, ...opts }),
  /** Compare the key's lease ID ("0" for none). */
  lease: (key: string, op: CompareOp, leaseId: string, opts?: { prefix?: boolean }): Compare =>
    ({ target: "lease", key, op, value: leaseId, ...opts }),
};

export const op = {
  put: (key: string, value: string, opts?: PutOptions): Op => ({ type: "put", key, value, ...opts }),
  del: (key: string, opts?: DeleteOptions): Op => ({ type: "delete", key, ...opts }),
  get: (key: string, opts?: RangeOptions): Op => ({ type: "range", key, ...opts }),
};

const RESULT = { "=": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER" } as const;
const TARGET = { createRevision: "CREATE", modRevision: "MOD", version: "VERSION", value: "VALUE", lease: "LEASE" } as const;
const FIELD = { createRevision: "create_revision", modRevision: "mod_revision", version: "version", value: "value", lease: "lease" } as const;

export function encodeCompare(c: Compare): Record<string, unknown> {
  const w: Record<string, unknown> = { ...encodeRange(c.key, { prefix: c.prefix }), target: TARGET[c.target], result: RESULT[c.op] };
  w[FIELD[c.target]] = c.target === "value" ? b64(c.value) : String(c.value);
  return w;
}

export function encodeRangeRequest(key: string, o: RangeOptions): Record<string, unknown> {
  const w: Record<string, unknown> = encodeRange(key, o);
  if (o.limit) w.limit = String(o.limit);
  if (o.keysOnly) w.keys_only = true;
  if (o.countOnly) w.count_only = true;
  if (o.revision) w.revision = String(o.revision);
  if (o.sortByKey) {
    w.sort_order = "ASCEND";
    w.sort_target = "KEY";
  }
  return w;
}

export function encodePutRequest(key: string, value: string, o: PutOptions): Record<string, unknown> {
  const w: Record<string, unknown> = { key: b64(key), value: b64(value) };
  if (o.lease && o.lease !== "0") w.lease = o.lease;
  if (o.prevKv) w.prev_kv = true;
  return w;
}

export function encodeDeleteRequest(key: string, o: DeleteOptions): Record<string, unknown> {
  const w: Record<string, unknown> = encodeRange(key, o);
  if (o.prevKv) w.prev_kv = true;
  return w;
}

function encodeOp(o: Op): Record<string, unknown> {
  switch (o.type) {
    case "put":
      return { request_put: encodePutRequest(o.key, o.value, o) };
    case "delete":
      return { request_delete_range: encodeDeleteRequest(o.key, o) };
    case "range":
      return { request_range: encodeRangeRequest(o.key, o) };
  }
}

export function encodeTxn(t: Txn): Record<string, unknown> {
  return { compare: t.compare.map(encodeCompare), success: t.success.map(encodeOp), failure: (t.failure ?? []).map(encodeOp) };
}

/** A txn with only range ops reads; anything else writes. */
export function txnIsReadOnly(t: Txn): boolean {
  return t.success.every((o) => o.type === "range") && (t.failure ?? []).every((o) => o.type === "range");
}

export interface WireHeader {
  header?: { revision?: string };
}
export interface WireRange extends WireHeader {
  kvs?: WireKeyValue[];
  count?: string;
  more?: boolean;
}
export interface WirePut extends WireHeader {
  prev_kv?: WireKeyValue;
}
export interface WireDelete extends WireHeader {
  deleted?: string;
  prev_kvs?: WireKeyValue[];
}
interface WireOpResponse {
  response_range?: WireRange;
  response_put?: WirePut;
  response_delete_range?: WireDelete;
}

export function decodeRange(w: WireRange): RangeResult {
  return { kvs: decodeKvs(w.kvs), count: int(w.count), more: w.more ?? false, revision: int(w.header?.revision) };
}

export function decodePut(w: WirePut): PutResult {
  const r: PutResult = { revision: int(w.header?.revision) };
  if (w.prev_kv) r.prevKv = decodeKv(w.prev_kv);
  return r;
}

export function decodeDelete(w: WireDelete): DeleteResult {
  return { revision: int(w.header?.revision), deleted: int(w.deleted), prevKvs: decodeKvs(w.prev_kvs) };
}

/** The response to `o`; the op tells which kind to expect, as empty fields may be omitted. */
export function decodeOpResponse(w: WireOpResponse, o: Op): OpResponse {
  switch (o.type) {
    case "range":
      return { type: "range", ...decodeRange(w.response_range ?? {}) };
    case "put":
      return { type: "put", ...decodePut(w.response_put ?? {}) };
    case "delete":
      return { type: "delete", ...decodeDelete(w.response_delete_range ?? {}) };
  }
}

export interface WireTxn extends WireHeader {
  succeeded?: boolean;
  responses?: WireOpResponse[];
}
