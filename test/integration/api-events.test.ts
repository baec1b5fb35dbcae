// GET /fleet/v1/events through the handler in-process (and once over a real socket), against a
// real etcd: order, ids, resume without gaps or repeats (from the daemon's ring and from etcd's
// history), reset after compaction, filters, slow clients dropped, heartbeats, one shared watch.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serveApi } from "../../src/api/listeners.ts";
import { type EtcdServer, startEtcd } from "../support/etcd-server.ts";
import { errorBody, HASH, testLogger } from "./api-support.ts";
import { brief, eventsFixture, SseReader, until } from "./events-support.ts";

const M1 = "1111111111111111aaaaaaaaaaaaaaaa";
const M2 = "2222222222222222bbbbbbbbbbbbbbbb";

let etcd: EtcdServer;
beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.[Symbol.asyncDispose]();
});

const fixture = (opts: Omit<Parameters<typeof eventsFixture>[0], "endpoint"> = {}) => eventsFixture({ endpoint: etcd.endpoint, ...opts });

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
      ["?since=abc", {}, 'invalid since "abc": expected an event id (REVISION-INDEX) or a revision'],
      ["?since=12-", {}, 'invalid since "12-": expected an event id (REVISION-INDEX) or a revision'],
      ["", { "Last-Event-ID": "x-1" }, 'invalid Last-Event-ID "x-1": expected an event id (REVISION-INDEX) or a revision'],
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

