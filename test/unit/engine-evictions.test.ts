// The eviction brake on a clock the test moves: settle, rate limit, partition pause and its
// three ways out (machines return, timeout, operator).
import { describe, expect, test } from "bun:test";
import { createLogger } from "../../src/log/logger.ts";
import { EvictionGovernor, partitionSuspected, type EvictionPolicy } from "../../src/engine/evictions.ts";
import { ManualClock } from "../support/manual-clock.ts";

const POLICY: EvictionPolicy = { perSecond: 2, burst: 4, windowMs: 30_000, settleMs: 10_000, pauseMaxMs: 300_000 };

function setup(policy: Partial<EvictionPolicy> = {}) {
  const clock = new ManualClock();
  const lines: string[] = [];
  const log = createLogger({ verbosity: 1, journal: false, write: (l) => lines.push(l) });
  const gov = new EvictionGovernor({ ...POLICY, ...policy }, clock, log);
  return { clock, lines, gov };
}

const ids = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `m${i + from}`);
const set = (...xs: string[]) => new Set(xs);

describe("EvictionGovernor", () => {
  test("nothing lost: no budget needed and no wake-up", () => {
    const { gov } = setup();
    expect(gov.budget(set(...ids(3)), set())).toEqual({ maxEvictions: 0, hold: "", recheckAt: undefined });
  });

  test("a lost machine's units wait for the settle time, then move within the token bucket", () => {
    const { clock, gov } = setup();
    const live = set("m2", "m3", "m4");
    gov.machineRemoved("m1");
    const t0 = clock.now();
    const first = gov.budget(live, set("m1"));
    expect(first).toEqual({ maxEvictions: 0, hold: "waiting to see whether more machines vanish", recheckAt: t0 + 10_000 });

    clock.advance(10_000);
    expect(gov.budget(live, set("m1")).maxEvictions).toBe(4);
    gov.consumed(4);
    const empty = gov.budget(live, set("m1"));
    expect(empty.maxEvictions).toBe(0);
    expect(empty.hold).toBe("eviction rate limit");
    // 2 per second: the next token is 500 ms away.
    expect(empty.recheckAt).toBe(clock.now() + 500);
    clock.advance(1_000);
    expect(gov.budget(live, set("m1")).maxEvictions).toBe(2);
    clock.advance(60_000);
    expect(gov.budget(live, set("m1")).maxEvictions).toBe(4);
  });

  test("a machine vanishing during the settle time restarts it", () => {
    const { clock, gov } = setup();
    gov.machineRemoved("m1");
    clock.advance(8_000);
    gov.machineRemoved("m2");
    const b = gov.budget(set("m3", "m4", "m5", "m6"), set("m1", "m2"));
    expect(b.maxEvictions).toBe(0);
    expect(b.recheckAt).toBe(clock.now() + 10_000);
  });

  test("more than half vanishing within the window pauses, with the log line; half does not", () => {
    const half = setup();
    for (const id of ids(5)) half.gov.machineRemoved(id);
    half.clock.advance(10_000);
    expect(half.gov.budget(set(...ids(5, 6)), set(...ids(5))).maxEvictions).toBe(4);
    expect(half.gov.paused).toBe(false);

    const { clock, lines, gov } = setup();
    for (const id of ids(6)) gov.machineRemoved(id);
    clock.advance(10_000);
    const b = gov.budget(set(...ids(4, 7)), set(...ids(6)));
    expect(b).toEqual({ maxEvictions: 0, hold: "evictions paused: 6 of 10 machines vanished at once", recheckAt: clock.now() + 300_000 });
    expect(gov.paused).toBe(true);
    expect(lines.filter((l) => l.includes("WARN Pausing evictions: 6 of 10 machines vanished within 30s; this looks like a partition, not failures")).length).toBe(1);
  });

  test("machines lost longer ago than one window are failures, not a partition", () => {
    const { clock, gov } = setup();
    for (const id of ids(3)) gov.machineRemoved(id);
    clock.advance(31_000);
    gov.machineRemoved("m4");
    clock.advance(10_000);
    expect(gov.budget(set("m5", "m6"), set(...ids(4))).maxEvictions).toBe(4);
    expect(gov.paused).toBe(false);
  });

  test("a new leader that finds most scheduled machines gone pauses too", () => {
    const { gov } = setup();
    // Never seen vanishing: they are lost as of now.
    expect(gov.budget(set("m1"), set("m2", "m3")).maxEvictions).toBe(0);
    expect(gov.paused).toBe(true);
  });

  test("the pause ends when no longer more than half are gone; the rest count as failed and move", () => {
    const { clock, lines, gov } = setup();
    for (const id of ids(6)) gov.machineRemoved(id);
    const live = set(...ids(4, 7));
    expect(gov.budget(live, set(...ids(6))).maxEvictions).toBe(0);
    clock.advance(60_000);
    gov.machineAdded("m1");
    live.add("m1");
    // 5 of 10 gone: failures, not a partition; no settle wait for machines gone this long.
    const b = gov.budget(live, set(...ids(5, 2)));
    expect(b).toEqual({ maxEvictions: 4, hold: "eviction rate limit", recheckAt: undefined });
    expect(gov.paused).toBe(false);
    expect(lines.some((l) => l.includes("INFO Resuming evictions: 1 of 6 vanished machines are back"))).toBe(true);
  });

  test("the pause ends after pauseMaxMs, or when an operator resumes; 0 means no timeout", () => {
    const timed = setup();
    for (const id of ids(3)) timed.gov.machineRemoved(id);
    expect(timed.gov.budget(set("m4"), set(...ids(3))).maxEvictions).toBe(0);
    timed.clock.advance(299_000);
    expect(timed.gov.budget(set("m4"), set(...ids(3))).maxEvictions).toBe(0);
    timed.clock.advance(1_000);
    expect(timed.gov.budget(set("m4"), set(...ids(3))).maxEvictions).toBe(4);
    expect(timed.lines.some((l) => l.includes("Resuming evictions: 3 of 4 machines stayed away for 300s; treating them as failed"))).toBe(true);

    const manual = setup({ pauseMaxMs: 0 });
    for (const id of ids(3)) manual.gov.machineRemoved(id);
    expect(manual.gov.budget(set("m4"), set(...ids(3)))).toEqual({ maxEvictions: 0, hold: "evictions paused: 3 of 4 machines vanished at once", recheckAt: undefined });
    manual.clock.advance(3_600_000);
    expect(manual.gov.budget(set("m4"), set(...ids(3))).maxEvictions).toBe(0);
    manual.gov.resume();
    expect(manual.lines.some((l) => l.includes("Resuming evictions: resumed by an operator"))).toBe(true);
    expect(manual.gov.budget(set("m4"), set(...ids(3))).maxEvictions).toBe(4);
    expect(manual.gov.paused).toBe(false);
  });

  test("machines vanishing while paused join the pause", () => {
    const { clock, gov } = setup();
    for (const id of ids(3)) gov.machineRemoved(id);
    const live = set("m4", "m5");
    expect(gov.budget(live, set(...ids(3))).hold).toBe("evictions paused: 3 of 5 machines vanished at once");
    clock.advance(5_000);
    gov.machineRemoved("m4");
    live.delete("m4");
    gov.machineAdded("m1");
    live.add("m1");
    // m2, m3, m4 gone of 5: still a partition.
    expect(gov.budget(live, set("m2", "m3", "m4")).maxEvictions).toBe(0);
    expect(gov.paused).toBe(true);
  });
});

