// The connection behind a request: the listeners remember which Bun server each request came
// through, so a route that answers slowly (a blocking read, the event stream) can lift Bun's idle
// timeout for it, and name the client in a log line. Requests made in-process have none.
import type { Server } from "bun";
import type { ApiHandler } from "./handler.ts";

const servers = new WeakMap<Request, Server<undefined>>();

/** The fetch function for Bun.serve: records the server, then calls the handler. */
export function withConnection(handler: ApiHandler): (req: Request, server: Server<undefined>) => Promise<Response> {
  return (req, server) => {
    servers.set(req, server);
    return handler(req);
  };
}

/**
 * Lets the request's connection stay idle (nothing read or written) for up to `seconds` (0: no
 * limit) instead of Bun's 10 s: the route bounds the wait itself.
 */
export function allowIdle(req: Request, seconds: number): void {
  servers.get(req)?.timeout(req, seconds);
}

/** The client's address for log lines. */
export function clientOf(req: Request): string {
  const server = servers.get(req);
  if (!server) return "(in-process request)";
  const ip = server.requestIP(req);
  if (!ip) return "(unix socket)";
  return ip.family === "IPv6" ? `[${ip.address}]:${ip.port}` : `${ip.address}:${ip.port}`;
}
