// The dashboard's side of the API: its files under /ui/ (headers, paths, methods), served without a
// token on a TCP listener that needs one while every data path still needs it; the journal path;
// and the sandbox's dashboard proxy in front of a real TLS listener.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { journalctlSource } from "../../src/api/journal.ts";
import { serveApi } from "../../src/api/listeners.ts";
import { UI_CSP } from "../../src/api/ui.ts";
import { EtcdClient } from "../../src/registry/etcd/index.ts";
import { dashboardProxy } from "../../src/sandbox/dashboard.ts";
import { type EtcdServer, startEtcd } from "../support/etcd-server.ts";
import { generateTestCerts } from "../support/tls/certs.ts";
import { tempDir } from "../support/temp-dir.ts";
import { apiFixture, errorBody, errorOf, SLEEP_OPTIONS, testLogger, VERSION } from "../support/integration/api-fixture.ts";

let etcd: EtcdServer;
let client: EtcdClient;
const ME = "aaaaaaaa11111111aaaaaaaa11111111";
const OTHER = "bbbbbbbb22222222bbbbbbbb22222222";
const TOKEN = "ui-test-token-0123456789";

beforeAll(async () => {
  etcd = await startEtcd();
  client = new EtcdClient({ endpoints: [etcd.endpoint] });
});

afterAll(async () => {
  client?.close();
  await etcd?.[Symbol.asyncDispose]();
});

