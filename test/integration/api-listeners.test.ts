// The API's listeners for real: a unix socket (mode 0660, stale socket replaced), TCP with
// bearer tokens, TCP with TLS client certificates, the rules TCP listeners must follow to start
// (api_insecure), the Host check of loopback listeners, the body limit over a socket, and
// systemd socket activation through `systemd-socket-activate`, all in front of the real handler
// over a real etcd.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiHandler, type ApiHandler } from "../../src/api/handler.ts";
import { serveApi, type ApiListeners } from "../../src/api/listeners.ts";
import { createFleetMetrics } from "../../src/metrics/fleet.ts";
import { Registry } from "../../src/registry/registry.ts";
import { freshPrefix, sharedEtcd } from "../support/etcd-fixture.ts";
import { freePort } from "../support/etcd-server.ts";
import { generateTestCerts, type TestCerts } from "../support/tls/certs.ts";
import { until } from "../support/until.ts";
import { errorBody, SLEEP_OPTIONS, testLogger, VERSION } from "../support/integration/api-fixture.ts";

const etcd = sharedEtcd();
const prefix = freshPrefix("fleet-listeners");
let dir: string;
let handler: ApiHandler;
let certs: TestCerts;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "fleet-api-listeners-"));
  certs = await generateTestCerts(join(dir, "tls"), ["127.0.0.1"]);
  handler = createApiHandler({
    registry: new Registry(etcd.client, prefix), tokenLimit: 100, version: VERSION, isReady: () => true, metrics: createFleetMetrics(), log: testLogger([]),
  });
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function serving(opts: Partial<Parameters<typeof serveApi>[1]> & Pick<Parameters<typeof serveApi>[1], "listen">, logged: string[] = []) {
  const l = await serveApi(handler, { log: testLogger(logged), version: VERSION, socketActivation: false, ...opts });
  return Object.assign(l, { [Symbol.asyncDispose]: () => l.close() }) as ApiListeners & AsyncDisposable;
}

describe("unix socket", () => {
  test("mode 0660, served without a token even when tokens are configured, removed on close", async () => {
    const path = join(dir, "run", "fleet.sock");
    const logged: string[] = [];
    {
      await using l = await serving({ listen: [{ kind: "unix", path }], tokens: ["s3cret"] }, logged);
      expect(l.addresses).toEqual([`unix://${path}`]);
      const st = statSync(path);
      expect(st.isSocket()).toBe(true);
      expect(st.mode & 0o777).toBe(0o660);
      const res = await fetch("http://localhost/fleet/v1/units", { unix: path });
      expect(res.status).toBe(200);
      expect(res.headers.get("Server")).toBe(`fleetd/${VERSION}`);
      expect(await res.text()).toBe("{}");
    }
    expect(existsSync(path)).toBe(false);
    expect(logged.some((l) => l.includes("has no authentication"))).toBe(false);
  });

  test("a stale socket file is replaced; a live socket or a regular file is refused", async () => {
    const path = join(dir, "stale.sock");
    // A process that dies without cleaning up leaves its socket file behind.
    const crashed = Bun.spawn([process.execPath, "-e", `Bun.serve({ unix: ${JSON.stringify(path)}, fetch: () => new Response("old") }); console.log("up");`], { stdout: "pipe" });
    try {
      await until("the old server", () => existsSync(path));
      expect(await (await fetch("http://x/", { unix: path })).text()).toBe("old");
      await expect(serving({ listen: [{ kind: "unix", path }] })).rejects.toThrow(`Cannot listen on unix://${path}: another process is serving it`);
    } finally {
      crashed.kill("SIGKILL");
      await crashed.exited;
    }
    expect(existsSync(path)).toBe(true);
    {
      await using _l = await serving({ listen: [{ kind: "unix", path }] });
      expect((await fetch("http://x/fleet/v1/units", { unix: path })).status).toBe(200);
    }
    const file = join(dir, "not-a-socket");
    writeFileSync(file, "keep me");
    await expect(serving({ listen: [{ kind: "unix", path: file }] })).rejects.toThrow("the path exists and is not a socket");
    expect(existsSync(file)).toBe(true);
  });
});

