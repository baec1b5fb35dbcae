// status, journal, ssh, restart of global units, fd-forward and --tunnel through the binary.
// The system ssh client is replaced on PATH by a script that prints the argv it was given (and
// exits with FAKE_SSH_EXIT), or runs `fleetctl fd-forward` locally as a remote host would:
// what reaches a real sshd is tested on the functional harness.
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, HELLO, MACHINES, rows, sharedFakeCluster } from "../support/integration/cli-harness.ts";
import { until } from "../support/until.ts";

// Each test spawns the binary several times; some wait out a --block-attempts bound.
setDefaultTimeout(60_000);

const c = sharedFakeCluster();
let env: Record<string, string>;
let home: string;
const [M1, M2] = MACHINES as [{ id: string; ip: string }, { id: string; ip: string }];

const FAKE_SSH = `#!/bin/sh
# Stands in for OpenSSH: prints its argv, or runs fleetctl fd-forward like a remote shell would.
for last; do :; done
case "$last" in
  "fleetctl fd-forward "*) exec sh -c "$last" ;;
esac
echo "ssh $*"
exit "\${FAKE_SSH_EXIT:-0}"
`;

beforeAll(async () => {
  const bin = join(c.dir, "fakebin");
  home = join(c.dir, "home");
  mkdirSync(bin, { recursive: true });
  mkdirSync(home, { recursive: true });
  writeFileSync(join(bin, "ssh"), FAKE_SSH);
  chmodSync(join(bin, "ssh"), 0o755);
  symlinkSync(BIN, join(bin, "fleetctl"));
  env = { PATH: `${bin}:${process.env.PATH}`, HOME: home };
});

const strict = () => `-o ConnectTimeout=10 -o StrictHostKeyChecking=ask -o UserKnownHostsFile=${home}/.fleetctl/known_hosts`;

async function started(name = "hello.service", text = HELLO) {
  c.writeUnit(name, text);
  const r = await c.ctl(["start", name], { env });
  expect(r.code).toBe(0);
}

describe("status and journal", () => {
  test("status runs systemctl over ssh on the unit's machine and exits with its status", async () => {
    await started();
    const r = await c.ctl(["status", "hello.service"], { env: { ...env, FAKE_SSH_EXIT: "3" } });
    expect(r).toEqual({ code: 3, out: `ssh ${strict()} -p 22 -l core -- ${M1.ip} systemctl status -l -- hello.service\n`, err: "" });
    // ssh does not create the known hosts directory; fleetctl does, private.
    expect(statSync(join(home, ".fleetctl")).mode & 0o777).toBe(0o700);
  });

  test("status of units that are missing or not loaded", async () => {
    c.writeUnit("idle.service", HELLO);
    expect((await c.ctl(["submit", "idle.service"], { env })).code).toBe(0);
    expect(await c.ctl(["status", "idle.service"], { env })).toEqual({ code: 1, out: "", err: "Unit idle.service does not appear to be loaded.\n" });
    expect(await c.ctl(["status", "missing.service"], { env })).toEqual({ code: 1, out: "", err: "Unit missing.service does not exist.\n" });
    expect(await c.ctl(["status"], { env })).toEqual({ code: 0, out: "", err: "" });
  });

  test("journal: lines, follow, output, sudo and ssh port, without strict host key checking", async () => {
    await started();
    const r = await c.ctl(["--strict-host-key-checking=false", "journal", "--lines", "5", "-f", "--sudo", "--output=cat", "--ssh-port=2222", "hello"], { env });
    expect(r).toEqual({
      code: 0,
      out: `ssh -o ConnectTimeout=10 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p 2222 -l core -- ${M1.ip} sudo journalctl --unit=hello.service --no-pager -n 5 --output cat -f\n`,
      err: "",
    });
  });

  test("quirk Q9 fixed: status and restart of a global unit run on every machine reporting it", async () => {
    c.writeUnit("g.service", "[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\n");
    expect(await c.ctl(["start", "g.service"], { env })).toEqual({ code: 0, out: "Unit g.service inactive\nTriggered global unit g.service start\n", err: "" });
    await until("both machines to report g.service", async () => (await c.registry.listStates({ units: ["g.service"] })).length === 2);
    expect(await c.ctl(["status", "g.service"], { env })).toEqual({
      code: 0,
      out: `ssh ${strict()} -p 22 -l core -- ${M1.ip} systemctl status -l -- g.service\n\nssh ${strict()} -p 22 -l core -- ${M2.ip} systemctl status -l -- g.service\n`,
      err: "",
    });
    expect(await c.ctl(["restart", "g.service"], { env })).toEqual({
      code: 0,
      out: `ssh ${strict()} -p 22 -l core -- ${M1.ip} systemctl restart -- g.service\n\nssh ${strict()} -p 22 -l core -- ${M2.ip} systemctl restart -- g.service\n`,
      err: "",
    });
    expect(await c.ctl(["journal", "g.service"], { env })).toEqual({ code: 1, out: "", err: "Unable to retrieve journal of global unit g.service.\n" });
  });

  test("quirk Q22 fixed: a machine whose address is unknown fails the command", async () => {
    c.writeUnit("lost.service", HELLO);
    expect((await c.ctl(["submit", "lost.service"], { env })).code).toBe(0);
    await c.freeze();
    try {
      const gone = "deadbeefdeadbeefdeadbeefdeadbeef";
      await c.etcdClient.put(c.registry.keys.schedule(gone, "lost.service"), JSON.stringify({ hash: "f".repeat(40), desiredState: "launched", epoch: "1" }));
      await c.etcdClient.put(c.registry.keys.state("lost.service", gone), JSON.stringify({ loadState: "loaded", activeState: "active", subState: "running", hash: "f".repeat(40), since: new Date().toISOString() }));
      expect(await c.ctl(["status", "lost.service"], { env })).toEqual({
        code: 1, out: "", err: `Error getting machine IP: machine ${gone} is not in the cluster\n`,
      });
    } finally {
      c.thaw();
    }
  });
});

