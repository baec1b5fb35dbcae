// fleetctl's two drivers and its connections: the etcd driver against the same cluster, the API
// over TCP with TLS and bearer tokens, the environment, the fleetctl link, and the errors for
// endpoints that are missing or never answer (quirk Q4 fixed: --request-timeout bounds API
// requests too; quirk Q5 fixed: the server certificate is verified against --ca-file).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { createApiHandler } from "../../src/api/handler.ts";
import { serveApi, type ApiListeners } from "../../src/api/listeners.ts";
import { createLogger } from "../../src/log/logger.ts";
import { createFleetMetrics } from "../../src/metrics/fleet.ts";
import { VERSION } from "../../src/version.ts";
import { freePort } from "../support/etcd-server.ts";
import { generateTestCerts, type TestCerts } from "../support/tls/certs.ts";
import { HELLO, MACHINES, rows, spawnCtl, sharedFakeCluster } from "../support/integration/cli-harness.ts";

// Each test spawns the binary several times; some wait out a --block-attempts bound.
setDefaultTimeout(60_000);

const c = sharedFakeCluster();
const [M1] = MACHINES as [{ id: string; ip: string }];
const legend = `${M1.id.slice(0, 8)}.../${M1.ip}`;
const quiet = () => createLogger({ verbosity: 0, journal: false, write: () => {} });


describe("etcd driver", () => {
  test("submit, start, list, cat, stop, destroy straight over etcd", async () => {
    c.writeUnit("hello.service", HELLO);
    const etcd = { etcd: true };
    expect(await c.ctl(["submit", "hello.service"], etcd)).toEqual({ code: 0, out: "Unit hello.service inactive\n", err: "" });
    expect(await c.ctl(["start", "hello.service"], etcd)).toEqual({ code: 0, out: `Unit hello.service launched on ${legend}\n`, err: "" });
    expect(rows((await c.ctl(["list-units", "--no-legend"], etcd)).out)).toEqual([["hello.service", legend, "active", "running"]]);
    expect(rows((await c.ctl(["list-unit-files", "--no-legend", "--fields=unit,dstate,state,target"], etcd)).out)).toEqual([
      ["hello.service", "launched", "launched", legend],
    ]);
    expect(rows((await c.ctl(["list-machines", "--no-legend", "-l"], etcd)).out)).toEqual(MACHINES.map((m) => [m.id, m.ip, "-"]));
    expect((await c.ctl(["cat", "hello"], etcd)).out).toBe(HELLO);
    // The API sees what the etcd driver wrote.
    expect(rows((await c.ctl(["list-unit-files", "--no-legend", "--fields=unit,dstate"])).out)).toEqual([["hello.service", "launched"]]);
    expect(await c.ctl(["stop", "hello.service"], etcd)).toEqual({
      code: 0, out: `Unit hello.service loaded on ${legend}\n`, err: "Successfully stopped units [hello.service].\n",
    });
    expect(await c.ctl(["destroy", "hello.service"], etcd)).toEqual({ code: 0, out: "Destroyed hello.service\n", err: "" });
    expect(await c.ctl(["cat", "hello"], etcd)).toEqual({ code: 1, out: "", err: "Unit hello.service not found\n" });
  });

  test("the same checks as the API: templates cannot be started, bad combinations are refused", async () => {
    c.writeUnit("t@.service", HELLO);
    expect(await c.ctl(["start", "t@.service"], { etcd: true })).toEqual({
      code: 1, out: "Unit t@.service inactive\n", err: 'Error starting units: cannot activate template "t@.service"\n',
    });
  });

  test("pending reasons come from pending/<unit>", async () => {
    c.writeUnit("web@3.service", HELLO);
    c.unplaceable.set("web@3.service", "no machine fits: 2 run a unit matching Conflicts=web@*.service");
    const r = await c.ctl(["load", "--block-attempts=1", "web@3.service"], { etcd: true });
    expect(r.code).toBe(1);
    expect(r.err).toStartWith("Unit web@3.service is pending: no machine fits: 2 run a unit matching Conflicts=web@*.service\n");
  });

  test("a machine running a newer fleet gets fleetctl's upgrade warning", async () => {
    const newer = { id: "ffffffffffffffffffffffffffffffff", ip: "10.9.9.9" };
    await c.putMachine(newer, "99.0.0");
    try {
      const r = await c.ctl(["list-units", "--no-legend"], { etcd: true });
      expect(r.code).toBe(0);
      expect(r.err).toContain(`WARNING: fleetctl (${VERSION}) is older than the latest registered version of fleet found in the cluster (99.0.0).`);
    } finally {
      await c.etcdClient.delete(c.registry.keys.machine(newer.id));
    }
  });
});

