import { expect, test } from "bun:test";
import { MachineRefresher } from "../../src/daemon/machine-refresher.ts";
import { createLogger } from "../../src/log/logger.ts";
import { ManualClock } from "../support/manual-clock.ts";
import { until } from "../support/until.ts";

/** A clock whose timers fire only when the test says so. */
function manualClock() {
  const clock = new ManualClock();
  return {
    clock,
    /** Fires the one pending timer and returns its period. */
    fire(): number {
      expect(clock.pending.length).toBe(1);
      const ms = clock.pending[0]!;
      clock.fireNext();
      return ms;
    },
  };
}

function setup(opts: { configured?: string; ip: string; failUpdates?: number }) {
  const lines: string[] = [];
  const state = { detected: opts.ip, record: opts.ip, configured: opts.configured, failUpdates: opts.failUpdates ?? 0, updates: [] as string[] };
  const c = manualClock();
  const refresher = new MachineRefresher({
    configured: () => state.configured,
    detect: () => state.detected,
    current: () => state.record,
    update: async (ip) => {
      // As the daemon does: the record in memory changes first, then the put may fail.
      state.updates.push(ip);
      state.record = ip;
      if (state.failUpdates > 0) {
        state.failUpdates--;
        throw new Error("etcd is unreachable");
      }
    },
    log: createLogger({ verbosity: 0, journal: true, write: (l) => lines.push(l) }),
    clock: c.clock,
  });
  return { refresher, state, lines, ...c };
}

test("every 60 s by default: a changed IP is recorded, an unchanged one is not", async () => {
  const { refresher, state, lines, fire, clock } = setup({ ip: "10.0.0.1" });
  refresher.start();
  expect(fire()).toBe(60_000);
  await refresher.stop().then(() => undefined);
  expect(state.updates).toEqual([]);

  const r2 = setup({ ip: "10.0.0.1" });
  r2.refresher.start();
  r2.state.detected = "10.0.0.2";
  r2.fire();
  await until("the refresh to end and the next tick to be timed", () => r2.clock.pending.length === 1, { timeoutMs: 5000, intervalMs: 0 });
  expect(r2.state.updates).toEqual(["10.0.0.2"]);
  expect(r2.lines).toEqual(["<6>INFO Public IP changed from 10.0.0.1 to 10.0.0.2; updating the machine record"]);
  r2.fire();
  await until("the refresh to end and the next tick to be timed", () => r2.clock.pending.length === 1, { timeoutMs: 5000, intervalMs: 0 });
  expect(r2.state.updates).toEqual(["10.0.0.2"]);
  await r2.refresher.stop();
  expect(r2.clock.pending.length).toBe(0);
  expect(lines).toEqual([]);
  expect(clock.pending.length).toBe(0);
});

test("a configured public_ip is never replaced by detection", async () => {
  const { refresher, state } = setup({ ip: "10.0.0.1", configured: "203.0.113.5" });
  state.detected = "10.0.0.9";
  expect(await refresher.refresh()).toBe(false);
  expect(state.updates).toEqual([]);
  // Cleared by a reload: detection takes over.
  state.configured = undefined;
  expect(await refresher.refresh()).toBe(true);
  expect(state.updates).toEqual(["10.0.0.9"]);
});

test("a failed update is retried on the next tick, even though the IP stays the same", async () => {
  const { refresher, state, lines } = setup({ ip: "10.0.0.1", failUpdates: 1 });
  state.detected = "";
  expect(await refresher.refresh()).toBe(true);
  expect(lines.at(-1)).toBe("<4>WARN Cannot update the machine record with public IP -: etcd is unreachable");
  expect(await refresher.refresh()).toBe(false);
  expect(state.updates).toEqual(["", ""]);
  expect(state.record).toBe("");
  expect(await refresher.refresh()).toBe(false);
  expect(state.updates).toEqual(["", ""]);
});
