// GET /fleet/v1/events through the handler in-process, against a real etcd: order, ids, resume
// without gaps or repeats (from the daemon's ring and from etcd's history), reset after
// compaction, filters, heartbeats, one shared watch. Its limits: api-events-limits.test.ts.
import { describe, expect, test } from "bun:test";
import { errorBody, HASH } from "../support/integration/api-fixture.ts";
import { brief, eventsFixture, eventsFixtures } from "../support/integration/events-support.ts";
import { startEtcd } from "../support/etcd-server.ts";
import { until } from "../support/until.ts";

const M1 = "1111111111111111aaaaaaaaaaaaaaaa";
const M2 = "2222222222222222bbbbbbbbbbbbbbbb";

const fixture = eventsFixtures();

describe("the stream", () => {
  test("opens at the current revision, then tells each change in order with ids <revision>-<index>", async () => {
    await using f = fixture();
    const before = await f.revision();
    const s = await f.events();
    expect(s.response.headers.get("Content-Type")).toBe("text/event-stream; charset=utf-8");
    expect(s.response.headers.get("Cache-Control")).toBe("no-cache");
    const open = await s.next();
    expect(open?.retry).toBe(2000);
    expect(open?.data).toEqual({ id: String(before), revision: before, kind: "open" });
    expect(open?.id).toBe(String(before));

    await f.submit("a.service", "inactive");
    await f.registry.setDesiredState("a.service", "launched");
    // One transaction, three events: numbered 0, 1, 2 within its revision.
    const { revision: txnRev } = await f.etcd.txn({ compare: [], success: [
      { type: "put", key: f.registry.keys.schedule(M1, "a.service"), value: JSON.stringify({ hash: HASH, desiredState: "launched", epoch: "1", reason: "least loaded fitting machine" }) },
      { type: "put", key: f.registry.keys.pending("b.service"), value: JSON.stringify({ reason: "no machine fits", since: new Date().toISOString() }) },
      { type: "delete", key: f.registry.keys.unit("nothing.service") },
      { type: "put", key: f.registry.keys.machine(M2), value: JSON.stringify({ id: M2, publicIP: "", metadata: {}, version: "t", startedAt: new Date().toISOString() }) },
    ] });
    const stateRev = await f.state("a.service", M1);

    const got = await s.events(6);
    expect(got.map(brief)).toEqual([
      "unit.submitted a.service", "unit.desired a.service", "unit.placed a.service " + M1, "unit.pending b.service", `machine.joined ${M2}`, `unit.state a.service ${M1}`,
    ]);
    expect(got[2]).toEqual({ id: `${txnRev}-0`, revision: txnRev, kind: "unit.placed", unit: "a.service", machine: M1, reason: "least loaded fitting machine" });
    expect(got[3]!.id).toBe(`${txnRev}-1`);
    expect(got[4]!.id).toBe(`${txnRev}-2`);
    expect(got[5]).toEqual({ id: `${stateRev}-0`, revision: stateRev, kind: "unit.state", unit: "a.service", machine: M1, loadState: "loaded", activeState: "active", subState: "running", hash: HASH });
    // The SSE id line and the JSON id agree, and revisions only grow.
    expect(s.frames.slice(1).map((x) => x.id)).toEqual(got.map((x) => x.id as string));
    const revs = got.map((x) => x.revision as number);
    expect(revs).toEqual([...revs].sort((a, b) => a - b));
    expect(revs[0]).toBeGreaterThan(before);
    await s.close();
  });

  test("a quiet stream gets heartbeat comments, also while its filter holds back a busy cluster's events", async () => {
    await using f = fixture({ heartbeatMs: 300 });
    const s = await f.events();
    await s.next();
    expect(await s.next()).toEqual({ comment: "heartbeat" });
    await s.close();
    const narrow = await f.events("?unit=nothing.service");
    await narrow.next();
    const next = narrow.next();
    let done = false;
    void next.then(() => (done = true));
    // Changes keep coming from four writers, none for the filter: the heartbeat is still sent.
    let writes = 0;
    await Promise.all([1, 2, 3, 4].map(async (w) => {
      while (!done) {
        await f.state(`w${w}.service`, M1, { subState: `s${writes++}` });
        if (writes > 4000) throw new Error(`No heartbeat while ${writes} filtered-out changes came`);
      }
    }));
    expect(await next).toEqual({ comment: "heartbeat" });
    await narrow.close();
  });

  test("only GET; the stream needs no etcd watch of its own: clients share the daemon's one, which stops after the last leaves", async () => {
    await using f = fixture({ lingerMs: 10 });
    expect((await f.handler(new Request("http://fleet.test/fleet/v1/events", { method: "POST" }))).status).toBe(405);
    expect(f.hub.watching).toBe(false);
    const streams = await Promise.all([f.events(), f.events("?unit=a.service"), f.events("?kinds=machine.lost")]);
    expect(f.hub.watching).toBe(true);
    await until("the shared watch to be open", () => f.watches() === 1);
    expect(f.metrics.registry.expose()).toContain("fleet_api_event_stream_clients 3\n");
    await f.machine(M1);
    for (const s of streams.slice(0, 2)) await s.next();
    expect((await streams[0]!.event()).data.kind).toBe("machine.joined");
    for (const s of streams) await s.close();
    await until("the shared watch to stop after the last client left", () => !f.hub.watching);
    expect(f.metrics.registry.expose()).toContain("fleet_api_event_stream_clients 0\n");
    expect(f.metrics.registry.expose()).toMatch(/fleet_api_event_stream_events_sent_total [1-9]/);
  });
});

