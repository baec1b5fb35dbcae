// The commands that reach a unit's machine through the system ssh client (status, journal, ssh,
// --tunnel with fd-forward), run as the real `bin/fleet ctl` on the host against two live
// machines, each running Debian's sshd. Needs root (namespaces, cgroups, apt-get when sshd is
// missing) and bin/fleet (./build).
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Machine } from "../../src/sandbox/index.ts";
import { E2eCluster } from "./e2e-fixture.ts";
import { ensureOpenSsh, SshAccess } from "./ssh-fixture.ts";

let c: E2eCluster | undefined;
let ssh: SshAccess | undefined;
const T = 180_000;
const UNIT = "chatty.service";
const LINES = 20;

/** A service that logs LINES numbered lines, then runs until stopped. */
const chatty = `[Unit]
Description=chatty e2e service

[Service]
ExecStart=/bin/sh -c 'i=1; while [ $i -le ${LINES} ]; do echo "journal line $i"; i=$((i+1)); done; exec sleep infinity'
`;

let unitMachine: Machine;

function cluster(): E2eCluster {
  if (!c) throw new Error("The cluster did not start");
  return c;
}

function access(): SshAccess {
  if (!ssh) throw new Error("The ssh agent did not start");
  return ssh;
}

beforeAll(async () => {
  await ensureOpenSsh();
  ssh = await SshAccess.start();
  c = await E2eCluster.start({ machines: 2 });
  const cl = c;
  await cl.step(async () => {
    await Promise.all(cl.machines.map((m) => access().startSshd(m)));
    cl.writeUnit(UNIT, chatty);
    const out = await cl.fleetctlOk("host", "start", UNIT);
    const launched = /launched on ([0-9a-f]{8})\.\.\.\//.exec(out);
    if (!launched) throw new Error(`fleet ctl start did not say where ${UNIT} launched: ${out}`);
    unitMachine = cl.machineById(launched[1]!);
    await cl.waitFor(`${UNIT} to log its last line`, async () =>
      (await unitMachine.execOk(["journalctl", "--no-pager", "-u", UNIT, "-o", "cat"])).includes(`journal line ${LINES}\n`));
  });
}, 600_000);

afterAll(async () => {
  try {
    await c?.destroy();
  } finally {
    await ssh?.[Symbol.asyncDispose]();
  }
}, 60_000);

test("status shows systemctl status of the unit from the machine running it", async () => {
  const cl = cluster();
  const r = await access().fleetctl(cl, ["status", UNIT]);
  const pid = await cl.mainPid(unitMachine, UNIT);
  expect({ code: r.code, stderr: r.stderr, timedOut: r.timedOut }).toEqual({ code: 0, stderr: "", timedOut: false });
  expect(r.stdout).toMatch(new RegExp(`^. ${UNIT.replace(".", "\\.")} - chatty e2e service\n`));
  expect(r.stdout).toMatch(/^\s+Active: active \(running\) since /m);
  expect(r.stdout).toMatch(new RegExp(`^\\s+Main PID: ${pid} \\(sleep\\)$`, "m"));
  // The log tail systemctl status appends carries the machine's hostname.
  expect(r.stdout).toContain(` ${unitMachine.hostname} `);
  for (const other of cl.machines.filter((m) => m !== unitMachine)) expect(r.stdout).not.toContain(` ${other.hostname} `);
}, T);

test("status of a unit fleet does not know fails with a message", async () => {
  const cl = cluster();
  const r = await access().fleetctl(cl, ["status", "nothing-here.service"]);
  expect(r).toEqual({ code: 1, stdout: "", stderr: "Unit nothing-here.service does not exist.\n", timedOut: false });
}, T);

test("journal --lines 5 shows the unit's last five journal lines from its machine", async () => {
  const cl = cluster();
  const r = await access().fleetctl(cl, ["journal", "--lines", "5", UNIT]);
  const inside = await unitMachine.execOk(["journalctl", "--unit", UNIT, "--no-pager", "-n", "5", "--output", "short"]);
  expect({ code: r.code, stderr: r.stderr, timedOut: r.timedOut }).toEqual({ code: 0, stderr: "", timedOut: false });
  expect(r.stdout).toBe(inside);
  const entries = r.stdout.split("\n").filter((l) => l !== "" && !l.startsWith("-- "));
  expect(entries.length).toBe(5);
  for (const line of entries) expect(line).toContain(` ${unitMachine.hostname} `);
  expect(r.stdout).toContain(`journal line ${LINES}\n`);
  expect(r.stdout).not.toContain("journal line 1\n");
}, T);

