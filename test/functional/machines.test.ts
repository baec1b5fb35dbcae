// Real systemd machines in namespaces (src/sandbox): identity, isolation from the host, the
// bridge network, services, kill/freeze/thaw/halt/boot, and complete teardown. Needs root.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  Cluster, cleanupStale, DEFAULT_STATE_ROOT, discoverClusters, type Machine, randomClusterName, withJournalOnFailure,
} from "../../src/sandbox/index.ts";
import { findCgroup2Root } from "../../src/sandbox/cgroup.ts";
import { listLinks, subnetOverlaps } from "../../src/sandbox/network.ts";
import { quoteExecArg } from "../../src/sandbox/service-unit.ts";
import { startEtcd } from "../support/etcd-server.ts";
import { readLine } from "../support/read-line.ts";
import { until } from "../support/until.ts";

const CANARY = `/tmp/fleet-machines-test-canary-${process.pid}`;
const HOST_FILES = ["/etc/hostname", "/etc/machine-id"];
const hostFileContents = new Map<string, string>();
let cluster: Cluster;
let hostServer: ReturnType<typeof Bun.serve>;

/** Everything a cluster can leave on the host; empty when it is fully gone. */
async function traces(name: string, bridge: string | undefined): Promise<string[]> {
  const found: string[] = [];
  const dir = join(DEFAULT_STATE_ROOT, name);
  if (existsSync(dir)) found.push(`state directory ${dir}`);
  const node = join(findCgroup2Root() ?? "/sys/fs/cgroup", `fleet-sandbox-${name}`);
  if (existsSync(node)) found.push(`cgroup ${node}`);
  if (bridge) for (const l of await listLinks()) if (l.name.startsWith(bridge)) found.push(`link ${l.name}`);
  return found;
}

async function curl(machine: Machine, url: string): Promise<{ code: number; body: string }> {
  const r = await machine.exec(["curl", "-s", "--max-time", "3", url], { timeoutMs: 10_000 });
  return { code: r.code, body: r.stdout };
}

beforeAll(async () => {
  writeFileSync(CANARY, "the host's /tmp must survive machine boots\n");
  for (const f of HOST_FILES) hostFileContents.set(f, readFileSync(f, "utf8"));
  await cleanupStale();
  cluster = await Cluster.create({ name: randomClusterName("mt"), machines: 3 });
  hostServer = Bun.serve({ hostname: cluster.bridgeIp, port: 0, fetch: () => new Response("hello from the host") });
}, 60_000);

afterAll(async () => {
  hostServer?.stop(true);
  await cluster?.destroy();
  const canaryAlive = existsSync(CANARY);
  rmSync(CANARY, { force: true });
  expect(canaryAlive).toBe(true);
  for (const [f, content] of hostFileContents) expect(readFileSync(f, "utf8")).toBe(content);
  if (cluster) expect(await traces(cluster.name, cluster.bridge)).toEqual([]);
}, 60_000);

test("each machine has its own hostname, machine-id and address", async () => {
  await withJournalOnFailure(cluster.machines, async () => {
    const ids = new Set<string>();
    for (const m of cluster.machines) {
      expect((await m.execOk(["hostname"])).trim()).toBe(m.hostname);
      expect((await m.readFile("/etc/hostname")).trim()).toBe(m.hostname);
      expect((await m.readFile("/etc/machine-id")).trim()).toBe(m.machineId);
      expect(await m.execOk(["ip", "-4", "-o", "addr", "show", "dev", "eth0"])).toContain(`inet ${m.ip}/24`);
      expect(await m.systemState()).toBe("running");
      ids.add(m.machineId);
    }
    expect(ids.size).toBe(cluster.machines.length);
    expect(new Set(cluster.machines.map((m) => m.ip)).size).toBe(cluster.machines.length);
  });
}, 30_000);

test("a machine's /tmp, /run and /etc writes stay inside it", async () => {
  const m = cluster.machines[0]!;
  await withJournalOnFailure([m], async () => {
    expect((await m.exec(["test", "-e", CANARY])).code).not.toBe(0);
    await m.writeFile("/tmp/inside", "x");
    await m.writeFile("/etc/fleet-sandbox-probe.conf", "probe\n");
    expect(existsSync("/tmp/inside")).toBe(false);
    expect(existsSync("/etc/fleet-sandbox-probe.conf")).toBe(false);
    expect(await m.readFile("/etc/fleet-sandbox-probe.conf")).toBe("probe\n");
    // Another machine does not see it either.
    expect((await cluster.machines[1]!.exec(["test", "-e", "/etc/fleet-sandbox-probe.conf"])).code).not.toBe(0);
    await expect(m.writeFile("/usr/local/escape", "x")).rejects.toThrow("only paths under /run/, /etc/, /tmp/, /var/tmp/");
  });
}, 30_000);

