import { describe, expect, test } from "bun:test";
import { renderTable, tabwrite } from "../../src/cli/table.ts";

describe("tabwrite (Go text/tabwriter semantics)", () => {
  test("Go's documented elastic example: minwidth 0, tabwidth 8, padding 0, tabs", () => {
    const out = tabwrite("a\tb\tc\td\t.\n123\t12345\t1234567\t123456789\t.\n", { minwidth: 0, tabwidth: 8, padding: 0, padchar: "\t" });
    expect(out).toBe("a\tb\tc\td\t\t.\n123\t12345\t1234567\t123456789\t.\n");
  });

  test("fleetctl's settings: width + 1 rounded up to 8, padded with tabs, last cell bare", () => {
    const out = renderTable(
      ["UNIT", "HASH", "DSTATE", "STATE", "TARGET"],
      [["hello.service", "e55c0ae", "launched", "launched", "113f16a7.../172.17.8.103"]],
    );
    expect(out).toBe(
      "UNIT\t\tHASH\tDSTATE\t\tSTATE\t\tTARGET\n" +
        "hello.service\te55c0ae\tlaunched\tlaunched\t113f16a7.../172.17.8.103\n",
    );
  });

  test("a cell exactly 7 wide still takes one tab; 8 wide takes the column to 16", () => {
    expect(renderTable(undefined, [["1234567", "x"], ["a", "y"]])).toBe("1234567\tx\na\ty\n");
    expect(renderTable(undefined, [["12345678", "x"], ["a", "y"]])).toBe("12345678\tx\na\t\ty\n");
  });

  test("column blocks: a line with fewer cells ends the block of a column", () => {
    const dots = { minwidth: 0, tabwidth: 8, padding: 1, padchar: "." };
    const out = tabwrite("x\tyyyyyyyyyy\tz\nxx\ty\nx\tyy\tz\n", dots);
    expect(out).toBe("x..yyyyyyyyyy.z\nxx.y\nx..yy.z\n");
  });

  test("a line without tabs flushes: columns before and after it are sized apart", () => {
    const dots = { minwidth: 0, tabwidth: 8, padding: 1, padchar: "." };
    expect(tabwrite("a\tb\nlonger-line\nccc\td\n", dots)).toBe("a.b\nlonger-line\nccc.d\n");
  });

  test("widths count characters, not bytes", () => {
    const dots = { minwidth: 0, tabwidth: 8, padding: 1, padchar: "." };
    expect(tabwrite("é\tx\nab\ty\n", dots)).toBe("é..x\nab.y\n");
  });

  test("text without a final newline keeps it that way; empty input gives empty output", () => {
    expect(tabwrite("a\tb")).toBe("a\tb");
    expect(tabwrite("")).toBe("");
    expect(renderTable(undefined, [])).toBe("");
  });
});
