// The argv of the system `ssh` client for status, journal, ssh, restart of global units and
// --tunnel (compatibility.md §6.7). Pure: the runner lives in remote.ts.
//
// Every value from outside (a machine's public IP from etcd, a unit name) reaches ssh or the
// remote shell checked and delimited: hosts must be IP literals or DNS names and follow `--`, so
// ssh can never read one as an option (`-oProxyCommand=...` would run on the operator's
// machine); unit names must be valid and follow `--` (systemctl) or be glued to their option
// (journalctl), and the remote command is quoted word by word for the remote shell.
import { isIP } from "node:net";
import { assertValidUnitName } from "../unit/unit-name.ts";

export interface SshSettings {
  username: string;
  /** --ssh-port of the target (22 unless given). */
  port: number;
  strictHostKeyChecking: boolean;
  /** Already expanded (no `~`). */
  knownHostsFile: string;
  /** Seconds allowed for connection set-up. */
  timeout: number;
  /** --ssh-identity-file, expanded: the one key offered (agent keys and default files are not). */
  identityFile?: string;
  /** --tunnel: `host[:port]`; connections to the target go through it. */
  tunnel?: string;
  forwardAgent?: boolean;
  /** Ask for a terminal on the remote side (interactive shell). */
  tty?: boolean;
}

/** Splits `host[:port]` (port 22 when absent; `[v6]:port` understood). */
export function splitHostPort(addr: string, defaultPort = 22): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(addr);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : defaultPort };
  const colon = addr.lastIndexOf(":");
  // More than one colon and no brackets: a bare IPv6 address.
  if (colon === -1 || addr.indexOf(":") !== colon) return { host: addr, port: defaultPort };
  const port = Number(addr.slice(colon + 1));
  return Number.isInteger(port) && port > 0 ? { host: addr.slice(0, colon), port } : { host: addr, port: defaultPort };
}

const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Why `address` (`host[:port]`) cannot be given to ssh as a destination, or undefined when its
 * host is an IPv4 or IPv6 literal or a DNS host name (letters, digits and inner `-` per label,
 * the last label not all digits).
 */
export function sshAddressProblem(address: string): string | undefined {
  const { host } = splitHostPort(address);
  if (host === "") return "empty";
  // isIP accepts an IPv6 zone (`fe80::1%eth0`); the zone must be a plain interface name too.
  if (isIP(host) !== 0 && /^[0-9A-Fa-f:.]+(%[A-Za-z0-9][A-Za-z0-9_.-]*)?$/.test(host)) return undefined;
  const labels = host.replace(/\.$/, "").split(".");
  const dns = host.length <= 253 && labels.every((l) => DNS_LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1]!);
  return dns ? undefined : "not an IP address or host name";
}

/** The error for a machine whose public IP cannot be an ssh destination, or undefined. */
export function machineAddressError(machineId: string, address: string): string | undefined {
  const problem = sshAddressProblem(address);
  return problem && `Cannot SSH to machine ${machineId}: its public IP ${JSON.stringify(address)} is ${problem}`;
}

function checkAddress(address: string, what: string): void {
  const problem = sshAddressProblem(address);
  if (problem) throw new UnsafeValueError(`Cannot SSH to ${what} ${JSON.stringify(address)}: it is ${problem}`);
}

/** A value from outside that must not reach another program. */
export class UnsafeValueError extends Error {
  override readonly name = "UnsafeValueError";
}

/** The options every connection uses: timeouts, the identity file and host key checking. */
export function commonSshOptions(s: Pick<SshSettings, "strictHostKeyChecking" | "knownHostsFile" | "timeout" | "identityFile">): string[] {
  const opts = ["-o", `ConnectTimeout=${Math.max(1, Math.ceil(s.timeout))}`];
  // Only this key: an agent full of other keys would use up the server's MaxAuthTries first.
  if (s.identityFile) opts.push("-i", s.identityFile, "-o", "IdentitiesOnly=yes");
  if (s.strictHostKeyChecking) {
    // `ask` prompts for an unknown host and records it, as fleetctl did.
    opts.push("-o", "StrictHostKeyChecking=ask", "-o", `UserKnownHostsFile=${s.knownHostsFile}`);
  } else {
    opts.push("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR");
  }
  return opts;
}

