import { describe, expect, test } from "bun:test";
import { DEFAULT_ROLLOUT_POLICY, formatMs, policyOptions, resolvePolicy } from "../../src/rollout/policy.ts";
import { parseUnitFile } from "../../src/unit/unit-file.ts";
import { parseRequirements } from "../../src/unit/requirements.ts";

const file = (xfleet: string) => parseUnitFile(`[Service]\nExecStart=/bin/true\n\n[X-Fleet]\n${xfleet}\n`);

describe("the rollout policy", () => {
  test("defaults: one at a time, 10s healthy, 5m deadline, no auto-revert", () => {
    expect(resolvePolicy({}, {}, "a.service")).toEqual(DEFAULT_ROLLOUT_POLICY);
    expect(DEFAULT_ROLLOUT_POLICY).toEqual({ maxParallel: 1, minHealthyMs: 10_000, deadlineMs: 300_000, autoRevert: false });
  });

  test("[X-Fleet] sets per-unit defaults; flags win over them", () => {
    const opts = policyOptions(file("RolloutMaxParallel=3\nRolloutMinHealthyTime=2s\nRolloutDeadline=1m\nRolloutAutoRevert=true"));
    expect(resolvePolicy({}, opts, "a.service")).toEqual({ maxParallel: 3, minHealthyMs: 2000, deadlineMs: 60_000, autoRevert: true });
    expect(resolvePolicy({ maxParallel: "2", autoRevert: false, minHealthyTime: "500ms" }, opts, "a.service"))
      .toEqual({ maxParallel: 2, minHealthyMs: 500, deadlineMs: 60_000, autoRevert: false });
  });

  test("the rollout options are known [X-Fleet] keys: no warning", () => {
    expect(parseRequirements(file("RolloutMaxParallel=3\nRolloutAutoRevert=yes"), "a.service").warnings).toEqual([]);
  });

  test.each([
    [{ maxParallel: "0" }, {}, 'Invalid --max-parallel: "0" is not a whole number from 1 to 10000'],
    [{ maxParallel: "two" }, {}, 'Invalid --max-parallel: "two" is not a whole number from 1 to 10000'],
    [{}, { maxParallel: "1.5" }, 'Invalid RolloutMaxParallel in a.service: "1.5" is not a whole number from 1 to 10000'],
    [{ minHealthyTime: "soon" }, {}, 'Invalid --min-healthy-time: "soon" is not a duration (e.g. "30s", "1m30s")'],
    [{ deadline: "0" }, {}, 'Invalid --deadline: "0" is zero'],
    [{}, { deadline: "48h" }, 'Invalid RolloutDeadline in a.service: "48h" is more than 24h'],
    [{ autoRevert: "maybe" }, {}, 'Invalid --auto-revert: "maybe" is not true or false'],
    [{ minHealthyTime: "1m", deadline: "30s" }, {}, "Invalid rollout policy for a.service: the deadline (30s) must be longer than the minimum healthy time (1m)"],
  ] as const)("%o over %o: %s", (given, fromFile, message) => {
    expect(() => resolvePolicy(given, fromFile, "a.service")).toThrow(message);
  });

  test("durations print in Go's style", () => {
    expect([0, 250, 1000, 90_000, 3_600_000, 1500].map(formatMs)).toEqual(["0s", "250ms", "1s", "1m30s", "1h", "1.5s"]);
  });
});
