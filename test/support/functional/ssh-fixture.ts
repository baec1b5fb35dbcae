// The real `fleet ctl` on the host reaching e2e machines through the system ssh client (status,
// journal, ssh, --tunnel), with the sandbox's own ssh access (src/sandbox/ssh-access.ts: sshd in
// each machine, a key file and a known_hosts file passed as FLEETCTL_* settings). An ssh-agent
// holding the same key runs besides, only so that `ssh -A` has an agent to forward.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killTree, run } from "../../../src/sandbox/command.ts";
import { type Machine } from "../../../src/sandbox/index.ts";
import { SshAccess, sshdAvailable } from "../../../src/sandbox/ssh-access.ts";
import { FLEET_BIN } from "./agent-harness.ts";
import { ctlResult, type CtlResult, type E2eCluster } from "./e2e-fixture.ts";
import { until } from "../until.ts";

export { SSHD_UNIT } from "../../../src/sandbox/ssh-access.ts";
export const KEY_COMMENT = "fleet-e2e";
const ENSURE_TOOLS = join(import.meta.dir, "../../../scripts/ensure-tools.sh");

/** Installs openssh-server and the client on the host when missing, as ./quickstart does (no service started). */
export async function ensureOpenSsh(): Promise<void> {
  if (sshdAvailable()) return;
  const env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: process.env.HOME ?? "/root" };
  const r = await run(["bash", "-c", 'source "$0" && ensure_openssh', ENSURE_TOOLS], { env, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`Cannot install openssh-server on the host: ensure_openssh exited ${r.code}\n${r.stdout}\n${r.stderr}`);
}

/** The ssh access of a test file: keys in a temporary directory, sshd in machines, the agent for -A. */
export class E2eSsh implements AsyncDisposable {
  private constructor(
    private readonly dir: string,
    readonly access: SshAccess,
    private readonly agent: ReturnType<typeof Bun.spawn>,
    readonly agentSocket: string,
  ) {}

  static async start(): Promise<E2eSsh> {
    const dir = mkdtempSync(join(tmpdir(), "fleet-e2e-ssh-"));
    const agentSocket = join(dir, "agent.sock");
    // -D: in the foreground, so the agent is this process's child and is killed by its pid.
    const agent = Bun.spawn(["ssh-agent", "-D", "-a", agentSocket], { stdin: "ignore", stdout: "ignore", stderr: "inherit" });
    try {
      const access = await SshAccess.open(join(dir, "keys"), { comment: KEY_COMMENT });
      await until("ssh-agent to listen", async () => (await run(["ssh-add", "-l"], { env: { SSH_AUTH_SOCK: agentSocket, PATH: "/usr/bin:/bin" } })).code !== 2, { timeoutMs: 10_000, intervalMs: 50, retryErrors: true });
      const added = await run(["ssh-add", "-q", access.identityFile], { env: { SSH_AUTH_SOCK: agentSocket, PATH: "/usr/bin:/bin" } });
      if (added.code !== 0) throw new Error(`ssh-add exited ${added.code}: ${added.stderr}`);
      return new E2eSsh(dir, access, agent, agentSocket);
    } catch (e) {
      killTree(agent.pid);
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  startSshd(m: Machine): Promise<void> {
    return this.access.startSshd(m);
  }

  /** The environment of a host-side fleet ctl: the sandbox's FLEETCTL_* ssh settings and the agent. */
  env(): Record<string, string> {
    return {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/root",
      LANG: "C.UTF-8",
      SSH_AUTH_SOCK: this.agentSocket,
      ...this.access.ctlEnv(),
    };
  }

  /**
   * Starts the real `bin/fleet ctl` on the host in its own process group (as a shell runs a
   * foreground job); `connection` replaces the default etcd driver flags.
   */
  spawnFleetctl(c: E2eCluster, args: string[], connection?: string[]) {
    const conn = connection ?? ["--driver", "etcd", "--endpoint", c.etcdEndpoint, "--etcd-key-prefix", c.fleet.keys.prefix];
    const cwd = join(this.dir, "cwd");
    mkdirSync(cwd, { recursive: true });
    return Bun.spawn([FLEET_BIN, "ctl", ...conn, ...args], { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: this.env(), detached: true });
  }

  /** Runs `bin/fleet ctl` to its end (killed after a minute). */
  fleetctl(c: E2eCluster, args: string[], connection?: string[]): Promise<CtlResult> {
    return ctlResult(this.spawnFleetctl(c, args, connection));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    killTree(this.agent.pid);
    await this.agent.exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
