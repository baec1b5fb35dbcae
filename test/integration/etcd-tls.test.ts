// TLS against a real etcd that requires client certificates.
import { expect, test } from "bun:test";
import { EtcdClient, EtcdError } from "../../src/registry/etcd/index.ts";
import { sharedEtcd } from "../support/etcd-fixture.ts";

const etcd = sharedEtcd({ clientCertAuth: true });

test("with the CA and a client certificate: KV and watch work over https", async () => {
  expect(etcd.endpoint).toStartWith("https://127.0.0.1:");
  const certs = etcd.server.certs!;
  const c = new EtcdClient({ endpoints: [etcd.endpoint], tls: { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile } });
  try {
    const p = await c.put("/tls/k", "secure");
    expect((await c.get("/tls/k"))?.value).toBe("secure");
    for await (const b of c.watch("/tls/k", { startRevision: p.revision })) {
      expect(b).toMatchObject({ kind: "events", events: [{ kv: { value: "secure" } }] });
      break;
    }
  } finally {
    c.close();
  }
});

test("without a client certificate the handshake fails with a clear error, not retried", async () => {
  const c = new EtcdClient({ endpoints: [etcd.endpoint], tls: { caFile: etcd.server.certs!.caFile } });
  try {
    const e = (await c.get("/tls/k").catch((x: unknown) => x)) as EtcdError;
    expect(e).toBeInstanceOf(EtcdError);
    expect(e.kind).toBe("unavailable");
    expect(e.endpoint).toBe(etcd.endpoint);
    expect(e.message).toStartWith(`etcd ${etcd.endpoint} unavailable for range /tls/k: TLS: `);
    expect(e.message).toContain("handshake");
    // A watch gives up too instead of reconnecting forever.
    const w = (await (async () => {
      for await (const _ of c.watch("/tls/")) return "no error";
    })().catch((x: unknown) => x)) as EtcdError;
    expect(w).toBeInstanceOf(EtcdError);
    expect(w.message).toContain("TLS: ");
  } finally {
    c.close();
  }
});

test("without the CA the server certificate is not trusted", async () => {
  const certs = etcd.server.certs!;
  const c = new EtcdClient({ endpoints: [etcd.endpoint], tls: { certFile: certs.clientCertFile, keyFile: certs.clientKeyFile } });
  try {
    const e = (await c.get("/tls/k").catch((x: unknown) => x)) as EtcdError;
    expect(e.kind).toBe("unavailable");
    expect(e.message).toMatch(/TLS: .*(certificate|verify)/);
  } finally {
    c.close();
  }
});

test("a missing certificate file is reported when the client is created", () => {
  expect(() => new EtcdClient({ endpoints: [etcd.endpoint], tls: { caFile: "/nonexistent/ca.pem" } })).toThrow(
    "Cannot read etcd TLS CA file /nonexistent/ca.pem: ENOENT",
  );
  expect(() => new EtcdClient({ endpoints: [etcd.endpoint], tls: { certFile: etcd.server.certs!.clientCertFile } })).toThrow(
    "Invalid etcd TLS options: a client certificate needs both certFile and keyFile",
  );
});