describe("resume", () => {
  test("Last-Event-ID (or since=) resumes after that event: nothing missed, nothing twice, mid-revision too", async () => {
    await using f = fixture();
    const s = await f.events();
    await s.next();
    await f.machine(M1);
    const { revision: txnRev } = await f.etcd.txn({ compare: [], success: [
      { type: "put", key: f.registry.keys.drain(M1), value: JSON.stringify({ since: new Date().toISOString() }) },
      { type: "put", key: f.registry.keys.pending("x.service"), value: JSON.stringify({ reason: "r1", since: new Date().toISOString() }) },
      { type: "put", key: f.registry.keys.pending("y.service"), value: JSON.stringify({ reason: "r2", since: new Date().toISOString() }) },
    ] });
    const first = await s.events(4);
    expect(first.map((e) => e.id)).toEqual([expect.any(String), `${txnRev}-0`, `${txnRev}-1`, `${txnRev}-2`]);
    await s.close();
    // While no one listens.
    await f.schedule(M1, "x.service");
    await f.state("x.service", M1);
    const all = [...first.map(brief), `unit.placed x.service ${M1}`, `unit.state x.service ${M1}`];

    for (const [i, from] of first.entries()) {
      const r = await f.events("", { "Last-Event-ID": from.id as string });
      expect((await r.event()).data).toEqual({ id: from.id, revision: from.revision, kind: "open" });
      expect((await r.events(all.length - i - 1)).map(brief)).toEqual(all.slice(i + 1));
      await r.close();
    }
    // since= for curl; Last-Event-ID (a browser reconnecting to the same URL) wins over it.
    const q = await f.events(`?since=${txnRev}-1`, {});
    await q.event();
    expect((await q.events(3)).map(brief)).toEqual(all.slice(3));
    await q.close();
    const both = await f.events(`?since=${txnRev}`, { "Last-Event-ID": `${txnRev}-0` });
    await both.event();
    expect((await both.event()).data.id).toBe(`${txnRev}-1`);
    await both.close();
  });

  test("a daemon that was not watching then (a restart, another daemon) resumes from etcd's history, then follows live", async () => {
    const earlier = fixture();
    const s = await earlier.events();
    await s.next();
    await earlier.machine(M1);
    const joined = await s.event();
    await earlier.schedule(M1, "a.service");
    await earlier.state("a.service", M1);
    const rest = (await s.events(2)).map((e) => [e.id, brief(e)]);
    await s.close();
    await earlier[Symbol.asyncDispose]();

    // Another daemon of the same cluster: its ring starts now, so the resume reads history first.
    await using f = fixture({ prefix: earlier.registry.keys.prefix });
    const r = await f.events("", { "Last-Event-ID": joined.data.id as string });
    await r.event();
    expect(f.hub.ring.floor).toBeGreaterThan(joined.data.revision as number);
    expect((await r.events(2)).map((e) => [e.id, brief(e)])).toEqual(rest);
    // Now live, after the switch to the shared ring: the next change once, and its successor.
    await f.etcd.put(f.registry.keys.drain(M1), JSON.stringify({ since: new Date().toISOString() }));
    await f.etcd.delete(f.registry.keys.drain(M1));
    expect((await r.events(2)).map(brief)).toEqual([`machine.drained ${M1}`, `machine.undrained ${M1}`]);
    await r.close();
  });

  test("a resume point etcd compacted away gets a reset to the current revision, then live events", async () => {
    await using own = await startEtcd();
    await using old = eventsFixture({ endpoint: own.endpoint });
    const s = await old.events();
    await s.next();
    await old.machine(M1);
    const gone = (await s.event()).data.id as string;
    await s.close();
    await old.schedule(M1, "a.service");
    const now = await old.revision();
    await old.etcd.compact(now);

    await using f = eventsFixture({ endpoint: own.endpoint, prefix: old.registry.keys.prefix });
    {
      const r = await f.events(`?since=${gone}`);
      expect((await r.event()).data.kind).toBe("open");
      const reset = await r.event();
      expect(reset.id).toBe(String(reset.data.revision));
      expect(reset.data).toEqual({
        id: reset.id, revision: expect.any(Number), kind: "reset",
        reason: `etcd no longer holds the revisions after ${gone.split("-")[0]} (it compacted its history up to revision ${now})`,
      });
      expect(reset.data.revision as number).toBeGreaterThanOrEqual(now);
      await old.state("a.service", M1);
      expect(brief((await r.event()).data)).toBe(`unit.state a.service ${M1}`);
      await r.close();

      // A place etcd never reached (restored from a backup, or another cluster): a reset too.
      const ahead = await f.events(`?since=${now + 1000}`);
      await ahead.event();
      const r2 = (await ahead.event()).data;
      expect(r2.kind).toBe("reset");
      expect(r2.reason).toStartWith(`event ${now + 1000} is ahead of etcd, which is at revision `);
      await ahead.close();
    }
  });
});