describe("unreachable and silent endpoints", () => {
  test("a missing unix socket names the endpoint", async () => {
    const ep = `unix://${join(c.dir, "nothing.sock")}`;
    expect(await spawnCtl([`--endpoint=${ep}`, "list-units"], {}, c.dir)).toEqual({
      code: 1, out: "", err: `Error retrieving list of units from repository: cannot reach fleet at ${ep}: connect ENOENT\n`,
    });
    expect(await spawnCtl([`--endpoint=${ep}`, "start", "x.service"], {}, c.dir)).toEqual({
      code: 1, out: "", err: `Error creating units: error retrieving Unit(x.service) from Registry: cannot reach fleet at ${ep}: connect ENOENT\n`,
    });
  });

  test("a closed TCP port, for the API and for etcd", async () => {
    const port = await freePort();
    expect(await spawnCtl([`--endpoint=http://127.0.0.1:${port}`, "list-unit-files"], {}, c.dir)).toEqual({
      code: 1, out: "", err: `Error retrieving list of units from repository: cannot reach fleet at http://127.0.0.1:${port}: connect ECONNREFUSED\n`,
    });
    const etcd = await spawnCtl(["--driver=etcd", `--endpoint=http://127.0.0.1:${port}`, "list-units"], {}, c.dir);
    expect(etcd.code).toBe(1);
    expect(etcd.err).toBe(`Error retrieving list of units from repository: cannot reach etcd at http://127.0.0.1:${port}: connect ECONNREFUSED\n`);
  });

  test("--request-timeout bounds a request to a server that never answers (TCP and unix)", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const silentUnix = Bun.listen({ unix: join(c.dir, "silent.sock"), socket: { data() {} } });
    try {
      const ep = `http://127.0.0.1:${silent.port}`;
      expect(await spawnCtl([`--endpoint=${ep}`, "--request-timeout=0.5", "list-units"], {}, c.dir)).toEqual({
        code: 1, out: "", err: `Error retrieving list of units from repository: fleet at ${ep} did not answer within 0.5s (--request-timeout)\n`,
      });
      const ux = `unix://${join(c.dir, "silent.sock")}`;
      expect(await spawnCtl(["cat", "x"], { FLEETCTL_ENDPOINT: ux, FLEETCTL_REQUEST_TIMEOUT: "0.3" }, c.dir)).toEqual({
        code: 1, out: "", err: `Error retrieving Unit x.service: fleet at ${ux} did not answer within 0.3s (--request-timeout)\n`,
      });
      const etcd = await spawnCtl(["--driver=etcd", `--endpoint=${ep}`, "--request-timeout=0.5", "cat", "x"], {}, c.dir);
      expect(etcd).toEqual({ code: 1, out: "", err: `Error retrieving Unit x.service: etcd at ${ep} did not answer within 0.5s (--request-timeout)\n` });
    } finally {
      silent.stop(true);
      silentUnix.stop(true);
    }
  });

  test("several etcd endpoints, none of them answering: each is named with how it failed", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const quiet = `http://127.0.0.1:${silent.port}`;
      expect(await spawnCtl(["--driver=etcd", `--endpoint=${closed},${quiet}`, "--request-timeout=0.5", "cat", "x"], {}, c.dir)).toEqual({
        code: 1, out: "",
        err: `Error retrieving Unit x.service: every etcd endpoint failed: ${closed} (connect ECONNREFUSED), ${quiet} did not answer within 0.5s (--request-timeout)\n`,
      });
    } finally {
      silent.stop(true);
    }
  });
});