/** `-o ProxyCommand=...` that reaches the target through the tunnel host (`ssh -W`). */
export function proxyOptions(s: SshSettings): string[] {
  if (!s.tunnel) return [];
  const t = splitHostPort(s.tunnel);
  // ssh runs ProxyCommand through the shell after expanding %h and %p; escape our own `%`.
  checkAddress(s.tunnel, "--tunnel");
  const words = ["ssh", ...commonSshOptions(s), "-p", String(t.port), "-l", s.username, "-W", "%h:%p", "--", t.host];
  const command = words.map((w) => (w === "%h:%p" ? w : shellQuote(w).replaceAll("%", "%%"))).join(" ");
  return ["-o", `ProxyCommand=${command}`];
}

/**
 * The full argv: `ssh <options> -p <port> -l <user> -- <host> [<remote command>]`. `address` is
 * the machine's IP, optionally with `:port` (which wins over the port setting); one that is not
 * an IP or host name throws UnsafeValueError. After `--` ssh reads no more options: the next
 * word is the host and the rest is the command, one string for the remote shell.
 */
export function sshArgv(address: string, s: SshSettings, remoteCommand?: string): string[] {
  checkAddress(address, "address");
  const { host, port } = splitHostPort(address, s.port);
  const argv = ["ssh", ...commonSshOptions(s), ...proxyOptions(s)];
  if (s.forwardAgent) argv.push("-A");
  if (s.tty) argv.push("-t");
  argv.push("-p", String(port), "-l", s.username, "--", host);
  if (remoteCommand !== undefined && remoteCommand !== "") argv.push(remoteCommand);
  return argv;
}

/** ssh to the tunnel host forwarding stdin/stdout to `target` (host:port): `ssh -W`. */
export function tunnelForwardArgv(s: SshSettings, target: string): string[] {
  checkAddress(s.tunnel ?? "", "--tunnel");
  const t = splitHostPort(s.tunnel ?? "");
  return ["ssh", ...commonSshOptions(s), "-p", String(t.port), "-l", s.username, "-W", target, "--", t.host];
}

/** ssh to the tunnel host running `fleetctl fd-forward <socket>` (an API on a unix socket). */
export function tunnelFdForwardArgv(s: SshSettings, socketPath: string): string[] {
  checkAddress(s.tunnel ?? "", "--tunnel");
  const t = splitHostPort(s.tunnel ?? "");
  return ["ssh", ...commonSshOptions(s), "-p", String(t.port), "-l", s.username, "--", t.host, `fleetctl fd-forward ${shellQuote(socketPath)}`];
}

/** A word for a POSIX shell: unchanged when safe, otherwise single-quoted. */
export function shellQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", "'\\''")}'`;
}

/** A remote command line from a program and its arguments, each quoted for the remote shell. */
export function remoteCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}

/**
 * `systemctl status -l -- <unit>` or `systemctl restart -- <unit>`. An invalid unit name throws
 * UnitNameError: a name that reaches systemctl is one systemd accepts, after `--`.
 */
export function systemctlArgv(verb: "status" | "restart", unit: string): string[] {
  assertValidUnitName(unit);
  return verb === "status" ? ["systemctl", "status", "-l", "--", unit] : ["systemctl", "restart", "--", unit];
}

/**
 * `journalctl --unit=<unit> ...`. The name is glued to its option instead of following `--`:
 * journalctl reads the words after `--` as match expressions and refuses a bare unit name.
 */
export function journalctlArgv(unit: string, o: { lines: number; follow: boolean; output: string; sudo: boolean }): string[] {
  assertValidUnitName(unit);
  const argv = ["journalctl", `--unit=${unit}`, "--no-pager", "-n", String(o.lines), "--output", o.output];
  if (o.follow) argv.push("-f");
  return o.sudo ? ["sudo", ...argv] : argv;
}

/**
 * Expands `~` and `~user` at the start of a path. `home` is the current user's home;
 * `homeOf` looks up another user's (undefined when unknown: the path is kept).
 */
export function expandHome(path: string, home: string, homeOf: (user: string) => string | undefined): string {
  const m = /^~([^/]*)(\/.*)?$/.exec(path);
  if (!m) return path;
  const base = m[1] === "" ? home : homeOf(m[1]!);
  return base === undefined ? path : `${base}${m[2] ?? ""}`;
}
