// Where the API is served: a unix socket (mode 0660; file permissions are its access control),
// TCP listeners (optionally TLS, optionally requiring client certificates and/or bearer
// tokens), or the sockets systemd passed by socket activation.
import { timingSafeEqual, createHash } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Server, SocketListener, TLSOptions } from "bun";
import type { ListenAddress } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import { errorResponse } from "./errors.ts";
import type { ApiHandler } from "./handler.ts";
import { describeInheritedSocket, proxyInheritedFd, takeListenFds } from "./socket-activation.ts";

export interface ServeApiOptions {
  /** Ignored when systemd passed sockets (socket activation): those are served instead. */
  listen: ListenAddress[];
  /** PEM file paths for TCP listeners; with `ca`, clients must present a certificate it signed. */
  tls?: { cert: string; key: string; ca?: string };
  /** Bearer tokens required on TCP listeners (`Authorization: Bearer <token>`); none: no check. */
  tokens?: string[];
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

export const UNAUTHORIZED_MESSAGE = "missing or invalid bearer token";

/**
 * Bun answers a body over its own limit (128 MiB by default) with an empty 413 before the
 * handler runs; the handler enforces api_max_request_bytes with fleet's error body instead.
 */
const NO_BUN_BODY_LIMIT = Number.MAX_SAFE_INTEGER;

export async function serveApi(handler: ApiHandler, opts: ServeApiOptions): Promise<ApiListeners> {
  const { log } = opts;
  const tls = opts.tls ? loadTls(opts.tls) : undefined;
  const tcpHandler = opts.tokens?.length ? withBearerTokens(handler, opts.tokens, opts.version) : handler;
  const tcpAuthenticated = Boolean(opts.tls?.ca) || Boolean(opts.tokens?.length);
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
  const warnOpen = (address: string) => {
    if (!tcpAuthenticated) {
      log.warn(`API listener ${address} has no authentication: anyone who can reach it can run any command as root on every machine`);
    }
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
        servers.push(Bun.serve({ unix: upstream, fetch: plain ? handler : tcpHandler, maxRequestBodySize: NO_BUN_BODY_LIMIT }));
        proxies.push(proxyInheritedFd(fd, upstream, plain ? undefined : tls, (err) => log.debug(`API connection on ${sock.address}: ${err.message}`)));
        if (!plain) warnOpen(sock.address);
        addresses.push(sock.address);
      }
    } else {
      for (const a of opts.listen) {
        if (a.kind === "unix") {
          servers.push(await listenUnix(a.path, handler));
          ownSockets.push(a.path);
          addresses.push(`unix://${a.path}`);
        } else {
          const server = listenTcp(a, tcpHandler, tls);
          servers.push(server);
          const host = a.host.includes(":") ? `[${a.host}]` : a.host;
          addresses.push(`tcp://${host}:${server.port}`);
          warnOpen(addresses.at(-1) as string);
        }
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  for (const a of addresses) log.info(`Serving the API on ${a}`);
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
    return Bun.serve({ hostname: a.host, port: a.port, fetch, tls, maxRequestBodySize: NO_BUN_BODY_LIMIT });
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
    server = Bun.serve({ unix: path, fetch, maxRequestBodySize: NO_BUN_BODY_LIMIT });
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

/**
 * Requires `Authorization: Bearer <one of tokens>`, else 401. Tokens are compared by their
 * SHA-256 in constant time, so neither length nor content leaks through timing.
 */
export function withBearerTokens(handler: ApiHandler, tokens: readonly string[], version?: string): ApiHandler {
  const digests = tokens.map((t) => createHash("sha256").update(t).digest());
  const headers: Record<string, string> = { "WWW-Authenticate": 'Bearer realm="fleet"' };
  if (version) headers.Server = `fleetd/${version}`;
  return async (req) => {
    const m = /^Bearer +(\S+) *$/i.exec(req.headers.get("authorization") ?? "");
    if (m) {
      const digest = createHash("sha256").update(m[1] as string).digest();
      let ok = false;
      for (const d of digests) ok = timingSafeEqual(d, digest) || ok;
      if (ok) return handler(req);
    }
    return errorResponse(401, UNAUTHORIZED_MESSAGE, headers);
  };
}
