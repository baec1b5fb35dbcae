import { describe, expect, test } from "bun:test";
import {
  expandHome, journalctlArgv, machineAddressError, proxyOptions, remoteCommand, shellQuote, splitHostPort, sshAddressProblem, sshArgv,
  systemctlArgv, tunnelFdForwardArgv, tunnelForwardArgv, type SshSettings,
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
      "ssh", ...strict, "-p", "22", "-l", "core", "--", "10.0.0.5", "systemctl status -l -- hello.service",
    ]);
  });

  test("--ssh-port, --ssh-username, --ssh-timeout rounded up, -A, an interactive shell has no command", () => {
    const argv = sshArgv("10.0.0.5", { ...base, port: 2222, username: "ops", timeout: 2.5, forwardAgent: true }, "");
    expect(argv).toEqual([
      "ssh", "-o", "ConnectTimeout=3", "-o", "StrictHostKeyChecking=ask", "-o", "UserKnownHostsFile=/home/me/.fleetctl/known_hosts",
      "-A", "-p", "2222", "-l", "ops", "--", "10.0.0.5",
    ]);
  });

  test("without strict host key checking nothing is recorded", () => {
    expect(sshArgv("h", { ...base, strictHostKeyChecking: false }).slice(0, 9)).toEqual([
      "ssh", "-o", "ConnectTimeout=10", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
    ]);
  });

  test("an address with a port wins over --ssh-port; IPv6 addresses", () => {
    expect(sshArgv("10.0.0.5:2200", base).slice(-6)).toEqual(["-p", "2200", "-l", "core", "--", "10.0.0.5"]);
    expect(sshArgv("[fe80::1%eth0]:23", base).slice(-6)).toEqual(["-p", "23", "-l", "core", "--", "fe80::1%eth0"]);
    expect(splitHostPort("[fe80::1]:23")).toEqual({ host: "fe80::1", port: 23 });
    expect(splitHostPort("fe80::1")).toEqual({ host: "fe80::1", port: 22 });
    expect(splitHostPort("bastion")).toEqual({ host: "bastion", port: 22 });
  });

  test("--tunnel goes through ProxyCommand ssh -W with the same checks", () => {
    const s = { ...base, tunnel: "bastion.example:2022" };
    expect(proxyOptions(s)).toEqual([
      "-o",
      "ProxyCommand=ssh -o ConnectTimeout=10 -o StrictHostKeyChecking=ask -o UserKnownHostsFile=/home/me/.fleetctl/known_hosts -p 2022 -l core -W %h:%p -- bastion.example",
    ]);
    expect(sshArgv("10.0.0.5", s)).toContain("ProxyCommand=ssh -o ConnectTimeout=10 -o StrictHostKeyChecking=ask -o UserKnownHostsFile=/home/me/.fleetctl/known_hosts -p 2022 -l core -W %h:%p -- bastion.example");
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
    expect(tunnelForwardArgv(s, "10.0.0.1:49153")).toEqual(["ssh", ...strict, "-p", "22", "-l", "core", "-W", "10.0.0.1:49153", "--", "bastion"]);
    expect(tunnelFdForwardArgv(s, "/var/run/fleet.sock")).toEqual([
      "ssh", ...strict, "-p", "22", "-l", "core", "--", "bastion", "fleetctl fd-forward /var/run/fleet.sock",
    ]);
  });
});

