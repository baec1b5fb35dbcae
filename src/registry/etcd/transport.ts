// HTTP to the gateway: endpoint choice and failover, per-attempt timeout, retries with back-off,
// and the auth token (re-authenticating once when etcd rejects it).
import { readFileSync } from "node:fs";
import { TokenCache } from "./auth.ts";
import { backoffDelay } from "../../lib/backoff.ts";
import { type AttemptFailure, type Reach, shouldRetry } from "./retry.ts";
import { EtcdError, type EtcdErrorKind, GrpcCode, grpcFromHttp, kindFromGrpc } from "./errors.ts";
import type { EtcdOperationType, EtcdOptions } from "./types.ts";

export interface CallSpec {
  path: string;
  body: unknown;
  /** For error messages: "range", "put", ... */
  op: string;
  key?: string;
  /** Safe to send twice (reads, keepalive, revoke); see shouldRetry. */
  idempotent: boolean;
}

export interface StreamSpec {
  path: string;
  body: unknown;
  op: string;
  key?: string;
}

export interface OpenStream {
  res: Response;
  endpoint: string;
  /** The token it was opened with ("" for none). */
  token: string;
  /** Closes the connection and lets go of the caller's signal. */
  end(): void;
}

/** `permanent`: retrying cannot help (a TLS handshake failure). */
type Failure = AttemptFailure & { permanent?: boolean };
type Attempt = { ok: true; body: unknown } | { ok: false; failure: Failure; error: EtcdError };
type FetchTls = { ca?: string; cert?: string; key?: string };

const RETRY = { baseMs: 100, capMs: 2000 };
const CONNECT_CODES = new Set(["ECONNREFUSED", "ConnectionRefused", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "FailedToOpenSocket"]);
const TLS_CODE = /CERT|SSL|TLS|EPROTO|UNABLE_TO|SELF_SIGNED|HOSTNAME|ALTNAME/;

export class Transport {
  readonly endpoints: string[];
  readonly tokens: TokenCache;
  private current = 0;
  private closed = false;
  private highestRevision = 0;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly tls: FetchTls | undefined;
  private readonly onOperation: EtcdOptions["onOperation"];

  constructor(opts: EtcdOptions) {
    this.onOperation = opts.onOperation;
    if (opts.endpoints.length === 0) throw new Error("Cannot create an etcd client: no endpoints given");
    this.endpoints = opts.endpoints.map(normalizeEndpoint);
    this.timeoutMs = opts.requestTimeoutMs ?? 5000;
    this.retries = Math.max(0, opts.retries ?? 4);
    this.tls = loadTls(opts.tls);
    const { username, password } = opts;
    this.tokens = new TokenCache(username ? () => this.authenticate(username, password ?? "") : undefined);
  }

  /** The endpoint requests go to now. */
  get endpoint(): string {
    return this.endpoints[this.current]!;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * The highest store revision any answer's header carried (keepalives included). When it is no
   * higher than what a cache has seen, nothing in etcd changed since: no read needed to know.
   */
  get observedRevision(): number {
    return this.highestRevision;
  }

  close(): void {
    this.closed = true;
  }

  /** Runs one logical operation and reports it (once, whatever retries it took) to onOperation. */
  async observed<T>(type: EtcdOperationType, fn: () => Promise<T>): Promise<T> {
    const report = this.onOperation;
    if (!report) return fn();
    const start = performance.now();
    let ok = false;
    try {
      const r = await fn();
      ok = true;
      return r;
    } finally {
      try {
        report({ type, durationMs: performance.now() - start, ok });
      } catch {
        // An observer's failure must not turn a finished operation into a failed one.
      }
    }
  }

  /** One unary call, with failover, retries and re-authentication; resolves to the JSON body. */
  async call<T>(spec: CallSpec, withToken = true): Promise<{ body: T; endpoint: string }> {
    const json = JSON.stringify(spec.body);
    const n = this.endpoints.length;
    const maxAttempts = (this.retries + 1) * n;
    let reauthenticated = false;
    // The latest failure on each endpoint, for an error that says how every one of them failed.
    const failed = new Map<string, EtcdError>();
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw this.closedError(spec);
      const index = this.current;
      const endpoint = this.endpoints[index]!;
      // No await when the token is cached: this path runs for every request.
      const pending = withToken ? this.tokens.get() : "";
      const token = typeof pending === "string" ? pending : await pending;
      const r = await this.attempt(endpoint, spec, json, token);
      if (r.ok) {
        this.observe(r.body);
        return { body: r.body as T, endpoint };
      }
      const { failure, error } = r;
      if (tokenRejected(error) && this.tokens.enabled && withToken && !reauthenticated) {
        // The token expired, was revoked, or predates a change of permissions: get a new one and
        // send the request again, once (etcd refused it before doing anything).
        this.tokens.invalidate(token);
        reauthenticated = true;
        attempt--;
        continue;
      }
      failed.set(endpoint, error);
      if (failure.permanent || !shouldRetry(failure, spec.idempotent) || attempt >= maxAttempts) throw this.everyFailure(error, failed);
      this.failedOver(index);
      // A full round over the endpoints failed: wait before the next one.
      if (attempt % n === 0) await Bun.sleep(backoffDelay(attempt / n, RETRY));
    }
  }