describe("API over TCP with TLS and a bearer token", () => {
  let certs: TestCerts;
  let tls: ApiListeners;
  let mtls: ApiListeners;
  let url: string;
  let mtlsUrl: string;

  beforeAll(async () => {
    certs = await generateTestCerts(join(c.dir, "tls"), ["127.0.0.1"]);
    const handler = createApiHandler({ registry: c.registry, tokenLimit: 100, version: VERSION, isReady: () => true, metrics: createFleetMetrics(), log: quiet() });
    tls = await serveApi(handler, {
      listen: [{ kind: "tcp", host: "127.0.0.1", port: 0 }], tls: { cert: certs.serverCertFile, key: certs.serverKeyFile },
      tokens: ["s3cret"], log: quiet(), version: VERSION, socketActivation: false,
    });
    mtls = await serveApi(handler, {
      listen: [{ kind: "tcp", host: "127.0.0.1", port: 0 }], tls: { cert: certs.serverCertFile, key: certs.serverKeyFile, ca: certs.caFile },
      log: quiet(), version: VERSION, socketActivation: false,
    });
    url = tls.addresses[0]!.replace("tcp://", "https://");
    mtlsUrl = mtls.addresses[0]!.replace("tcp://", "https://");
  });
  afterAll(async () => {
    await tls?.close();
    await mtls?.close();
  });

  test("--ca-file and --token (or FLEETCTL_TOKEN) reach the API", async () => {
    const ok = await spawnCtl([`--endpoint=${url}`, `--ca-file=${certs.caFile}`, "--token=s3cret", "list-machines", "--no-legend"], {}, c.dir);
    expect(ok.code).toBe(0);
    expect(rows(ok.out).map((r) => r[1])).toEqual(MACHINES.map((m) => m.ip));
    const env = await spawnCtl(["list-machines", "--no-legend"], { FLEETCTL_ENDPOINT: url, FLEETCTL_CA_FILE: certs.caFile, FLEETCTL_TOKEN: "s3cret" }, c.dir);
    expect(env).toEqual(ok);
  });

  test("without the token: the server's 401; without the CA: the certificate is not trusted", async () => {
    expect(await spawnCtl([`--endpoint=${url}`, `--ca-file=${certs.caFile}`, "list-units"], {}, c.dir)).toEqual({
      code: 1, out: "", err: "Error retrieving list of units from repository: googleapi: Error 401: missing or invalid bearer token\n",
    });
    const r = await spawnCtl([`--endpoint=${url}`, "--token=s3cret", "list-units"], {}, c.dir);
    expect(r.code).toBe(1);
    expect(r.err).toStartWith(`Error retrieving list of units from repository: cannot reach fleet at ${url}: `);
  });

  test("a token is never sent over plain http:// to a non-loopback address: refused before connecting", async () => {
    // Nothing listens on the TEST-NET address: the refusal comes before any connection attempt.
    const endpoint = "http://192.0.2.10:49153";
    const refused = {
      code: 1, out: "",
      err: `Unable to initialize client: refusing to send the bearer token (--token or FLEETCTL_TOKEN) over plain http:// to ${endpoint}: ` +
        "anyone on the network path could read it; use an https:// endpoint (with --ca-file), the unix socket, or --tunnel with an endpoint on the far host's loopback\n",
    };
    expect(await spawnCtl([`--endpoint=${endpoint}`, "--token=s3cret", "list-units"], {}, c.dir)).toEqual(refused);
    expect(await spawnCtl(["list-units"], { FLEETCTL_ENDPOINT: endpoint, FLEETCTL_TOKEN: "s3cret" }, c.dir)).toEqual(refused);
  });

  test("a client certificate for a server that requires one", async () => {
    const args = [`--endpoint=${mtlsUrl}`, `--ca-file=${certs.caFile}`, "list-machines", "--no-legend"];
    const ok = await spawnCtl([...args, `--cert-file=${certs.clientCertFile}`, `--key-file=${certs.clientKeyFile}`], {}, c.dir);
    expect(ok.code).toBe(0);
    expect(rows(ok.out).length).toBe(MACHINES.length);
    expect((await spawnCtl(args, {}, c.dir)).code).toBe(1);
  });
});

describe("invocation", () => {
  test("the fleetctl link and FLEETCTL_ENDPOINT; flags before and after the command word", async () => {
    c.writeUnit("hello.service", HELLO);
    expect(await c.ctl(["submit", "hello.service"], { exe: "fleetctl", raw: true, env: { FLEETCTL_ENDPOINT: c.endpoint } })).toEqual({
      code: 0, out: "Unit hello.service inactive\n", err: "",
    });
    expect(await c.ctl(["list-unit-files", "--no-legend", `--endpoint=${c.endpoint}`, "--fields", "unit"], { raw: true })).toEqual({
      code: 0, out: "hello.service\n", err: "",
    });
    // The command line wins over the environment.
    const r = await c.ctl(["--endpoint", c.endpoint, "cat", "hello"], { raw: true, env: { FLEETCTL_ENDPOINT: "unix:///nonexistent.sock" } });
    expect(r).toEqual({ code: 0, out: HELLO, err: "" });
  });

  test("--debug logs the requests on stderr (quirk Q3 fixed)", async () => {
    const r = await c.ctl(["--debug", "list-machines", "--no-legend"]);
    expect(r.code).toBe(0);
    expect(r.err).toContain("DEBUG GET http://domain-sock/fleet/v1/machines?alt=json");
  });
});