test("ssh <machine id prefix> runs a command on that machine", async () => {
  const cl = cluster();
  for (const m of cl.machines) {
    const r = await access().fleetctl(cl, ["ssh", m.machineId.slice(0, 8), "hostname"]);
    expect(r).toEqual({ code: 0, stdout: `${m.hostname}\n`, stderr: "", timedOut: false });
  }
}, T);

test("ssh --unit runs a command on the unit's machine, and its exit status comes back", async () => {
  const cl = cluster();
  const r = await access().fleetctl(cl, ["ssh", "--unit", UNIT, "hostname"]);
  expect(r).toEqual({ code: 0, stdout: `${unitMachine.hostname}\n`, stderr: "", timedOut: false });
  const failed = await access().fleetctl(cl, ["ssh", "--machine", unitMachine.machineId, "--", "sh", "-c", "'echo oops >&2; exit 3'"]);
  expect(failed).toEqual({ code: 3, stdout: "", stderr: "oops\n", timedOut: false });
}, T);

test("ssh -A forwards the host's agent to the machine, and only when asked", async () => {
  const cl = cluster();
  const prefix = unitMachine.machineId.slice(0, 8);
  const forwarded = await access().fleetctl(cl, ["ssh", "-A", prefix, "ssh-add", "-l"]);
  expect({ code: forwarded.code, stderr: forwarded.stderr, timedOut: forwarded.timedOut }).toEqual({ code: 0, stderr: "", timedOut: false });
  expect(forwarded.stdout).toMatch(/^256 SHA256:\S+ fleet-e2e \(ED25519\)\n$/);
  const plain = await access().fleetctl(cl, ["ssh", prefix, "ssh-add", "-l"]);
  expect(plain).toEqual({ code: 2, stdout: "", stderr: "Could not open a connection to your authentication agent.\n", timedOut: false });
}, T);

test("--tunnel through a machine reaches the API socket there with fd-forward", async () => {
  const cl = cluster();
  const [via] = cl.machines;
  // The default connection: the API driver on unix:///var/run/fleet.sock, on the tunnel host.
  const r = await access().fleetctl(cl, ["--tunnel", via!.ip, "list-machines", "--no-legend", "--full", "--fields", "machine,ip"], []);
  const expected = [...cl.machines].sort((a, b) => a.machineId.localeCompare(b.machineId)).map((m) => `${m.machineId}\t${m.ip}\n`).join("");
  expect({ code: r.code, stderr: r.stderr, timedOut: r.timedOut }).toEqual({ code: 0, stderr: "", timedOut: false });
  expect(r.stdout.replace(/[ \t]+/g, "\t")).toBe(expected);
}, T);

test("--tunnel with the etcd driver carries etcd traffic through a machine", async () => {
  const cl = cluster();
  const via = cl.machines[1]!;
  const r = await access().fleetctl(cl, ["--tunnel", via.ip, "list-units", "--no-legend", "--full", "--fields", "unit,machine,active"]);
  expect({ code: r.code, stderr: r.stderr, timedOut: r.timedOut }).toEqual({ code: 0, stderr: "", timedOut: false });
  expect(r.stdout.replace(/[ \t]+/g, "\t")).toBe(`${UNIT}\t${unitMachine.machineId}/${unitMachine.ip}\tactive\n`);
}, T);

test("ssh through --tunnel reaches the other machine", async () => {
  const cl = cluster();
  const [via, target] = cl.machines as [Machine, Machine];
  const r = await access().fleetctl(cl, ["--tunnel", via.ip, "ssh", target.machineId.slice(0, 8), "hostname"]);
  expect(r).toEqual({ code: 0, stdout: `${target.hostname}\n`, stderr: "", timedOut: false });
}, T);
