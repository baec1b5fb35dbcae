// One machine: a real systemd as PID 1 of its own pid, mount, uts, net and cgroup namespaces.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { dirsToKeepVisible, GO_FILE, initScript, LAUNCHER_PID_FILE, launcherScript } from "./boot-script.ts";
import { createNode, isFrozen, isPopulated, killNode, procsOf, removeTree, setFrozen, waitEmpty } from "./cgroup.ts";
import { childrenOf, CommandError, isAlive, run, type RunResult } from "./command.ts";
import { attachMachine, deleteLink, setLinkUp } from "./network.ts";
import { type ServiceSpec, serviceUnitText } from "./service-unit.ts";
import type { MachineRecord } from "./state.ts";
import { waitFor } from "../lib/wait-for.ts";

/** What a machine needs from its cluster. */
export interface MachineContext {
  /** Host directory for this machine's files. */
  dir: string;
  /** Host path of this machine's cgroup2 node. */
  cgroupNode: string;
  bridge: string;
  gateway: string;
  /** Persists the record after a change (the cluster's state file). */
  save(): void;
}

export interface ExecOptions {
  stdin?: string | Uint8Array;
  /** Added to a minimal environment (PATH, HOME, LANG); the caller's is not inherited. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** `systemctl is-system-running` values, plus "stopped" and "frozen" seen from the host. */
export type MachineState = string;

const BASE_ENV = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  LANG: "C.UTF-8",
};
/** Paths private to the machine; anything else inside is the host's own filesystem. */
const WRITABLE_PREFIXES = ["/run/", "/etc/", "/tmp/", "/var/tmp/"];
/** The cgroup (inside the machine's node) for processes entered from the host. */
const EXEC_CGROUP = "sandbox-exec";
const SIGRTMIN_PLUS_3 = 37;
const CONTAINER = "fleet-sandbox";

export class Machine {
  private launcher: ReturnType<typeof Bun.spawn> | undefined;

  constructor(
    private readonly record: MachineRecord,
    private readonly ctx: MachineContext,
  ) {}

  get name(): string {
    return this.record.name;
  }
  get hostname(): string {
    return this.record.hostname;
  }
  get ip(): string {
    return this.record.ip;
  }
  get machineId(): string {
    return this.record.machineId;
  }
  /** Host pid of the machine's systemd, while it runs. */
  get pid(): number | undefined {
    return this.record.pid;
  }
  get cgroupNode(): string {
    return this.ctx.cgroupNode;
  }

  /** True when the machine's processes exist (running, booting, frozen or halting). */
  isStarted(): boolean {
    return this.record.pid !== undefined && isPopulated(this.ctx.cgroupNode);
  }

  /** Starts systemd in fresh namespaces; by default waits until it reports running. */
  async boot(opts: { timeoutMs?: number; wait?: boolean } = {}): Promise<void> {
    if (this.isStarted()) throw new Error(`Cannot boot ${this.name}: it is already running`);
    await this.release();
    const { dir, cgroupNode } = this.ctx;
    mkdirSync(dir, { recursive: true });
    rmSync(join(dir, GO_FILE), { force: true });
    rmSync(join(dir, LAUNCHER_PID_FILE), { force: true });
    const params = {
      machineDir: dir,
      cgroupNode,
      hostname: this.hostname,
      machineId: this.machineId,
      systemd: existsSync("/lib/systemd/systemd") ? "/lib/systemd/systemd" : "/usr/lib/systemd/systemd",
      container: CONTAINER,
      // The running program and the working directory (a checkout, in tests and ./quickstart).
      keepVisible: dirsToKeepVisible([dirname(realpathSync(process.execPath)), process.cwd()]),
    };
    writeFileSync(join(dir, "launcher.sh"), launcherScript(params));
    writeFileSync(join(dir, "init.sh"), initScript(params));
    createNode(cgroupNode);
    const log = openSync(join(dir, "launcher.log"), "a");
    try {
      this.launcher = Bun.spawn(["setsid", "/bin/sh", join(dir, "launcher.sh")], {
        stdin: "ignore",
        stdout: log,
        stderr: log,
      });
    } finally {
      closeSync(log);
    }
    this.launcher.unref();
    try {
      const found = await waitFor(() => this.findInit(), { timeoutMs: 10_000, what: `${this.name}'s init process` });
      if (found === "exited") throw new Error("the launcher exited");
      this.record.launcherPid = found.launcher;
      this.record.pid = found.init;
      this.ctx.save();
      await attachMachine({ veth: this.record.veth, bridge: this.ctx.bridge, pid: found.init, ip: this.ip, gateway: this.ctx.gateway });
      writeFileSync(join(dir, GO_FILE), "");
    } catch (err) {
      await this.kill();
      throw new Error(`Cannot boot ${this.name}: ${(err as Error).message}${this.logTail()}`);
    }
    if (opts.wait !== false) await this.waitUntilBooted(opts.timeoutMs ?? 30_000);
  }

