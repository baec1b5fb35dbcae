// The rules for serving the API over TCP, in one place: which listeners may start, and the
// guards in front of the handler on them (the Host check against DNS rebinding, bearer tokens).
// The unix socket needs none of this: its file permissions are its access control.
import { createHash, timingSafeEqual } from "node:crypto";
import { errorResponse } from "./errors.ts";
import type { ApiHandler } from "./handler.ts";
import { hostOfHostHeader, isLoopbackHost } from "../lib/loopback.ts";
import { isUiAssetRequest } from "./ui.ts";

export interface TcpSecurity {
  /** api_tls_cert and api_tls_key are set. */
  tls: boolean;
  /** api_tls_ca is set: clients must present a certificate it signed. */
  clientCerts: boolean;
  /** api_tokens is not empty. */
  tokens: boolean;
  /** api_insecure = true: serve a listener that breaks the rules, with a warning. */
  insecure: boolean;
}

export type ListenerVerdict = { serve: true; warning?: string } | { serve: false; error: string };

export const UNAUTHORIZED_MESSAGE = "missing or invalid bearer token";

/**
 * Whether a TCP listener may serve the API. Two rules:
 * - it must authenticate its clients (api_tokens, or client certificates with api_tls_ca):
 *   whoever reaches it can run any command as root on every machine;
 * - unless it listens on loopback only, it must use TLS: tokens and unit files would otherwise
 *   cross the network in clear text. On loopback the traffic never leaves the machine.
 * A listener that breaks one is refused unless api_insecure is true; then it is a warning.
 * `host` is undefined when the address is unknown (an inherited socket /proc does not show):
 * it counts as reachable from other machines.
 */
export function judgeTcpListener(address: string, host: string | undefined, s: TcpSecurity): ListenerVerdict {
  const problems: string[] = [];
  if (!s.tls && !(host !== undefined && isLoopbackHost(host))) {
    problems.push("it is not on a loopback address and has no TLS (api_tls_cert, api_tls_key), so requests and tokens would cross the network in clear text");
  }
  if (!s.tokens && !s.clientCerts) {
    problems.push("it has no authentication (api_tokens, or api_tls_ca for client certificates), so anyone who can reach it could run any command as root on every machine");
  }
  if (problems.length === 0) return { serve: true };
  const why = problems.join("; and ");
  if (s.insecure) return { serve: true, warning: `API listener ${address} is served although ${why} (api_insecure = true)` };
  return { serve: false, error: `Refusing to serve the API on ${address}: ${why}. Configure them, or set api_insecure = true to serve it anyway` };
}

/**
 * The handler of one TCP listener: on a loopback listener, requests addressed to another host
 * are refused first (a web page whose name was made to resolve to 127.0.0.1 reaches loopback
 * ports with its own name in Host: DNS rebinding); then the bearer token, when tokens are set.
 */
export function guardTcpHandler(handler: ApiHandler, opts: { loopback: boolean; tokens?: readonly string[]; version?: string }): ApiHandler {
  const inner = opts.tokens?.length ? withBearerTokens(handler, opts.tokens, opts.version) : handler;
  if (!opts.loopback) return inner;
  const headers: Record<string, string> = opts.version ? { Server: `fleetd/${opts.version}` } : {};
  return async (req) => {
    // A request without Host cannot come from a browser; Bun then builds the URL from the listener.
    const host = req.headers.get("host");
    if (host === null || isLoopbackHost(hostOfHostHeader(host))) return inner(req);
    return errorResponse(421, `request addressed to host ${JSON.stringify(host.slice(0, 256))} refused: this loopback listener answers only localhost, 127.0.0.1 and [::1] (a guard against DNS rebinding)`, headers);
  };
}

/**
 * Requires `Authorization: Bearer <one of tokens>`, else 401. Tokens are compared by their
 * SHA-256 in constant time, so neither length nor content leaks through timing. The dashboard's
 * own files (ui.ts) are the exception: a browser loads them before it can present a token, and
 * they hold no data.
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
    if (isUiAssetRequest(req)) return handler(req);
    return errorResponse(401, UNAUTHORIZED_MESSAGE, headers);
  };
}
