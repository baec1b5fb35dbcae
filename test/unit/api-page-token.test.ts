import { describe, expect, test } from "bun:test";
import { ApiError } from "../../src/api/errors.ts";
import { decodeBase64UrlPadded, decodePageToken, encodePageToken, paginate, requestedPage } from "../../src/api/page-token.ts";

describe("page token encoding", () => {
  test("the reference examples", () => {
    expect(encodePageToken({ limit: 100, page: 2 })).toBe("ZAACAA==");
    expect(encodePageToken({ limit: 100, page: 3 })).toBe("ZAADAA==");
    expect(encodePageToken({ limit: 19, page: 11852 })).toBe("EwBMLg==");
    expect(decodePageToken("ZAACAA==")).toEqual({ limit: 100, page: 2 });
    expect(decodePageToken("EwBMLg==")).toEqual({ limit: 19, page: 11852 });
  });

  test("every token is 8 characters and round-trips", () => {
    for (const [limit, page] of [[1, 1], [65535, 65535], [100, 256], [255, 1]] as const) {
      const t = encodePageToken({ limit, page });
      expect(t).toHaveLength(8);
      expect(decodePageToken(t)).toEqual({ limit, page });
    }
  });
});

describe("Go's base64.URLEncoding errors", () => {
  const err = (s: string) => {
    try {
      decodeBase64UrlPadded(s);
    } catch (e) {
      return (e as Error).message;
    }
    return "no error";
  };

  test("offsets of illegal input as Go reports them", () => {
    expect(err("ZAAC*A==")).toBe("illegal base64 data at input byte 4");
    expect(err("ZAACAA=")).toBe("illegal base64 data at input byte 7");
    expect(err("ZAACAA")).toBe("illegal base64 data at input byte 4");
    expect(err("Z")).toBe("illegal base64 data at input byte 0");
    expect(err("=AAA")).toBe("illegal base64 data at input byte 0");
    expect(err("ZAACAA==x")).toBe("illegal base64 data at input byte 8");
    expect(err("ZAACAA=x")).toBe("illegal base64 data at input byte 6");
    expect(err("ZA+C")).toBe("illegal base64 data at input byte 2");
  });

  test("CR and LF are skipped; standard alphabet characters are not", () => {
    expect([...decodeBase64UrlPadded("ZAAC\nAA==")]).toEqual([100, 0, 2, 0]);
    expect(err("ZA/C")).toBe("illegal base64 data at input byte 2");
  });

  test("short input gives binary.Read's EOF errors", () => {
    expect(() => decodePageToken("")).toThrow(/^EOF$/);
    expect(() => decodePageToken("ZA==")).toThrow(/^unexpected EOF$/);
    expect(() => decodePageToken("ZAA=")).toThrow(/^unexpected EOF$/);
  });
});

describe("requestedPage", () => {
  const page = (query: string, limit = 100) => requestedPage(new URLSearchParams(query), limit);
  const status = (query: string, limit = 100) => {
    try {
      page(query, limit);
    } catch (e) {
      return [(e as ApiError).status, (e as ApiError).message];
    }
    return "ok";
  };

  test("no token means the first page at the server's limit", () => {
    expect(page("alt=json")).toEqual({ limit: 100, page: 1 });
    expect(page("nextPageToken=ZAACAA%3D%3D")).toEqual({ limit: 100, page: 2 });
    expect(page("nextPageToken=ZAACAA==")).toEqual({ limit: 100, page: 2 });
  });

  test("every token error is a 400 with the original's message", () => {
    expect(status("nextPageToken=EwBMLg==")).toEqual([400, "token limit must be 100"]);
    expect(status("nextPageToken=ZAACAA==&nextPageToken=ZAACAA==")).toEqual([400, "too many values for page token"]);
    expect(status("nextPageToken=")).toEqual([400, "EOF"]);
    expect(status("nextPageToken=ZAAAAA==")).toEqual([400, "token page must be greater than zero"]);
    expect(status("nextPageToken=ZA!CAA==")).toEqual([400, "illegal base64 data at input byte 2"]);
    expect(status("nextPageToken=ZA==")).toEqual([400, "unexpected EOF"]);
  });
});

describe("paginate", () => {
  const items = Array.from({ length: 10 }, (_, i) => i);

  test("page p holds items [(p-1)*L, p*L) and links to the next page", () => {
    expect(paginate(items, { limit: 4, page: 1 })).toEqual({ items: [0, 1, 2, 3], nextPageToken: encodePageToken({ limit: 4, page: 2 }) });
    expect(paginate(items, { limit: 4, page: 2 })).toEqual({ items: [4, 5, 6, 7], nextPageToken: encodePageToken({ limit: 4, page: 3 }) });
    expect(paginate(items, { limit: 4, page: 3 })).toEqual({ items: [8, 9] });
  });

  test("an exactly full last page has no token (Q14 decided: no empty extra page)", () => {
    expect(paginate(items, { limit: 5, page: 2 })).toEqual({ items: [5, 6, 7, 8, 9] });
    expect(paginate(items, { limit: 10, page: 1 })).toEqual({ items });
  });

  test("pages past the end and empty collections are empty without a token", () => {
    expect(paginate(items, { limit: 4, page: 9 })).toEqual({ items: [] });
    expect(paginate([], { limit: 4, page: 1 })).toEqual({ items: [] });
  });
});
