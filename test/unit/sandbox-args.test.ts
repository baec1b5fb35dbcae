// The pure parts of `fleet sandbox`: its command line, the fleet.conf and socket drop-in it
// writes into machines, the env file, the API's certificate (openssl), and the progress lines.
// No root, no machines.
// (Kept beside sandbox-cli.test.ts, which runs the same commands for real.)
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { judgeTcpListener } from "../../src/api/listener-policy.ts";
import { parseFlags } from "../../src/cli/args.ts";
import { planConnection } from "../../src/cli/endpoint.ts";
import { GLOBAL_FLAGS, globalOptions } from "../../src/cli/global-flags.ts";
import { loadConfig } from "../../src/config/index.ts";
import { makeApiTls, readServerPem } from "../../src/sandbox/api-tls.ts";
import { EXAMPLE_FILES } from "../../src/sandbox/examples.ts";
import { sandboxConfig, socketDropIn } from "../../src/sandbox/fleet-install.ts";
import { dirsToKeepVisible } from "../../src/sandbox/boot-script.ts";
import { createProgress } from "../../src/sandbox/progress.ts";
import { parseMetadata, parseSandboxArgs } from "../../src/sandbox/sandbox-args.ts";
import { envText, type SandboxRecord } from "../../src/sandbox/sandbox-record.ts";

test("up takes its defaults, and every flag in both spellings", () => {
  expect(parseSandboxArgs(["up"])).toEqual({
    command: "up", name: "fleet", stateRoot: undefined, machines: 3, etcd: undefined,
    metadata: { m1: {}, m2: {}, m3: {} }, examples: false, agentTtl: "5s", binary: undefined,
  });
  expect(parseSandboxArgs(["up", "--machines=2", "--name", "demo", "--examples", "--etcd", "http://10.0.0.5:2379/", "--agent-ttl=3s"])).toMatchObject({
    command: "up", name: "demo", machines: 2, etcd: "http://10.0.0.5:2379", examples: true, agentTtl: "3s",
  });
  expect(parseSandboxArgs(["--name", "x1", "status"])).toEqual({ command: "status", name: "x1", stateRoot: undefined });
  expect(parseSandboxArgs([])).toMatchObject({ command: "help" });
  expect(parseSandboxArgs(["up", "-h"])).toMatchObject({ command: "help" });
});

test("ssh passes everything after the machine to the machine, flags included", () => {
  expect(parseSandboxArgs(["ssh", "--name", "a", "m2", "ls", "-l", "--name", "/"])).toEqual({
    command: "ssh", name: "a", stateRoot: undefined, machine: "m2", rest: ["ls", "-l", "--name", "/"],
  });
  expect(parseSandboxArgs(["ssh", "m1"])).toMatchObject({ machine: "m1", rest: [] });
  expect(parseSandboxArgs(["kill", "m3"])).toMatchObject({ command: "kill", machine: "m3" });
});

test("bad command lines name the problem", () => {
  const bad: [string[], string][] = [
    [["up", "--machines", "0"], `--machines must be a whole number from 1 to 64, got "0"`],
    [["up", "--machines", "2.5"], `--machines must be a whole number from 1 to 64, got "2.5"`],
    [["up", "--etcd", "http://127.0.0.1:2379"], "--etcd http://127.0.0.1:2379 is this host's loopback, which machines cannot reach: give an address of another interface"],
    [["up", "--etcd", "nope"], `--etcd must be a URL such as http://10.0.0.5:2379, got "nope"`],
    [["up", "--agent-ttl", "500ms"], `cannot use --agent-ttl "500ms"`],
    [["up", "--metadata", "m4:disk=ssd"], `--metadata "m4:disk=ssd" names m4, but the sandbox has m1 to m3`],
    [["up", "--metadata", "disk"], `cannot parse --metadata "disk"`],
    [["up", "extra"], `up takes no arguments, got "extra"`],
    [["down", "--machines", "2"], "flag --machines applies to up only"],
    [["kill"], "kill takes one machine name, e.g. kill m2"],
    [["kill", "web"], `"web" is not a machine name (m1, m2, ...)`],
    [["ssh"], "ssh needs a machine name, e.g. ssh m1"],
    [["launch"], `unknown command "launch"`],
    [["up", "--fast"], "unknown flag --fast"],
    [["up", "--name"], "flag --name needs a value"],
    [["up", "--name", "Big"], `cannot use sandbox name "Big": a lowercase letter, then up to 15 letters or digits`],
  ];
  for (const [argv, message] of bad) expect(() => parseSandboxArgs(argv)).toThrow(message);
});

