// Wire encoding of the JSON gateway: UTF-8 strings <-> base64, int64 strings <-> numbers, and
// key values whose default-valued fields are omitted.
import type { KeyValue } from "./types.ts";

/** A JSON key-value as the gateway sends it; any field at its default value is absent. */
export interface WireKeyValue {
  key?: string;
  value?: string;
  create_revision?: string | number;
  mod_revision?: string | number;
  version?: string | number;
  lease?: string | number;
}

const NON_ASCII = /[^\x00-\x7f]/;

// Keys and values are almost always ASCII, where atob/btoa (byte = char) are about twice as fast
// as going through a Buffer; anything else takes the UTF-8 path.
export function b64(s: string): string {
  return NON_ASCII.test(s) ? Buffer.from(s, "utf8").toString("base64") : btoa(s);
}

export function unb64(s: string | undefined): string {
  if (!s) return "";
  const bin = atob(s);
  return NON_ASCII.test(bin) ? Buffer.from(s, "base64").toString("utf8") : bin;
}

/** An int64 field (a string on the wire, absent when 0) as a number. */
export function int(v: string | number | undefined): number {
  return v === undefined ? 0 : Number(v);
}

/** An int64 identifier (lease ID) kept exact as a decimal string. */
export function id(v: string | number | undefined): string {
  return v === undefined ? "0" : String(v);
}

export function decodeKv(w: WireKeyValue): KeyValue {
  return {
    key: unb64(w.key),
    value: unb64(w.value),
    createRevision: int(w.create_revision),
    modRevision: int(w.mod_revision),
    version: int(w.version),
    lease: id(w.lease),
  };
}

export function decodeKvs(ws: WireKeyValue[] | undefined): KeyValue[] {
  return ws ? ws.map(decodeKv) : [];
}

/** The first key after every key that starts with `prefix`, as bytes; [0] means "no end". */
export function prefixEndBytes(prefix: Uint8Array): Uint8Array {
  const end = prefix.slice();
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0]);
}

/**
 * The range end covering every key that starts with `prefix`, as a string. Incrementing the last
 * code point is exact for UTF-8 keys (UTF-8 preserves code point order); an empty prefix, or one
 * made only of U+10FFFF, gives "\0", etcd's "to the end of the keyspace".
 */
export function prefixEnd(prefix: string): string {
  const cps = Array.from(prefix);
  while (cps.length > 0) {
    const cp = cps.pop()!.codePointAt(0)!;
    if (cp < 0x10ffff) {
      // Surrogates are not characters; the next one after them is U+E000.
      const next = cp + 1 === 0xd800 ? 0xe000 : cp + 1;
      return cps.join("") + String.fromCodePoint(next);
    }
  }
  return "\0";
}

/** key and range_end, base64, for a single key, a prefix or an explicit range. */
export function encodeRange(key: string, opts: { prefix?: boolean; rangeEnd?: string }): { key: string; range_end?: string } {
  if (opts.prefix) {
    // An empty prefix means every key: etcd wants key "\0" and range_end "\0" for that.
    if (key === "") return { key: "AA==", range_end: "AA==" };
    const bytes = Buffer.from(key, "utf8");
    return { key: bytes.toString("base64"), range_end: Buffer.from(prefixEndBytes(bytes)).toString("base64") };
  }
  if (opts.rangeEnd !== undefined) return { key: b64(key), range_end: b64(opts.rangeEnd) };
  return { key: b64(key) };
}