  private findInit(): { launcher: number; init: number } | "exited" | undefined {
    if (this.launcher && this.launcher.exitCode !== null) return "exited";
    let launcher: number;
    try {
      launcher = Number(readFileSync(join(this.ctx.dir, LAUNCHER_PID_FILE), "utf8"));
    } catch {
      return undefined;
    }
    const [init] = childrenOf(launcher);
    if (init === undefined) return undefined;
    // The child is PID 1 of the new pid namespace once unshare has forked it.
    const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${init}/status`, "utf8"))?.[1]?.trim().split(/\s+/);
    return nspid?.at(-1) === "1" ? { launcher, init } : undefined;
  }

  private logTail(): string {
    try {
      const lines = readFileSync(join(this.ctx.dir, "launcher.log"), "utf8").trim().split("\n").slice(-10);
      return lines.length && lines[0] ? `\nlauncher.log:\n${lines.join("\n")}` : "";
    } catch {
      return "";
    }
  }

  /** Waits until systemd reports running or degraded; fails early if the machine dies. */
  async waitUntilBooted(timeoutMs = 30_000): Promise<void> {
    let last = "unknown";
    const outcome = await waitFor(
      async () => {
        last = await this.systemState();
        return last === "stopped" ? "stopped" : last === "running" || last === "degraded";
      },
      { timeoutMs, what: () => `${this.name} to finish booting (last state: ${last})`, intervalMs: 100 },
    );
    if (outcome === "stopped") throw new Error(`Cannot boot ${this.name}: the machine stopped while booting${this.logTail()}`);
  }

  /** systemd's state (running, degraded, starting, stopping, ...), "frozen" or "stopped". */
  async systemState(): Promise<MachineState> {
    if (!this.isStarted()) return "stopped";
    if (isFrozen(this.ctx.cgroupNode)) return "frozen";
    const r = await this.exec(["systemctl", "is-system-running"], { timeoutMs: 5_000 });
    return r.stdout.trim() || (r.timedOut ? "unresponsive" : "unknown");
  }

  async isRunning(): Promise<boolean> {
    const state = await this.systemState();
    return state === "running" || state === "degraded";
  }

  /** The argv that runs `argv` inside the machine (also usable with inherited stdio). */
  enterArgv(argv: string[]): string[] {
    const pid = this.record.pid;
    if (pid === undefined || !this.isStarted()) throw new Error(`Cannot enter ${this.name}: the machine is not running`);
    const execNode = join(this.ctx.cgroupNode, EXEC_CGROUP);
    createNode(execNode);
    return [
      "/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', join(execNode, "cgroup.procs"),
      "nsenter", "-t", String(pid), "-m", "-p", "-u", "-n", "-C", "--wd=/", "--", ...argv,
    ];
  }

  /** Runs a command inside the machine; argv[0] should be an absolute path or on PATH. */
  async exec(argv: string[], opts: ExecOptions = {}): Promise<RunResult> {
    return run(this.enterArgv(argv), { stdin: opts.stdin, env: { ...BASE_ENV, ...opts.env }, timeoutMs: opts.timeoutMs });
  }

  /** Runs a command inside the machine and returns its stdout; throws when it fails. */
  async execOk(argv: string[], opts: ExecOptions = {}): Promise<string> {
    const result = await this.exec(argv, opts);
    if (result.code !== 0 || result.timedOut) throw new CommandError([`[${this.name}]`, ...argv], result);
    return result.stdout;
  }

  async systemctl(...args: string[]): Promise<string> {
    return this.execOk(["systemctl", "--no-pager", ...args]);
  }

  /** Writes a file atomically at a path private to the machine (/run, /etc, /tmp, /var/tmp). */
  async writeFile(path: string, content: string, mode = "0644"): Promise<void> {
    checkPrivatePath(this.name, path);
    const script = 'mkdir -p "$(dirname "$1")" && cat > "$1.new" && chmod "$2" "$1.new" && mv -f "$1.new" "$1"';
    await this.execOk(["/bin/sh", "-c", script, "sh", path, mode], { stdin: content });
  }

  async readFile(path: string): Promise<string> {
    return this.execOk(["cat", "--", path]);
  }

  /** Installs a runtime unit (/run/systemd/system), reloads systemd and starts it. */
  async startService(name: string, spec: ServiceSpec): Promise<void> {
    if (!/^[A-Za-z0-9:_.\\@-]+\.service$/.test(name)) throw new Error(`Cannot start service "${name}" in ${this.name}: not a service unit name`);
    await this.writeFile(`/run/systemd/system/${name}`, serviceUnitText(spec));
    await this.systemctl("daemon-reload");
    await this.systemctl("start", name);
  }

  /** The machine's journal (all of it, or one unit's); a note when it is not running. */
  async journal(unit?: string): Promise<string> {
    if (!this.isStarted()) return `(${this.name} is not running: no journal)\n`;
    const argv = ["journalctl", "--no-pager", "-o", "short-precise", ...(unit ? ["-u", unit] : [])];
    const r = await this.exec(argv, { timeoutMs: 10_000 });
    return r.stdout + r.stderr;
  }

  /** Hard kill: SIGKILL to every process of the machine through cgroup.kill. */
  async kill(): Promise<void> {
    killNode(this.ctx.cgroupNode);
    await waitEmpty(this.ctx.cgroupNode, 10_000);
    await this.release();
  }

  /**
   * Clean shutdown (SIGRTMIN+3 to systemd); falls back to a hard kill after the deadline.
   * Says which it took ("stopped" when the machine was not running).
   */
  async halt(timeoutMs = 20_000): Promise<"halted" | "killed" | "stopped"> {
    const pid = this.record.pid;
    let outcome: "halted" | "killed" | "stopped" = "stopped";
    if (pid !== undefined && this.isStarted()) {
      if (isFrozen(this.ctx.cgroupNode)) await setFrozen(this.ctx.cgroupNode, false);
      await this.endEntered(pid);
      if (this.ownsPid(pid)) process.kill(pid, SIGRTMIN_PLUS_3);
      try {
        await waitEmpty(this.ctx.cgroupNode, timeoutMs);
        outcome = "halted";
      } catch {
        killNode(this.ctx.cgroupNode);
        await waitEmpty(this.ctx.cgroupNode, 10_000);
        outcome = "killed";
      }
    }
    await this.release();
    return outcome;
  }

  /**
   * Ends the commands entered from the host (anything exec'd into a halting machine is
   * disposable). Left running, they stall shutdown: systemd-shutdown SIGSTOPs every process, a
   * command's nsenter (on the host, in fork mode) sees its child stop, stops itself and never
   * reaps it, and shutdown waits for that child until halt() falls back to a hard kill. Only the
   * processes inside the machine are killed, so that each nsenter reaps its child and exits: a
   * child whose nsenter died first would be left to the host's init, which may reap it late, and
   * shutdown would wait for that zombie. Whatever is still there after a while gets cgroup.kill.
   */
  private async endEntered(machinePid: number): Promise<void> {
    const node = join(this.ctx.cgroupNode, EXEC_CGROUP);
    if (!isPopulated(node)) return;
    let inside: string;
    try {
      inside = readlinkSync(`/proc/${machinePid}/ns/pid`);
    } catch {
      killNode(node);
      return;
    }
    const killInside = (): boolean => {
      for (const p of procsOf(node)) {
        try {
          if (readlinkSync(`/proc/${p}/ns/pid`) === inside) process.kill(p, "SIGKILL");
        } catch {
          // already gone
        }
      }
      return !isPopulated(node);
    };
    try {
      await waitFor(killInside, { timeoutMs: 5_000, intervalMs: 20, what: `the commands entered into ${this.name} to end` });
    } catch {
      killNode(node);
    }
  }

  /** Stops every process of the machine where it stands (cgroup freezer). */
  async freeze(): Promise<void> {
    if (!this.isStarted()) throw new Error(`Cannot freeze ${this.name}: the machine is not running`);
    await setFrozen(this.ctx.cgroupNode, true);
  }

  async thaw(): Promise<void> {
    if (!this.isStarted()) throw new Error(`Cannot thaw ${this.name}: the machine is not running`);
    await setFrozen(this.ctx.cgroupNode, false);
  }

  /**
   * Cuts the machine off the network, as a pulled cable would: the host end of its veth goes
   * down, so nothing gets in or out, while inside the machine the address and routes stay.
   */
  async disconnect(): Promise<void> {
    if (!this.isStarted()) throw new Error(`Cannot disconnect ${this.name}: the machine is not running`);
    await setLinkUp(this.record.veth, false);
  }

  /** Plugs the cable back in (after disconnect()). */
  async reconnect(): Promise<void> {
    if (!this.isStarted()) throw new Error(`Cannot reconnect ${this.name}: the machine is not running`);
    await setLinkUp(this.record.veth, true);
  }

  /** True when pid is still this machine's systemd (not a reused pid). */
  private ownsPid(pid: number): boolean {
    const node = this.ctx.cgroupNode;
    return isAlive(pid) && (procsOf(join(node, "init.scope")).includes(pid) || procsOf(node).includes(pid));
  }

  /** Removes what a stopped machine leaves on the host: its veth and cgroup nodes. */
  private async release(): Promise<void> {
    await deleteLink(this.record.veth);
    removeTree(this.ctx.cgroupNode);
    if (this.record.pid !== undefined || this.record.launcherPid !== undefined) {
      this.record.pid = undefined;
      this.record.launcherPid = undefined;
      this.ctx.save();
    }
  }
}

function checkPrivatePath(machine: string, path: string): void {
  const ok = WRITABLE_PREFIXES.some((p) => path.startsWith(p)) && !path.split("/").includes("..");
  if (!ok) {
    throw new Error(`Cannot write ${path} in ${machine}: only paths under ${WRITABLE_PREFIXES.join(", ")} are private to the machine`);
  }
}
