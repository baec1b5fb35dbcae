// The tests' one etcd fixture (test/support/etcd-fixture.ts): a real etcd and clients to it, all
// closed on dispose; the shared form for a whole file; fresh key prefixes.
import { expect, test } from "bun:test";
import { freshPrefix, sharedEtcd, startEtcdFixture } from "../support/etcd-fixture.ts";

const shared = sharedEtcd();
const tooEarly = (() => {
  try {
    return shared.client;
  } catch (e) {
    return (e as Error).message;
  }
})();

test("one test's etcd: a client, more clients with their own options, and all of them closed with etcd", async () => {
  const ops: string[] = [];
  let watchEnded: Promise<unknown> | undefined;
  let server;
  {
    await using etcd = await startEtcdFixture({ client: { requestTimeoutMs: 3000 } });
    server = etcd.server;
    expect(etcd.endpoint).toBe(etcd.server.endpoint);
    await etcd.client.put("/fx/a", "1");
    const counted = etcd.connect({ onOperation: (o) => ops.push(o.type) });
    expect((await counted.get("/fx/a"))?.value).toBe("1");
    // A watch ends when its client is closed: this one must end when the fixture goes.
    const w = etcd.client.watch("/fx/", { prefix: true });
    watchEnded = (async () => {
      for await (const _ of w);
    })();
  }
  await watchEnded;
  expect(ops).toEqual(["range"]);
  expect(server.running).toBe(false);
});

test("the shared etcd serves every test of the file, and says so when used before it started", async () => {
  expect(tooEarly).toBe("The shared etcd is not started yet: use it inside a test or a hook");
  await shared.client.put("/shared/k", "v");
  expect((await shared.connect().get("/shared/k"))?.value).toBe("v");
  expect(shared.server.running).toBe(true);
});

test("fresh prefixes never repeat", () => {
  const a = freshPrefix("fleet-x");
  const b = freshPrefix("fleet-x");
  expect(a).toMatch(new RegExp(`^/fleet-x-${process.pid}-\\d+/$`));
  expect(b).not.toBe(a);
});