describe("ssh", () => {
  test("to a machine by id prefix, with -A, a port and a command after --", async () => {
    const r = await c.ctl(["ssh", "-A", "--ssh-port", "2022", M2.id.slice(0, 5), "--", "ls", "-l", "/"], { env });
    expect(r).toEqual({ code: 0, out: `ssh ${strict()} -A -p 2022 -l core -- ${M2.ip} ls -l /\n`, err: "" });
  });

  test("to the machine of a unit; the remote command keeps its own flags; exit status passes through", async () => {
    await started();
    expect(await c.ctl(["ssh", "hello.service", "uptime", "-p"], { env: { ...env, FAKE_SSH_EXIT: "7" } })).toEqual({
      code: 7, out: `ssh ${strict()} -p 22 -l core -- ${M1.ip} uptime -p\n`, err: "",
    });
    expect((await c.ctl(["ssh", "--unit", "hello", "--ssh-username=ops"], { env })).out).toBe(`ssh ${strict()} -p 22 -l ops -- ${M1.ip}\n`);
  });

  test("lookup errors", async () => {
    expect(await c.ctl(["ssh", "--machine", "1", "--unit", "x"], { env })).toEqual({
      code: 1, out: "", err: "Both machine and unit flags provided, please specify only one.\n",
    });
    expect(await c.ctl(["ssh", "nothing-here"], { env })).toEqual({ code: 1, out: "", err: "Unable to proceed: could not find matching unit or machine\n" });
    expect(await c.ctl(["ssh"], { env })).toEqual({ code: 1, out: "", err: "Unable to proceed: one machine or unit must be provided\n" });
    expect(await c.ctl(["ssh", "--machine", "ffff"], { env })).toEqual({ code: 1, out: "", err: "Unable to proceed: machine does not exist\n" });
    expect(await c.ctl(["ssh", "--unit", "nope"], { env })).toEqual({ code: 1, out: "", err: "Unable to proceed: unit does not exist\n" });
  });
});

