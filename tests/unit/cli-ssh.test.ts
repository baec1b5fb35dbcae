import { describe, expect, test } from "bun:test";
import {
  expandHome, journalctlArgv, proxyOptions, remoteCommand, shellQuote, splitHostPort, sshArgv, systemctlArgv,
  tunnelFdForwardArgv, tunnelForwardArgv, type SshSettings,
} from "../../src/cli/ssh.ts";

const base: SshSettings = {
  username: "core",
  port: 22,
  strictHostKeyChecking: true,
  knownHostsFile: "/home/me/.fleetctl/known_hosts",
  timeout: 10,
};

const strict = ["-o", "ConnectTimeout=10", "-o", "StrictHostKeyChecking=ask", "-o", "UserKnownHostsFile=/home/me/.fleetctl/known_hosts"];

describe("ssh argv", () => {
  test("a remote command on a machine: user, port, known hosts, timeout", () => {
    expect(sshArgv("10.0.0.5", base, remoteCommand(systemctlArgv("status", "hello.service")))).toEqual([
      "ssh", ...strict, "-p", "22", "-l", "core", "10.0.0.5", "--", "systemctl status -l hello.service",
    ]);
  });

  test("--ssh-port, --ssh-username, --ssh-timeout rounded up, -A, an interactive shell has no command", () => {
    const argv = sshArgv("10.0.0.5", { ...base, port: 2222, username: "ops", timeout: 2.5, forwardAgent: true }, "");
    expect(argv).toEqual([
      "ssh", "-o", "ConnectTimeout=3", "-o", "StrictHostKeyChecking=ask", "-o", "UserKnownHostsFile=/home/me/.fleetctl/known_hosts",
      "-A", "-p", "2222", "-l", "ops", "10.0.0.5",
    ]);
  });

  test("without strict host key checking nothing is recorded", () => {
    expect(sshArgv("h", { ...base, strictHostKeyChecking: false }).slice(0, 9)).toEqual([
      "ssh", "-o", "ConnectTimeout=10", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
    ]);
  });

  test("an address with a port wins over --ssh-port; IPv6 addresses", () => {
    expect(sshArgv("10.0.0.5:2200", base).slice(-5)).toEqual(["-p", "2200", "-l", "core", "10.0.0.5"]);
    expect(splitHostPort("[fe80::1]:23")).toEqual({ host: "fe80::1", port: 23 });
    expect(splitHostPort("fe80::1")).toEqual({ host: "fe80::1", port: 22 });
    expect(splitHostPort("bastion")).toEqual({ host: "bastion", port: 22 });
  });

  test("--tunnel goes through ProxyCommand ssh -W with the same checks", () => {
    const s = { ...base, tunnel: "bastion.example:2022" };
    expect(proxyOptions(s)).toEqual([
      "-o",
      "ProxyCommand=ssh -o ConnectTimeout=10 -o StrictHostKeyChecking=ask -o UserKnownHostsFile=/home/me/.fleetctl/known_hosts -p 2022 -l core -W %h:%p bastion.example",
    ]);
    expect(sshArgv("10.0.0.5", s)).toContain("ProxyCommand=ssh -o ConnectTimeout=10 -o StrictHostKeyChecking=ask -o UserKnownHostsFile=/home/me/.fleetctl/known_hosts -p 2022 -l core -W %h:%p bastion.example");
    // A % of our own must survive ssh's token expansion.
    expect(proxyOptions({ ...s, knownHostsFile: "/k%h" })[1]).toContain("UserKnownHostsFile=/k%%h");
  });

  test("--ssh-identity-file offers only that key, on the machine and through the tunnel", () => {
    const s = { ...base, identityFile: "/run/fleet-sandbox/fleet/ssh/id_ed25519", tunnel: "bastion:22" };
    const argv = sshArgv("10.0.0.5", s, "true");
    expect(argv.slice(0, 11)).toEqual([
      "ssh", "-o", "ConnectTimeout=10", "-i", "/run/fleet-sandbox/fleet/ssh/id_ed25519", "-o", "IdentitiesOnly=yes", ...strict.slice(2),
    ]);
    expect(proxyOptions(s)[1]).toContain("-i /run/fleet-sandbox/fleet/ssh/id_ed25519 -o IdentitiesOnly=yes");
    // Unset, nothing is added: ssh's agent and default keys apply, as in the original.
    expect(sshArgv("10.0.0.5", base, "true").join(" ")).not.toContain("-i ");
  });

  test("tunnel forwarders: -W to a TCP target, fleetctl fd-forward to a unix socket", () => {
    const s = { ...base, tunnel: "bastion:22" };
    expect(tunnelForwardArgv(s, "10.0.0.1:49153")).toEqual(["ssh", ...strict, "-p", "22", "-l", "core", "-W", "10.0.0.1:49153", "bastion"]);
    expect(tunnelFdForwardArgv(s, "/var/run/fleet.sock")).toEqual([
      "ssh", ...strict, "-p", "22", "-l", "core", "bastion", "--", "fleetctl fd-forward /var/run/fleet.sock",
    ]);
  });
});

describe("remote commands", () => {
  test("journalctl with lines, output, follow and sudo", () => {
    expect(remoteCommand(journalctlArgv("hello.service", { lines: 10, follow: false, output: "short", sudo: false }))).toBe(
      "journalctl --unit hello.service --no-pager -n 10 --output short",
    );
    expect(journalctlArgv("a@1.service", { lines: 100, follow: true, output: "json", sudo: true })).toEqual([
      "sudo", "journalctl", "--unit", "a@1.service", "--no-pager", "-n", "100", "--output", "json", "-f",
    ]);
  });

  test("quoting for the remote shell", () => {
    expect(shellQuote("hello@1.service")).toBe("hello@1.service");
    expect(shellQuote("yes@no\\.service")).toBe("'yes@no\\.service'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote("")).toBe("''");
    expect(remoteCommand(systemctlArgv("restart", "a b.service"))).toBe("systemctl restart 'a b.service'");
  });

  test("~ and ~user in --known-hosts-file", () => {
    const homes: Record<string, string> = { ops: "/home/ops" };
    const homeOf = (u: string) => homes[u];
    expect(expandHome("~/.fleetctl/known_hosts", "/root", homeOf)).toBe("/root/.fleetctl/known_hosts");
    expect(expandHome("~ops/kh", "/root", homeOf)).toBe("/home/ops/kh");
    expect(expandHome("~nobody/kh", "/root", homeOf)).toBe("~nobody/kh");
    expect(expandHome("/etc/kh", "/root", homeOf)).toBe("/etc/kh");
  });
});
