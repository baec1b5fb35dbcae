// The event hub, its readers and the stream on the manual clock (test/support/manual-clock.ts):
// the watch's linger after the last reader, a reader's wait, a blocking read's wait and a quiet
// stream's heartbeat all fall due when the clock passes them, not before; against a real etcd.
import { describe, expect, test } from "bun:test";
import { ManualClock } from "../support/manual-clock.ts";
import { eventsFixtures } from "../support/integration/events-support.ts";
import { until } from "../support/until.ts";

const fixture = eventsFixtures();

/** Lets promises and I/O already under way settle (etcd answers, the stream's pull). */
const settle = () => Bun.sleep(30);

describe("on the manual clock", () => {
  test("the shared watch stops lingerMs after the last reader leaves, and not a millisecond before", async () => {
    const clock = new ManualClock();
    await using f = fixture({ clock, lingerMs: 60_000 });
    const reader = await f.hub.open(undefined, { client: "test" });
    expect(f.hub.watching).toBe(true);
    reader.close();
    expect(clock.pending).toEqual([60_000]);
    clock.advance(59_999);
    expect(f.hub.watching).toBe(true);
    clock.advance(1);
    expect(f.hub.watching).toBe(false);
    // A reader that comes back within the linger cancels it.
    (await f.hub.open(undefined, { client: "test" })).close();
    clock.advance(30_000);
    const again = await f.hub.open(undefined, { client: "test" });
    expect(clock.pending).toEqual([]);
    again.close();
  });

  test("a reader's wait ends idle when the clock passes it; a change before that ends it with the change", async () => {
    const clock = new ManualClock();
    await using f = fixture({ clock });
    const reader = await f.hub.open(undefined, { client: "test" });
    let step: unknown;
    const waiting = reader.next(5000).then((s) => (step = s));
    await settle();
    clock.advance(4999);
    await settle();
    expect(step).toBeUndefined();
    clock.advance(1);
    await waiting;
    expect(step).toEqual({ kind: "idle" });
    const next = reader.next(5000);
    const rev = await f.machine("1111111111111111aaaaaaaaaaaaaaaa");
    expect(await next).toMatchObject({ kind: "batch", batch: { revision: rev } });
    reader.close();
  });

  test("a blocking read answers unchanged when the clock passes its wait", async () => {
    const clock = new ManualClock();
    await using f = fixture({ clock });
    const index = Number((await f.get("/fleet/v1/machines")).headers.get("X-Fleet-Index"));
    let answered = false;
    const res = f.get(`/fleet/v1/machines?waitIndex=${index}&wait=30s`).finally(() => (answered = true));
    await until("the read to wait on the clock", () => clock.pending.includes(30_000));
    clock.advance(29_999);
    await settle();
    expect(answered).toBe(false);
    clock.advance(1);
    expect((await res).status).toBe(200);
  });

  test("a quiet stream's heartbeat is due heartbeatMs after the last thing it sent", async () => {
    const clock = new ManualClock();
    await using f = fixture({ clock, heartbeatMs: 15_000 });
    const s = await f.events();
    expect((await s.next())?.data?.kind).toBe("open");
    let frame: unknown;
    const next = s.next().then((x) => (frame = x));
    await until("the stream to wait on the clock", () => clock.pending.includes(15_000));
    clock.advance(14_999);
    await settle();
    expect(frame).toBeUndefined();
    clock.advance(1);
    await next;
    expect(frame).toEqual({ comment: "heartbeat" });
    await s.close();
  });
});
