// The one reconcile worker, on a clock the test moves: coalescing, one round at a time, back-off
// with jitter that advances only with the clock, rounds that say when they are due, and stop.
import { describe, expect, test } from "bun:test";
import { Worker, type Round, type WorkerOptions } from "../../src/lib/worker.ts";
import { ManualClock } from "../support/manual-clock.ts";

/** Lets rounds started by a timer run to their next await. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(opts: Partial<WorkerOptions> & { results?: (number | undefined | Error)[] } = {}) {
  const clock = new ManualClock();
  const rounds: { at: number; failures: number }[] = [];
  const errors: { delay: number; failures: number }[] = [];
  const results = opts.results ?? [];
  const worker = new Worker({
    clock,
    random: () => 0.5,
    retry: { baseMs: 100, capMs: 1000 },
    onError: (_e, delay, failures) => errors.push({ delay, failures }),
    run: async (r: Round) => {
      rounds.push({ at: clock.now(), failures: r.failures });
      const next = results.shift();
      if (next instanceof Error) throw next;
      return next;
    },
    ...opts,
  });
  return { clock, rounds, errors, worker };
}

describe("Worker", () => {
  test("kicks within the coalescing delay join one round, which runs only when the clock gets there", async () => {
    const { clock, rounds, worker } = setup({ coalesceMs: 20 });
    worker.kick();
    clock.advance(10);
    worker.kick();
    worker.kick();
    await settle();
    expect(rounds).toEqual([]);
    clock.advance(9);
    await settle();
    expect(rounds).toEqual([]);
    clock.advance(1);
    await settle();
    expect(rounds.map((r) => r.at - 1_000_000)).toEqual([20]);
    expect(clock.pending).toEqual([]);
    await worker.stop();
  });

  test("a kick during a round asks for exactly one more, after the coalescing delay", async () => {
    let release = () => {};
    const { clock, rounds, worker } = setup({
      coalesceMs: 20,
      run: async () => {
        rounds.push({ at: clock.now(), failures: 0 });
        if (rounds.length === 1) await new Promise<void>((r) => (release = r));
        return undefined;
      },
    });
    worker.kick(0);
    clock.advance(0);
    await settle();
    expect(worker.running).toBe(true);
    worker.kick();
    worker.kick(0);
    expect(clock.pending).toEqual([]);
    release();
    await settle();
    expect(clock.pending).toEqual([20]);
    clock.advance(20);
    await settle();
    expect(rounds.length).toBe(2);
    expect(clock.pending).toEqual([]);
    await worker.stop();
  });

  test("failed rounds retry after a doubling, jittered back-off that passes only with the clock; a success resets it", async () => {
    const boom = new Error("etcd is unreachable");
    const { clock, rounds, errors, worker } = setup({ results: [boom, boom, boom, boom, boom, undefined, boom] });
    worker.kick(0);
    clock.advance(0);
    await settle();
    // random() = 0.5 scales each step by 0.75: 100, 200, 400, 800, then the 1000 cap.
    for (const delay of [75, 150, 300, 600, 750]) {
      const before = rounds.length;
      expect(clock.pending).toEqual([delay]);
      clock.advance(delay - 1);
      await settle();
      expect(rounds.length).toBe(before);
      clock.advance(1);
      await settle();
      expect(rounds.length).toBe(before + 1);
    }
    expect(errors.map((e) => e.failures)).toEqual([1, 2, 3, 4, 5]);
    expect(rounds.map((r) => r.failures)).toEqual([0, 1, 2, 3, 4, 5]);
    // The sixth round succeeded: nothing is due, and the next failure starts from the base.
    expect(clock.pending).toEqual([]);
    worker.kick(0);
    clock.advance(0);
    await settle();
    expect(errors.at(-1)).toEqual({ delay: 75, failures: 1 });
    await worker.stop();
  });

  test("a kick during a back-off waits for it, unless kicksWaitForRetry is off", async () => {
    const boom = new Error("no");
    for (const wait of [true, false]) {
      const { clock, rounds, worker } = setup({ results: [boom, undefined], kicksWaitForRetry: wait, coalesceMs: 5 });
      worker.kick(0);
      clock.advance(0);
      await settle();
      expect(clock.pending).toEqual([75]);
      worker.kick();
      clock.advance(5);
      await settle();
      expect(rounds.length).toBe(wait ? 1 : 2);
      clock.advance(70);
      await settle();
      expect(rounds.length).toBe(2);
      await worker.stop();
    }
  });

  test("retryNow runs a round at once, whatever the back-off, and the next failure backs off afresh", async () => {
    const boom = new Error("no");
    const { clock, rounds, errors, worker } = setup({ results: [boom, boom, boom, undefined] });
    worker.kick(0);
    clock.advance(0);
    await settle();
    clock.advance(75);
    await settle();
    expect(clock.pending).toEqual([150]);
    worker.retryNow();
    clock.advance(0);
    await settle();
    expect(rounds.map((r) => r.at - 1_000_000)).toEqual([0, 75, 75]);
    // Its failure is the third in a row, so the back-off goes on doubling.
    expect(errors.at(-1)).toEqual({ delay: 300, failures: 3 });
    clock.advance(300);
    await settle();
    expect(rounds.length).toBe(4);
    expect(clock.pending).toEqual([]);
    await worker.stop();
  });

  test("a round that returns a delay is due again on its own; one that returns nothing waits for a kick", async () => {
    const { clock, rounds, worker } = setup({ results: [1000, 1000, undefined] });
    worker.kick(0);
    clock.advance(0);
    await settle();
    clock.advance(1000);
    await settle();
    clock.advance(1000);
    await settle();
    expect(rounds.map((r) => r.at - 1_000_000)).toEqual([0, 1000, 2000]);
    expect(worker.nextDueAt).toBeUndefined();
    expect(clock.pending).toEqual([]);
    // A kick before a due round runs it sooner, and that round's answer replaces the old one.
    const w2 = setup({ results: [5000, undefined] });
    w2.worker.kick(0);
    w2.clock.advance(0);
    await settle();
    expect(w2.worker.nextDueAt).toBe(1_005_000);
    w2.worker.kick(0);
    w2.clock.advance(0);
    await settle();
    expect(w2.rounds.length).toBe(2);
    expect(w2.clock.pending).toEqual([]);
    await worker.stop();
    await w2.worker.stop();
  });

  test("notBefore paces rounds: a kick waits until the time it names", async () => {
    let earliest = 1_000_300;
    const { clock, rounds, worker } = setup({ notBefore: () => earliest });
    worker.kick(0);
    expect(clock.pending).toEqual([300]);
    clock.advance(300);
    await settle();
    expect(rounds.map((r) => r.at - 1_000_000)).toEqual([300]);
    earliest = 0;
    worker.kick(0);
    expect(clock.pending).toEqual([0]);
    await worker.stop();
  });

  test("progressed() during a long round resets the failure count", async () => {
    const boom = new Error("watch broke");
    let n = 0;
    const { clock, errors, worker } = setup({
      run: async (r) => {
        n++;
        if (n === 3) r.progressed();
        throw boom;
      },
    });
    worker.kick(0);
    clock.advance(0);
    await settle();
    clock.advance(75);
    await settle();
    clock.advance(150);
    await settle();
    expect(errors.map((e) => e.failures)).toEqual([1, 2, 1]);
    await worker.stop();
  });

  test("stop aborts the round's signal, waits for it, and leaves no timer and no further round", async () => {
    let aborted = false;
    const { clock, rounds, errors, worker } = setup({
      run: async (r) => {
        rounds.push({ at: clock.now(), failures: 0 });
        await new Promise<void>((resolve) => r.signal.addEventListener("abort", () => resolve(), { once: true }));
        aborted = true;
        throw new Error("aborted");
      },
    });
    worker.kick(0);
    clock.advance(0);
    await settle();
    const idle = worker.idle();
    await worker.stop();
    await idle;
    expect(aborted).toBe(true);
    expect(errors).toEqual([]);
    worker.kick(0);
    expect(clock.pending).toEqual([]);
    expect(rounds.length).toBe(1);
  });

  test("idle() waits for a kicked round and the one in flight, not for rounds due later", async () => {
    const { clock, worker } = setup({ results: [60_000] });
    await worker.idle();
    worker.kick(0);
    let idle = false;
    const p = worker.idle().then(() => (idle = true));
    await settle();
    expect(idle).toBe(false);
    clock.advance(0);
    await p;
    expect(worker.nextDueAt).toBe(1_060_000);
    await worker.stop();
  });
});
