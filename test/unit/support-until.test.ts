// The tests' one wait (test/support/until.ts): what it returns, when it gives up, and what it says.
import { expect, test } from "bun:test";
import { holdFor, until } from "../support/until.ts";

test("returns the first truthy value of the condition", async () => {
  let calls = 0;
  const value = await until("the third call", () => (++calls === 3 ? { calls } : undefined), { intervalMs: 0 });
  expect(value).toEqual({ calls: 3 });
});

test("a timeout names what it waited for and the last value it saw", async () => {
  let n = 3;
  const wait = until("the count to reach zero", () => (--n <= 0 ? null : false), { timeoutMs: 30, intervalMs: 1 });
  await expect(wait).rejects.toThrow("Timed out after 30 ms waiting for the count to reach zero (last value: null)");
});

test("a plain false is not repeated in the message, and `what` may be computed when it is needed", async () => {
  let seen = 0;
  const wait = until(() => `a change (seen ${seen})`, () => (seen++, false), { timeoutMs: 30, intervalMs: 1 });
  const err = (await wait.catch((e: unknown) => e)) as Error;
  expect(err.message).toStartWith("Timed out after 30 ms waiting for a change (seen ");
  expect(err.message).toEndWith(")");
  expect(Number(err.message.match(/seen (\d+)\)$/)?.[1])).toBe(seen);
});

test("by default a condition that throws fails the wait at its first check", async () => {
  let calls = 0;
  const wait = until("a broken condition", () => {
    calls++;
    throw new Error("boom");
  }, { timeoutMs: 5000, intervalMs: 1 });
  await expect(wait).rejects.toThrow("boom");
  expect(calls).toBe(1);
});

test("with retryErrors an exception is 'not yet': the wait goes on, and a timeout names the last error", async () => {
  let calls = 0;
  const value = await until("a flaky read", () => {
    if (++calls < 3) throw new Error(`unreachable ${calls}`);
    return "read";
  }, { intervalMs: 0, retryErrors: true });
  expect({ value, calls }).toEqual({ value: "read", calls: 3 });

  const never = until("a dead server", () => {
    throw new Error("connection refused");
  }, { timeoutMs: 30, intervalMs: 1, retryErrors: true });
  await expect(never).rejects.toThrow("Timed out after 30 ms waiting for a dead server; last error: connection refused");
});

test("a number for options is the timeout", async () => {
  await expect(until("never", () => false, 25)).rejects.toThrow("Timed out after 25 ms waiting for never");
});

test("holdFor checks until the time is up and fails at the first check that throws", async () => {
  const checkedAt: number[] = [];
  const start = Date.now();
  await holdFor(30, () => void checkedAt.push(Date.now()), 1);
  // It returns only once the time is up, having checked at the start.
  expect(checkedAt[0]! - start).toBeLessThan(30);
  expect(Date.now() - start).toBeGreaterThanOrEqual(30);

  let calls = 0;
  const broken = holdFor(5000, () => {
    if (++calls === 2) throw new Error("changed");
  }, 1);
  await expect(broken).rejects.toThrow("changed");
  expect(calls).toBe(2);
});
