// sshd inside e2e machines and an ssh-agent on the host, so the real `fleet ctl` can run status,
// journal, ssh and --tunnel through the system ssh client against a live cluster. The machines
// share the host's /usr, so Debian's openssh-server is installed on the host (services kept from
// starting there) and each machine runs its own sshd with keys and config under its private /run.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killTree, run } from "../../src/sandbox/command.ts";
import { type Machine, waitFor } from "../../src/sandbox/index.ts";
import { FLEET_BIN } from "./agent-harness.ts";
import type { CtlResult, E2eCluster } from "./e2e-fixture.ts";

const SSHD = "/usr/sbin/sshd";
const POLICY_RC_D = "/usr/sbin/policy-rc.d";
export const SSHD_UNIT = "e2e-sshd.service";
const INNER = "/run/e2e-ssh";
const CTL_TIMEOUT_MS = 60_000;

/** Installs openssh-server and openssh-client on the host when sshd is missing, starting no service. */
export async function ensureOpenSsh(): Promise<void> {
  if (existsSync(SSHD) && existsSync("/usr/bin/ssh")) return;
  const ownPolicy = !existsSync(POLICY_RC_D);
  // invoke-rc.d asks policy-rc.d; 101 means "action forbidden", so the host's sshd is not started.
  if (ownPolicy) writeFileSync(POLICY_RC_D, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    const env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", DEBIAN_FRONTEND: "noninteractive" };
    const r = await run(["apt-get", "install", "-y", "--no-install-recommends", "openssh-server", "openssh-client"], { env, timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`Cannot install openssh-server on the host: apt-get exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  } finally {
    if (ownPolicy) rmSync(POLICY_RC_D, { force: true });
  }
}

/** A client key in a running ssh-agent, and the known hosts file of the machines given sshd. */
export class SshAccess implements AsyncDisposable {
  private constructor(
    private readonly dir: string,
    private readonly agent: ReturnType<typeof Bun.spawn>,
    readonly agentSocket: string,
    readonly publicKey: string,
  ) {}

  get knownHostsFile(): string {
    return join(this.dir, "known_hosts");
  }

  static async start(): Promise<SshAccess> {
    const dir = mkdtempSync(join(tmpdir(), "fleet-e2e-ssh-"));
    const agentSocket = join(dir, "agent.sock");
    // -D: in the foreground, so the agent is this process's child and is killed by its pid.
    const agent = Bun.spawn(["ssh-agent", "-D", "-a", agentSocket], { stdin: "ignore", stdout: "ignore", stderr: "inherit" });
    try {
      const key = join(dir, "id_ed25519");
      await runOk(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fleet-e2e", "-f", key]);
      await waitFor(() => existsSync(agentSocket), { timeoutMs: 10_000, what: "ssh-agent to listen", intervalMs: 50 });
      await runOk(["ssh-add", "-q", key], { SSH_AUTH_SOCK: agentSocket });
      const publicKey = await Bun.file(`${key}.pub`).text();
      writeFileSync(join(dir, "known_hosts"), "");
      return new SshAccess(dir, agent, agentSocket, publicKey.trim());
    } catch (e) {
      killTree(agent.pid);
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /**
   * Runs sshd in the machine as a runtime service (host key, config and authorized keys in its
   * /run), records its host key as known for the machine's IP and waits until root can log in.
   */
  async startSshd(m: Machine): Promise<void> {
    await m.execOk(["/bin/sh", "-c", `rm -rf ${INNER} && mkdir -m 0700 ${INNER} && ssh-keygen -q -t ed25519 -N '' -C ${m.name} -f ${INNER}/host_key`]);
    await m.writeFile(`${INNER}/authorized_keys`, `${this.publicKey}\n`, "0600");
    await m.writeFile(`${INNER}/sshd_config`, sshdConfig(), "0600");
    await m.startService(SSHD_UNIT, {
      description: "sshd for the e2e tests",
      execStart: [SSHD, "-D", "-e", "-f", `${INNER}/sshd_config`],
      // The privilege separation directory sshd insists on; the machine's /run starts empty.
      serviceLines: ["RuntimeDirectory=sshd", "RuntimeDirectoryMode=0755"],
    });
    const hostKey = (await m.readFile(`${INNER}/host_key.pub`)).trim().split(/\s+/).slice(0, 2).join(" ");
    writeFileSync(this.knownHostsFile, `${m.ip} ${hostKey}\n`, { flag: "a" });
    await waitFor(async () => {
      const r = await run(["ssh", ...this.sshOptions(), "-l", "root", m.ip, "true"], { env: this.env(), timeoutMs: 15_000 });
      return r.code === 0;
    }, { timeoutMs: 30_000, what: `root to log in to ${m.name} over ssh`, intervalMs: 200 });
  }

  private sshOptions(): string[] {
    return ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${this.knownHostsFile}`, "-o", "ConnectTimeout=5"];
  }

  /** The environment of a host-side process that uses this agent. */
  env(): Record<string, string> {
    return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", LANG: "C.UTF-8", SSH_AUTH_SOCK: this.agentSocket };
  }

  /**
   * The real `bin/fleet ctl` on the host with this agent, as root, checking host keys against
   * the known hosts file; `connection` replaces the default etcd driver flags.
   */
  async fleetctl(c: E2eCluster, args: string[], connection?: string[]): Promise<CtlResult> {
    const conn = connection ?? ["--driver", "etcd", "--endpoint", c.etcdEndpoint, "--etcd-key-prefix", c.fleet.keys.prefix];
    const argv = [FLEET_BIN, "ctl", ...conn, "--ssh-username", "root", "--known-hosts-file", this.knownHostsFile, ...args];
    const cwd = join(this.dir, "cwd");
    mkdirSync(cwd, { recursive: true });
    const proc = Bun.spawn(argv, { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: this.env() });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killTree(proc.pid);
    }, CTL_TIMEOUT_MS);
    try {
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      return { code, stdout, stderr, timedOut };
    } finally {
      clearTimeout(timer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    killTree(this.agent.pid);
    await this.agent.exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function sshdConfig(): string {
  return [
    "Port 22",
    `HostKey ${INNER}/host_key`,
    `PidFile ${INNER}/sshd.pid`,
    `AuthorizedKeysFile ${INNER}/authorized_keys`,
    "PermitRootLogin prohibit-password",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    // root's home is the host's /root, whose modes are none of this test's business.
    "StrictModes no",
    "AllowAgentForwarding yes",
    "PrintMotd no",
    "",
  ].join("\n");
}

async function runOk(argv: string[], env: Record<string, string> = {}): Promise<void> {
  const r = await run(argv, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...env }, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${argv.join(" ")} exited ${r.code}: ${r.stderr}`);
}