test("cac reads the flags, but values stay as typed and Go's flag syntax holds", () => {
  expect(parseSandboxArgs(["up", "-machines=2", "-binary", "0x10", "--metadata", "m1:a=1", "-metadata=b=2", "-examples"])).toMatchObject({
    machines: 2, binary: "0x10", metadata: { m1: { a: "1", b: "2" }, m2: { b: "2" } }, examples: true,
  });
  expect(parseSandboxArgs(["--name", "a", "--name=b", "env"])).toMatchObject({ command: "env", name: "b" });
  // A word after -- is never the command.
  expect(parseSandboxArgs(["--", "up"])).toMatchObject({ command: "help" });
  expect(parseSandboxArgs(["ssh", "--", "m1", "ls"])).toMatchObject({ command: "ssh", machine: "m1", rest: ["ls"] });
  const bad: [string[], string][] = [
    [["up", "--machines", "0x10"], `--machines must be a whole number from 1 to 64, got "0x10"`],
    [["up", "--machines=1e1"], `--machines must be a whole number from 1 to 64, got "1e1"`],
    [["up", "--machines", "2.50"], `--machines must be a whole number from 1 to 64, got "2.50"`],
    [["up", "--no-examples"], "unknown flag --no-examples"],
    [["up", "--fast=1"], "unknown flag --fast=1"],
    [["up", "-mx"], "unknown flag -mx"],
    [["up", "--examples=false"], "flag --examples takes no value"],
    [["up", "-h=x"], "flag --h takes no value"],
    [["--name", "123", "up"], `cannot use sandbox name "123": a lowercase letter, then up to 15 letters or digits`],
    [["--name", "-x", "up"], `cannot use sandbox name "-x": a lowercase letter, then up to 15 letters or digits`],
    [["up", "--etcd="], `--etcd must be a URL such as http://10.0.0.5:2379, got ""`],
    [["status", "--examples", "--machines", "2"], "flag --examples applies to up only"],
  ];
  for (const [argv, message] of bad) expect(() => parseSandboxArgs(argv)).toThrow(message);
});

test("metadata for every machine and for one, later values winning", () => {
  expect(parseMetadata(["region=eu,disk=hdd", "m2:disk=ssd", "m2:rack=7"], 3)).toEqual({
    m1: { region: "eu", disk: "hdd" },
    m2: { region: "eu", disk: "ssd", rack: "7" },
    m3: { region: "eu", disk: "hdd" },
  });
});

