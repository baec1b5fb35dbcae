// The commands that reach a unit's machine through the system ssh client (status, journal, ssh,
// --tunnel with fd-forward), run as the real `bin/fleet ctl` on the host against two live
// machines, each running Debian's sshd. Needs root (namespaces, cgroups, apt-get when sshd is
// missing) and bin/fleet (./build).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { isAlive } from "../../src/sandbox/command.ts";
import type { Machine } from "../../src/sandbox/index.ts";
import { E2eCluster } from "../support/functional/e2e-fixture.ts";
import { E2eSsh, ensureOpenSsh, KEY_COMMENT } from "../support/functional/ssh-fixture.ts";

let c: E2eCluster | undefined;
let ssh: E2eSsh | undefined;
const T = 180_000;
const UNIT = "chatty.service";
const LINES = 20;

/** A service that logs LINES numbered lines, then runs until stopped. */
const chatty = `[Unit]
Description=chatty e2e service

[Service]
ExecStart=/bin/sh -c 'i=1; while [ $i -le ${LINES} ]; do echo "journal line $i"; i=$((i+1)); done; exec sleep infinity'
`;

const TICKER = "ticker.service";

/** A service that logs a numbered line about every 0.5 s until stopped. */
const ticker = `[Unit]
Description=ticking e2e service

[Service]
ExecStart=/bin/sh -c 'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.5; done'
`;

let unitMachine: Machine;

function cluster(): E2eCluster {
  if (!c) throw new Error("The cluster did not start");
  return c;
}

function access(): E2eSsh {
  if (!ssh) throw new Error("The ssh agent did not start");
  return ssh;
}

beforeAll(async () => {
  await ensureOpenSsh();
  ssh = await E2eSsh.start();
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
  expect(forwarded.stdout).toMatch(new RegExp(`^256 SHA256:\\S+ ${KEY_COMMENT} \\(ED25519\\)\n$`));
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

/** The numbers of the "tick N" lines in a journal text. */
function ticks(text: string): number[] {
  return [...text.matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1]));
}

/** The last tick the unit has logged in the machine's journal so far (0 before the first). */
async function lastTick(m: Machine): Promise<number> {
  const out = await m.execOk(["journalctl", "--no-pager", "-u", TICKER, "-o", "cat", "-n", "1"]);
  return Math.max(0, ...ticks(out));
}

// Last in the file: the ticker it starts would show up in the list-units of the tests above.
test("journal -f follows the unit's journal from its machine until interrupted", async () => {
  const cl = cluster();
  cl.writeUnit(TICKER, ticker);
  try {
    const out = await cl.fleetctlOk("host", "start", TICKER);
    const launched = /launched on ([0-9a-f]{8})\.\.\.\//.exec(out);
    if (!launched) throw new Error(`fleet ctl start did not say where ${TICKER} launched: ${out}`);
    const m = cl.machineById(launched[1]!);
    await cl.waitFor(`${TICKER} to log its first tick`, async () => (await lastTick(m)) > 0);

    const proc = access().spawnFleetctl(cl, ["journal", "-f", "--lines", "1", "--output", "cat", TICKER]);
    let stdout = "";
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of proc.stdout) stdout += decoder.decode(chunk, { stream: true });
    })();
    const stderr = new Response(proc.stderr).text();
    try {
      // Read once the command runs: any tick above this one was logged after it started. Above
      // the first line it showed too: that one may be the tail journalctl found when it began.
      const before = await lastTick(m);
      const after = (seen: number[]) => seen.find((n) => n > before && n > seen[0]!);
      const shown = await cl.waitFor(`journal -f to show a tick logged after tick ${before} and after its first line`, () => after(ticks(stdout)));
      expect(shown).toBeGreaterThan(before);
      // Ctrl-C, as a terminal sends it: to the whole foreground job (fleet ctl and its ssh).
      process.kill(-proc.pid, "SIGINT");
      const code = await cl.waitFor("fleet ctl journal -f to exit after SIGINT", async () => {
        const c = await Promise.race([proc.exited, Bun.sleep(100).then(() => undefined)]);
        return c === undefined ? undefined : { code: c };
      });
      // Its output ends (no ssh left holding it), without an error message.
      await reading;
      expect({ code: code.code, stderr: await stderr }).toEqual({ code: 130, stderr: "" });
      // The lines in between came in order, one per tick.
      const seen = ticks(stdout);
      expect(seen).toEqual(seen.map((_, i) => seen[0]! + i));
      // And journalctl -f does not go on in the machine.
      await cl.waitFor(`journalctl -f to end in ${m.name}`, async () => (await m.exec(["pgrep", "-x", "journalctl"])).code === 1);
    } finally {
      if (isAlive(proc.pid)) process.kill(-proc.pid, "SIGKILL");
    }
  } finally {
    await cl.fleetctl("host", "destroy", TICKER);
  }
}, T);
