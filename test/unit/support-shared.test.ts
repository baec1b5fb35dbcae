// shared() (test/support/shared.ts): one fixture for the tests of a describe block, started once,
// reset before each test, and standing in for the started fixture.
import { describe, expect, test } from "bun:test";
import { shared } from "../support/shared.ts";

class Counter {
  resets = 0;
  label = "new";
  constructor(readonly starts: number) {}
  describe(): string {
    return `${this.label} after ${this.resets} resets`;
  }
}

let starts = 0;

describe("a shared fixture", () => {
  const c = shared("counter", async () => new Counter(++starts), { reset: (f) => void f.resets++ });
  const early = (() => {
    try {
      return c.label;
    } catch (e) {
      return (e as Error).message;
    }
  })();

  test("is not there before the block starts, and says which fixture it is", () => {
    expect(early).toBe("The shared counter is not started yet: use it inside a test or a hook");
  });

  test("is started once and reset before each test; its methods and fields are the fixture's", () => {
    expect(c.starts).toBe(1);
    expect(c.resets).toBe(2);
    c.label = "changed";
    expect(c.describe()).toBe("changed after 2 resets");
  });

  test("keeps what a test changed, apart from what reset does", () => {
    expect({ starts, label: c.label, resets: c.resets }).toEqual({ starts: 1, label: "changed", resets: 3 });
  });
});