describe("/ui/", () => {
  test("the page, its script, style and icon, with a CSP that allows only this origin", async () => {
    const f = apiFixture(client);
    const page = await f.call("GET", "/ui/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toBe(UI_CSP);
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await page.text();
    expect(html).toContain('<script type="module" src="app.js"></script>');
    // Nothing from elsewhere: every src and href is relative or a fragment.
    expect([...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]).filter((u) => /^[a-z]+:|^\/\//i.test(u!))).toEqual([]);
    const js = await f.call("GET", "/ui/app.js");
    expect([js.status, js.headers.get("content-type")]).toEqual([200, "text/javascript; charset=utf-8"]);
    const code = await js.text();
    expect(code).toContain("/fleet/v1/events");
    expect(code).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    expect((await f.call("GET", "/ui/style.css")).headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect((await f.call("GET", "/ui/icon.svg")).headers.get("content-type")).toBe("image/svg+xml");
    // Revalidated, not fetched again.
    const again = await f.call("GET", "/ui/app.js", { headers: { "If-None-Match": js.headers.get("etag")! } });
    expect(again.status).toBe(304);
  });

  test("/ui redirects to /ui/; other files are 404; writes are 405", async () => {
    const f = apiFixture(client);
    const r = await f.call("GET", "/ui");
    expect([r.status, r.headers.get("location")]).toEqual([301, "/ui/"]);
    expect(await errorOf(await f.call("GET", "/ui/secret.txt"))).toEqual({ status: 404, body: errorBody(404, "no dashboard file /ui/secret.txt: the dashboard is at /ui/") });
    expect((await f.call("POST", "/ui/", { body: "x" })).status).toBe(405);
  });
});

describe("on a TCP listener with tokens", () => {
  test("the files load without a token, data and events do not, and an escaped path is no way round", async () => {
    const f = apiFixture(client);
    const logged: string[] = [];
    const l = await serveApi(f.handler, { listen: [{ kind: "tcp", host: "127.0.0.1", port: 0 }], tokens: [TOKEN], log: testLogger(logged), version: VERSION, socketActivation: false });
    try {
      const base = l.addresses[0]!.replace("tcp://", "http://");
      for (const path of ["/ui/", "/ui/app.js", "/ui/style.css", "/ui/icon.svg"]) expect([path, (await fetch(`${base}${path}`)).status]).toEqual([path, 200]);
      expect((await fetch(`${base}/ui`, { redirect: "manual" })).status).toBe(301);
      for (const path of ["/fleet/v1/units", "/fleet/v1/machines", "/fleet/v1/state", "/fleet/v1/events", "/ui/%2e%2e/fleet/v1/units", "/ui/..%2ffleet/v1/units", "/ui/app.js/../../fleet/v1/units", "/metrics"]) {
        expect([path, (await fetch(`${base}${path}`, { redirect: "manual" })).status]).toEqual([path, 401]);
      }
      expect((await fetch(`${base}/ui/app.js`, { method: "DELETE" })).status).toBe(401);
      const withToken = await fetch(`${base}/fleet/v1/units`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(withToken.status).toBe(200);
    } finally {
      await l.close();
    }
  });
});

describe("GET /fleet/v1/units/{name}/journal", () => {
  test("a unit on this machine: its journal read with journalctl; elsewhere: 409 naming the machine; bad input: 400 and 404", async () => {
    const f = apiFixture(client, { journal: journalctlSource(ME) });
    await f.machine({ id: ME, publicIP: "10.0.0.1" });
    await f.machine({ id: OTHER, publicIP: "10.0.0.2" });
    for (const name of ["here.service", "there.service"]) {
      expect((await f.call("PUT", `/fleet/v1/units/${name}`, { body: { desiredState: "launched", options: SLEEP_OPTIONS } })).status).toBe(201);
    }
    await f.schedule(ME, "here.service", {});
    await f.state("there.service", OTHER);

    const here = await f.call("GET", "/fleet/v1/units/here.service/journal?lines=5");
    expect(here.status).toBe(200);
    // This host has no journal of its own, so journalctl answers with no lines, and exit status 0.
    expect(await here.json()).toEqual({ unit: "here.service", machineID: ME, lines: [] });

    expect(await errorOf(await f.call("GET", "/fleet/v1/units/there.service/journal"))).toEqual({
      status: 409,
      body: errorBody(409, "the journal of there.service is on machine bbbbbbbb (10.0.0.2); this daemon runs on aaaaaaaa and reads only its own journal (fleetctl journal there.service reads it over ssh)"),
    });
    expect(await errorOf(await f.call("GET", "/fleet/v1/units/gone.service/journal"))).toEqual({ status: 404, body: errorBody(404, "unit does not exist") });
    expect((await errorOf(await f.call("GET", "/fleet/v1/units/-x.service/journal"))).status).toBe(400);
    expect(await errorOf(await f.call("GET", "/fleet/v1/units/here.service/journal?lines=0"))).toEqual({
      status: 400, body: errorBody(400, 'invalid lines "0": expected a whole number from 1 to 1000'),
    });
    expect((await f.call("POST", "/fleet/v1/units/here.service/journal", { body: "{}" })).status).toBe(405);
  });

  test("an API that runs on no machine serves no journal", async () => {
    const f = apiFixture(client);
    expect(await errorOf(await f.call("GET", "/fleet/v1/units/a.service/journal"))).toEqual({
      status: 404, body: errorBody(404, "this API serves no journal: it does not run on a machine of the cluster"),
    });
  });
});

describe("the sandbox's dashboard proxy", () => {
  test("passes the page and the API through to a TLS listener it verifies, adds no token, answers loopback names only", async () => {
    using dir = tempDir("fleet-ui-tls-");
    const certs = await generateTestCerts(join(dir.path, "a"), ["127.0.0.1"]);
    const f = apiFixture(client);
    const logged: string[] = [];
    const l = await serveApi(f.handler, {
      listen: [{ kind: "tcp", host: "127.0.0.1", port: 0 }], tokens: [TOKEN], tls: { cert: certs.serverCertFile, key: certs.serverKeyFile }, log: testLogger(logged), version: VERSION, socketActivation: false,
    });
    try {
      const up = l.addresses[0]!.replace("tcp://", "https://");
      // The first upstream answers nothing: the proxy goes on to the next.
      const proxy = dashboardProxy({ upstreams: () => ["https://127.0.0.1:1", up], ca: readFileSync(certs.caFile, "utf8") });
      const call = (path: string, init: RequestInit & { host?: string } = {}) =>
        proxy(new Request(`http://127.0.0.1:49154${path}`, { ...init, headers: { Host: init.host ?? "127.0.0.1:49154", ...(init.headers as Record<string, string>) } }));
      const page = await call("/ui/");
      expect([page.status, page.headers.get("content-security-policy")]).toEqual([200, UI_CSP]);
      expect((await call("/fleet/v1/units")).status).toBe(401);
      expect((await call("/fleet/v1/units", { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      const put = await call("/fleet/v1/units/p.service", {
        method: "PUT", headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" }, body: JSON.stringify({ desiredState: "inactive", options: SLEEP_OPTIONS }),
      });
      expect(put.status).toBe(201);
      expect(await f.registry.getUnit("p.service")).toBeDefined();
      expect((await call("/")).headers.get("location")).toBe("/ui/");
      expect((await call("/metrics")).status).toBe(404);
      const rebinding = await call("/ui/", { host: "evil.example:49154" });
      expect(rebinding.status).toBe(421);
      // A CA that did not sign the machine's certificate: nothing gets through.
      const other = await generateTestCerts(join(dir.path, "b"), ["127.0.0.1"]);
      const strict = dashboardProxy({ upstreams: () => [up], ca: readFileSync(other.caFile, "utf8") });
      const refused = await strict(new Request("http://localhost:49154/ui/", { headers: { Host: "localhost:49154" } }));
      expect(refused.status).toBe(502);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toStartWith("no machine of the sandbox answered (127.0.0.1:");
    } finally {
      await l.close();
    }
  });
});