test("machines reach the host on the bridge address and each other; loopback is their own", async () => {
  const [m1, m2] = cluster.machines as [Machine, Machine];
  await withJournalOnFailure([m1, m2], async () => {
    const hostUrl = `http://${cluster.bridgeIp}:${hostServer.port}/`;
    for (const m of cluster.machines) expect(await curl(m, hostUrl)).toEqual({ code: 0, body: "hello from the host" });
    // A long-lived service as a unit; the quoted argument holds spaces, quotes, $ and %.
    const script = `Bun.serve({ port: 8080, fetch: () => new Response(require("node:os").hostname() + " says \\"100% $HOME\\"") })`;
    await m2.startService("hello.service", { execStart: [process.execPath, "-e", script], environment: { HOME: "/root" } });
    const url = `http://${m2.ip}:8080/`;
    const reply = await until(`hello.service on ${m2.name} to answer`, async () => {
      const r = await curl(m1, url);
      return r.code === 0 && r.body;
    }, { timeoutMs: 15_000, retryErrors: true });
    expect(reply).toBe(`${m2.hostname} says "100% $HOME"`);
    expect((await curl(m1, "http://127.0.0.1:8080/")).code).not.toBe(0);
    expect((await curl(m2, "http://127.0.0.1:8080/")).code).toBe(0);
    expect((await m2.systemctl("is-active", "hello.service")).trim()).toBe("active");
  }, "hello.service");
}, 60_000);

test("machines reach an etcd listening on the bridge address", async () => {
  await using etcd = await startEtcd({ listenHosts: ["127.0.0.1", cluster.bridgeIp] });
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const url = etcd.endpoints.find((e) => e.includes(cluster.bridgeIp));
  expect(url).toBeDefined();
  await withJournalOnFailure(cluster.machines, async () => {
    for (const m of cluster.machines) {
      const body = JSON.stringify({ key: b64(`/probe/${m.name}`), value: b64(m.machineId) });
      await m.execOk(["curl", "-sf", "--max-time", "5", "-X", "POST", "-d", body, `${url}/v3/kv/put`]);
    }
  });
  const res = await fetch(`${etcd.endpoint}/v3/kv/range`, {
    method: "POST",
    body: JSON.stringify({ key: b64("/probe/"), range_end: b64("/probe0") }),
  });
  const kvs = ((await res.json()) as { kvs?: { value: string }[] }).kvs ?? [];
  expect(kvs.map((kv) => Buffer.from(kv.value, "base64").toString()).sort()).toEqual(cluster.machines.map((m) => m.machineId).sort());
}, 60_000);

test("freeze and thaw stop and resume a machine", async () => {
  const m = cluster.machines[2]!;
  await withJournalOnFailure([m], async () => {
    await m.freeze();
    expect(await m.systemState()).toBe("frozen");
    expect(await m.isRunning()).toBe(false);
    await m.thaw();
    expect(await m.systemState()).toBe("running");
  });
}, 30_000);

test("a hard-killed machine disappears without cutting the others off, and boots again as itself", async () => {
  const [m1, , m3] = cluster.machines as [Machine, Machine, Machine];
  await withJournalOnFailure(cluster.machines, async () => {
    const { machineId, ip } = m3;
    await m3.kill();
    expect(await m3.systemState()).toBe("stopped");
    expect(m3.pid).toBeUndefined();
    expect(existsSync(m3.cgroupNode)).toBe(false);
    expect((await listLinks()).map((l) => l.name)).not.toContain(`${cluster.bridge}v3`);
    // The bridge keeps its MAC when a port goes away: the others still reach the host.
    expect(await curl(m1, `http://${cluster.bridgeIp}:${hostServer.port}/`)).toEqual({ code: 0, body: "hello from the host" });
    await m3.boot();
    expect([m3.machineId, m3.ip]).toEqual([machineId, ip]);
    expect((await m3.readFile("/etc/machine-id")).trim()).toBe(machineId);
    expect(await curl(m3, `http://${cluster.bridgeIp}:${hostServer.port}/`)).toEqual({ code: 0, body: "hello from the host" });
  });
}, 60_000);

test("a halted machine shuts down cleanly and boots again", async () => {
  const m2 = cluster.machines[1]!;
  await withJournalOnFailure([m2], async () => {
    const oldPid = m2.pid;
    expect(await m2.halt()).toBe("halted");
    expect(await m2.systemState()).toBe("stopped");
    expect(await m2.halt()).toBe("stopped");
    await m2.boot();
    expect(m2.pid).not.toBe(oldPid);
    expect(await m2.isRunning()).toBe(true);
    // The runtime service unit was in the machine's /run: gone with the reboot.
    expect((await m2.exec(["systemctl", "is-active", "hello.service"])).stdout.trim()).not.toBe("active");
  });
}, 60_000);

