// fleet ctl update and rollout: the real binary against the real API handler (and the etcd
// driver) over a real etcd. The rollout's progress is the engine's (engine-rollouts.test.ts, and
// on real machines e2e-rollouts.test.ts); here the test writes the steps an engine would, and
// checks what the commands print, their exit codes and their refusals.
import { beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rows, sharedFakeCluster } from "../support/integration/cli-harness.ts";
import { RolloutStore } from "../../src/registry/rollout-store.ts";
import { encodeRecord } from "../../src/registry/records.ts";
import { appendLog } from "../../src/rollout/log.ts";
import type { RolloutRecord } from "../../src/rollout/types.ts";
import { until } from "../support/until.ts";

setDefaultTimeout(60_000);

const c = sharedFakeCluster();
const web = (v: number) => `[Unit]\nDescription=web %i\n\n[Service]\nExecStart=/bin/sleep ${v}000\n`;

beforeEach(async () => {
  await c.reset();
  await c.etcdClient.delete(c.registry.keys.rollouts, { prefix: true });
});

/** Writes the record as the engine would, with more steps. */
async function engineWrites(unit: string, change: (r: RolloutRecord) => RolloutRecord): Promise<void> {
  const cur = (await new RolloutStore(c.registry).get(unit))!;
  const key = c.registry.keys.rollout(unit);
  await c.etcdClient.put(key, encodeRecord("rollouts", c.registry.keys, key, change(cur.record)));
}

