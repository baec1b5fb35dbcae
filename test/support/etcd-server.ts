// Starts a real, throwaway etcd for integration, functional tests and benchmarks: free ports,
// a temp data dir, logs in a file (shown only when something fails), optional auth and TLS.
import { appendFileSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "../../src/sandbox/etcd-process.ts";
import { generateTestCerts, type TestCerts } from "./tls/certs.ts";
import { until } from "./until.ts";

export { freePort };

export interface StartEtcdOptions {
  /** Create user `root` (password `rootPassword`) and enable auth. */
  auth?: boolean;
  /** Serve clients over HTTPS with a CA and server certificate generated for this server. */
  tls?: boolean;
  /** Require a client certificate signed by that CA (implies `tls`). */
  clientCertAuth?: boolean;
  /** Addresses to serve clients on, each on the same port (default `["127.0.0.1"]`). */
  listenHosts?: string[];
  /** More etcd flags, e.g. `["--auth-token-ttl", "2"]`. */
  extraArgs?: string[];
  /** How long start() waits for etcd to answer (default 20 s). */
  startTimeoutMs?: number;
}

export interface EtcdServer extends AsyncDisposable {
  /** The first client URL, e.g. `http://127.0.0.1:41234`. */
  readonly endpoint: string;
  /** One client URL per listen host. */
  readonly endpoints: string[];
  readonly clientPort: number;
  readonly dataDir: string;
  /** Password of user `root` when started with `auth`. */
  readonly rootPassword: string;
  /** Certificate files when started with `tls` (also paths usable as EtcdOptions.tls). */
  readonly certs: TestCerts | undefined;
  readonly running: boolean;
  /** Graceful stop (SIGTERM); resolves when the process is gone. */
  stop(): Promise<void>;
  /** Start again on the same ports and data dir; resolves when it answers. */
  start(): Promise<void>;
  /** SIGKILL; resolves when the process is gone. */
  kill(): Promise<void>;
  /** The last `lines` lines of etcd's log. */
  logTail(lines?: number): string;
  /**
   * POSTs `body` to a gateway path as user root (authenticating first when auth is on), e.g.
   * `admin("/v3/auth/user/add", {name, password})`; throws on a non-2xx answer.
   */
  admin(path: string, body: unknown): Promise<Record<string, unknown>>;
}

const ROOT_PASSWORD = "fleet-root-secret";
const undisposed = new Set<LocalEtcd>();
let exitHookInstalled = false;

/** Start an etcd; `await using etcd = await startEtcd()` kills it and removes its files. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdServer> {
  const baseDir = mkdtempSync(join(tmpdir(), "fleet-etcd-"));
  try {
    const tls = opts.tls || opts.clientCertAuth;
    const hosts = opts.listenHosts ?? ["127.0.0.1"];
    const certs = tls ? await generateTestCerts(join(baseDir, "tls"), hosts) : undefined;
    const [server] = await startOnFreePorts(1, (ports) => {
      const p = ports[0]!;
      return [new LocalEtcd(baseDir, opts, hosts, certs, p, { name: "test", initialCluster: `test=http://127.0.0.1:${p.peerPort}` })];
    });
    if (opts.auth) await server!.enableAuth();
    return server!;
  } catch (e) {
    rmSync(baseDir, { recursive: true, force: true });
    throw e;
  }
}

/** A member's client and peer port. */
export interface MemberPorts {
  clientPort: number;
  peerPort: number;
}

/** Who a member is in its cluster: its name and the whole `--initial-cluster` (name=peerURL,...). */
export interface MemberIdentity {
  name: string;
  initialCluster: string;
}

/**
 * Starts `count` members built by `build` on distinct free ports, all at once (a member of a new
 * cluster answers only once a quorum of them runs). Another process may take a "free" port
 * between our probe and etcd's bind: then every member is killed, its data dir emptied (a member
 * is bound to the ports it was made with) and the whole set tried again on new ports.
 */
export async function startOnFreePorts(count: number, build: (ports: MemberPorts[]) => LocalEtcd[]): Promise<LocalEtcd[]> {
  for (let attempt = 1; ; attempt++) {
    const servers = build(await distinctFreePorts(count));
    const started = await Promise.allSettled(servers.map((s) => s.start()));
    const failed = started.find((r) => r.status === "rejected");
    if (!failed) return servers;
    await Promise.all(servers.map((s) => s.kill()));
    for (const s of servers) undisposed.delete(s);
    const portTaken = servers.some((s) => s.logTail(50).includes("address already in use"));
    if (attempt < 5 && portTaken) {
      for (const s of servers) rmSync(s.dataDir, { recursive: true, force: true });
      continue;
    }
    throw failed.reason;
  }
}

async function distinctFreePorts(count: number): Promise<MemberPorts[]> {
  const taken = new Set<number>();
  const next = async () => {
    let p = await freePort();
    while (taken.has(p)) p = await freePort();
    taken.add(p);
    return p;
  };
  const out: MemberPorts[] = [];
  for (let i = 0; i < count; i++) out.push({ clientPort: await next(), peerPort: await next() });
  return out;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A runner that exits early, or a test that forgot to dispose, must not leave etcd
  // processes or data directories behind.
  process.on("exit", () => {
    for (const server of undisposed) server.disposeSync();
  });
}

/** One etcd process: a single-node server, or one member of a cluster (etcd-cluster.ts). */
export class LocalEtcd implements EtcdServer {
  readonly endpoints: string[];
  readonly dataDir: string;
  readonly rootPassword = ROOT_PASSWORD;
  readonly clientPort: number;
  private readonly peerPort: number;
  private proc: Subprocess | undefined;
  private readonly logFile: string;
  private readonly scheme: string;

  constructor(
    private readonly baseDir: string,
    private readonly opts: StartEtcdOptions,
    private readonly hosts: string[],
    readonly certs: TestCerts | undefined,
    ports: MemberPorts,
    readonly identity: MemberIdentity,
  ) {
    this.clientPort = ports.clientPort;
    this.peerPort = ports.peerPort;
    this.scheme = certs ? "https" : "http";
    this.endpoints = hosts.map((h) => `${this.scheme}://${h}:${this.clientPort}`);
    this.dataDir = join(baseDir, "data");
    this.logFile = join(baseDir, "etcd.log");
    installExitHook();
    undisposed.add(this);
  }

  get endpoint(): string {
    return this.endpoints[0]!;
  }

  /** The URL peers reach this member on. */
  get peerUrl(): string {
    return `http://127.0.0.1:${this.peerPort}`;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const peer = this.peerUrl;
    const urls = this.endpoints.join(",");
    const args = [
      "etcd", "--name", this.identity.name, "--data-dir", this.dataDir,
      "--listen-client-urls", urls, "--advertise-client-urls", urls,
      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
      "--initial-cluster", this.identity.initialCluster,
      "--logger", "zap", "--log-outputs", "stderr",
    ];
    if (this.certs) {
      args.push("--cert-file", this.certs.serverCertFile, "--key-file", this.certs.serverKeyFile);
      args.push("--trusted-ca-file", this.certs.caFile);
      if (this.opts.clientCertAuth) args.push("--client-cert-auth");
    }
    args.push(...(this.opts.extraArgs ?? []));
    appendFileSync(this.logFile, `\n=== ${new Date().toISOString()} ${args.join(" ")}\n`);
    // Appending keeps the log of earlier runs across restarts.
    const fd = openSync(this.logFile, "a");
    let proc: Subprocess;
    try {
      proc = Bun.spawn(args, { stdin: "ignore", stdout: fd, stderr: fd });
    } finally {
      closeSync(fd);
    }
    this.proc = proc;
    // A server nobody disposed must not keep a script alive; the exit hook then removes it.
    proc.unref();
    await this.waitReady(this.opts.startTimeoutMs ?? 20_000);
  }

  async stop(): Promise<void> {
    await this.signal("SIGTERM");
  }

  async kill(): Promise<void> {
    await this.signal("SIGKILL");
  }

  logTail(lines = 40): string {
    try {
      return readFileSync(this.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no etcd log)";
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
    this.disposeSync();
  }

  /** Kills without waiting and removes the files; safe in an exit handler. */
  disposeSync(): void {
    undisposed.delete(this);
    if (this.running) this.proc?.kill("SIGKILL");
    rmSync(this.baseDir, { recursive: true, force: true });
  }

  async admin(path: string, body: unknown): Promise<Record<string, unknown>> {
    if (!this.opts.auth) return this.call(path, body);
    const { token } = await this.call("/v3/auth/authenticate", { name: "root", password: ROOT_PASSWORD });
    return this.call(path, body, String(token));
  }

  private async call(path: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (token) headers.authorization = token;
    const res = await fetch(this.endpoint + path, {
      method: "POST", body: JSON.stringify(body), headers, tls: this.fetchTls(),
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`etcd test server ${this.endpoint}: ${path} answered ${res.status}: ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  }

  /** Creates user root with the root role, then turns auth on. */
  async enableAuth(): Promise<void> {
    await this.call("/v3/auth/user/add", { name: "root", password: ROOT_PASSWORD });
    await this.call("/v3/auth/role/add", { name: "root" });
    await this.call("/v3/auth/user/grant", { user: "root", role: "root" });
    await this.call("/v3/auth/enable", {});
  }

  private fetchTls() {
    const c = this.certs;
    if (!c) return undefined;
    return { ca: readFileSync(c.caFile, "utf8"), cert: readFileSync(c.clientCertFile, "utf8"), key: readFileSync(c.clientKeyFile, "utf8") };
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const tls = this.fetchTls();
    let last = "";
    await until(() => `etcd on ${this.endpoint} to answer (last: ${last}):\n${this.logTail()}`, async () => {
      if (!this.running) {
        throw new Error(`etcd on port ${this.clientPort} exited with ${this.proc?.exitCode ?? this.proc?.signalCode} while starting:\n${this.logTail()}`);
      }
      try {
        const res = await fetch(`${this.endpoint}/v3/maintenance/status`, {
          method: "POST", body: "{}", tls, signal: AbortSignal.timeout(1000),
        });
        const body = await res.text();
        if (res.ok) return true;
        last = `${res.status} ${body}`;
      } catch (e) {
        last = String(e);
      }
      return false;
    }, { timeoutMs, intervalMs: 50 });
  }

  private async signal(sig: "SIGTERM" | "SIGKILL"): Promise<void> {
    const p = this.proc;
    if (!p) return;
    if (this.running) p.kill(sig);
    p.ref();
    await p.exited;
  }
}
