// Endpoint failover, per-request timeouts and the retry policy, against a real etcd plus small
// servers that misbehave on purpose (silent, answering 503, a proxy that dies).
import { expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { EtcdClient, EtcdError, type WatchEvent } from "../../src/registry/etcd/index.ts";
import { sharedEtcd } from "../support/etcd-fixture.ts";
import { freePort } from "../support/etcd-server.ts";
import { until } from "../support/until.ts";

const etcd = sharedEtcd();

/** Accepts connections and never answers. */
function silentServer() {
  const conns: Socket[] = [];
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => void conns.push(s), data() {} } });
  return {
    endpoint: `http://127.0.0.1:${listener.port}`,
    connections: () => conns.length,
    [Symbol.dispose]: () => listener.stop(true),
  };
}

/** Answers every request with `status` and an etcd-style error body. */
function failingServer(status: number, code: number, message: string) {
  let requests = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1", port: 0,
    fetch() {
      requests++;
      return Response.json({ error: message, message, code }, { status });
    },
  });
  return { endpoint: `http://127.0.0.1:${server.port}`, requests: () => requests, [Symbol.dispose]: () => void server.stop(true) };
}

/** A TCP proxy to etcd that can be shut down with its connections, like a node going away. */
function proxyTo(target: string) {
  const { hostname, port } = new URL(target);
  type Side = { upstream?: Socket; pending: Uint8Array[] };
  const open = new Set<Socket<Side>>();
  const listener: TCPSocketListener<Side> = Bun.listen<Side>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      open(client) {
        client.data = { pending: [] };
        open.add(client);
        void Bun.connect({
          hostname, port: Number(port),
          socket: {
            data: (_u, d) => void client.write(d),
            close: () => void client.end(),
            error: () => void client.end(),
          },
        }).then((up) => {
          client.data.upstream = up;
          for (const d of client.data.pending) up.write(d);
        }, () => void client.end());
      },
      data(client, d) {
        if (client.data.upstream) client.data.upstream.write(d);
        else client.data.pending.push(new Uint8Array(d));
      },
      close(client) {
        open.delete(client);
        client.data.upstream?.end();
      },
    },
  });
  return {
    endpoint: `http://127.0.0.1:${listener.port}`,
    stop() {
      listener.stop(true);
      for (const s of open) {
        s.data.upstream?.terminate();
        s.terminate();
      }
    },
  };
}

test("a dead first endpoint: requests move to the next one and stay there", async () => {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const c = new EtcdClient({ endpoints: [dead, etcd.endpoint] });
  try {
    expect(c.endpoint).toBe(dead);
    await c.put("/f/k", "v");
    expect(c.endpoint).toBe(etcd.endpoint);
    expect((await c.get("/f/k"))?.value).toBe("v");
    expect((await c.status()).endpoint).toBe(etcd.endpoint);
  } finally {
    c.close();
  }
});

test("every endpoint dead: unavailable, naming the endpoint, the op and the key", async () => {
  const port = await freePort();
  const c = new EtcdClient({ endpoints: [`http://127.0.0.1:${port}`], retries: 1 });
  try {
    const e = (await c.range("/fleet/units/", { prefix: true }).catch((x: unknown) => x)) as EtcdError;
    expect(e).toBeInstanceOf(EtcdError);
    expect(e.message).toBe(`etcd http://127.0.0.1:${port} unavailable for range /fleet/units/: connect ECONNREFUSED`);
    expect({ kind: e.kind, code: e.code, endpoint: e.endpoint, key: e.key, uncertain: e.uncertain }).toEqual({
      kind: "unavailable", code: 14, endpoint: `http://127.0.0.1:${port}`, key: "/fleet/units/", uncertain: false,
    });
  } finally {
    c.close();
  }
});

test("a silent server: the request times out with kind timeout naming the endpoint", async () => {
  using silent = silentServer();
  const c = new EtcdClient({ endpoints: [silent.endpoint], requestTimeoutMs: 200, retries: 0 });
  try {
    const e = (await c.get("/f/slow").catch((x: unknown) => x)) as EtcdError;
    expect(e).toBeInstanceOf(EtcdError);
    expect(e.message).toBe(`etcd ${silent.endpoint} timeout for range /f/slow: no answer within 200 ms`);
    expect(e.kind).toBe("timeout");
    expect(e.code).toBe(4);
    expect(e.endpoint).toBe(silent.endpoint);
  } finally {
    c.close();
  }
});