  /**
   * Opens a streaming call (watch) once: no retries, the caller reconnects. Connecting is bounded
   * by the request timeout; the body is not (Bun's own body timeout is off). `signal` ends it.
   */
  openStream(spec: StreamSpec, signal: AbortSignal): Promise<OpenStream> {
    return this.observed("watch", () => this.open(spec, signal));
  }

  private async open(spec: StreamSpec, signal: AbortSignal): Promise<OpenStream> {
    if (this.closed) throw this.closedError(spec);
    const index = this.current;
    const endpoint = this.endpoints[index]!;
    const token = await this.tokens.get();
    if (signal.aborted) throw this.closedError(spec, endpoint);
    const ac = new AbortController();
    const onAbort = () => ac.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => ac.abort(new DOMException("connect timed out", "TimeoutError")), this.timeoutMs);
    try {
      // `timeout: false` (not in Bun's types): without it Bun cuts a body silent for ~360 s.
      const init: BunFetchRequestInit & { timeout: false } = {
        method: "POST", body: JSON.stringify(spec.body), signal: ac.signal, timeout: false,
      };
      if (token) init.headers = { authorization: token };
      if (this.tls && endpoint.startsWith("https:")) init.tls = this.tls;
      const res = await fetch(endpoint + spec.path, init);
      clearTimeout(timer);
      if (res.ok) {
        const end = () => {
          signal.removeEventListener("abort", onAbort);
          ac.abort();
        };
        return { res, endpoint, token, end };
      }
      const error = this.httpError(endpoint, spec, res.status, await res.text(), true);
      if (error.code === GrpcCode.unauthenticated) this.tokens.invalidate(token);
      if (error.kind === "unavailable") this.failedOver(index);
      throw error;
    } catch (e) {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      if (e instanceof EtcdError) throw e;
      if (signal.aborted) throw this.closedError(spec, endpoint);
      const { error } = this.networkFailure(endpoint, spec, e, true);
      this.failedOver(index);
      throw error;
    }
  }

  private observe(body: unknown): void {
    const b = body as { header?: { revision?: string }; result?: { header?: { revision?: string } } } | null;
    const rev = Number(b?.header?.revision ?? b?.result?.header?.revision ?? 0);
    if (rev > this.highestRevision) this.highestRevision = rev;
  }

  private async attempt(endpoint: string, spec: CallSpec, json: string, token: string): Promise<Attempt> {
    let status: number;
    let text: string;
    try {
      // No content-type: the gateway reads any body as JSON. The token goes raw, without "Bearer".
      const init: BunFetchRequestInit = { method: "POST", body: json, signal: AbortSignal.timeout(this.timeoutMs) };
      if (token) init.headers = { authorization: token };
      if (this.tls && endpoint.startsWith("https:")) init.tls = this.tls;
      const res = await fetch(endpoint + spec.path, init);
      status = res.status;
      text = await res.text();
    } catch (e) {
      return { ok: false, ...this.networkFailure(endpoint, spec, e, spec.idempotent) };
    }
    if (status >= 200 && status < 300) {
      try {
        return { ok: true, body: JSON.parse(text) };
      } catch {
        const error = new EtcdError({ kind: "internal", endpoint, op: spec.op, key: spec.key, code: GrpcCode.internal, httpStatus: status, detail: `answer is not JSON: ${text.slice(0, 200)}` });
        return { ok: false, failure: { kind: "internal", reach: "answered", detail: error.detail }, error };
      }
    }
    const error = this.httpError(endpoint, spec, status, text, spec.idempotent);
    return { ok: false, failure: { kind: error.kind, reach: "answered", detail: error.detail }, error };
  }

  private httpError(endpoint: string, spec: StreamSpec, status: number, text: string, idempotent: boolean): EtcdError {
    let code = grpcFromHttp(status);
    let detail = `HTTP ${status}${text ? `: ${text.trim().slice(0, 200)}` : ""}`;
    try {
      const b = JSON.parse(text) as { code?: number; message?: string; error?: string };
      if (typeof b.code === "number") code = b.code;
      if (b.message || b.error) detail = (b.message || b.error)!;
    } catch {
      // Not the gateway's JSON (a proxy?): keep the status line.
    }
    const kind = kindFromGrpc(code, detail);
    const refusedUpFront = detail.includes("no leader") || detail.includes("too many requests");
    const uncertain = !idempotent && kind === "unavailable" && !refusedUpFront;
    return new EtcdError({ kind, endpoint, op: spec.op, key: spec.key, code, httpStatus: status, detail, uncertain });
  }

  private networkFailure(endpoint: string, spec: StreamSpec, e: unknown, idempotent: boolean): { failure: Failure; error: EtcdError } {
    const err = e as { name?: string; code?: unknown; message?: string };
    const code = typeof err.code === "string" ? err.code : "";
    let kind: EtcdErrorKind = "unavailable";
    let reach: Reach = "maybe";
    let permanent = false;
    let detail: string;
    if (err.name === "TimeoutError") {
      kind = "timeout";
      detail = `no answer within ${this.timeoutMs} ms`;
    } else if (CONNECT_CODES.has(code)) {
      reach = "not-sent";
      detail = code.startsWith("E") && code !== "ENOTFOUND" && code !== "EAI_AGAIN" ? `connect ${code}` : firstSentence(err.message ?? code);
    } else if (TLS_CODE.test(code)) {
      reach = "not-sent";
      permanent = true;
      // Bun's EPROTO text guesses "does the server speak TLS"; a missing client cert is likelier.
      detail = code === "EPROTO" && !this.tls?.cert
        ? "TLS: the handshake failed (EPROTO); the server may require a client certificate and none is configured"
        : `TLS: ${firstSentence(err.message ?? code)}`;
    } else {
      detail = firstSentence(err.message ?? String(e));
    }
    const grpc = kind === "timeout" ? GrpcCode.deadlineExceeded : GrpcCode.unavailable;
    const uncertain = !idempotent && reach === "maybe";
    const error = new EtcdError({ kind, endpoint, op: spec.op, key: spec.key, code: grpc, detail, uncertain, cause: e });
    return { failure: { kind, reach, detail, permanent }, error };
  }

  /** `last`, naming how each endpoint failed when the call failed on more than one. */
  private everyFailure(last: EtcdError, failed: ReadonlyMap<string, EtcdError>): EtcdError {
    if (failed.size < 2) return last;
    const tried = this.endpoints.filter((e) => failed.has(e)).map((endpoint) => {
      const { kind, detail } = failed.get(endpoint)!;
      return { endpoint, kind, detail };
    });
    return new EtcdError({
      kind: last.kind, endpoint: last.endpoint, op: last.op, key: last.key, code: last.code, httpStatus: last.httpStatus,
      detail: last.detail, uncertain: last.uncertain, cause: last.cause, tried,
    });
  }

  private failedOver(index: number): void {
    // Concurrent requests that failed on the same endpoint move on only once.
    if (this.current === index) this.current = (index + 1) % this.endpoints.length;
  }

  private closedError(spec: StreamSpec, endpoint = ""): EtcdError {
    return new EtcdError({ kind: "unavailable", endpoint, op: spec.op, key: spec.key, code: GrpcCode.cancelled, detail: "the client is closed" });
  }

  private authenticate(name: string, password: string): Promise<string> {
    return this.observed("authenticate", () => this.authenticateOnce(name, password));
  }

  private async authenticateOnce(name: string, password: string): Promise<string> {
    try {
      const { body } = await this.call<{ token?: string }>(
        { path: "/v3/auth/authenticate", body: { name, password }, op: "authenticate as", key: name, idempotent: true },
        false,
      );
      return body.token ?? "";
    } catch (e) {
      // Like etcd's own client: credentials for a cluster without auth are not an error.
      if (e instanceof EtcdError && e.detail.includes("authentication is not enabled")) return "";
      throw e;
    }
  }
}

