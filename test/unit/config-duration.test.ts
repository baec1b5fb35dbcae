import { expect, test } from "bun:test";
import { parseDuration } from "../../src/config/duration.ts";

const valid: [string, number][] = [
  ["0", 0],
  ["30s", 30_000],
  ["3s", 3000],
  ["1m30s", 90_000],
  ["500ms", 500],
  ["1.5h", 5_400_000],
  [".5s", 500],
  ["1.s", 1000],
  ["2h45m", 9_900_000],
  ["1h1m1s1ms", 3_661_001],
  ["1500us", 1.5],
  ["1500\u00b5s", 1.5],
  ["1500\u03bcs", 1.5],
  ["2000000ns", 2],
  ["-1s", -1000],
  ["+2m", 120_000],
  ["0s", 0],
];

test.each(valid)("parseDuration(%p) is %p ms", (text, ms) => {
  expect(parseDuration(text)).toBeCloseTo(ms, 9);
});

const invalid = ["", "30", "30x", "s", ".s", "1m30", "1 s", " 1s", "1S", "1d", "-", "1.2.3s", "abc", "1s "];

test.each(invalid)("parseDuration(%p) throws a message naming the text", (text) => {
  expect(() => parseDuration(text)).toThrow(`${JSON.stringify(text)} is not a duration (e.g. "30s", "1m30s")`);
});
