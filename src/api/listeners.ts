// Where the API is served: a unix socket (mode 0660; file permissions are its access control),
// TCP listeners (TLS, client certificates and/or bearer tokens, as listener-policy.ts requires),
// or the sockets systemd passed by socket activation.
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Server, SocketListener, TLSOptions } from "bun";
import type { ListenAddress } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import { withConnection } from "./connection.ts";
import type { ApiHandler } from "./handler.ts";
import { guardTcpHandler, judgeTcpListener, type TcpSecurity } from "./listener-policy.ts";
import { isLoopbackHost } from "../lib/loopback.ts";
import { describeInheritedSocket, proxyInheritedFd, takeListenFds } from "./socket-activation.ts";

export interface ServeApiOptions {
  /** Ignored when systemd passed sockets (socket activation): those are served instead. */
  listen: ListenAddress[];
  /** PEM file paths for TCP listeners; with `ca`, clients must present a certificate it signed. */
  tls?: { cert: string; key: string; ca?: string };
  /** Bearer tokens required on TCP listeners (`Authorization: Bearer <token>`); none: no check. */
  tokens?: string[];
  /** Serve TCP listeners that break the rules of listener-policy.ts, with a warning (api_insecure). */
  insecure?: boolean;
  log: Logger;
  /** For the Server header of 401 answers. */
  version?: string;
  /** Honour LISTEN_FDS / LISTEN_PID (default true). */
  socketActivation?: boolean;
}

export interface ApiListeners {
  /** Stops every listener and removes the unix sockets this process created. */
  close(): Promise<void>;
  /** `unix:///path` or `tcp://host:port` (the real port when 0 was asked for). */
  addresses: string[];
}

export { UNAUTHORIZED_MESSAGE, withBearerTokens } from "./listener-policy.ts";

/**
 * Bun answers a body over its own limit (128 MiB by default) with an empty 413 before the
 * handler runs; the handler enforces api_max_request_bytes with fleet's error body instead.
 */
const NO_BUN_BODY_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * Bun closes a connection idle for 10 s, and a route that answers slowly (a blocking read, the
 * event stream) lifts that per request (connection.ts); but Bun 1.4 ignores the per-request
 * timeout on unix sockets, so servers on them (our own socket, and systemd's sockets proxied to
 * them) allow the most Bun allows. Blocking reads end sooner (blocking.ts MAX_WAIT_MS) and
 * event streams send heartbeats.
 */
export const UNIX_IDLE_TIMEOUT_S = 255;
/** bun-types offer idleTimeout for TCP servers only; Bun applies it on unix sockets too. */
const UNIX_IDLE: object = { idleTimeout: UNIX_IDLE_TIMEOUT_S };