test("a command running inside a machine does not hold up its halt", async () => {
  const m2 = cluster.machines[1]!;
  await withJournalOnFailure([m2], async () => {
    const marker = "/run/long-exec-started";
    const long = m2.exec(["/bin/sh", "-c", `touch ${marker} && exec sleep 300`]);
    await until("the long command to start", async () => (await m2.exec(["test", "-e", marker])).code === 0, { timeoutMs: 10_000, retryErrors: true });
    // Unless halt() ends the commands entered from the host first, shutdown waits on a stopped
    // nsenter until the deadline and halt() falls back to a hard kill ("killed").
    expect(await m2.halt()).toBe("halted");
    // The command went with the machine, not at its own deadline.
    const r = await long;
    expect(r.timedOut).toBe(false);
    expect(r.code).not.toBe(0);
    await m2.boot();
    expect(await m2.isRunning()).toBe(true);
  });
}, 60_000);

test("a cluster whose owner died is found stale and cleaned up completely", async () => {
  const name = randomClusterName("stale");
  const child = Bun.spawn(
    [process.execPath, "-e", `import { Cluster } from ${JSON.stringify(join(import.meta.dir, "../../src/sandbox/index.ts"))};
      await Cluster.create({ name: ${JSON.stringify(name)}, machines: 1 });
      console.log("up"); setInterval(() => {}, 1000);`],
    { stdout: "pipe", stderr: "inherit" },
  );
  try {
    expect(await readLine(child.stdout.getReader())).toBe("up\n");
    const bridge = discoverClusters().find((c) => c.name === name)?.bridge;
    expect(discoverClusters().find((c) => c.name === name)?.stale).toBe(false);
    child.kill("SIGKILL");
    await child.exited;
    expect(discoverClusters().find((c) => c.name === name)?.stale).toBe(true);
    expect(await cleanupStale()).toContain(name);
    expect(await traces(name, bridge)).toEqual([]);
  } finally {
    child.kill("SIGKILL");
    await cleanupStale();
  }
}, 60_000);

test("a process that exits without destroying its cluster still takes it down", async () => {
  const name = randomClusterName("exit");
  const child = Bun.spawn(
    [process.execPath, "-e", `import { Cluster } from ${JSON.stringify(join(import.meta.dir, "../../src/sandbox/index.ts"))};
      const c = await Cluster.create({ name: ${JSON.stringify(name)}, machines: 1 });
      console.log(c.bridge); process.exit(0);`],
    { stdout: "pipe", stderr: "inherit" },
  );
  const bridge = (await new Response(child.stdout).text()).trim();
  expect(await child.exited).toBe(0);
  expect(bridge).toStartWith("fsb");
  expect(await traces(name, bridge)).toEqual([]);
}, 60_000);

test("a machine can be added later; destroy is complete and idempotent", async () => {
  const small = await Cluster.create({ name: randomClusterName("dt"), machines: 1 });
  const bridge = small.bridge;
  try {
    const added = await small.addMachine();
    expect([added.name, added.ip]).toEqual(["m2", `${small.subnet}.3`]);
    // A refused connection proves the packet reached the first machine and came back.
    const script = `await fetch("http://${small.machines[0]!.ip}:1/").catch((e) => console.log(e.code))`;
    expect((await added.execOk([process.execPath, "-e", script])).trim()).toBe("ECONNREFUSED");
    expect(await traces(small.name, bridge)).not.toEqual([]);
  } finally {
    await small.destroy();
  }
  await small.destroy();
  expect(await traces(small.name, bridge)).toEqual([]);
}, 60_000);

describe("pure helpers", () => {
  test("ExecStart words are protected from splitting and expansion", () => {
    expect(quoteExecArg("/bin/true")).toBe("/bin/true");
    expect(quoteExecArg("a b")).toBe('"a b"');
    expect(quoteExecArg('say "hi"')).toBe('"say \\"hi\\""');
    expect(quoteExecArg("$HOME")).toBe("$$HOME");
    expect(quoteExecArg("100%")).toBe("100%%");
    expect(quoteExecArg("")).toBe('""');
  });

  test("a subnet overlaps routes that cover it and not others", () => {
    expect(subnetOverlaps("10.250.3", ["10.250.3.0/24"])).toBe(true);
    expect(subnetOverlaps("10.250.3", ["10.0.0.0/8"])).toBe(true);
    expect(subnetOverlaps("10.250.3", ["10.250.3.17"])).toBe(true);
    expect(subnetOverlaps("10.250.3", ["10.250.4.0/24", "192.0.2.0/24", "127.0.0.1"])).toBe(false);
  });
});
