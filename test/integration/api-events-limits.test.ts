// GET /fleet/v1/events at its limits, against a real etcd: over real listeners (a token on TCP,
// Bun's idle timeout on unix sockets), a watch that fails for good, and clients that stop
// reading, dropped and logged while memory stays bounded.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serveApi } from "../../src/api/listeners.ts";
import { errorBody, testLogger } from "../support/integration/api-fixture.ts";
import { eventsFixture, eventsFixtures, SseReader } from "../support/integration/events-support.ts";
import { startEtcd } from "../support/etcd-server.ts";
import { until } from "../support/until.ts";

const M1 = "1111111111111111aaaaaaaaaaaaaaaa";

const fixture = eventsFixtures();

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
