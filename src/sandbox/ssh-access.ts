// sshd in the machines, so `fleet ctl status`, `journal` and `ssh` (which run the system ssh
// client, as the original fleetctl did) reach them from the host. Machines share the host's /usr,
// so they run the host's /usr/sbin/sshd (Debian's openssh-server), each as a runtime service with
// its host key, config and authorized keys under its private /run. On the host, a directory
// keeps the client key pair, each machine's host key (made once, so a machine that boots again
// presents the same key) and a known_hosts file naming them all: host key checking stays on,
// and no ssh-agent is needed.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, runOk } from "./command.ts";
import type { Machine } from "./machine.ts";
import { waitFor } from "../lib/wait-for.ts";

export const SSHD = "/usr/sbin/sshd";
export const SSHD_UNIT = "fleet-sandbox-sshd.service";
/** The user fleet ctl logs in as (machines share the host's /root). */
export const SSH_USER = "root";
export const SSHD_MISSING =
  "fleet ctl status, journal and ssh need sshd in the machines: install Debian's openssh-server (apt-get install openssh-server), then run fleet sandbox up again";
/** Inside each machine: private, and gone when it halts. */
const INNER = "/run/fleet-sshd";
const CLIENT_KEY = "id_ed25519";
const KNOWN_HOSTS = "known_hosts";
const HOST_KEYS = "host-keys";
const TOOL_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };

/** True when the host has what sshd in the machines needs (the server and ssh-keygen). */
export function sshdAvailable(): boolean {
  return existsSync(SSHD) && existsSync("/usr/bin/ssh-keygen") && existsSync("/usr/bin/ssh");
}

/** The FLEETCTL_* settings for the access kept in `dir` (see SshAccess.ctlEnv). */
export function sshCtlEnv(dir: string): Record<string, string> {
  return {
    FLEETCTL_SSH_USERNAME: SSH_USER,
    FLEETCTL_KNOWN_HOSTS_FILE: join(dir, KNOWN_HOSTS),
    FLEETCTL_SSH_IDENTITY_FILE: join(dir, CLIENT_KEY),
  };
}

export interface SshAccessOptions {
  /** Comment of the client key (what `ssh-add -l` shows when it is in an agent). */
  comment?: string;
}

export class SshAccess {
  private constructor(
    /** Host directory of the keys and known_hosts (mode 0700). */
    readonly dir: string,
    readonly publicKey: string,
  ) {}

  /** Opens the directory, making the client key pair and an empty known_hosts the first time. */
  static async open(dir: string, opts: SshAccessOptions = {}): Promise<SshAccess> {
    mkdirSync(join(dir, HOST_KEYS), { recursive: true, mode: 0o700 });
    const key = join(dir, CLIENT_KEY);
    if (!existsSync(key)) await keygen(key, opts.comment ?? "fleet-sandbox");
    if (!existsSync(join(dir, KNOWN_HOSTS))) writeFileSync(join(dir, KNOWN_HOSTS), "", { mode: 0o644 });
    return new SshAccess(dir, readFileSync(`${key}.pub`, "utf8").trim());
  }

  get identityFile(): string {
    return join(this.dir, CLIENT_KEY);
  }

  get knownHostsFile(): string {
    return join(this.dir, KNOWN_HOSTS);
  }

  /** The FLEETCTL_* settings that make fleet ctl's ssh reach the machines as root with this key. */
  ctlEnv(): Record<string, string> {
    return sshCtlEnv(this.dir);
  }

  /** Options of a plain `ssh` to a machine with this key, checking its host key. */
  sshOptions(): string[] {
    return [
      "-i", this.identityFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
      "-o", `UserKnownHostsFile=${this.knownHostsFile}`, "-o", "ConnectTimeout=5",
    ];
  }

  /**
   * Runs sshd in the machine as a runtime service, records its host key as known for the
   * machine's address and waits until root can log in. Safe to call again after a reboot.
   */
  async startSshd(m: Machine, timeoutMs = 30_000): Promise<void> {
    const hostKey = join(this.dir, HOST_KEYS, m.name);
    if (!existsSync(hostKey)) await keygen(hostKey, m.hostname);
    await m.writeFile(`${INNER}/host_key`, readFileSync(hostKey, "utf8"), "0600");
    await m.writeFile(`${INNER}/authorized_keys`, `${this.publicKey}\n`, "0600");
    await m.writeFile(`${INNER}/sshd_config`, sshdConfig(), "0600");
    await m.startService(SSHD_UNIT, {
      description: "sshd for fleet ctl status, journal and ssh from the host",
      execStart: [SSHD, "-D", "-e", "-f", `${INNER}/sshd_config`],
      // The privilege separation directory sshd insists on; the machine's /run starts empty.
      serviceLines: ["RuntimeDirectory=sshd", "RuntimeDirectoryMode=0755"],
    });
    const publicHostKey = readFileSync(`${hostKey}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    this.recordKnownHost(m.ip, publicHostKey);
    let last = "";
    await waitFor(
      async () => {
        const r = await run(["ssh", ...this.sshOptions(), "-l", SSH_USER, m.ip, "true"], { env: TOOL_ENV, timeoutMs: 15_000 });
        last = r.stderr.trim();
        return r.code === 0;
      },
      { timeoutMs, what: () => `root to log in to ${m.name} over ssh${last ? ` (ssh said: ${last})` : ""}`, intervalMs: 200 },
    );
  }

  /**
   * Sets the machine's line in known_hosts (read and written without yielding). Lines are kept
   * in address order, so the file does not depend on which machine's sshd came up first.
   */
  private recordKnownHost(ip: string, key: string): void {
    const lines = readFileSync(this.knownHostsFile, "utf8").split("\n").filter((l) => l !== "" && l.split(" ")[0] !== ip);
    lines.push(`${ip} ${key}`);
    const address = (l: string) => l.split(" ")[0]!.split(".").map((n) => n.padStart(3, "0")).join(".");
    lines.sort((a, b) => address(a).localeCompare(address(b)));
    writeFileSync(this.knownHostsFile, [...lines, ""].join("\n"));
  }
}

async function keygen(path: string, comment: string): Promise<void> {
  await runOk(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path], { env: TOOL_ENV, timeoutMs: 30_000 });
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
    // root's home is the host's /root, whose modes are not the sandbox's business.
    "StrictModes no",
    "AllowAgentForwarding yes",
    "PrintMotd no",
    "",
  ].join("\n");
}