describe("a hostile public IP never reaches ssh (the real OpenSSH client here)", () => {
  // A machine record anyone with write access to etcd could have put there. Before the fix,
  // `ssh ... -l core -oProxyCommand=touch <marker> -- uptime` ran touch on this host. Now the
  // machine decoder refuses the record (so the machine is unknown), and the ssh command builder
  // refuses such an address as well (test/unit/cli-ssh.test.ts covers that second wall).
  const EVIL = "e7117e7117e7117e7117e7117e7117e7";

  for (const driver of ["api", "etcd"] as const) {
    test(`ssh, status and journal refuse it and never run ssh (--driver ${driver})`, async () => {
      const marker = join(c.dir, `pwned-${driver}`);
      const hostile = `-oProxyCommand=touch ${marker}`;
      // The real ssh from PATH, with host key checking on (the default).
      const real = { HOME: home };
      c.writeUnit("evil.service", HELLO);
      expect((await c.ctl(["submit", "evil.service"], { env: real })).code).toBe(0);
      await c.freeze();
      try {
        const hash = "f".repeat(40);
        const since = new Date().toISOString();
        await c.etcdClient.put(c.registry.keys.machine(EVIL), JSON.stringify({ id: EVIL, publicIP: hostile, metadata: {}, version: "t", startedAt: since }));
        await c.etcdClient.put(c.registry.keys.schedule(EVIL, "evil.service"), JSON.stringify({ hash, desiredState: "launched", epoch: "1" }));
        await c.etcdClient.put(c.registry.keys.state("evil.service", EVIL), JSON.stringify({ loadState: "loaded", activeState: "active", subState: "running", hash, since }));
        // The etcd driver reads the record itself and says once why it skips it.
        const skipped = driver === "etcd" ? expect.stringContaining(`is not an IP address`) : "";
        const run = async (args: string[]) => {
          const r = await c.ctl(args, { env: real, etcd: driver === "etcd" });
          const lines = r.err.trimEnd().split("\n");
          return { code: r.code, out: r.out, last: lines.at(-1), first: lines.length > 1 ? lines[0] : "", pwned: existsSync(marker) };
        };
        const unknown = { code: 1, out: "", last: "Unable to proceed: could not find matching unit or machine", first: skipped, pwned: false };
        const notInCluster = { code: 1, out: "", last: `Error getting machine IP: machine ${EVIL} is not in the cluster`, first: skipped, pwned: false };
        expect(await run(["ssh", EVIL.slice(0, 8), "uptime"])).toEqual(unknown);
        expect(await run(["ssh", "--unit", "evil.service", "uptime"])).toEqual({ ...notInCluster, last: "Could not determine address of machine." });
        expect(await run(["status", "evil.service"])).toEqual(notInCluster);
        expect(await run(["journal", "evil.service"])).toEqual(notInCluster);
      } finally {
        await c.etcdClient.delete(c.registry.keys.machine(EVIL));
        c.thaw();
      }
    });
  }

  test("an invalid --tunnel is refused before ssh runs", async () => {
    const marker = join(c.dir, "pwned-tunnel");
    const r = await c.ctl(["--tunnel", `-oProxyCommand=touch ${marker}`, "list-machines"], { env: { HOME: home } });
    expect({ ...r, pwned: existsSync(marker) }).toEqual({
      code: 1, out: "", err: `Unable to initialize client: --tunnel ${JSON.stringify(`-oProxyCommand=touch ${marker}`)} is not an IP address or host name\n`, pwned: false,
    });
  });
});

describe("fd-forward and --tunnel", () => {
  test("--tunnel with a unix socket endpoint runs fleetctl fd-forward on the tunnel host", async () => {
    await started();
    const r = await c.ctl(["--tunnel", "bastion", "list-units", "--no-legend"], { env });
    expect(r.code).toBe(0);
    expect(rows(r.out)).toEqual([["hello.service", `${M1.id.slice(0, 8)}.../${M1.ip}`, "active", "running"]]);
  });

  test("quirk Q22 fixed: fd-forward exits 1 when it cannot dial", async () => {
    const r = await c.ctl(["fd-forward", join(c.dir, "none.sock")], { env });
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toStartWith("Failed dialing remote address: ");
    expect(existsSync(join(c.dir, "none.sock"))).toBe(false);
  });
});
