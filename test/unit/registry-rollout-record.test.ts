import { describe, expect, test } from "bun:test";
import { readRollout } from "../../src/registry/rollout-record.ts";
import { ShapeError } from "../../src/registry/record-shape.ts";
import { H1, H2, World } from "../support/unit/rollout-world.ts";

function problem(v: unknown, name = "web@.service"): string | undefined {
  try {
    readRollout(v, name);
    return undefined;
  } catch (e) {
    if (e instanceof ShapeError) return e.message;
    throw e;
  }
}

describe("rollout records", () => {
  test("every record the planner writes in a full rollout reads back as it was", () => {
    const w = new World("web@.service", { autoRevert: true, maxParallel: 2 });
    for (let i = 1; i <= 3; i++) w.addUnit(`web@${i}.service`, [`m${i}`]);
    w.behaviour.set(H2, "bad");
    let n = 0;
    w.run(1000, 100, () => {
      const json = JSON.parse(JSON.stringify(w.record));
      expect(readRollout(json, "web@.service")).toEqual(w.record);
      n++;
    });
    expect(n).toBeGreaterThan(3);
  });

  const good = () => JSON.parse(JSON.stringify(new World("web@.service").record));

  test.each([
    ["the key names another unit", (r: any) => r, 'the key names unit "other.service" but the record names "web@.service"', "other.service"],
    ["a bad hash", (r: any) => ({ ...r, to: "abc" }), 'field "to": "abc" is not a SHA-1 hash (40 lowercase hex digits)', undefined],
    ["an unknown state", (r: any) => ({ ...r, state: "done" }), 'field "state" is "done", not one of running, paused, reverting, aborting, succeeded, failed, reverted, aborted', undefined],
    ["a zero max-parallel", (r: any) => ({ ...r, policy: { ...r.policy, maxParallel: 0 } }), 'field "policy": field "maxParallel" is 0, not a whole number of at least 1', undefined],
    ["a deadline within the healthy time", (r: any) => ({ ...r, policy: { ...r.policy, deadlineMs: 5 } }), 'field "policy": the deadline is not longer than the minimum healthy time', undefined],
    ["a target without its time", (r: any) => ({ ...r, targets: [{ instance: "web@1.service", from: H1, phase: "updating" }] }), 'field "targets" item 1: field "changedAt" is missing for phase "updating"', undefined],
    ["a target with a bad machine", (r: any) => ({ ...r, targets: [{ instance: "web@1.service", machine: "-x", from: H1, phase: "old" }] }), 'field "targets" item 1: field "machine": "-x" is not a machine ID (letters, digits, "-", "_" and ".", not starting with "-", "_" or ".", at most 128 characters)', undefined],
    ["a log entry of an unknown kind", (r: any) => ({ ...r, log: [{ n: 1, at: r.createdAt, event: { kind: "exploded" } }] }), 'field "log" item 1: field "kind" is "exploded", not one of started, joined, left, replace, healthy, unhealthy, revert, reverted, paused, resumed, abort-requested, finished', undefined],
    ["no targets list", (r: any) => ({ ...r, targets: undefined }), 'field "targets" is missing', undefined],
  ])("refuses %s", (_name, change, message, key) => {
    expect(problem(change(good()), key ?? "web@.service")).toBe(message);
  });
});