describe("over real listeners", () => {
  test("on TCP the stream needs a token like every path, and a dropped client is named by its address", async () => {
    await using f = fixture({ limits: { maxEvents: 10_000, maxBytes: 1 << 20 } });
    const listeners = await serveApi(f.handler, {
      listen: [{ kind: "tcp", host: "127.0.0.1", port: 0 }], tokens: ["s3cret"], log: testLogger(f.logged), socketActivation: false,
    });
    try {
      const hostPort = listeners.addresses[0]!.slice("tcp://".length);
      const refused = await fetch(`http://${hostPort}/fleet/v1/events`);
      expect([refused.status, await refused.text()]).toEqual([401, errorBody(401, "missing or invalid bearer token")]);
      expect(f.hub.watching).toBe(false);
      // A client that stops reading once the stream is open.
      let received = "";
      const sock = connect(Number(hostPort.split(":")[1]), "127.0.0.1");
      sock.setEncoding("utf8");
      sock.on("data", (d: string) => void (received += d));
      sock.on("error", () => {});
      await new Promise<void>((resolve) => sock.on("connect", () => resolve()));
      sock.write(`GET /fleet/v1/events HTTP/1.1\r\nHost: ${hostPort}\r\nAuthorization: Bearer s3cret\r\n\r\n`);
      await until("the stream to open", () => received.includes('"kind":"open"'));
      sock.pause();
      const reason = "x".repeat(64 * 1024);
      for (let i = 0; !f.logged.some((l) => l.includes("Dropping event stream client")); i++) {
        await f.etcd.put(f.registry.keys.pending(`u${i}.service`), JSON.stringify({ reason, since: new Date().toISOString() }));
        if (i > 1000) throw new Error("Not dropped after 1000 events of 64 KiB");
      }
      const line = f.logged.find((l) => l.includes("Dropping event stream client"))!;
      expect(line).toMatch(new RegExp(`Dropping event stream client 127\\.0\\.0\\.1:${sock.localPort}: it is \\d+ revisions behind`));
      sock.destroy();
    } finally {
      await listeners.close();
    }
  });

  test("a quiet stream and a long blocking read outlive Bun's 10 s idle timeout", async () => {
    // Heartbeats every 16 s: the first comes after 16 s of silence, which Bun's default cuts
    // (after 10 to 14 s: its timer ticks every 4 s).
    await using f = fixture({ heartbeatMs: 16_000 });
    const dir = mkdtempSync(join(tmpdir(), "fleet-events-"));
    // Two listeners, as Bun's per-request timeout on one connection can leak to its server's others.
    const [path, other] = [join(dir, "api.sock"), join(dir, "other.sock")];
    const listeners = await serveApi(f.handler, { listen: [{ kind: "unix", path }, { kind: "unix", path: other }], log: testLogger(f.logged), socketActivation: false });
    try {
      const index = Number((await fetch("http://localhost/fleet/v1/machines", { unix: other })).headers.get("X-Fleet-Index"));
      const blocking = fetch(`http://localhost/fleet/v1/machines?waitIndex=${index}&wait=16s`, { unix: other });
      const s = new SseReader(await fetch("http://localhost/fleet/v1/events", { unix: path }));
      expect((await s.event()).data.kind).toBe("open");
      expect(await s.next()).toEqual({ comment: "heartbeat" });
      const res = await blocking;
      expect([res.status, Number(res.headers.get("X-Fleet-Index")) >= index]).toEqual([200, true]);
      await s.close();
    } finally {
      await listeners.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("failures", () => {
  test("when the daemon's watch fails for good, every stream ends saying why, and the next one starts it again", async () => {
    await using own = await startEtcd({ auth: true });
    const prefix = `/fleet-events-auth-${process.pid}/`;
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    // A user who may read one key of the prefix, not watch all of it.
    await own.admin("/v3/auth/user/add", { name: "narrow", password: "pw" });
    await own.admin("/v3/auth/role/add", { name: "one-key" });
    await own.admin("/v3/auth/role/grant", { name: "one-key", perm: { permType: "READ", key: b64(`${prefix}version`) } });
    await own.admin("/v3/auth/user/grant", { user: "narrow", role: "one-key" });
    await using f = eventsFixture({ endpoint: own.endpoint, prefix, auth: { username: "narrow", password: "pw" } });
    const s = await f.events();
    expect((await s.event()).data.kind).toBe("open");
    const end = (await s.event()).data;
    expect(end.kind).toBe("end");
    expect(end.reason).toStartWith("the daemon's watch of etcd failed: ");
    expect(end.reason).toContain("permission denied");
    expect(await s.next()).toBeUndefined();
    expect(f.logged.some((l) => l.includes("Ending 1 event reader(s): the daemon's watch of etcd failed: "))).toBe(true);
    expect(f.metrics.registry.expose()).toContain('fleet_api_event_stream_clients_dropped_total{reason="failed"} 1\n');
    expect([f.hub.watching, f.hub.readerCount]).toEqual([false, 0]);
    // The next client makes the daemon try again (here it fails the same way).
    const again = await f.events();
    expect((await again.events(2)).map((e) => e.kind)).toEqual(["open", "end"]);
    expect(f.watches()).toBe(2);
  });
});

describe("slow clients", () => {
  test("a client that never reads is dropped once the ring moves past it, logged with how far behind; memory stays bounded", async () => {
    await using f = fixture({ limits: { maxEvents: 20, maxBytes: 1 << 20 } });
    const idle = await f.events();
    await idle.next();
    const reader = await f.events();
    await reader.next();
    const read = reader.events(40);
    for (let i = 0; i < 40; i++) {
      await f.state("a.service", M1, { subState: i % 2 ? "running" : "exited" });
      // The reading client keeps up (so only the idle one falls 20 behind), however busy the host.
      if (i % 5 === 4) await until("the reading client to keep up", () => reader.frames.length >= i + 2);
    }
    // The reading client gets all 40; the other is dropped at the 21st.
    expect((await read).length).toBe(40);
    await until("the idle client to be dropped", () => f.logged.find((l) => l.includes("Dropping event stream client")));
    const line = f.logged.find((l) => l.includes("Dropping event stream client"))!;
    expect(line).toContain("Dropping event stream client (in-process request): it is ");
    expect(line).toContain("revisions behind (it read up to revision ");
    expect(line).toContain("further than the last 20 events");
    expect(f.hub.ring.events).toBeLessThanOrEqual(20);
    expect(f.hub.readerCount).toBe(1);
    expect(f.metrics.registry.expose()).toContain('fleet_api_event_stream_clients_dropped_total{reason="slow"} 1\n');
    expect(f.metrics.registry.expose()).toContain("fleet_api_event_stream_clients 1\n");
    // What the dropped client finds when it reads at last: why, and the end of the stream.
    const end = await idle.event();
    expect(end.id).toBeUndefined();
    expect(end.data.kind).toBe("end");
    expect(end.data.reason).toStartWith("dropped: it is ");
    expect(await idle.next()).toBeUndefined();
    await reader.close();
  });

  test("over a real socket: a client that stops reading is dropped when its connection and the ring are full", async () => {
    await using f = fixture({ limits: { maxEvents: 10_000, maxBytes: 2 << 20 } });
    const dir = mkdtempSync(join(tmpdir(), "fleet-events-"));
    const path = join(dir, "api.sock");
    const listeners = await serveApi(f.handler, { listen: [{ kind: "unix", path }], log: testLogger(f.logged), socketActivation: false });
    try {
      let received = 0;
      const sock = connect(path);
      sock.on("data", (d: Buffer) => void (received += d.length));
      await new Promise<void>((resolve) => sock.on("connect", () => resolve()));
      sock.write("GET /fleet/v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n");
      await until("the stream to open", () => received > 0 && f.hub.readerCount === 1);
      sock.pause();
      // Events of 64 KiB (a long pending reason): the socket's buffers fill within a few.
      const reason = "x".repeat(64 * 1024);
      let writes = 0;
      while (!f.logged.some((l) => l.includes("Dropping event stream client"))) {
        await f.etcd.put(f.registry.keys.pending(`u${writes++}.service`), JSON.stringify({ reason, since: new Date().toISOString() }));
        if (writes > 500) throw new Error(`Not dropped after ${writes} events of 64 KiB; ring ${f.hub.ring.bytes} bytes`);
      }
      const line = f.logged.find((l) => l.includes("Dropping event stream client"))!;
      expect(line).toContain("Dropping event stream client (unix socket): it is ");
      // The ring holds at most its limit plus the newest revision; the client held nothing more.
      expect(f.hub.ring.bytes).toBeLessThanOrEqual((2 << 20) + 70 * 1024);
      expect(f.hub.readerCount).toBe(0);
      console.log(`slow socket client dropped after ${writes} events of 64 KiB; ${received} bytes had reached it`);
      // Reading again, it gets what was in flight, the end notice, and the end of the stream.
      let text = "";
      sock.removeAllListeners("data");
      sock.setEncoding("utf8");
      sock.on("data", (d: string) => void (text += d));
      const closed = new Promise<void>((resolve) => sock.on("end", () => resolve()));
      sock.resume();
      await until("the end notice", () => text.includes('"kind":"end"'));
      expect(text).toContain('data: {"kind":"end","reason":"dropped: it is ');
      sock.end();
      await closed;
    } finally {
      await listeners.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
