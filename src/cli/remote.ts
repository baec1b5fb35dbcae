// Runs a command on a unit's machine (status, journal, restart of global units): locally when
// that machine is this host, otherwise through the system ssh client (compatibility.md §6.7).
import { mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Machine } from "./client.ts";
import { errorText } from "../lib/error-text.ts";
import type { Io } from "./io.ts";
import { machineAddressError, remoteCommand, sshArgv, type SshSettings } from "./ssh.ts";

/** This host's machine id, or "" when /etc/machine-id cannot be read. */
export function localMachineId(path = "/etc/machine-id"): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}

/** Home directory of a user from /etc/passwd (for `~user` in --known-hosts-file). */
export function homeOfUser(user: string): string | undefined {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[0] === user && f[5]) return f[5];
    }
  } catch {
    // no passwd file: leave the path as it is
  }
  return undefined;
}

/** Runs argv with the terminal's stdio and returns its exit status (255 when it cannot run). */
export async function runInteractive(argv: readonly string[], io: Io, what: string): Promise<number> {
  try {
    const proc = Bun.spawn([...argv], { stdin: "inherit", stdout: "inherit", stderr: "inherit" });
    return await proc.exited;
  } catch (err) {
    io.err(`${what}: ${errorText(err)}\n`);
    return 255;
  }
}

export interface RemoteRun {
  io: Io;
  machines: () => Promise<readonly Machine[]>;
  ssh: SshSettings;
  /** This host's machine id (the local shortcut). */
  localId: string;
}

/**
 * Runs `argv` on machine `machineID` and returns its exit status: the command's own, 255 when
 * ssh fails, 1 when the machine's address is unknown (quirk Q22 fixed: that was 0).
 */
export async function runOnMachine(r: RemoteRun, machineID: string, argv: readonly string[]): Promise<number> {
  if (r.localId !== "" && machineID === r.localId) {
    return runInteractive(argv, r.io, "Unable to run command locally");
  }
  let ip: string | undefined;
  try {
    const m = (await r.machines()).find((x) => x.id === machineID);
    if (!m) throw new Error(`machine ${machineID} is not in the cluster`);
    if (!m.primaryIP) throw new Error(`machine ${machineID} has no public IP`);
    ip = m.primaryIP;
  } catch (err) {
    r.io.err(`Error getting machine IP: ${errorText(err)}\n`);
    return 1;
  }
  const refused = machineAddressError(machineID, ip);
  if (refused) {
    r.io.err(`${refused}\n`);
    return 1;
  }
  let sshCommand: string[];
  try {
    sshCommand = sshArgv(ip, r.ssh, remoteCommand(argv));
  } catch (err) {
    r.io.err(`${errorText(err)}\n`);
    return 1;
  }
  prepareKnownHosts(r.ssh);
  return runInteractive(sshCommand, r.io, "Unable to SSH to remote host");
}

/** ssh records new host keys but does not create the directory of the known hosts file. */
export function prepareKnownHosts(s: SshSettings): void {
  if (!s.strictHostKeyChecking) return;
  try {
    mkdirSync(dirname(s.knownHostsFile), { recursive: true, mode: 0o700 });
  } catch {
    // ssh itself will say what is wrong with the file
  }
}
