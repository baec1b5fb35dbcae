// Auth against a real etcd with auth on: the token flow, re-authentication when etcd rejects a
// token (expired or corrupt), and the error kinds for bad credentials and missing permissions.
import { beforeAll, expect, test } from "bun:test";
import { EtcdClient, EtcdError, type WatchBatch } from "../../src/registry/etcd/index.ts";
import { sharedEtcd } from "../support/etcd-fixture.ts";
import { until } from "../support/until.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");
// Tokens idle for 1 s expire, so the test can see a real expiry.
const etcd = sharedEtcd({ auth: true, extraArgs: ["--auth-token-ttl", "1"] });
beforeAll(async () => {
  await etcd.server.admin("/v3/auth/user/add", { name: "reader", password: "read-only" });
  await etcd.server.admin("/v3/auth/role/add", { name: "ro" });
  await etcd.server.admin("/v3/auth/role/grant", { name: "ro", perm: { permType: "READ", key: b64("/ro/"), range_end: b64("/ro0") } });
  await etcd.server.admin("/v3/auth/user/grant", { user: "reader", role: "ro" });
});

function rootClient(): EtcdClient {
  return new EtcdClient({ endpoints: [etcd.endpoint], username: "root", password: etcd.server.rootPassword });
}

async function rawToken(): Promise<string> {
  const res = await fetch(`${etcd.endpoint}/v3/auth/authenticate`, { method: "POST", body: JSON.stringify({ name: "root", password: etcd.server.rootPassword }) });
  return ((await res.json()) as { token: string }).token;
}

test("the right password works for reads, writes and watches", async () => {
  const c = rootClient();
  try {
    const p = await c.put("/a/k", "v");
    expect((await c.get("/a/k"))?.value).toBe("v");
    for await (const b of c.watch("/a/k", { startRevision: p.revision })) {
      expect(b).toMatchObject({ kind: "events", revision: p.revision });
      break;
    }
  } finally {
    c.close();
  }
});

test("a wrong password is an unauthenticated error naming the endpoint and the user", async () => {
  const c = new EtcdClient({ endpoints: [etcd.endpoint], username: "root", password: "wrong" });
  try {
    const e = (await c.get("/a/k").catch((x: unknown) => x)) as EtcdError;
    expect(e).toBeInstanceOf(EtcdError);
    expect(e.kind).toBe("unauthenticated");
    expect(e.endpoint).toBe(etcd.endpoint);
    expect(e.message).toBe(`etcd ${etcd.endpoint} unauthenticated for authenticate as root: etcdserver: authentication failed, invalid user ID or password`);
    // A watch with bad credentials fails too, instead of retrying forever.
    const w = (await (async () => {
      for await (const _ of c.watch("/a/")) return "no error";
    })().catch((x: unknown) => x)) as EtcdError;
    expect(w).toBeInstanceOf(EtcdError);
    expect(w.kind).toBe("unauthenticated");
  } finally {
    c.close();
  }
});

test("no credentials on a cluster with auth is an unauthenticated error", async () => {
  const c = new EtcdClient({ endpoints: [etcd.endpoint] });
  try {
    const e = (await c.put("/a/k", "v").catch((x: unknown) => x)) as EtcdError;
    expect(e.kind).toBe("unauthenticated");
    expect(e.message).toContain("/a/k");
  } finally {
    c.close();
  }
});

test("a corrupt cached token: the client re-authenticates once and the request succeeds", async () => {
  const c = rootClient();
  try {
    await c.put("/a/corrupt", "1");
    c.setAuthTokenForTesting("not-a-token.1");
    expect((await c.put("/a/corrupt", "2")).revision).toBeGreaterThan(0);
    c.setAuthTokenForTesting("not-a-token.2");
    expect((await c.get("/a/corrupt"))?.value).toBe("2");
  } finally {
    c.close();
  }
});

test("an expired token: the client re-authenticates on etcd's 401", async () => {
  const token = await rawToken();
  const probe = () =>
    fetch(`${etcd.endpoint}/v3/kv/range`, { method: "POST", headers: { authorization: token }, body: JSON.stringify({ key: b64("/a/k") }) }).then((r) => r.status);
  // Wait until etcd itself says the token expired. Every use of a token renews it, and etcd
  // drops idle ones within 1-2 s of the TTL: probe less often than that.
  await until("the token to expire", async () => (await probe()) === 401, { timeoutMs: 20_000, intervalMs: 2500 });
  const c = rootClient();
  try {
    c.setAuthTokenForTesting(token);
    expect((await c.get("/a/k"))?.value).toBe("v");
  } finally {
    c.close();
  }
}, 30_000);

test("a watch whose token is rejected re-authenticates and still delivers", async () => {
  const c = rootClient();
  try {
    const start = (await c.put("/a/w", "before")).revision;
    c.setAuthTokenForTesting("not-a-token.3");
    const batches: WatchBatch[] = [];
    for await (const b of c.watch("/a/w", { startRevision: start })) {
      batches.push(b);
      break;
    }
    expect(batches).toMatchObject([{ kind: "events", events: [{ kv: { key: "/a/w", value: "before" } }] }]);
  } finally {
    c.close();
  }
});

test("a user without write permission gets permission-denied", async () => {
  await etcd.server.admin("/v3/kv/put", { key: b64("/ro/x"), value: b64("readable") });
  const c = new EtcdClient({ endpoints: [etcd.endpoint], username: "reader", password: "read-only" });
  try {
    expect((await c.get("/ro/x"))?.value).toBe("readable");
    const e = (await c.put("/ro/x", "nope").catch((x: unknown) => x)) as EtcdError;
    expect(e.kind).toBe("permission-denied");
    expect(e.code).toBe(7);
    expect(e.message).toBe(`etcd ${etcd.endpoint} permission denied for put /ro/x: etcdserver: permission denied`);
    const w = (await (async () => {
      for await (const _ of c.watch("/elsewhere/", { prefix: true })) return "no error";
    })().catch((x: unknown) => x)) as EtcdError;
    expect(w).toBeInstanceOf(EtcdError);
    expect(w.kind).toBe("permission-denied");
  } finally {
    c.close();
  }
});