describe("TCP", () => {
  test("with tokens: 401 without or with a wrong token, 200 with a right one", async () => {
    const logged: string[] = [];
    await using l = await serving({ listen: [{ kind: "tcp", host: "127.0.0.1", port: 0 }], tokens: ["first", "s3cret"] }, logged);
    const url = `${(l.addresses[0] as string).replace("tcp://", "http://")}/fleet/v1/units`;
    for (const auth of [undefined, "Bearer wrong", "s3cret", "Basic s3cret", "Bearer s3cret2"]) {
      const res = await fetch(url, { headers: auth ? { Authorization: auth } : {} });
      expect(res.status).toBe(401);
      expect(res.headers.get("Server")).toBe(`fleetd/${VERSION}`);
      expect(await res.text()).toBe('{"error":{"code":401,"message":"missing or invalid bearer token"}}');
    }
    const ok = await fetch(url, { headers: { Authorization: "Bearer s3cret" } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("{}");
    expect(logged.some((line) => line.includes("has no authentication"))).toBe(false);
  });

  test("without tokens or client certificates it refuses to start; api_insecure serves it with a warning", async () => {
    const listen = [{ kind: "tcp" as const, host: "127.0.0.1", port: 0 }];
    await expect(serving({ listen })).rejects.toThrow(
      "Refusing to serve the API on tcp://127.0.0.1:0: it has no authentication (api_tokens, or api_tls_ca for client certificates), so anyone who can reach it " +
        "could run any command as root on every machine. Configure them, or set api_insecure = true to serve it anyway",
    );
    const logged: string[] = [];
    await using l = await serving({ listen, insecure: true }, logged);
    const address = l.addresses[0] as string;
    expect(address).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(logged.filter((line) => line.includes(
      "WARN API listener tcp://127.0.0.1:0 is served although it has no authentication (api_tokens, or api_tls_ca for client certificates), so anyone who can reach it could run any command as root on every machine (api_insecure = true)",
    ))).toHaveLength(1);
    expect((await fetch(`${address.replace("tcp://", "http://")}/fleet/v1/units`)).status).toBe(200);
  });

  test("off loopback, tokens without TLS refuse to start (they would cross the network in clear text)", async () => {
    const logged: string[] = [];
    for (const host of ["0.0.0.0", "::"]) {
      const shown = host.includes(":") ? `[${host}]` : host;
      await expect(serving({ listen: [{ kind: "tcp", host, port: 0 }], tokens: ["s3cret"] }, logged)).rejects.toThrow(
        `Refusing to serve the API on tcp://${shown}:0: it is not on a loopback address and has no TLS (api_tls_cert, api_tls_key), so requests and tokens would cross the network in clear text. ` +
          "Configure them, or set api_insecure = true to serve it anyway",
      );
    }
    // Both problems at once are both named.
    await expect(serving({ listen: [{ kind: "tcp", host: "0.0.0.0", port: 0 }] })).rejects.toThrow(
      "clear text; and it has no authentication (api_tokens, or api_tls_ca for client certificates)",
    );
    // With TLS it serves, and only over TLS, with the token required.
    await using l = await serving({
      listen: [{ kind: "tcp", host: "0.0.0.0", port: 0 }], tokens: ["s3cret"], tls: { cert: certs.serverCertFile, key: certs.serverKeyFile },
    }, logged);
    const port = (l.addresses[0] as string).split(":").at(-1);
    const url = `https://127.0.0.1:${port}/fleet/v1/units`;
    expect((await fetch(url, { tls: { ca: Bun.file(certs.caFile) } })).status).toBe(401);
    expect((await fetch(url, { tls: { ca: Bun.file(certs.caFile) }, headers: { Authorization: "Bearer s3cret" } })).status).toBe(200);
    // A wildcard listener is reachable under any name: the Host check is for loopback listeners.
    expect((await fetch(url, { tls: { ca: Bun.file(certs.caFile) }, headers: { Authorization: "Bearer s3cret", Host: "fleet.example" } })).status).toBe(200);
    expect(logged.filter((line) => line.includes("WARN"))).toEqual([]);
  });

  test("a loopback listener refuses requests addressed to other host names (DNS rebinding)", async () => {
    await using l = await serving({ listen: [{ kind: "tcp", host: "127.0.0.1", port: 0 }], tokens: ["s3cret"] });
    const port = (l.addresses[0] as string).split(":").at(-1);
    const get = (host: string, auth = "Bearer s3cret") =>
      fetch(`http://127.0.0.1:${port}/fleet/v1/units`, { headers: { Host: host, Authorization: auth } });
    for (const host of ["attacker.example", `attacker.example:${port}`, "127.0.0.1.nip.io", `10.0.0.1:${port}`, "0.0.0.0"]) {
      const res = await get(host);
      expect({ host, status: res.status }).toEqual({ host, status: 421 });
      expect(res.headers.get("Server")).toBe(`fleetd/${VERSION}`);
      expect(await res.text()).toBe(errorBody(421, `request addressed to host ${JSON.stringify(host)} refused: this loopback listener answers only localhost, 127.0.0.1 and [::1] (a guard against DNS rebinding)`));
    }
    // Before the token is looked at: the page learns nothing about it.
    expect((await get("attacker.example", "Bearer wrong")).status).toBe(421);
    for (const host of [`127.0.0.1:${port}`, "localhost", `LOCALHOST:${port}`, "[::1]", `[::1]:${port}`, "api.localhost", "127.9.9.9"]) {
      expect({ host, status: (await get(host)).status }).toEqual({ host, status: 200 });
    }
  });

  test("bodies over api_max_request_bytes are refused with fleet's 413, four 120 MB PUTs at once", async () => {
    await using l = await serving({ listen: [{ kind: "tcp", host: "127.0.0.1", port: 0 }], tokens: ["s3cret"] });
    const url = `${(l.addresses[0] as string).replace("tcp://", "http://")}/fleet/v1/units/huge.service`;
    const huge = new Uint8Array(120 << 20).fill(0x20);
    const headers = { Authorization: "Bearer s3cret", "Content-Type": "application/json" };
    const answers = await Promise.all(Array.from({ length: 4 }, async () => {
      const res = await fetch(url, { method: "PUT", headers, body: huge });
      return { status: res.status, body: await res.text() };
    }));
    const tooLarge = { status: 413, body: errorBody(413, "request body is larger than the limit of 1048576 bytes (api_max_request_bytes)") };
    expect(answers).toEqual(Array(4).fill(tooLarge));
    // Chunked (no Content-Length): counted as it streams.
    async function* chunks() {
      for (let i = 0; i < 120; i++) yield new Uint8Array(1 << 20).fill(0x20);
    }
    const chunked = await fetch(url, { method: "PUT", headers, body: chunks() as unknown as ReadableStream });
    expect({ status: chunked.status, body: await chunked.text() }).toEqual(tooLarge);
    expect((await fetch(url, { headers })).status).toBe(404);
  });

  test("TLS with a CA requires a client certificate signed by it", async () => {
    const logged: string[] = [];
    await using l = await serving({
      listen: [{ kind: "tcp", host: "127.0.0.1", port: 0 }],
      tls: { cert: certs.serverCertFile, key: certs.serverKeyFile, ca: certs.caFile },
    }, logged);
    const url = `${(l.addresses[0] as string).replace("tcp://", "https://")}/fleet/v1/machines`;
    await expect(fetch(url, { tls: { ca: Bun.file(certs.caFile) } })).rejects.toThrow();
    // A certificate from another CA is refused too.
    const other = await generateTestCerts(join(dir, "other-tls"), ["127.0.0.1"], "intruder");
    await expect(fetch(url, { tls: { ca: Bun.file(certs.caFile), cert: Bun.file(other.clientCertFile), key: Bun.file(other.clientKeyFile) } })).rejects.toThrow();
    const res = await fetch(url, { tls: { ca: Bun.file(certs.caFile), cert: Bun.file(certs.clientCertFile), key: Bun.file(certs.clientKeyFile) } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("{}");
    expect(logged.some((line) => line.includes("has no authentication"))).toBe(false);
  });

  test("TLS configured without any TCP listener is a warning", async () => {
    const logged: string[] = [];
    {
      await using _l = await serving({ listen: [{ kind: "unix", path: join(dir, "tls-unused.sock") }], tls: { cert: certs.serverCertFile, key: certs.serverKeyFile } }, logged);
    }
    expect(logged.filter((line) => line.includes("WARN"))).toEqual([
      expect.stringContaining("WARN api_tls_cert is set but the API has no TCP listener (api_listen has no tcp:// address and systemd passed none), so TLS is not used"),
    ]);
  });

  test("unreadable TLS files are a start-up error naming the file", async () => {
    await expect(serving({ listen: [{ kind: "tcp", host: "127.0.0.1", port: 0 }], tls: { cert: join(dir, "none.crt"), key: certs.serverKeyFile } }))
      .rejects.toThrow(`Cannot read the API TLS certificate ${join(dir, "none.crt")}`);
  });
});

const activate = Bun.which("systemd-socket-activate");

describe.skipIf(!activate)("systemd socket activation", () => {
  const child = join(import.meta.dir, "api-activation-child.ts");

  async function activated(listenArg: string, env: Record<string, string>) {
    const unused = join(dir, `unused-${Math.random().toString(36).slice(2)}.sock`);
    const vars = { FLEET_TEST_ETCD: etcd.endpoint, FLEET_TEST_PREFIX: prefix, FLEET_TEST_UNUSED_SOCKET: unused, ...env };
    const args = [activate as string, "-l", listenArg, ...Object.entries(vars).map(([k, v]) => `-E${k}=${v}`), process.execPath, child];
    const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
    const lines = (async function* () {
      const decoder = new TextDecoder();
      let buf = "";
      for await (const chunk of proc.stdout) {
        buf += decoder.decode(chunk);
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          yield buf.slice(0, i);
          buf = buf.slice(i + 1);
        }
      }
    })();
    return {
      proc, unused,
      async report() {
        const first = await lines.next();
        return JSON.parse(first.value as string) as { addresses: string[]; listenFds: string | null; leftInEnv: string | null; error?: string };
      },
      async [Symbol.asyncDispose]() {
        proc.kill("SIGTERM");
        const exited = await Promise.race([proc.exited, Bun.sleep(10_000).then(() => "timeout")]);
        if (exited === "timeout") proc.kill("SIGKILL");
        await proc.exited;
      },
    };
  }

  test("a unix socket from systemd: the first connection starts the daemon, which serves it", async () => {
    const sock = join(dir, "activated.sock");
    await using a = await activated(sock, {});
    await until("systemd-socket-activate to listen", () => existsSync(sock));
    // This request is what makes systemd-socket-activate exec the daemon.
    const bigValue = "x".repeat(2000);
    const options = [...SLEEP_OPTIONS, ...Array.from({ length: 200 }, (_, i) => ({ section: "Unit", name: `X-Pad${i}`, value: bigValue }))];
    const put = await fetch("http://x/fleet/v1/units/activated.service", {
      unix: sock, method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ desiredState: "loaded", options }),
    });
    expect(put.status).toBe(201);
    expect(put.headers.get("Server")).toBe("fleetd/activated");
    const got = await fetch("http://x/fleet/v1/units/activated.service", { unix: sock });
    const unit = await got.json() as { options: unknown[]; desiredState: string };
    expect(unit.desiredState).toBe("loaded");
    expect(unit.options).toHaveLength(201);
    const report = await a.report();
    expect(report).toEqual({ addresses: [`unix://${sock}`], listenFds: "1", leftInEnv: null });
    // api_listen was not used, and many requests in parallel all get through the pipe.
    expect(existsSync(a.unused)).toBe(false);
    const statuses = await Promise.all(Array.from({ length: 20 }, () => fetch("http://x/fleet/v1/machines", { unix: sock }).then((r) => r.status)));
    expect(statuses).toEqual(Array(20).fill(200));
  });

  test("a TCP socket from systemd gets tokens and TLS client certificates", async () => {
    const port = await freePort();
    await using a = await activated(`127.0.0.1:${port}`, { FLEET_TEST_TOKENS: "tok", FLEET_TEST_TLS_DIR: certs.dir });
    const url = `https://127.0.0.1:${port}/fleet/v1/units`;
    const tls = { ca: Bun.file(certs.caFile), cert: Bun.file(certs.clientCertFile), key: Bun.file(certs.clientKeyFile) };
    const first = await until("the activated daemon to answer", async () => {
      try {
        return await fetch(url, { tls });
      } catch {
        return undefined;
      }
    });
    expect(first.status).toBe(401);
    expect(await first.text()).toBe(errorBody(401, "missing or invalid bearer token"));
    const ok = await fetch(url, { tls, headers: { Authorization: "Bearer tok" } });
    expect(ok.status).toBe(200);
    await expect(fetch(url, { tls: { ca: Bun.file(certs.caFile) }, headers: { Authorization: "Bearer tok" } })).rejects.toThrow();
    expect((await a.report()).addresses).toEqual([`tcp://127.0.0.1:${port}`]);
  });

  test("a TCP socket from systemd follows the same rules: off loopback without TLS it is refused", async () => {
    const port = await freePort();
    await using a = await activated(`0.0.0.0:${port}`, { FLEET_TEST_TOKENS: "tok" });
    // The first connection starts the daemon, which refuses and exits: the connection fails.
    await until("systemd-socket-activate to listen", async () => {
      try {
        await fetch(`http://127.0.0.1:${port}/fleet/v1/units`);
        return false;
      } catch (err) {
        return !["ECONNREFUSED", "ConnectionRefused"].includes((err as { code?: string }).code ?? "");
      }
    });
    expect(await a.report()).toEqual({
      error: `Refusing to serve the API on tcp://0.0.0.0:${port}: it is not on a loopback address and has no TLS (api_tls_cert, api_tls_key), ` +
        "so requests and tokens would cross the network in clear text. Configure them, or set api_insecure = true to serve it anyway",
    } as never);
  });
});