test("a read that times out is retried on the next endpoint; a write is not (it may have been applied)", async () => {
  using silent = silentServer();
  const c = new EtcdClient({ endpoints: [silent.endpoint, etcd.endpoint], requestTimeoutMs: 200 });
  try {
    await etcd.server.admin("/v3/kv/put", { key: Buffer.from("/f/read").toString("base64"), value: Buffer.from("r").toString("base64") });
    expect((await c.get("/f/read"))?.value).toBe("r");
    expect(silent.connections()).toBe(1);

    const w = new EtcdClient({ endpoints: [silent.endpoint, etcd.endpoint], requestTimeoutMs: 200 });
    try {
      const e = (await w.put("/f/write", "w").catch((x: unknown) => x)) as EtcdError;
      expect(e.kind).toBe("timeout");
      expect(e.uncertain).toBe(true);
      expect(silent.connections()).toBe(2);
      // It was not sent to the healthy endpoint behind the caller's back.
      expect(await c.get("/f/write")).toBeUndefined();
    } finally {
      w.close();
    }
  } finally {
    c.close();
  }
});

test("503 is retried for reads; for writes only when etcd refused up front", async () => {
  {
    using busy = failingServer(503, 14, "etcdserver: request timed out");
    const c = new EtcdClient({ endpoints: [busy.endpoint], retries: 2 });
    const read = (await c.get("/f/x").catch((x: unknown) => x)) as EtcdError;
    expect(read.kind).toBe("unavailable");
    expect(read.message).toBe(`etcd ${busy.endpoint} unavailable for range /f/x: etcdserver: request timed out`);
    expect(busy.requests()).toBe(3);
    const write = (await c.put("/f/x", "1").catch((x: unknown) => x)) as EtcdError;
    expect(write.kind).toBe("unavailable");
    expect(write.uncertain).toBe(true);
    expect(busy.requests()).toBe(4);
    c.close();
  }
  {
    using leaderless = failingServer(503, 14, "etcdserver: no leader");
    const c = new EtcdClient({ endpoints: [leaderless.endpoint], retries: 2 });
    const write = (await c.txn({ compare: [], success: [{ type: "put", key: "/f/y", value: "1" }] }).catch((x: unknown) => x)) as EtcdError;
    expect(write.kind).toBe("unavailable");
    expect(write.uncertain).toBe(false);
    expect(leaderless.requests()).toBe(3);
    c.close();
  }
  {
    using denied = failingServer(400, 3, "etcdserver: too many operations in txn request");
    const c = new EtcdClient({ endpoints: [denied.endpoint], retries: 2 });
    const e = (await c.get("/f/z").catch((x: unknown) => x)) as EtcdError;
    expect(e.kind).toBe("invalid-argument");
    expect(denied.requests()).toBe(1);
    c.close();
  }
});

test("a watch fails over when its endpoint goes away, without losing or repeating events", async () => {
  const proxy = proxyTo(etcd.endpoint);
  const c = new EtcdClient({ endpoints: [proxy.endpoint, etcd.endpoint] });
  const writer = new EtcdClient({ endpoints: [etcd.endpoint] });
  try {
    const start = (await writer.status()).revision + 1;
    const got: WatchEvent[] = [];
    const w = c.watch("/fw/", { prefix: true, startRevision: start });
    const done = (async () => {
      for await (const b of w) if (b.kind === "events") got.push(...b.events);
    })();
    const written: number[] = [];
    for (let i = 0; i < 20; i++) written.push((await writer.put(`/fw/${i % 3}`, `a${i}`)).revision);
    await until("events through the proxy", () => got.length === 20);
    expect(c.endpoint).toBe(proxy.endpoint);
    proxy.stop();
    for (let i = 20; i < 40; i++) written.push((await writer.put(`/fw/${i % 3}`, `a${i}`)).revision);
    await until("events after failover", () => got.length >= 40);
    expect(c.endpoint).toBe(etcd.endpoint);
    w.close();
    await done;
    expect(got.map((e) => e.kv.modRevision)).toEqual(written);
    expect(got.map((e) => e.kv.value)).toEqual(written.map((_, i) => `a${i}`));
  } finally {
    proxy.stop();
    c.close();
    writer.close();
  }
});