describe("update and rollout", () => {
  for (const driver of ["api", "etcd"] as const) {
    test(`${driver}: update --no-block starts it; status, pause, resume and abort; list-unit-files shows each instance's version`, async () => {
      const opts = { etcd: driver === "etcd" };
      c.writeUnit("web@.service", web(1));
      expect((await c.ctl(["start", "--no-block", "web@1.service", "web@2.service"], opts)).code).toBe(0);
      c.writeUnit("web@.service", web(2));
      const started = await c.ctl(["update", "--no-block", "--max-parallel=2", "--min-healthy-time=3s", "--auto-revert", "web@.service"], opts);
      expect(started.err).toBe("");
      expect(started.code).toBe(0);
      expect(started.out).toMatch(/^Rollout of web@\.service to [0-9a-f]{7} started \(max-parallel 2, min-healthy-time 3s, deadline 5m, auto-revert on\)\n$/);
      const to = (await new RolloutStore(c.registry).get("web@.service"))!.record.to;
      const from = (await c.registry.getUnit("web@1.service"))!.hash;

      // The engine found the instances and replaced web@1.
      await engineWrites("web@.service", (r) => appendLog({
        ...r, started: true,
        targets: [
          { instance: "web@1.service", from, phase: "updating", changedAt: r.createdAt },
          { instance: "web@2.service", from, phase: "old" },
        ],
      }, [{ kind: "started", targets: 2, to }, { kind: "replace", instance: "web@1.service", from, to, done: 1, total: 2 }], Date.now()));
      const status = await c.ctl(["rollout", "status", "web@.service"], opts);
      expect(status.code).toBe(0);
      const lines = status.out.split("\n");
      expect(lines.slice(0, 3)).toEqual([
        "Rollout of web@.service: running: 0 of 2 updated, 1 updating, 1 waiting",
        `Version: ${from.slice(0, 7)} -> ${to.slice(0, 7)} (web %i)`,
        "Policy: max-parallel 2, min-healthy-time 3s, deadline 5m, auto-revert on",
      ]);
      expect(rows(status.out.split("\n\n")[1]!)).toEqual([
        ["INSTANCE", "MACHINE", "PHASE", "FROM", "RUNS"],
        ["web@1.service", "-", "updating", from.slice(0, 7), to.slice(0, 7)],
        ["web@2.service", "-", "old", from.slice(0, 7), from.slice(0, 7)],
      ]);
      expect(status.out).toContain(`Replacing web@1.service: ${from.slice(0, 7)} -> ${to.slice(0, 7)} (1 of 2)\n`);
      expect(rows((await c.ctl(["list-unit-files", "--no-legend", "--fields=unit,hash"], opts)).out)).toEqual([
        ["web@1.service", to.slice(0, 7)], ["web@2.service", from.slice(0, 7)],
      ]);
      expect(rows((await c.ctl(["rollout", "status", "--no-legend"], opts)).out)[0]!.slice(0, 3)).toEqual(["web@.service", "running", to.slice(0, 7)]);

      expect(await c.ctl(["rollout", "pause", "web@.service"], opts)).toEqual({ code: 0, out: "Rollout of web@.service paused\n", err: "" });
      expect(await c.ctl(["rollout", "resume", "web@.service"], opts)).toEqual({ code: 0, out: "Rollout of web@.service resumed\n", err: "" });
      // Another update of the same unit while this one runs is refused.
      const again = await c.ctl(["update", "web@.service"], opts);
      expect(again.code).toBe(1);
      expect(again.err).toContain("Cannot start a rollout: a rollout of web@.service is running (see fleet ctl rollout status web@.service)\n");
      expect(await c.ctl(["rollout", "abort", "web@.service"], opts)).toEqual({
        code: 0, out: "Rollout of web@.service aborting: the replaced instances go back to the old version\n", err: "",
      });
      const paused = await c.ctl(["rollout", "pause", "web@.service"], opts);
      expect(paused.code).toBe(1);
      expect(paused.err).toContain("Cannot pause the rollout of web@.service: it is aborting\n");
    });
  }

  test("update waits, prints each step the engine takes, and exits 1 when the rollout does not succeed", async () => {
    c.writeUnit("app.service", web(1));
    expect((await c.ctl(["start", "--no-block", "app.service"])).code).toBe(0);
    c.writeUnit("app.service", web(2));
    const running = c.ctl(["update", "--min-healthy-time=1s", "app.service"]);
    await until("the rollout", () => new RolloutStore(c.registry).get("app.service"));
    const from = (await c.registry.getUnit("app.service"))!.hash;
    await engineWrites("app.service", (r) => appendLog({ ...r, started: true, state: "failed", targets: [{ instance: "app.service", from, phase: "failed", changedAt: r.createdAt }] }, [
      { kind: "started", targets: 1, to: r.to },
      { kind: "replace", instance: "app.service", from, to: r.to, done: 1, total: 1 },
      { kind: "unhealthy", instance: "app.service", problem: { kind: "failed", activeState: "failed", subState: "failed", loadState: "loaded" } },
      { kind: "finished", state: "failed", why: { kind: "instance-failed", instance: "app.service" } },
    ], Date.now()));
    const r = await running;
    expect(r.code).toBe(1);
    expect(r.err).toBe("Rollout of app.service failed\n");
    expect(r.out.split("\n").slice(1)).toEqual([
      expect.stringMatching(/^app\.service: Rollout to [0-9a-f]{7} started: 1 instance$/),
      expect.stringMatching(/^app\.service: Replacing app\.service: /),
      "app.service: app.service failed: systemd reports it failed (failed), load state loaded",
      "app.service: Rollout failed: app.service did not become healthy",
      "",
    ]);
  });

  test("refusals: a missing file, a unit not submitted, a bad policy, usage", async () => {
    c.writeUnit("app.service", web(1));
    expect((await c.ctl(["start", "--no-block", "app.service"])).code).toBe(0);
    const cases: [string[], number, string][] = [
      [["update", "nope.service"], 1, "Error updating nope.service: cannot read unit file nope.service: "],
      [["update", "--deadline=1s", "app.service"], 1, "Error updating app.service: googleapi: Error 400: Invalid rollout policy for app.service: the deadline (1s) must be longer than the minimum healthy time (10s)\n"],
      [["rollout", "status", "app.service"], 1, "There is no rollout of app.service\n"],
      [["rollout", "abort", "app.service"], 1, "Error: cannot abort the rollout of app.service: googleapi: Error 404: There is no rollout of app.service\n"],
    ];
    for (const [args, code, err] of cases) {
      const r = await c.ctl(args);
      expect([args, r.code, r.err.startsWith(err) ? err : r.err]).toEqual([args, code, err]);
    }
    c.writeUnit("other.service", web(1));
    const missing = await c.ctl(["update", "other.service"], { etcd: true });
    expect(missing).toEqual({ code: 1, out: "", err: "Error updating other.service: there is no submitted unit other.service to update\n" });
    expect((await c.ctl(["update"])).code).toBe(2);
    expect((await c.ctl(["rollout"])).code).toBe(2);
    expect((await c.ctl(["rollout", "explode", "app.service"])).code).toBe(2);
  });
});