describe("EvictionGovernor with lease probes", () => {
  const probing = () => setup({ probe: true });
  const remaining = (entries: Record<string, number>) => new Map(Object.entries(entries));

  test("a lost machine asks for a probe; when no other lease missed a renewal its units move at once", () => {
    const { clock, lines, gov } = probing();
    const live = set("m2", "m3", "m4");
    gov.machineRemoved("m1");
    expect(gov.budget(live, set("m1"))).toEqual({ maxEvictions: 0, hold: "checking whether more machines are vanishing", recheckAt: undefined, probe: true });
    clock.advance(300);
    gov.probed(clock.now() - 300, remaining({ m2: 25_500, m3: 20_500, m4: 29_500 }));
    // No settle: the probe already showed who else is going.
    expect(gov.budget(live, set("m1"))).toEqual({ maxEvictions: 4, hold: "eviction rate limit", recheckAt: undefined });
    expect(lines.some((l) => l.includes("Lease probe"))).toBe(false);
  });

  test("leases that missed a renewal count as vanishing: a partition is seen at its first expiry", () => {
    const { clock, lines, gov } = probing();
    const live = set(...ids(4, 2));
    gov.machineRemoved("m1");
    expect(gov.budget(live, set("m1")).probe).toBe(true);
    // m2 and m3 were cut off with m1; their leases run out within a keepalive interval.
    gov.probed(clock.now(), remaining({ m2: 3_500, m3: 8_500, m4: 24_500, m5: 21_500 }));
    expect(gov.budget(live, set("m1"))).toEqual({ maxEvictions: 0, hold: "evictions paused: 3 of 5 machines vanished at once", recheckAt: clock.now() + 3_500 + 3_000 + 1 });
    expect(lines.some((l) => l.includes("INFO Lease probe: 2 more machines stopped renewing: m2, m3"))).toBe(true);
    expect(lines.some((l) => l.includes("WARN Pausing evictions: 1 of 5 machines vanished and 2 more stopped renewing their leases within 30s; this looks like a partition, not failures"))).toBe(true);

    // Their leases run out as predicted: no new probe is needed, the pause holds.
    clock.advance(8_600);
    for (const id of ["m2", "m3"]) {
      gov.machineRemoved(id);
      live.delete(id);
    }
    const b = gov.budget(live, set("m1", "m2", "m3"));
    expect(b.probe).toBeUndefined();
    expect(b.maxEvictions).toBe(0);
    expect(gov.paused).toBe(true);
  });

  test("a suspect that renews after all stops counting once its lease would have run out", () => {
    const { clock, gov } = probing();
    const live = set("m2", "m3", "m4");
    gov.machineRemoved("m1");
    gov.budget(live, set("m1"));
    gov.probed(clock.now(), remaining({ m2: 2_500, m3: 24_500, m4: 24_500 }));
    // m1 gone and m2 suspect: 2 of 4 is not more than half.
    expect(gov.budget(live, set("m1")).maxEvictions).toBe(4);

    const p = probing();
    const live2 = set("m2", "m3");
    p.gov.machineRemoved("m1");
    p.gov.budget(live2, set("m1"));
    p.gov.probed(p.clock.now(), remaining({ m2: 2_500, m3: 24_500 }));
    const paused = p.gov.budget(live2, set("m1"));
    expect(paused.maxEvictions).toBe(0);
    expect(paused.recheckAt).toBe(p.clock.now() + 2_500 + 3_000 + 1);
    // m2 is still there after its lease should have ended: it renewed, so 1 of 3 is gone.
    p.clock.advance(5_501);
    expect(p.gov.budget(live2, set("m1")).maxEvictions).toBe(4);
    expect(p.lines.some((l) => l.includes("Resuming evictions: 1 of 2 vanished machines are back"))).toBe(true);
  });

  test("a machine lost after a probe, that the probe did not see going, asks for a new one", () => {
    const { clock, gov } = probing();
    const live = set("m2", "m3", "m4", "m5");
    gov.machineRemoved("m1");
    gov.budget(live, set("m1"));
    gov.probed(clock.now(), remaining({ m2: 24_500, m3: 24_500, m4: 24_500, m5: 24_500 }));
    expect(gov.budget(live, set("m1")).maxEvictions).toBe(4);
    clock.advance(40_000);
    gov.machineRemoved("m2");
    live.delete("m2");
    expect(gov.budget(live, set("m2")).probe).toBe(true);
  });

  test("when a probe fails, the machines lost by then wait out the settle", () => {
    const { clock, gov } = probing();
    const live = set("m2", "m3", "m4");
    gov.machineRemoved("m1");
    expect(gov.budget(live, set("m1")).probe).toBe(true);
    gov.probeFailed(clock.now());
    expect(gov.budget(live, set("m1"))).toEqual({ maxEvictions: 0, hold: "waiting to see whether more machines vanish", recheckAt: clock.now() + 10_000 });
    clock.advance(10_000);
    expect(gov.budget(live, set("m1")).maxEvictions).toBe(4);
  });
});

describe("partitionSuspected", () => {
  test.each([
    [3, 3, false],
    [3, 2, false],
    [3, 1, true],
    [4, 2, false],
    [4, 1, true],
    [2, 1, false],
    [1, 0, true],
    [0, 0, false],
    [2, 5, false],
  ] as const)("%d machines, then %d: %p", (before, after, expected) => {
    expect(partitionSuspected(before, after)).toBe(expected);
  });
});
