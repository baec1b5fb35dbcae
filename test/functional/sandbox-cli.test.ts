// `fleet sandbox` through the real binary: up (machines, etcd, fleet installed from
// contrib/systemd, registration, env, the examples through fleet ctl, fleet ctl status and
// journal over ssh), up again, kill and start of one machine, ssh, down leaving nothing behind,
// a crashed up cleaned by the next one, and the refusals (not root, no etcd). Needs root and a built bin/fleet. Every test tears its sandbox down in finally.
import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EtcdClient } from "../../src/registry/etcd/index.ts";
import { findCgroup2Root } from "../../src/sandbox/cgroup.ts";
import { isAlive } from "../../src/sandbox/command.ts";
import { DEFAULT_STATE_ROOT, randomClusterName } from "../../src/sandbox/index.ts";
import { listLinks } from "../../src/sandbox/network.ts";
import { removeSandbox } from "../../src/sandbox/sandbox.ts";
import type { SandboxRecord } from "../../src/sandbox/sandbox-record.ts";
import type { ClusterRecord } from "../../src/sandbox/state.ts";
import { generateTestCerts } from "../support/tls/certs.ts";
import { until } from "../support/until.ts";

const FLEET = join(import.meta.dir, "../../bin/fleet");
const NEEDS_ROOT = "fleet sandbox needs root: it boots systemd machines in Linux namespaces\n";
const NO_ETCD = "etcd not found on PATH: install Debian's etcd-server package (apt-get install etcd-server)\n";

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function fleet(args: string[], opts: { env?: Record<string, string>; prefix?: string[]; timeoutMs?: number } = {}): Promise<Ran> {
  const proc = Bun.spawn([...(opts.prefix ?? []), FLEET, ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: opts.env ?? (process.env as Record<string, string>),
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

async function ok(args: string[], opts: { env?: Record<string, string> } = {}): Promise<Ran> {
  const r = await fleet(args, opts);
  if (r.code !== 0) throw new Error(`fleet ${args.join(" ")} exited with ${r.code}:\n${r.stderr}${r.stdout}`);
  return r;
}

const dirOf = (name: string) => join(DEFAULT_STATE_ROOT, name);
const clusterRecord = (name: string) => JSON.parse(readFileSync(join(dirOf(name), "cluster.json"), "utf8")) as ClusterRecord;
const sandboxRecord = (name: string) => JSON.parse(readFileSync(join(dirOf(name), "sandbox.json"), "utf8")) as SandboxRecord;

/** Processes whose command line mentions the sandbox's directory (its etcd, its launchers). */
function processesMentioning(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(`${dir}/`)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Everything a sandbox can leave on the host; empty when it is gone. */
async function traces(name: string, record: ClusterRecord | undefined): Promise<string[]> {
  const found: string[] = [];
  const dir = dirOf(name);
  if (existsSync(dir)) found.push(`state directory ${dir}`);
  const node = join(findCgroup2Root() ?? "/sys/fs/cgroup", `fleet-sandbox-${name}`);
  if (existsSync(node)) found.push(`cgroup ${node}`);
  if (record?.bridge) for (const l of await listLinks()) if (l.name.startsWith(record.bridge)) found.push(`link ${l.name}`);
  for (const m of record?.machines ?? []) if (m.pid !== undefined && isAlive(m.pid)) found.push(`process ${m.pid} (${m.name}'s systemd)`);
  for (const pid of processesMentioning(dir)) found.push(`process ${pid} (${readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim()})`);
  const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(dir));
  for (const l of mounts) found.push(`mount ${l}`);
  return found;
}

/** Last resort in finally: the CLI first, the library if the CLI cannot. */
async function teardown(name: string): Promise<void> {
  if (!existsSync(join(dirOf(name), "cluster.json"))) return;
  const r = await fleet(["sandbox", "down", "--name", name]);
  if (r.code !== 0 && existsSync(join(dirOf(name), "cluster.json"))) await removeSandbox({ name }, { hard: true });
}

/** `fleet ctl <args>` in a shell that sourced the sandbox's env file (args are shell words). */
function sourcedCtl(name: string, args: string): Ran {
  const r = Bun.spawnSync(["/bin/sh", "-c", `. "$1" && exec "$2" ctl ${args}`, "sh", join(dirOf(name), "env"), FLEET], {
    stdin: "ignore",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", LANG: "C.UTF-8" },
    timeout: 60_000,
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

async function registeredIds(endpoint: string): Promise<string[]> {
  const client = new EtcdClient({ endpoints: [endpoint], retries: 0 });
  try {
    const { kvs } = await client.range("/fleet/machines/", { prefix: true, keysOnly: true });
    return kvs.map((kv) => kv.key.slice("/fleet/machines/".length)).sort();
  } finally {
    client.close();
  }
}

test("without root it refuses, saying why", async () => {
  for (const args of [["sandbox", "status"], ["sandbox", "up", "--machines", "1"]]) {
    const r = await fleet(args, { prefix: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] });
    expect(r.stderr).toBe(NEEDS_ROOT);
    expect(r.code).toBe(1);
  }
});

test("without etcd on PATH, up names the package and makes nothing", async () => {
  const name = randomClusterName("sbx");
  try {
    const r = await fleet(["sandbox", "up", "--machines", "1", "--name", name], { env: { PATH: "/nonexistent" } });
    expect(r.stderr).toBe(NO_ETCD);
    expect(r.code).toBe(1);
    expect(existsSync(dirOf(name))).toBe(false);
  } finally {
    await teardown(name);
  }
});

test("up boots machines running fleet from contrib/systemd; env, status, ssh, up again, kill, start, down", async () => {
  const name = randomClusterName("sbx");
  let record: ClusterRecord | undefined;
  try {
    const up = await ok(["sandbox", "up", "--machines", "2", "--name", name, "--metadata", "m2:disk=ssd", "--examples"]);
    record = clusterRecord(name);
    const sandbox = sandboxRecord(name);
    const [m1, m2] = record.machines;
    if (!m1 || !m2) throw new Error("the cluster record lists fewer than 2 machines");
    const envLines = [
      "export FLEETCTL_DRIVER=API",
      `export FLEETCTL_ENDPOINT=https://${m1.ip}:49153`,
      `export FLEETCTL_CA_FILE=${dirOf(name)}/tls/ca.pem`,
      `export FLEETCTL_TOKEN=${sandbox.token}`,
      "export FLEETCTL_SSH_USERNAME=root",
      `export FLEETCTL_KNOWN_HOSTS_FILE=${dirOf(name)}/ssh/known_hosts`,
      `export FLEETCTL_SSH_IDENTITY_FILE=${dirOf(name)}/ssh/id_ed25519`,
    ];
    for (const line of envLines) expect(up.stdout).toContain(`${line}\n`);

    // env prints the file that `source` reads; sourcing it reaches the API with its token.
    const env = await ok(["sandbox", "env", "--name", name]);
    expect(env.stdout).toBe(readFileSync(join(dirOf(name), "env"), "utf8"));
    const sourced = Bun.spawnSync(["/bin/sh", "-c", `. "$1" && exec "$2" ctl list-machines -l`, "sh", join(dirOf(name), "env"), FLEET]);
    expect(sourced.exitCode).toBe(0);
    const listed = sourced.stdout.toString();
    expect(listed).toMatch(new RegExp(`^${m1.machineId}\t+${m1.ip}\t+-$`, "m"));
    expect(listed).toMatch(new RegExp(`^${m2.machineId}\t+${m2.ip}\t+disk=ssd$`, "m"));
    // The API on the machines' TCP listener is TLS only, with the sandbox's own CA, and wants the token.
    expect(sourcedCtl(name, `--endpoint http://${m1.ip}:49153 --token '' list-machines`).code).toBe(1);
    const withoutToken = sourcedCtl(name, "--token '' list-units");
    expect(withoutToken).toEqual({ code: 1, stdout: "", stderr: "Error retrieving list of units from repository: googleapi: Error 401: missing or invalid bearer token\n" });
    const otherCa = await generateTestCerts(join(dirOf(name), "other-ca"), ["127.0.0.1"]);
    const untrusted = sourcedCtl(name, `--ca-file ${otherCa.caFile} list-units`);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toStartWith(`Error retrieving list of units from repository: cannot reach fleet at https://${m1.ip}:49153: `);

    // The examples, started through fleet ctl: one anywhere, the global one on both, web@1 and
    // web@2 apart (Conflicts), all active.
    const unitsRun = Bun.spawnSync(["/bin/sh", "-c", `. "$1" && exec "$2" ctl list-units -l --no-legend`, "sh", join(dirOf(name), "env"), FLEET]);
    const rows = unitsRun.stdout.toString().trim().split("\n").map((l) => l.split(/\t+/));
    const where = (unit: string) => rows.filter((r) => r[0] === unit && r[2] === "active").map((r) => r[1]!.split("/")[0]).sort();
    const both = [m1.machineId, m2.machineId].sort();
    expect(where("hello.service")).toHaveLength(1);
    expect(where("monitor.service")).toEqual(both);
    expect([...where("web@1.service"), ...where("web@2.service")].sort()).toEqual(both);

    // status and journal with the env alone: ssh as root with the sandbox's key to the machine
    // running hello.service, its host key checked against the sandbox's known_hosts.
    const helloAt = record.machines.find((m) => m.machineId === where("hello.service")[0]);
    if (!helloAt) throw new Error("hello.service runs on no machine of the record");
    // The unit may have started a moment ago: wait until its first hello is in the journal that
    // status shows (or status fails, which the assertions below report).
    const helloStatus = await until(
      "status to show a hello",
      () => {
        const r = sourcedCtl(name, "status hello.service");
        return r.code !== 0 || r.stdout.includes(`Hello from ${helloAt.hostname}\n`) ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 300, retryErrors: true },
    );
    expect({ code: helloStatus.code, stderr: helloStatus.stderr }).toEqual({ code: 0, stderr: "" });
    expect(helloStatus.stdout).toMatch(/^. hello\.service - Say hello every second\n/);
    expect(helloStatus.stdout).toMatch(/^\s+Active: active \(running\) since /m);
    expect(helloStatus.stdout).toContain(`Hello from ${helloAt.hostname}\n`);
    // Once it has said hello three times (it says so every second).
    const hellos = `Hello from ${helloAt.hostname}\n`.repeat(3);
    const helloJournal = await until(
      "journal to show three hellos",
      () => {
        const r = sourcedCtl(name, "journal --lines 3 --output cat hello.service");
        return r.code !== 0 || r.stdout === hellos ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 300, retryErrors: true },
    );
    expect(helloJournal).toEqual({ code: 0, stdout: hellos, stderr: "" });

    // Both daemons registered in etcd and run as the shipped, enabled units.
    expect(await registeredIds(sandbox.etcd.endpoint)).toEqual([m1.machineId, m2.machineId].sort());
    for (const m of ["m1", "m2"]) {
      const units = await ok(["sandbox", "ssh", "--name", name, m, "systemctl is-active fleet.socket fleet.service; systemctl is-enabled fleet.socket fleet.service"]);
      expect(units.stdout).toBe("active\nactive\nenabled\nenabled\n");
      const shipped = await ok(["sandbox", "ssh", "--name", name, m, "cat /etc/systemd/system/fleet.service"]);
      expect(shipped.stdout).toBe(readFileSync(join(import.meta.dir, "../../contrib/systemd/fleet.service"), "utf8"));
    }
    const inside = await ok(["sandbox", "ssh", "--name", name, "m1", "fleetctl", "list-machines", "--no-legend"]);
    expect(inside.stdout.trim().split("\n")).toHaveLength(2);
    expect((await fleet(["sandbox", "ssh", "--name", name, "m2", "exit 7"])).code).toBe(7);

    const status = await ok(["sandbox", "status", "--name", name]);
    expect(status.stdout).toContain(`etcd: ${sandbox.etcd.endpoint}`);
    expect(status.stdout).toMatch(new RegExp(`m1 +${m1.ip.replaceAll(".", "\\.")} +${m1.machineId} +(running|degraded) +active +active\n`));
    expect(status.stdout).toMatch(new RegExp(`m2 +${m2.ip.replaceAll(".", "\\.")} +${m2.machineId} +(running|degraded) +active +active\n`));

    // A second up finds it and changes nothing.
    const again = await ok(["sandbox", "up", "--machines", "2", "--name", name]);
    expect(again.stderr).toBe(`Sandbox ${name} is already up with 2 machines\n`);
    expect(again.stdout).toBe(env.stdout);
    expect(clusterRecord(name).machines.map((m) => m.pid)).toEqual(record.machines.map((m) => m.pid));

    // kill: gone from etcd once its lease runs out; start: back with the same identity.
    await ok(["sandbox", "kill", "--name", name, "m2"]);
    expect(isAlive(m2.pid!)).toBe(false);
    expect((await ok(["sandbox", "status", "--name", name])).stdout).toMatch(/m2 .* stopped +- +-\n/);
    await until("m2's lease to expire", async () => (await registeredIds(sandbox.etcd.endpoint)).length === 1, { timeoutMs: 30_000, retryErrors: true });
    const knownHosts = readFileSync(join(dirOf(name), "ssh", "known_hosts"), "utf8");
    await ok(["sandbox", "start", "--name", name, "m2"]);
    expect(await registeredIds(sandbox.etcd.endpoint)).toEqual([m1.machineId, m2.machineId].sort());
    // sshd is back in m2, with the host key it had.
    expect(sourcedCtl(name, `ssh ${m2.machineId.slice(0, 8)} hostname`)).toEqual({ code: 0, stdout: `${m2.hostname}\n`, stderr: "" });
    expect(readFileSync(join(dirOf(name), "ssh", "known_hosts"), "utf8")).toBe(knownHosts);
    record = clusterRecord(name);

    const before = (await traces(name, record)).join("\n");
    for (const what of ["state directory", "cgroup", `link ${record.bridge}`, "process"]) expect(before).toContain(what);
    await ok(["sandbox", "down", "--name", name]);
    expect(await traces(name, record)).toEqual([]);
    expect((await fleet(["sandbox", "status", "--name", name])).code).toBe(1);
  } finally {
    await teardown(name);
  }
}, 180_000);

test("an up killed while booting leaves a stale sandbox that the next up removes", async () => {
  const name = randomClusterName("sbx");
  let first: ClusterRecord | undefined;
  let second: ClusterRecord | undefined;
  try {
    const proc = Bun.spawn([FLEET, "sandbox", "up", "--machines", "1", "--name", name], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    // Killed once its machine runs: the machine, the bridge and the cgroup exist, nothing is complete.
    first = await until(
      "the first up to boot its machine",
      () => {
        try {
          const r = clusterRecord(name);
          return r.machines[0]?.pid !== undefined ? r : undefined;
        } catch {
          return undefined;
        }
      },
      30_000,
    );
    proc.kill("SIGKILL");
    await proc.exited;
    const half = await fleet(["sandbox", "status", "--name", name]);
    expect(half.stderr).toBe(`Sandbox ${name} was left half-made by a crash: fleet sandbox down --name ${name} removes it\n`);
    expect(half.code).toBe(1);

    const up = await ok(["sandbox", "up", "--machines", "1", "--name", name]);
    expect(up.stderr).toContain(`Removed stale cluster ${name} (its creator, process ${proc.pid}, is gone)\n`);
    expect(isAlive(first.machines[0]!.pid!)).toBe(false);
    second = clusterRecord(name);
    expect(second.owner).toBeNull();
    expect(await registeredIds(sandboxRecord(name).etcd.endpoint)).toEqual([second.machines[0]!.machineId]);

    await ok(["sandbox", "down", "--name", name]);
    expect(await traces(name, second)).toEqual([]);
    expect(await traces(name, first)).toEqual([]);
  } finally {
    await teardown(name);
  }
}, 120_000);
