// Blocking reads through the handler in-process against a real etcd: every GET of units, state
// and machines says which revision it reflects (X-Fleet-Index), and with waitIndex= answers
// once something it depends on changed after that revision, or at the end of wait= unchanged.
import { describe, expect, test } from "bun:test";
import { errorBody } from "../support/integration/api-fixture.ts";
import { eventsFixture, eventsFixtures, type EventsFixture } from "../support/integration/events-support.ts";
import { startEtcd } from "../support/etcd-server.ts";
import { until } from "../support/until.ts";

const M1 = "1111111111111111aaaaaaaaaaaaaaaa";
const M2 = "2222222222222222bbbbbbbbbbbbbbbb";

const fixture = eventsFixtures();
const indexOf = (res: Response): number => Number(res.headers.get("X-Fleet-Index"));

/** A request that is watched: whether it has answered yet. */
function pending(p: Promise<Response>): { settled: () => boolean; response: Promise<Response> } {
  let done = false;
  const response = p.finally(() => (done = true));
  return { settled: () => done, response };
}

/** Waits until the daemon's watch has seen revision `rev` (so a waiting read has judged it). */
async function seen(f: EventsFixture, rev: number): Promise<void> {
  await until(`the hub to reach revision ${rev}`, () => f.hub.ring.head >= rev);
}

describe("X-Fleet-Index", () => {
  test("every GET of units, a unit, state, a unit's state and machines carries it; a 404 too", async () => {
    await using f = fixture();
    await f.submit("a.service");
    await f.machine(M1);
    const last = await f.state("a.service", M1);
    for (const path of ["/fleet/v1/units", "/fleet/v1/units/a.service", "/fleet/v1/state", "/fleet/v1/state/a.service", "/fleet/v1/machines", "/fleet/v1/units/nope.service"]) {
      const res = await f.get(path);
      expect({ path, status: res.status }).toEqual({ path, status: path.endsWith("nope.service") ? 404 : 200 });
      expect({ path, index: indexOf(res) >= last }).toEqual({ path, index: true });
    }
  });

  test("a later page of a listing carries the revision of the snapshot it comes from", async () => {
    await using f = fixture({ tokenLimit: 1 });
    await f.machine(M1);
    await f.machine(M2);
    const first = await f.get("/fleet/v1/machines");
    const token = ((await first.json()) as { nextPageToken: string }).nextPageToken;
    const later = await f.machine("3333333333333333cccccccccccccccc");
    const second = await f.get(`/fleet/v1/machines?nextPageToken=${token}`);
    expect(((await second.json()) as { machines: { id: string }[] }).machines.map((m) => m.id)).toEqual([M2]);
    expect(indexOf(second)).toBe(indexOf(first));
    expect(indexOf(await f.get("/fleet/v1/machines"))).toBeGreaterThanOrEqual(later);
  });
});