function tokenRejected(e: EtcdError): boolean {
  return e.code === GrpcCode.unauthenticated || e.detail.includes("revision of auth store is old");
}

function firstSentence(s: string): string {
  return s.replace(/\. For more information.*$/s, "").replace(/\.$/, "");
}

function normalizeEndpoint(e: string): string {
  let url: URL;
  try {
    url = new URL(e.includes("://") ? e : `http://${e}`);
  } catch {
    throw new Error(`Invalid etcd endpoint "${e}": not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`Invalid etcd endpoint "${e}": scheme must be http or https`);
  return `${url.protocol}//${url.host}`;
}

function loadTls(t: EtcdOptions["tls"]): FetchTls | undefined {
  if (!t || (!t.caFile && !t.certFile && !t.keyFile)) return undefined;
  if (!t.certFile !== !t.keyFile) throw new Error("Invalid etcd TLS options: a client certificate needs both certFile and keyFile");
  const read = (what: string, path: string | undefined) => {
    if (!path) return undefined;
    try {
      return readFileSync(path, "utf8");
    } catch (e) {
      throw new Error(`Cannot read etcd TLS ${what} ${path}: ${(e as Error).message}`);
    }
  };
  const out: FetchTls = {};
  const ca = read("CA file", t.caFile);
  const cert = read("certificate file", t.certFile);
  const key = read("key file", t.keyFile);
  if (ca) out.ca = ca;
  if (cert) out.cert = cert;
  if (key) out.key = key;
  return out;
}