test("the fleet.conf a machine gets is valid for the daemon and says what the sandbox needs", () => {
  const dir = mkdtempSync(join(tmpdir(), "sandbox-conf-"));
  try {
    const file = join(dir, "fleet.conf");
    writeFileSync(file, sandboxConfig({ name: "m2", ip: "10.250.3.3" }, {
      binary: "/x/fleet", etcdEndpoints: ["http://10.250.3.1:2379"], keyPrefix: "/fleet/", metadata: { disk: "ssd", "odd key": 'q"uote' },
      token: "tok-1", tls: { cert: "CERT", key: "KEY" }, apiPort: 49153, agentTtl: "5s",
    }));
    const { config, warnings } = loadConfig({ file, env: {} });
    expect(warnings).toEqual([]);
    expect(config.etcdServers).toEqual(["http://10.250.3.1:2379"]);
    expect(config.publicIp).toBe("10.250.3.3");
    expect(config.metadata).toEqual({ disk: "ssd", "odd key": 'q"uote' });
    expect(config.apiTokens).toEqual(["tok-1"]);
    expect(config.agentTtlMs).toBe(5000);
    expect([config.apiTlsCert, config.apiTlsKey]).toEqual(["/etc/fleet/api.pem", "/etc/fleet/api-key.pem"]);
    // The TCP listener the socket drop-in adds on the machine's address is served, without a warning.
    const security = { tls: Boolean(config.apiTlsCert), clientCerts: false, tokens: config.apiTokens.length > 0, insecure: config.apiInsecure };
    expect(judgeTcpListener("tcp://10.250.3.3:49153", "10.250.3.3", security)).toEqual({ serve: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expect(socketDropIn("10.250.3.3", 49153)).toContain("[Socket]\nListenStream=10.250.3.3:49153\n");
});

test("the env file exports the API endpoint and token, and shows the etcd alternative", () => {
  const record: SandboxRecord = {
    version: 1, name: "demo", etcd: { endpoint: "http://10.250.0.1:2379", own: true }, token: "secret", apiPort: 49153,
    tls: { caFile: "/run/fleet-sandbox/demo/tls/ca.pem", certFile: "/c", keyFile: "/k" }, binary: "/b/fleet", metadata: {}, agentTtl: "5s",
  };
  const text = envText(record, { name: "demo", machine: "m1", ip: "10.250.0.2" });
  const exported = Bun.spawnSync(["/bin/sh", "-c", `${text}\nenv`]).stdout.toString();
  expect(exported).toContain("FLEETCTL_DRIVER=API\n");
  expect(exported).toContain("FLEETCTL_ENDPOINT=https://10.250.0.2:49153\n");
  expect(exported).toContain("FLEETCTL_CA_FILE=/run/fleet-sandbox/demo/tls/ca.pem\n");
  expect(exported).toContain("FLEETCTL_TOKEN=secret\n");
  // What fleet ctl makes of it: a token over TLS is fine.
  const g = globalOptions(parseFlags(["--endpoint", "https://10.250.0.2:49153", "--token", "secret"], GLOBAL_FLAGS).values);
  expect(planConnection(g).driver).toBe("api");
  expect(text).toContain("# export FLEETCTL_DRIVER=etcd FLEETCTL_ENDPOINT=http://10.250.0.1:2379 FLEETCTL_ETCD_KEY_PREFIX=/fleet/\n");
});

test("the sandbox's certificate is signed by its own CA for every machine's address, and the CA's key is gone", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sandbox-tls-"));
  try {
    const files = await makeApiTls(join(dir, "tls"), "demo", ["10.250.0.2", "10.250.0.3"]);
    expect(readdirSync(join(dir, "tls")).sort()).toEqual(["api-key.pem", "api.pem", "ca.pem"]);
    expect(statSync(files.keyFile).mode & 0o777).toBe(0o600);
    const text = Bun.spawnSync(["openssl", "x509", "-in", files.certFile, "-noout", "-text"]).stdout.toString();
    expect(text).toContain("IP Address:10.250.0.2, IP Address:10.250.0.3, IP Address:127.0.0.1, DNS:localhost");
    expect(text).toContain("Issuer: CN = fleet sandbox demo CA");
    // A TLS server with it is trusted through the CA file alone (as FLEETCTL_CA_FILE does).
    const { cert, key } = readServerPem(files);
    using server = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert, key }, fetch: () => new Response("ok") });
    const res = await fetch(`https://127.0.0.1:${server.port}/`, { tls: { ca: readFileSync(files.caFile, "utf8") } });
    expect(await res.text()).toBe("ok");
    await expect(fetch(`https://127.0.0.1:${server.port}/`)).rejects.toThrow();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("progress: a line per step, redrawn with its duration on a terminal", () => {
  let clock = 0;
  const plain: string[] = [];
  const p1 = createProgress({ write: (s: string) => plain.push(s) }, () => clock);
  p1.step("Booting 3 machines");
  p1.step("Starting etcd");
  p1.done();
  expect(plain.join("")).toBe("Booting 3 machines\nStarting etcd\n");

  const tty: string[] = [];
  const p2 = createProgress({ write: (s: string) => tty.push(s), isTTY: true }, () => clock);
  p2.step("Booting");
  clock += 1234;
  p2.note("a note");
  p2.step("Waiting");
  clock += 100;
  p2.done();
  expect(tty.join("")).toBe("Booting ...\r\x1b[Ka note\nBooting ...\r\x1b[KBooting (1.2 s)\nWaiting ...\r\x1b[KWaiting (0.1 s)\n");
});

test("the embedded example units are the files in examples/units", () => {
  for (const [name, text] of Object.entries(EXAMPLE_FILES)) {
    expect(text).toBe(readFileSync(join(import.meta.dir, "../../examples/units", name), "utf8"));
  }
});

test("only checkout directories under /tmp or /var/tmp are kept visible in machines, outermost first", () => {
  expect(dirsToKeepVisible(["/work/main", "/tmp/ci/main/bin", "/tmp/ci/main", "/var/tmp/x/", "/tmp", "/tmpfoo/a"]))
    .toEqual(["/tmp/ci/main", "/var/tmp/x"]);
  expect(dirsToKeepVisible(["/work/main/bin", "/work/main"])).toEqual([]);
});