describe("until=now and since=oldest", () => {
  test("until=now tells what happened before the stream opened, then ends with done; since=oldest starts at the buffer's start", async () => {
    await using f = fixture();
    const s = await f.events();
    const opened = (await s.event()).data;
    await f.machine(M1);
    await f.schedule(M1, "a.service");
    const last = await f.state("a.service", M1);
    await s.events(3);
    await s.close();

    const all = await f.events("?since=oldest&until=now");
    expect((await all.event()).data).toEqual({ id: String(f.hub.ring.floor), revision: f.hub.ring.floor, kind: "open", until: last });
    expect((await all.events(3)).map(brief)).toEqual([`machine.joined ${M1}`, `unit.placed a.service ${M1}`, `unit.state a.service ${M1}`]);
    expect((await all.event()).data).toEqual({ kind: "end", reason: `told every event up to revision ${last} (until=now)`, done: true });
    expect(await all.next()).toBeUndefined();
    expect(f.hub.ring.floor).toBeLessThanOrEqual(opened.revision as number);

    // A filter that holds back the last events still ends there; from now, at once.
    const units = await f.events(`?since=${opened.id}&until=now&kinds=machine.joined`);
    expect((await units.events(3)).map((d) => d.kind)).toEqual(["open", "machine.joined", "end"]);
    expect(await units.next()).toBeUndefined();
    const now = await f.events("?until=now");
    expect((await now.events(2)).map((d) => d.kind)).toEqual(["open", "end"]);
    expect(f.hub.readerCount).toBe(0);
  });

  test("until=now from before the buffer (etcd's history) ends too, in a cluster where nothing changes after it", async () => {
    await using earlier = fixture();
    const rev = await earlier.revision();
    await earlier.machine(M1);
    const placed = await earlier.schedule(M1, "a.service");
    // Another daemon: its buffer starts now, so the stream reads etcd's history, which has no end
    // etcd would tell; the daemon writes its mark and stops there.
    await using f = fixture({ prefix: earlier.registry.keys.prefix });
    const s = await f.events(`?since=${rev}&until=now`);
    const open = (await s.event()).data;
    expect(open.until as number).toBeGreaterThan(placed);
    expect((await s.events(2)).map(brief)).toEqual([`machine.joined ${M1}`, `unit.placed a.service ${M1}`]);
    expect((await s.event()).data).toEqual({ kind: "end", reason: `told every event up to revision ${open.until} (until=now)`, done: true });
    expect(await s.next()).toBeUndefined();
    // The mark is no event, for anyone.
    const later = await f.events(`?since=${placed}&until=now`);
    expect((await later.events(2)).map((d) => d.kind)).toEqual(["open", "end"]);
  });
});

