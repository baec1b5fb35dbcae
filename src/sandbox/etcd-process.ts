// The sandbox's own etcd: a detached process on the bridge address, in a cgroup node below the
// cluster's (detached.ts).
import { mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { isPopulated } from "./cgroup.ts";
import { spawnInNode, stopNode } from "./detached.ts";
import type { EtcdRecord } from "./sandbox-record.ts";
import { waitFor } from "../lib/wait-for.ts";

export const ETCD_MISSING = "etcd not found on PATH: install Debian's etcd-server package (apt-get install etcd-server)";
const ETCD_NODE = "etcd";

/** The etcd executable on PATH; throws the message that names the package. */
export function findEtcd(): string {
  const path = Bun.which("etcd");
  if (!path) throw new Error(ETCD_MISSING);
  return path;
}

export function etcdNode(clusterNode: string): string {
  return join(clusterNode, ETCD_NODE);
}

export function etcdRunning(clusterNode: string): boolean {
  return isPopulated(etcdNode(clusterNode));
}

export interface StartEtcdOptions {
  etcd: string;
  /** The cluster's cgroup node; etcd runs in a child node of it. */
  clusterNode: string;
  /** Directory for the data and the log (the cluster's directory). */
  dir: string;
  /** Address to listen on (the bridge address). */
  host: string;
  timeoutMs?: number;
}

/** Starts etcd detached from this process and waits until it answers. */
export async function startEtcd(opts: StartEtcdOptions): Promise<EtcdRecord> {
  const { host } = opts;
  const [clientPort, peerPort] = await choosePorts(host);
  const dataDir = join(opts.dir, "etcd");
  const logFile = join(opts.dir, "etcd.log");
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const client = `http://${host}:${clientPort}`;
  const peer = `http://${host}:${peerPort}`;
  const node = etcdNode(opts.clusterNode);
  const argv = [
    opts.etcd, "--name", "sandbox", "--data-dir", dataDir,
    "--listen-client-urls", client, "--advertise-client-urls", client,
    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
    "--initial-cluster", `sandbox=${peer}`, "--initial-cluster-state", "new",
    "--logger", "zap", "--log-outputs", "stderr",
  ];
  const spawned = spawnInNode(node, argv, logFile, { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root" });
  let outcome: "ready" | "exited";
  try {
    outcome = await waitFor(
      async () => {
        if (spawned.exitCode !== null || spawned.signalCode !== null) return "exited";
        const res = await fetch(`${client}/v3/maintenance/status`, { method: "POST", body: "{}", signal: AbortSignal.timeout(1000) });
        return res.ok ? "ready" : undefined;
      },
      { timeoutMs: opts.timeoutMs ?? 20_000, what: `etcd to answer on ${client}`, intervalMs: 50 },
    );
  } catch (err) {
    throw new Error(`Cannot start etcd on ${client}: ${(err as Error).message}${logTail(logFile)}`);
  }
  if (outcome === "exited") throw new Error(`Cannot start etcd on ${client}: it exited${logTail(logFile)}`);
  return { endpoint: client, own: true, dataDir, logFile };
}

/** SIGTERM, then SIGKILL through the node after the deadline; removes the node. */
export async function stopEtcd(clusterNode: string, timeoutMs = 10_000): Promise<void> {
  await stopNode(etcdNode(clusterNode), timeoutMs);
}

/** 2379/2380 on the bridge address when free (what fleetctl guesses), else ports the kernel picks. */
async function choosePorts(host: string): Promise<[number, number]> {
  if ((await canListen(host, 2379)) && (await canListen(host, 2380))) return [2379, 2380];
  const client = await freePort(host);
  let peer = await freePort(host);
  while (peer === client) peer = await freePort(host);
  return [client, peer];
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** A TCP port nobody listens on right now (the OS picks it; the caller binds it a moment later). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error(`Cannot find a free port on ${host}`))));
    });
  });
}

function logTail(file: string, lines = 15): string {
  try {
    const tail = readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    return tail ? `\n${file}:\n${tail}` : "";
  } catch {
    return "";
  }
}