export async function serveApi(handler: ApiHandler, opts: ServeApiOptions): Promise<ApiListeners> {
  const { log } = opts;
  const tls = opts.tls ? loadTls(opts.tls) : undefined;
  const security: TcpSecurity = {
    tls: tls !== undefined, clientCerts: Boolean(opts.tls?.ca), tokens: Boolean(opts.tokens?.length), insecure: opts.insecure === true,
  };
  /** The guarded handler for a TCP listener, once the rules allow it (else it throws). */
  const tcpHandler = (address: string, host: string | undefined): ApiHandler => {
    const verdict = judgeTcpListener(address, host, security);
    if (!verdict.serve) throw new Error(verdict.error);
    if (verdict.warning) log.warn(verdict.warning);
    return guardTcpHandler(handler, { loopback: host !== undefined && isLoopbackHost(host), tokens: opts.tokens, version: opts.version });
  };
  const servers: Server<undefined>[] = [];
  const proxies: SocketListener<unknown>[] = [];
  const ownSockets: string[] = [];
  const dirs: string[] = [];
  const addresses: string[] = [];

  const close = async () => {
    for (const p of proxies.splice(0)) p.stop(true);
    await Promise.all(servers.splice(0).map((s) => s.stop(true)));
    for (const path of ownSockets.splice(0)) rmSync(path, { force: true });
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const fds = opts.socketActivation === false ? [] : takeListenFds();
    if (fds.length > 0) {
      if (opts.listen.length) log.info(`Serving the API on ${fds.length} socket(s) from systemd; api_listen is not used`);
      const dir = mkdtempSync(join(tmpdir(), "fleet-api-"));
      dirs.push(dir);
      for (const fd of fds) {
        const sock = describeInheritedSocket(fd);
        const plain = sock.kind === "unix";
        const upstream = join(dir, `fd${fd}.sock`);
        const fetch = plain ? handler : tcpHandler(sock.address, sock.host);
        servers.push(Bun.serve({ unix: upstream, fetch: withConnection(fetch), maxRequestBodySize: NO_BUN_BODY_LIMIT, ...UNIX_IDLE }));
        proxies.push(proxyInheritedFd(fd, upstream, plain ? undefined : tls, (err) => log.debug(`API connection on ${sock.address}: ${err.message}`)));
        addresses.push(sock.address);
      }
    } else {
      for (const a of opts.listen) {
        if (a.kind === "unix") {
          servers.push(await listenUnix(a.path, handler));
          ownSockets.push(a.path);
          addresses.push(`unix://${a.path}`);
        } else {
          const host = a.host.includes(":") ? `[${a.host}]` : a.host;
          const fetch = tcpHandler(`tcp://${host}:${a.port}`, a.host);
          const server = listenTcp(a, fetch, tls);
          servers.push(server);
          addresses.push(`tcp://${host}:${server.port}`);
        }
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  for (const a of addresses) log.info(`Serving the API on ${a}`);
  if (tls && addresses.every((a) => a.startsWith("unix://"))) {
    log.warn("api_tls_cert is set but the API has no TCP listener (api_listen has no tcp:// address and systemd passed none), so TLS is not used");
  }
  return { close, addresses };
}

function loadTls(files: { cert: string; key: string; ca?: string }): TLSOptions {
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch (err) {
      throw new Error(`Cannot read the API TLS ${what} ${path}: ${(err as Error).message}`);
    }
  };
  const tls: TLSOptions = { cert: read("certificate", files.cert), key: read("key", files.key) };
  if (files.ca) {
    tls.ca = read("CA", files.ca);
    tls.requestCert = true;
    tls.rejectUnauthorized = true;
  }
  return tls;
}

function listenTcp(a: Extract<ListenAddress, { kind: "tcp" }>, fetch: ApiHandler, tls: TLSOptions | undefined): Server<undefined> {
  try {
    return Bun.serve({ hostname: a.host, port: a.port, fetch: withConnection(fetch), tls, maxRequestBodySize: NO_BUN_BODY_LIMIT });
  } catch (err) {
    throw new Error(`Cannot listen on tcp://${a.host}:${a.port}: ${(err as Error).message}`);
  }
}

/**
 * Listens on a unix socket, replacing a stale socket file (left by a crash) but never a live
 * one or a file that is not a socket, then makes it mode 0660.
 */
async function listenUnix(path: string, fetch: ApiHandler): Promise<Server<undefined>> {
  const where = `unix://${path}`;
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    stat = undefined;
  }
  if (stat && !stat.isSocket()) throw new Error(`Cannot listen on ${where}: the path exists and is not a socket`);
  if (stat) {
    if (await socketAnswers(path)) throw new Error(`Cannot listen on ${where}: another process is serving it`);
    unlinkSync(path);
  }
  mkdirSync(dirname(path), { recursive: true });
  let server: Server<undefined>;
  try {
    server = Bun.serve({ unix: path, fetch: withConnection(fetch), maxRequestBodySize: NO_BUN_BODY_LIMIT, ...UNIX_IDLE });
  } catch (err) {
    throw new Error(`Cannot listen on ${where}: ${(err as Error).message}`);
  }
  try {
    chmodSync(path, 0o660);
  } catch (err) {
    await server.stop(true);
    throw new Error(`Cannot make ${where} mode 0660: ${(err as Error).message}`);
  }
  return server;
}

async function socketAnswers(path: string): Promise<boolean> {
  try {
    const sock = await Bun.connect({ unix: path, socket: { data() {} } });
    sock.end();
    return true;
  } catch {
    return false;
  }
}