describe("waitIndex", () => {
  test("answers when something the answer depends on changes after the index, not for other changes", async () => {
    await using f = fixture();
    const before = await f.get("/fleet/v1/units");
    const index = indexOf(before);
    const wait = pending(f.get(`/fleet/v1/units?waitIndex=${index}&wait=2m`));
    await until("the read to wait", () => f.hub.readerCount === 1);
    // A machine joining changes nothing in the unit list.
    await seen(f, await f.machine(M1));
    expect(wait.settled()).toBe(false);
    await f.submit("a.service");
    const res = await wait.response;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { units: { name: string }[] }).units.map((u) => u.name)).toEqual(["a.service"]);
    expect(indexOf(res)).toBeGreaterThan(index);
    expect(f.hub.readerCount).toBe(0);
  });

  test("a change already made after the index answers at once; the answer's index chains to the next wait", async () => {
    await using f = fixture();
    const index = indexOf(await f.get("/fleet/v1/machines"));
    await f.machine(M1);
    // wait=10m is capped at 4 min: only an immediate answer passes this test in time.
    const res = await f.get(`/fleet/v1/machines?waitIndex=${index}&wait=10m`);
    expect(((await res.json()) as { machines: { id: string }[] }).machines.map((m) => m.id)).toEqual([M1]);
    const next = pending(f.get(`/fleet/v1/machines?waitIndex=${indexOf(res)}&wait=2m`));
    await until("the read to wait", () => f.hub.readerCount === 1);
    expect(next.settled()).toBe(false);
    await f.etcd.put(f.registry.keys.drain(M1), JSON.stringify({ since: new Date().toISOString() }));
    expect(((await (await next.response).json()) as { machines: { drained?: boolean }[] }).machines[0]!.drained).toBe(true);
  });

  test("at the end of wait the answer is the unchanged one", async () => {
    await using f = fixture();
    await f.machine(M1);
    const plain = await f.get("/fleet/v1/machines");
    const body = await plain.text();
    const res = await f.get(`/fleet/v1/machines?waitIndex=${indexOf(plain)}&wait=50ms`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(body);
    expect(indexOf(res)).toBeGreaterThanOrEqual(indexOf(plain));
  });

  test("a unit, its state and a filtered state list wait for their own keys only; a unit may wait to appear", async () => {
    await using f = fixture();
    const missing = await f.get("/fleet/v1/units/x.service");
    expect(missing.status).toBe(404);
    const unit = pending(f.get(`/fleet/v1/units/x.service?waitIndex=${indexOf(missing)}&wait=2m`));
    const states = pending(f.get(`/fleet/v1/state?unitName=x.service&machineID=${M2}&waitIndex=${indexOf(missing)}&wait=2m`));
    const state = pending(f.get(`/fleet/v1/state/x.service?waitIndex=${indexOf(missing)}&wait=2m`));
    await until("the reads to wait", () => f.hub.readerCount === 3);
    await f.submit("y.service");
    await seen(f, await f.schedule(M1, "y.service"));
    expect([unit.settled(), states.settled(), state.settled()]).toEqual([false, false, false]);
    await f.submit("x.service");
    expect((await unit.response).status).toBe(200);
    await seen(f, await f.state("x.service", M1));
    expect([states.settled(), (await state.response).status]).toEqual([false, 200]);
    await f.state("x.service", M2);
    const listed = (await (await states.response).json()) as { states: { machineID: string }[] };
    expect(listed.states.map((s) => s.machineID)).toEqual([M2]);
  });

  test("unit= lists only the units named (or matching a glob) and waits for their keys only", async () => {
    await using f = fixture({ tokenLimit: 2 });
    for (const n of ["a.service", "b.service", "web@1.service", "web@2.service"]) await f.submit(n);
    const names = async (res: Response) => (((await res.json()) as { units?: { name: string }[] }).units ?? []).map((u) => u.name);
    const listed = await f.get("/fleet/v1/units?unit=a.service,web@*.service");
    const token = ((await listed.clone().json()) as { nextPageToken: string }).nextPageToken;
    expect(await names(listed)).toEqual(["a.service", "web@1.service"]);
    expect(await names(await f.get(`/fleet/v1/units?unit=a.service,web@*.service&nextPageToken=${token}`))).toEqual(["web@2.service"]);
    expect(await names(await f.get("/fleet/v1/units?unit=nope.service"))).toEqual([]);

    const wait = pending(f.get(`/fleet/v1/units?unit=a.service&unit=c.service&waitIndex=${indexOf(listed)}&wait=2m`));
    await until("the read to wait", () => f.hub.readerCount === 1);
    await seen(f, await f.schedule(M1, "b.service"));
    await seen(f, await f.state("web@1.service", M1));
    expect(wait.settled()).toBe(false);
    await f.state("a.service", M1);
    expect(await names(await wait.response)).toEqual(["a.service"]);
    const bad = await f.get("/fleet/v1/units?unit=web@[.service");
    expect(bad.status).toBe(400);
    expect(await bad.text()).toBe(errorBody(400, 'invalid unit "web@[.service": not a valid glob pattern'));
  });

  test("an index from before this daemon watched is judged from etcd's history; a compacted one answers at once", async () => {
    await using own = await startEtcd();
    await using a = eventsFixture({ endpoint: own.endpoint });
    const index = indexOf(await a.get("/fleet/v1/units"));
    await a.submit("a.service");
    await a.machine(M1);
    // Another daemon, whose watch starts now: the unit came before it, the read still sees it.
    await using b = eventsFixture({ endpoint: own.endpoint, prefix: a.registry.keys.prefix });
    const res = await b.get(`/fleet/v1/units?waitIndex=${index}&wait=10m`);
    expect(((await res.json()) as { units: { name: string }[] }).units.map((u) => u.name)).toEqual(["a.service"]);
    // Only machines changed since the unit: from history, the read waits for a unit change.
    const unitRev = indexOf(await b.get("/fleet/v1/units/a.service"));
    await using c = eventsFixture({ endpoint: own.endpoint, prefix: a.registry.keys.prefix });
    const quiet = pending(c.get(`/fleet/v1/units/a.service?waitIndex=${unitRev}&wait=2m`));
    await until("the read to wait", () => c.hub.readerCount === 1);
    await seen(c, await c.machine(M2));
    expect(quiet.settled()).toBe(false);
    await c.registry.setDesiredState("a.service", "loaded");
    expect(((await (await quiet.response).json()) as { desiredState: string }).desiredState).toBe("loaded");

    await a.etcd.compact(await a.revision());
    await using d = eventsFixture({ endpoint: own.endpoint, prefix: a.registry.keys.prefix });
    expect((await d.get(`/fleet/v1/units?waitIndex=${index}&wait=10m`)).status).toBe(200);
  });

  test("bad parameters are 400 naming the parameter", async () => {
    await using f = fixture();
    const cases: [string, string][] = [
      ["/fleet/v1/units?waitIndex=abc", 'invalid waitIndex "abc": expected an etcd revision (a whole number, e.g. from X-Fleet-Index)'],
      ["/fleet/v1/units?waitIndex=-1", 'invalid waitIndex "-1": expected an etcd revision (a whole number, e.g. from X-Fleet-Index)'],
      ["/fleet/v1/machines?waitIndex=5&wait=forever", 'invalid wait "forever": "forever" is not a duration (e.g. "30s", "1m30s")'],
      ["/fleet/v1/state?waitIndex=5&wait=-3s", 'invalid wait "-3s": a duration cannot be negative'],
      ["/fleet/v1/state/a.service?wait=30s", 'invalid wait "30s": wait needs waitIndex'],
      ["/fleet/v1/units?waitIndex=5&nextPageToken=x", "invalid waitIndex: a blocking read cannot continue a paged listing (nextPageToken)"],
    ];
    for (const [path, message] of cases) {
      const res = await f.get(path);
      expect({ path, status: res.status, body: await res.text() }).toEqual({ path, status: 400, body: errorBody(400, message) });
    }
    expect(f.hub.watching).toBe(false);
  });
});
