import { describe, expect, test } from "bun:test";
import { globMatch, isValidGlob } from "../../src/unit/glob.ts";

describe("globMatch follows Go's path.Match", () => {
  test.each([
    ["abc", "abc", true],
    ["*", "abc", true],
    ["*c", "abc", true],
    ["a*", "a", true],
    ["a*", "abc", true],
    ["a*", "ab/c", false],
    ["a*/b", "abc/b", true],
    ["a*/b", "a/c/b", false],
    ["a*b*c*d*e*/f", "axbxcxdxe/f", true],
    ["a*b*c*d*e*/f", "axbxcxdxexxx/f", true],
    ["a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false],
    ["a*b*c*d*e*/f", "axbxcxdxexxx/fff", false],
    ["a*b?c*x", "abxbbxdbxebxczzx", true],
    ["a*b?c*x", "abxbbxdbxebxczzy", false],
    ["ab[c]", "abc", true],
    ["ab[b-d]", "abc", true],
    ["ab[e-g]", "abc", false],
    ["ab[^c]", "abc", false],
    ["ab[^b-d]", "abc", false],
    ["ab[^e-g]", "abc", true],
    ["a\\*b", "a*b", true],
    ["a\\*b", "ab", false],
    ["a?b", "a☺b", true],
    ["a[^a]b", "a☺b", true],
    ["a???b", "a☺b", false],
    ["a[^a][^a][^a]b", "a☺b", false],
    ["[a-ζ]*", "α", true],
    ["*[a-ζ]", "A", false],
    ["a?b", "a/b", false],
    ["a*b", "a/b", false],
    ["[\\]a]", "]", true],
    ["[\\-]", "-", true],
    ["[x\\-]", "x", true],
    ["[x\\-]", "-", true],
    ["[x\\-]", "z", false],
    ["[\\-x]", "x", true],
    ["[\\-x]", "-", true],
    ["[\\-x]", "a", false],
    ["*x", "xxx", true],
    ["", "", true],
    ["", "a", false],
    ["a", "", false],
    ["*", "", true],
    ["?", "", false],
    ["[!a]b", "!b", true],
    ["[!a]b", "xb", false],
    ["\\a\\b", "ab", true],
    ["*/*", "a/b", true],
    ["**", "abc", true],
  ] as const)("%p matches %p: %p", (pattern, name, expected) => {
    expect(isValidGlob(pattern)).toBe(true);
    expect(globMatch(pattern, name)).toBe(expected);
  });

  test.each([
    ["[]a]", "]"],
    ["[-]", "-"],
    ["[x-]", "x"],
    ["[x-]", "-"],
    ["[x-]", "z"],
    ["[-x]", "x"],
    ["[-x]", "-"],
    ["[-x]", "a"],
    ["\\", "a"],
    ["[a-b-c]", "a"],
    ["[", "a"],
    ["[^", "a"],
    ["[^bc", "a"],
    ["a[", "a"],
    ["a[", "ab"],
    ["a[", "x"],
    ["a/b[", "x"],
    ["a*\\", "ab"],
    // The malformed part comes after a star that could already have matched everything.
    ["*[", "anything"],
    ["x*[", "x"],
  ])("malformed %p never matches (%p)", (pattern, name) => {
    expect(isValidGlob(pattern)).toBe(false);
    expect(globMatch(pattern, name)).toBe(false);
  });

  test("unit-name patterns as used in Conflicts and Replaces", () => {
    expect(globMatch("web@*.service", "web@1.service")).toBe(true);
    expect(globMatch("web@*.service", "web@.service")).toBe(true);
    expect(globMatch("web@*.service", "webx@1.service")).toBe(false);
    expect(globMatch("conflict-global.*.service", "conflict-global.2.service")).toBe(true);
    expect(globMatch("hello.service", "hello.service")).toBe(true);
    expect(globMatch("hello.service", "hello.socket")).toBe(false);
    expect(globMatch("replace.[0-1].service", "replace.1.service")).toBe(true);
    expect(globMatch("replace.[0-1].service", "replace.2.service")).toBe(false);
    expect(globMatch("*.service", "a.service")).toBe(true);
    expect(globMatch("*.service", "a.socket")).toBe(false);
  });

  test("each chunk is placed leftmost, as in Go, not searched exhaustively", () => {
    // An exhaustive matcher would let the first star take "ab" and the class take "/";
    // Go commits the class to "a" and the second star then cannot cross "/".
    expect(globMatch("*[^x]*c", "ab/c")).toBe(false);
    expect(globMatch("*[^x]*c", "abc")).toBe(true);
  });
});
