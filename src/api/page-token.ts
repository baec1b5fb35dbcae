// Pagination tokens (compatibility.md §7.7): base64url-with-padding of uint16le(limit) and
// uint16le(page), always 8 characters; decoding errors carry Go's messages, since clients and
// the original's tests see them.
import { ApiError } from "./errors.ts";

export interface PageToken {
  limit: number;
  page: number;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const DECODE = new Map([...ALPHABET].map((c, i) => [c.charCodeAt(0), i]));
const PAD = "=".charCodeAt(0);
const CR = 13;
const LF = 10;

export function encodePageToken(tok: PageToken): string {
  const bytes = new Uint8Array([tok.limit & 0xff, (tok.limit >> 8) & 0xff, tok.page & 0xff, (tok.page >> 8) & 0xff]);
  return Buffer.from(bytes).toString("base64url") + "==";
}

/** Thrown with Go's `illegal base64 data at input byte N` message. */
class CorruptInput extends Error {
  constructor(offset: number) {
    super(`illegal base64 data at input byte ${offset}`);
  }
}

/**
 * Go's base64.URLEncoding.DecodeString, offsets of errors included: padding is required,
 * CR and LF are skipped, anything after the padding is an error.
 */
export function decodeBase64UrlPadded(text: string): Uint8Array {
  const src = Buffer.from(text, "utf8");
  const out: number[] = [];
  let si = 0;
  while (si < src.length) {
    const buf = [0, 0, 0, 0];
    let dlen = 4;
    let j = 0;
    for (; j < 4; j++) {
      if (si === src.length) {
        if (j === 0) return Uint8Array.from(out);
        throw new CorruptInput(si - j);
      }
      const c = src[si] as number;
      si++;
      const v = DECODE.get(c);
      if (v !== undefined) {
        buf[j] = v;
        continue;
      }
      if (c === CR || c === LF) {
        j--;
        continue;
      }
      if (c !== PAD) throw new CorruptInput(si - 1);
      // Padding: only after two or three symbols, and "==" must be complete.
      if (j < 2) throw new CorruptInput(si - 1);
      if (j === 2) {
        while (si < src.length && (src[si] === CR || src[si] === LF)) si++;
        if (si === src.length) throw new CorruptInput(src.length);
        if (src[si] !== PAD) throw new CorruptInput(si - 1);
        si++;
      }
      while (si < src.length && (src[si] === CR || src[si] === LF)) si++;
      if (si < src.length) throw new CorruptInput(si);
      dlen = j;
      break;
    }
    const val = ((buf[0] as number) << 18) | ((buf[1] as number) << 12) | ((buf[2] as number) << 6) | (buf[3] as number);
    const bytes = [(val >> 16) & 0xff, (val >> 8) & 0xff, val & 0xff];
    out.push(...bytes.slice(0, dlen - 1));
    if (dlen < 4) break;
  }
  return Uint8Array.from(out);
}

/** Decodes a token as the original did; Go's binary.Read errors for short input. */
export function decodePageToken(text: string): PageToken {
  const bytes = decodeBase64UrlPadded(text);
  if (bytes.length === 0) throw new Error("EOF");
  if (bytes.length < 4) throw new Error("unexpected EOF");
  return {
    limit: (bytes[0] as number) | ((bytes[1] as number) << 8),
    page: (bytes[2] as number) | ((bytes[3] as number) << 8),
  };
}

/**
 * The page a request asks for: `{limit: tokenLimit, page: 1}` without a token, or the decoded
 * `nextPageToken` query parameter. Every problem is a 400 with the original's message.
 */
export function requestedPage(params: URLSearchParams, tokenLimit: number): PageToken {
  const values = params.getAll("nextPageToken");
  if (values.length === 0) return { limit: tokenLimit, page: 1 };
  if (values.length > 1) throw new ApiError(400, "too many values for page token");
  let tok: PageToken;
  try {
    tok = decodePageToken(values[0] as string);
  } catch (err) {
    throw new ApiError(400, (err as Error).message);
  }
  if (tok.limit !== tokenLimit) throw new ApiError(400, `token limit must be ${tokenLimit}`);
  if (tok.page === 0) throw new ApiError(400, "token page must be greater than zero");
  return tok;
}

export interface Page<T> {
  items: T[];
  /** The token of the next page; absent on the last page. */
  nextPageToken?: string;
}

/**
 * One page of `all`: items [(page-1)*limit, page*limit). The original also returned a token
 * when the last page was exactly full, so clients fetched one more, empty page (quirk Q14).
 * Here a token is given only when more items exist; clients still accept an empty page, which
 * a concurrent delete can produce anyway.
 */
export function paginate<T>(all: readonly T[], tok: PageToken): Page<T> {
  const start = (tok.page - 1) * tok.limit;
  const end = tok.page * tok.limit;
  const items = all.slice(start, end);
  const nextPage = tok.page + 1;
  if (end < all.length && nextPage <= 0xffff) {
    return { items, nextPageToken: encodePageToken({ limit: tok.limit, page: nextPage }) };
  }
  return { items };
}