describe("filters", () => {
  test("unit (name or glob), machine (id or prefix) and kinds, each and together", async () => {
    await using f = fixture();
    const open = async (q: string) => {
      const s = await f.events(q);
      await s.event();
      return s;
    };
    const byUnit = await open("?unit=web@1.service");
    const byGlob = await open("?unit=web@*.service");
    const byMachine = await open(`?machine=${M2.slice(0, 8)}`);
    const byKinds = await open("?kinds=unit.moved,machine.lost");
    const together = await open(`?unit=web@*.service&machine=${M1}&kinds=unit.state`);
    const several = await open(`?unit=db.service&unit=web@2.service`);

    await f.schedule(M1, "web@1.service");
    await f.schedule(M2, "web@2.service");
    await f.schedule(M2, "db.service");
    await f.state("web@1.service", M1);
    await f.state("web@2.service", M2);
    await f.etcd.txn({ compare: [], success: [
      { type: "delete", key: f.registry.keys.schedule(M1, "web@1.service") },
      { type: "put", key: f.registry.keys.schedule(M2, "web@1.service"), value: JSON.stringify({ hash: HASH, desiredState: "launched", epoch: "1", moved: { from: M1, reason: "machine 11111111 went away" } }) },
    ] });
    await f.machine(M1);
    await f.etcd.delete(f.registry.keys.machine(M1));

    expect((await byUnit.events(3)).map(brief)).toEqual([`unit.placed web@1.service ${M1}`, `unit.state web@1.service ${M1}`, `unit.moved web@1.service ${M1}->${M2}`]);
    expect((await byGlob.events(5)).map(brief)).toEqual([
      `unit.placed web@1.service ${M1}`, `unit.placed web@2.service ${M2}`, `unit.state web@1.service ${M1}`, `unit.state web@2.service ${M2}`, `unit.moved web@1.service ${M1}->${M2}`,
    ]);
    expect((await byMachine.events(4)).map(brief)).toEqual([
      `unit.placed web@2.service ${M2}`, `unit.placed db.service ${M2}`, `unit.state web@2.service ${M2}`, `unit.moved web@1.service ${M1}->${M2}`,
    ]);
    expect((await byKinds.events(2)).map(brief)).toEqual([`unit.moved web@1.service ${M1}->${M2}`, `machine.lost ${M1}`]);
    expect((await together.events(1)).map(brief)).toEqual([`unit.state web@1.service ${M1}`]);
    expect((await several.events(3)).map(brief)).toEqual([`unit.placed web@2.service ${M2}`, `unit.placed db.service ${M2}`, `unit.state web@2.service ${M2}`]);
    // Nothing more for the narrow ones: the next event that passes is after a new change.
    await f.state("web@1.service", M1, { activeState: "failed", subState: "failed" });
    expect((await together.events(1)).map((e) => e.activeState)).toEqual(["failed"]);
    for (const s of [byUnit, byGlob, byMachine, byKinds, together, several]) await s.close();
  });

  test("bad parameters are 400 naming the parameter", async () => {
    await using f = fixture();
    const cases: [string, Record<string, string>, string][] = [
      ["?since=abc", {}, 'invalid since "abc": expected an event id (REVISION-INDEX), a revision or "oldest"'],
      ["?since=12-", {}, 'invalid since "12-": expected an event id (REVISION-INDEX), a revision or "oldest"'],
      ["", { "Last-Event-ID": "x-1" }, 'invalid Last-Event-ID "x-1": expected an event id (REVISION-INDEX), a revision or "oldest"'],
      ["?unit=web@[.service", {}, 'invalid unit "web@[.service": not a valid glob pattern'],
      ["?unit=hello", {}, 'invalid unit "hello": '],
      ["?machine=-x", {}, 'invalid machine "-x": expected a machine ID or its first characters'],
      ["?kinds=unit.placed,unit.started", {}, 'invalid kinds: unknown event kind "unit.started" (known: unit.submitted, '],
    ];
    for (const [q, headers, message] of cases) {
      const res = await f.get(`/fleet/v1/events${q}`, headers);
      expect({ q, status: res.status }).toEqual({ q, status: 400 });
      const body = await res.text();
      expect(body.startsWith(errorBody(400, message).slice(0, -3))).toBe(true);
    }
    expect(f.hub.readerCount).toBe(0);
  });
});

describe("rollouts in the stream", () => {
  test("a rollout started and paused through the API is told in the stream, filtered by its unit and the rollout kinds", async () => {
    await using f = fixture();
    await f.submit("web@1.service");
    const s = await f.events("?unit=web@.service&kinds=rollout.started,rollout.step,rollout.finished");
    await s.event();
    const put = await f.handler(new Request("http://fleet.test/fleet/v1/rollouts/web@.service", {
      method: "PUT", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ options: [{ section: "Service", name: "ExecStart", value: "/bin/sleep 2" }], maxParallel: 2 }),
    }));
    expect(put.status).toBe(201);
    const started = await s.event();
    expect(started.data).toMatchObject({ kind: "rollout.started", unit: "web@.service", maxParallel: 2, autoRevert: false });
    const pause = await f.handler(new Request("http://fleet.test/fleet/v1/rollouts/web@.service/pause", { method: "POST" }));
    expect(pause.status).toBe(200);
    const paused = await s.event();
    expect(paused.data).toMatchObject({ kind: "rollout.step", unit: "web@.service", n: 1, step: { kind: "paused" } });
    await s.close();
  });
});
