// The sandbox's dashboard on the host: http://127.0.0.1:PORT/ui/ passed through to the machines'
// API over TLS, verified against the sandbox's own CA (which no browser trusts). It adds no
// credentials: the page signs in with the sandbox's token like any client, so a local user or web
// page that reaches the port gets the sign-in form and nothing else. It answers only requests
// addressed to a loopback name (DNS rebinding), only under /ui/ and /fleet/v1/, and follows the
// machines: a request goes to the machine that answered last, or the next one that does.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { hostOfHostHeader, isLoopbackHost } from "../lib/loopback.ts";
import { Cluster } from "./cluster.ts";
import { spawnInNode, stopNode } from "./detached.ts";
import { freePort } from "./etcd-process.ts";
import type { SandboxRecord } from "./sandbox-record.ts";
import { waitFor } from "../lib/wait-for.ts";

/** The port the dashboard gets when it is free (the API's is 49153). */
export const DASHBOARD_PORT = 49154;
const DASHBOARD_NODE = "dashboard";
/** How long a machine may take to answer before the next one is tried (not for streams and waits). */
const ANSWER_TIMEOUT_MS = 5_000;
/** Request headers not passed on: they describe this hop, not the request. */
const HOP_HEADERS = ["host", "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-authorization", "proxy-connection"];

export function dashboardUrl(port: number): string {
  return `http://127.0.0.1:${port}/ui/`;
}

export interface DashboardProxyOptions {
  /** The machines' API base URLs (https://IP:PORT), in order of preference. */
  upstreams: () => string[];
  /** The PEM of the CA the machines' certificate is signed by. */
  ca: string;
}

function errorBody(status: number, message: string): Response {
  return Response.json({ error: { code: status, message } }, { status });
}

/** The proxy's fetch handler (tested in-process with new Request). */
export function dashboardProxy(opts: DashboardProxyOptions): (req: Request, server?: Server<undefined>) => Promise<Response> {
  let preferred = 0;
  return async (req, server) => {
    const host = req.headers.get("host");
    if (host === null || !isLoopbackHost(hostOfHostHeader(host))) {
      return errorBody(421, `request addressed to host ${JSON.stringify((host ?? "").slice(0, 256))} refused: the sandbox's dashboard answers only localhost, 127.0.0.1 and [::1] (a guard against DNS rebinding)`);
    }
    const url = new URL(req.url);
    if (url.pathname === "/") return new Response(null, { status: 302, headers: { Location: "/ui/" } });
    if (!(url.pathname === "/ui" || url.pathname.startsWith("/ui/") || url.pathname.startsWith("/fleet/v1/"))) {
      return errorBody(404, "the sandbox's dashboard proxy serves the dashboard (/ui/) and the API (/fleet/v1/) only");
    }
    const long = url.pathname === "/fleet/v1/events" || url.searchParams.has("waitIndex");
    // Streams and blocking reads stay open: lift Bun's 10 s idle limit for them.
    if (long) server?.timeout(req, 0);
    const headers = new Headers(req.headers);
    for (const h of HOP_HEADERS) headers.delete(h);
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
    const upstreams = opts.upstreams();
    const failures: string[] = [];
    for (let i = 0; i < upstreams.length; i++) {
      const n = (preferred + i) % upstreams.length;
      const base = upstreams[n]!;
      const abort = new AbortController();
      const onClientGone = () => abort.abort();
      req.signal.addEventListener("abort", onClientGone);
      const timer = long ? undefined : setTimeout(() => abort.abort(new Error(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s`)), ANSWER_TIMEOUT_MS);
      try {
        const res = await fetch(`${base}${url.pathname}${url.search}`, {
          method: req.method, headers, body, redirect: "manual", signal: abort.signal, tls: { ca: opts.ca }, timeout: false,
        } as RequestInit);
        clearTimeout(timer);
        preferred = n;
        return new Response(req.method === "HEAD" ? null : res.body, { status: res.status, statusText: res.statusText, headers: res.headers });
      } catch (err) {
        clearTimeout(timer);
        req.signal.removeEventListener("abort", onClientGone);
        if (req.signal.aborted) return errorBody(499, "the client went away");
        const why = abort.signal.reason instanceof Error ? abort.signal.reason.message : (err as Error).message;
        failures.push(`${new URL(base).host}: ${why}`);
        // A request with a body may have reached the machine: trying it elsewhere could do it twice.
        if (body !== undefined) break;
      }
    }
    return errorBody(502, `no machine of the sandbox answered (${failures.join("; ") || "it has none"})`);
  };
}

/** The machines' API URLs of a sandbox: running machines first, in machine order. */
export function sandboxUpstreams(name: string, stateRoot: string, record: SandboxRecord): () => string[] {
  return () => {
    const machines = Cluster.attach(name, stateRoot).machines;
    const ordered = [...machines.filter((m) => m.isStarted()), ...machines.filter((m) => !m.isStarted())];
    return ordered.map((m) => `https://${m.ip}:${record.apiPort}`);
  };
}

/** Serves the dashboard proxy in this process until it is killed (`fleet sandbox dashboard`). */
export function serveDashboard(name: string, stateRoot: string, record: SandboxRecord, port: number): Server<undefined> {
  const fetch = dashboardProxy({ upstreams: sandboxUpstreams(name, stateRoot, record), ca: readFileSync(record.tls.caFile, "utf8") });
  try {
    return Bun.serve({ hostname: "127.0.0.1", port, fetch });
  } catch (err) {
    throw new Error(`Cannot listen on 127.0.0.1:${port} for the dashboard: ${(err as Error).message}`);
  }
}

export function dashboardNode(clusterNode: string): string {
  return join(clusterNode, DASHBOARD_NODE);
}

/**
 * Starts `fleet sandbox dashboard` detached (beside the sandbox's etcd) on DASHBOARD_PORT when it
 * is free, else on a port the kernel picks; returns the port once it answers.
 */
export async function startDashboard(o: { binary: string; clusterNode: string; dir: string; name: string; stateRoot: string }): Promise<number> {
  const port = (await portFree(DASHBOARD_PORT)) ? DASHBOARD_PORT : await freePort("127.0.0.1");
  const logFile = join(o.dir, "dashboard.log");
  const proc = spawnInNode(dashboardNode(o.clusterNode), [o.binary, "sandbox", "dashboard", "--name", o.name, "--state-root", o.stateRoot, "--port", String(port)], logFile, {
    PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: "/root",
  });
  try {
    await waitFor(
      async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`it exited${logTail(logFile)}`);
        const res = await fetch(`http://127.0.0.1:${port}/ui/`, { method: "HEAD", signal: AbortSignal.timeout(1000) }).catch(() => undefined);
        return res !== undefined;
      },
      { timeoutMs: 20_000, what: `the dashboard to answer on 127.0.0.1:${port}`, intervalMs: 50 },
    );
  } catch (err) {
    throw new Error(`Cannot start the sandbox's dashboard: ${(err as Error).message}`);
  }
  return port;
}

export async function stopDashboard(clusterNode: string): Promise<void> {
  await stopNode(dashboardNode(clusterNode), 5_000);
}

async function portFree(port: number): Promise<boolean> {
  try {
    const probe = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    probe.stop(true);
    return true;
  } catch {
    return false;
  }
}

function logTail(file: string): string {
  try {
    const tail = readFileSync(file, "utf8").trimEnd().split("\n").slice(-10).join("\n");
    return tail ? `\n${file}:\n${tail}` : "";
  } catch {
    return "";
  }
}