describe("values from outside never reach ssh as options", () => {
  const hostile = ["-oProxyCommand=touch /tmp/x", "-oProxyCommand=touch", "ssh://evil", "user@10.0.0.5", "10.0.0.5 -v", "host;id", "$(id)", "a..b", "-host", "host-", "1.2.3", "fe80::1%-oX", ""];

  test("IPv4, IPv6 and DNS host names are addresses; nothing else is", () => {
    for (const ok of ["10.0.0.5", "10.0.0.5:2222", "::1", "[::1]:22", "fe80::1%eth0", "2001:db8::1", "bastion", "node-1.example.com", "node-1.example.com.", "xn--bcher-kva.example"]) {
      expect({ ok, problem: sshAddressProblem(ok) }).toEqual({ ok, problem: undefined });
    }
    for (const bad of hostile) expect({ bad, problem: sshAddressProblem(bad) }).toEqual({ bad, problem: bad === "" ? "empty" : "not an IP address or host name" });
  });

  test("a hostile public IP is refused with an error naming the machine and the value", () => {
    expect(machineAddressError("113f16a7", "-oProxyCommand=touch /tmp/x")).toBe(
      'Cannot SSH to machine 113f16a7: its public IP "-oProxyCommand=touch /tmp/x" is not an IP address or host name',
    );
    expect(machineAddressError("113f16a7", "10.0.0.5")).toBeUndefined();
  });

  test("the builders refuse what the callers did not check: no argv has a hostile host", () => {
    for (const bad of hostile) {
      expect(() => sshArgv(bad, base, "uptime")).toThrow(`Cannot SSH to address ${JSON.stringify(bad)}: it is `);
      expect(() => tunnelForwardArgv({ ...base, tunnel: bad }, "10.0.0.1:2379")).toThrow("Cannot SSH to --tunnel");
      expect(() => tunnelFdForwardArgv({ ...base, tunnel: bad }, "/var/run/fleet.sock")).toThrow("Cannot SSH to --tunnel");
      // (An empty --tunnel is no tunnel.)
      if (bad !== "") expect(() => sshArgv("10.0.0.5", { ...base, tunnel: bad })).toThrow("Cannot SSH to --tunnel");
    }
  });

  test("the destination always follows --, so ssh reads no option after it", () => {
    for (const argv of [
      sshArgv("10.0.0.5", base),
      sshArgv("10.0.0.5", { ...base, tunnel: "bastion:22", forwardAgent: true, tty: true }, "uptime"),
      tunnelForwardArgv({ ...base, tunnel: "bastion" }, "10.0.0.1:2379"),
      tunnelFdForwardArgv({ ...base, tunnel: "bastion" }, "/s"),
    ]) {
      const dash = argv.indexOf("--");
      expect(dash).toBeGreaterThan(0);
      expect(["10.0.0.5", "bastion"]).toContain(argv[dash + 1]!);
      expect(argv.length - dash).toBeLessThanOrEqual(3);
    }
  });

  test("unit names reach systemctl after -- and journalctl glued to --unit=, and must be valid", () => {
    expect(systemctlArgv("status", "hello.service")).toEqual(["systemctl", "status", "-l", "--", "hello.service"]);
    expect(systemctlArgv("restart", "a@1.service")).toEqual(["systemctl", "restart", "--", "a@1.service"]);
    expect(journalctlArgv("hello.service", { lines: 1, follow: false, output: "short", sudo: false }).slice(0, 2)).toEqual(["journalctl", "--unit=hello.service"]);
    for (const bad of ["-H.service", "--host=x.service", "a b.service", "x;id.service", "$(id).service", "hello"]) {
      expect(() => systemctlArgv("status", bad)).toThrow(`Invalid unit name ${JSON.stringify(bad)}`);
      expect(() => systemctlArgv("restart", bad)).toThrow(`Invalid unit name ${JSON.stringify(bad)}`);
      expect(() => journalctlArgv(bad, { lines: 1, follow: false, output: "short", sudo: false })).toThrow(`Invalid unit name ${JSON.stringify(bad)}`);
    }
  });
});

describe("remote commands", () => {
  test("journalctl with lines, output, follow and sudo", () => {
    expect(remoteCommand(journalctlArgv("hello.service", { lines: 10, follow: false, output: "short", sudo: false }))).toBe(
      "journalctl --unit=hello.service --no-pager -n 10 --output short",
    );
    expect(journalctlArgv("a@1.service", { lines: 100, follow: true, output: "json", sudo: true })).toEqual([
      "sudo", "journalctl", "--unit=a@1.service", "--no-pager", "-n", "100", "--output", "json", "-f",
    ]);
    // A name with a backslash (systemd's escaping) is single-quoted for the remote shell.
    expect(remoteCommand(systemctlArgv("status", "mnt-a\\x2db.mount"))).toBe("systemctl status -l -- 'mnt-a\\x2db.mount'");
  });

  test("quoting for the remote shell", () => {
    expect(shellQuote("hello@1.service")).toBe("hello@1.service");
    expect(shellQuote("yes@no\\.service")).toBe("'yes@no\\.service'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote("")).toBe("''");
    expect(remoteCommand(["systemctl", "restart", "--", "a b.service"])).toBe("systemctl restart -- 'a b.service'");
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
