// The drain extension through the in-process handler and a real etcd: PUT and DELETE
// /machines/{id}/drain, their errors, and the additive `drained` field of Machine entities.
import { describe, expect, test } from "bun:test";
import { sharedEtcd } from "../support/etcd-fixture.ts";
import { apiFixture, errorBody, errorOf } from "../support/integration/api-fixture.ts";

const etcd = sharedEtcd();

describe("/machines/{id}/drain", () => {
  test("drain a live machine, see it in the listing, undrain it", async () => {
    const f = apiFixture(etcd.client);
    await f.machine({ id: "m1" });
    await f.machine({ id: "m2", publicIP: "1.2.3.4" });
    for (const prefix of ["/fleet/v1", "/v1-alpha"]) {
      const put = await f.call("PUT", `${prefix}/machines/m2/drain`);
      expect(put.status).toBe(204);
      expect(await put.text()).toBe("");
    }
    const since = (await f.registry.listDrains()).get("m2")?.since;
    expect(since).toBeString();
    // Draining again is fine and keeps when maintenance began.
    expect((await f.call("PUT", "/fleet/v1/machines/m2/drain")).status).toBe(204);
    expect((await f.registry.listDrains()).get("m2")?.since).toBe(since!);
    expect(await (await f.call("GET", "/fleet/v1/machines")).text())
      .toBe('{"machines":[{"id":"m1","startedAt":"2026-01-02T03:04:05.000Z"},{"id":"m2","primaryIP":"1.2.3.4","drained":true,"startedAt":"2026-01-02T03:04:05.000Z"}]}');

    const del = await f.call("DELETE", "/fleet/v1/machines/m2/drain");
    expect(del.status).toBe(204);
    expect(await (await f.call("GET", "/fleet/v1/machines")).text()).toBe('{"machines":[{"id":"m1","startedAt":"2026-01-02T03:04:05.000Z"},{"id":"m2","primaryIP":"1.2.3.4","startedAt":"2026-01-02T03:04:05.000Z"}]}');
    expect(await errorOf(await f.call("DELETE", "/fleet/v1/machines/m2/drain"))).toEqual({ status: 404, body: errorBody(404, "machine is not drained") });
  });

  test("an unknown machine cannot be drained; a gone machine can be undrained", async () => {
    const f = apiFixture(etcd.client);
    expect(await errorOf(await f.call("PUT", "/fleet/v1/machines/nope/drain"))).toEqual({ status: 404, body: errorBody(404, "machine does not exist") });
    expect((await f.registry.listDrains()).size).toBe(0);
    await f.registry.setDrain("gone");
    expect((await f.call("DELETE", "/fleet/v1/machines/gone/drain")).status).toBe(204);
  });

  test("other methods are 405, other subpaths stay 404", async () => {
    const f = apiFixture(etcd.client);
    await f.machine({ id: "m1" });
    expect(await errorOf(await f.call("GET", "/fleet/v1/machines/m1/drain")))
      .toEqual({ status: 405, body: errorBody(405, "only PUT and DELETE supported against this resource") });
    for (const p of ["/fleet/v1/machines/m1", "/fleet/v1/machines/m1/drainx", "/fleet/v1/machines/m1/drain/x", "/fleet/v1/machines/drain"]) {
      expect(await errorOf(await f.call("PUT", p))).toEqual({ status: 404, body: errorBody(404, "") });
    }
  });
});
