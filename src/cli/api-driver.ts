// FleetClient over fleet's HTTP API v1 (compatibility.md §6.3, §7), on a unix socket or an
// http(s) endpoint. Every request is bounded by --request-timeout (quirk Q4 fixed) and every
// failure names the endpoint.
import type { MachineCapacity } from "../registry/models.ts";
import type { DesiredState, UnitOption } from "../unit/types.ts";
import { VERSION } from "../version.ts";
import { compareStrings } from "../lib/compare.ts";
import {
  ClientError, type EventStreamQuery, type FleetClient, type Indexed, type Machine, type StateFilter, type StreamMessage, type Unit,
  type UnitQuery, type UnitState, type RolloutPolicyFlags, type RolloutView,
} from "./client.ts";
import type { ControlRequest } from "../rollout/control.ts";
import { SseIdleError, sseFrames } from "./sse.ts";
import { backoffDelay } from "../lib/backoff.ts";

/** At most this many names go into one `unit=` filter (a URL stays well under 8 KiB); more list every unit. */
export const NAMES_PER_REQUEST = 100;
/** The stream sends a heartbeat every 15 s: one missing for this long means the connection is gone. */
const STREAM_IDLE_MS = 45_000;
/**
 * A request the server failed (5xx: under a burst its etcd requests can time out) or whose
 * connection broke is sent again this many times, 0.25 s doubling apart, when that is safe.
 */
const RETRIES = 3;
const RETRY_BACKOFF = { baseMs: 250, capMs: 2000 };

/**
 * Whether a request may be sent again after a transient failure: `same` when a repeat does the
 * same (reads, desired states, drains); a delete, whose repeat answering 404 means the first one
 * deleted it; a creation, whose repeat answering 409 (the identical unit exists) means the first
 * one made it.
 */
type Again = "same" | "delete" | "create";

export interface ApiDriverOptions {
  /** The endpoint as the user gave it, for messages. */
  endpoint: string;
  /** Base URL of the API root, ending in `/fleet/v1/`. */
  baseUrl: string;
  /** Unix socket to connect to (the URL's host is then ignored). */
  unixSocket?: string;
  /** Per-request timeout in seconds; 0 or less means none. */
  requestTimeout: number;
  tls?: { ca?: string; cert?: string; key?: string };
  token?: string;
  debug?: (line: string) => void;
}

interface WireUnit {
  name?: string;
  options?: UnitOption[];
  desiredState?: DesiredState;
  currentState?: DesiredState;
  machineID?: string;
  pendingReason?: string;
  pendingKind?: string;
  pendingMachineID?: string;
  placementReason?: string;
}

interface WireState {
  name?: string;
  machineID?: string;
  hash?: string;
  systemdLoadState?: string;
  systemdActiveState?: string;
  systemdSubState?: string;
  reason?: string;
}

interface WireMachine {
  id?: string;
  primaryIP?: string;
  metadata?: Record<string, string>;
  drained?: boolean;
  startedAt?: string;
  capacity?: unknown;
}

/** The capacity a server reported, when it reported all of it as numbers. */
function wireCapacity(c: unknown): MachineCapacity | undefined {
  if (c === null || typeof c !== "object") return undefined;
  const o = c as Record<string, unknown>;
  const keys = ["cpuMillis", "memoryBytes", "allocatableCpuMillis", "allocatableMemoryBytes"] as const;
  if (!keys.every((k) => typeof o[k] === "number")) return undefined;
  const [cpuMillis, memoryBytes, allocatableCpuMillis, allocatableMemoryBytes] = keys.map((k) => o[k] as number) as [number, number, number, number];
  return { cpuMillis, memoryBytes, allocatableCpuMillis, allocatableMemoryBytes };
}

export class ApiDriver implements FleetClient {
  readonly endpoint: string;

  constructor(private readonly opts: ApiDriverOptions) {
    this.endpoint = opts.endpoint;
  }

  async listUnits(): Promise<Unit[]> {
    return (await this.readUnits({})).value;
  }

  async readUnits(q: UnitQuery): Promise<Indexed<Unit[]>> {
    const names = q.names;
    if (names?.length === 0) return { value: [] };
    const query: Record<string, string> = {};
    // Filtered here too: a daemon older than unit= ignores it and lists everything.
    if (names && names.length <= NAMES_PER_REQUEST) query.unit = names.join(",");
    if (q.after) {
      query.waitIndex = String(q.after.index);
      query.wait = `${Math.max(0, Math.ceil(q.after.waitMs))}ms`;
    }
    const { pages, index } = await this.listAll<{ units?: WireUnit[] }>("units", query, q.after);
    let units = pages.flatMap((p) => p.units ?? []).map(toUnit);
    if (names) {
      const wanted = new Set(names);
      units = units.filter((u) => wanted.has(u.name));
    }
    return { value: units.sort((a, b) => compareStrings(a.name, b.name)), index };
  }

  async getUnit(name: string): Promise<Unit | undefined> {
    const res = await this.request("GET", `units/${encodeURIComponent(name)}`, undefined, { notFoundIsUndefined: true, again: "same" });
    return res === undefined ? undefined : toUnit(res as WireUnit);
  }

  async createUnit(name: string, options: UnitOption[]): Promise<void> {
    await this.request("PUT", `units/${encodeURIComponent(name)}`, { name, options }, { again: "create" });
  }

  async setUnitDesiredState(name: string, state: DesiredState): Promise<void> {
    await this.request("PUT", `units/${encodeURIComponent(name)}`, { name, desiredState: state }, { again: "same" });
  }

  async destroyUnit(name: string): Promise<boolean> {
    const res = await this.request("DELETE", `units/${encodeURIComponent(name)}`, undefined, { notFoundIsUndefined: true, again: "delete" });
    return res !== undefined;
  }

  async listUnitStates(filter: StateFilter = {}): Promise<UnitState[]> {
    const query: Record<string, string> = {};
    if (filter.unitName) query.unitName = filter.unitName;
    if (filter.machineID) query.machineID = filter.machineID;
    const { pages } = await this.listAll<{ states?: WireState[] }>("state", query);
    return pages.flatMap((p) => p.states ?? []).map(toState);
  }

  async listMachines(): Promise<Machine[]> {
    const { pages } = await this.listAll<{ machines?: WireMachine[] }>("machines", {});
    return pages.flatMap((p) => p.machines ?? []).map((m) => {
      const capacity = wireCapacity(m.capacity);
      return {
        id: m.id ?? "",
        primaryIP: m.primaryIP ?? "",
        metadata: m.metadata ?? {},
        ...(m.drained === true ? { drained: true } : {}),
        ...(typeof m.startedAt === "string" ? { startedAt: m.startedAt } : {}),
        ...(capacity ? { capacity } : {}),
      };
    });
  }

  async drainMachine(id: string): Promise<void> {
    await this.request("PUT", `machines/${encodeURIComponent(id)}/drain`, undefined, { again: "same" });
  }

  async undrainMachine(id: string): Promise<boolean> {
    const res = await this.request("DELETE", `machines/${encodeURIComponent(id)}/drain`, undefined, { notFoundIsUndefined: true, again: "delete" });
    return res !== undefined;
  }

  async startRollout(unit: string, options: UnitOption[], policy: RolloutPolicyFlags): Promise<RolloutView> {
    return (await this.request("PUT", `rollouts/${encodeURIComponent(unit)}`, { options, ...policy })) as RolloutView;
  }

  async getRollout(unit: string): Promise<RolloutView | undefined> {
    return (await this.request("GET", `rollouts/${encodeURIComponent(unit)}`, undefined, { notFoundIsUndefined: true, again: "same" })) as RolloutView | undefined;
  }

  async listRollouts(): Promise<RolloutView[]> {
    return ((await this.request("GET", "rollouts", undefined, { again: "same" })) as { rollouts?: RolloutView[] }).rollouts ?? [];
  }

  async controlRollout(unit: string, action: ControlRequest): Promise<RolloutView> {
    return (await this.request("POST", `rollouts/${encodeURIComponent(unit)}/${action}`, undefined, { again: "same" })) as RolloutView;
  }

  async *events(q: EventStreamQuery, signal: AbortSignal): AsyncGenerator<StreamMessage> {
    const query: Record<string, string> = {};
    if (q.since !== undefined) query.since = q.since;
    if (q.until !== undefined) query.until = q.until;
    if (q.units?.length) query.unit = q.units.join(",");
    if (q.machines?.length) query.machine = q.machines.join(",");
    if (q.kinds?.length) query.kinds = q.kinds.join(",");
    const { res } = await this.fetch("GET", "events", undefined, { query, accept: "text/event-stream", stream: signal });
    if (res.status < 200 || res.status > 299) throw httpError(res.status, await res.text());
    if (!res.body) throw new ClientError(`fleet at ${this.endpoint} sent an event stream without a body`);
    try {
      for await (const frame of sseFrames(res.body, STREAM_IDLE_MS)) {
        if (frame.data === undefined) continue;
        let message: StreamMessage;
        try {
          message = JSON.parse(frame.data) as StreamMessage;
        } catch {
          throw new ClientError(`fleet at ${this.endpoint} sent an event that is not JSON: ${frame.data.slice(0, 200)}`);
        }
        yield message;
      }
    } catch (err) {
      if (err instanceof ClientError || signal.aborted) throw err;
      if (err instanceof SseIdleError) throw new ClientError(`the event stream from ${this.endpoint} broke: ${err.message}`);
      throw new ClientError(`the event stream from ${this.endpoint} broke: ${describeNetworkError(err as { code?: string; message?: string })}`);
    }
  }

  async close(): Promise<void> {}

  /**
   * Follows nextPageToken until the server stops returning one. Only the first page may wait
   * (`after`): later pages come from the snapshot the first one was read from.
   */
  private async listAll<T>(path: string, query: Record<string, string>, after?: UnitQuery["after"]): Promise<{ pages: T[]; index?: number }> {
    const pages: T[] = [];
    const seen = new Set<string>();
    let token: string | undefined;
    let index: number | undefined;
    for (;;) {
      let q = query;
      if (token) {
        const { waitIndex: _i, wait: _w, ...rest } = query;
        q = { ...rest, nextPageToken: token };
      }
      // A blocking read is not sent again here: its caller decides what a failed one means.
      const res = await this.send("GET", path, undefined, { query: q, ...(token ? {} : { after }), ...(after && !token ? {} : { again: "same" as const }) });
      if (pages.length === 0) index = res.index;
      const page = res.body as T & { nextPageToken?: string };
      pages.push(page);
      token = page.nextPageToken;
      // A server repeating a token would loop forever; a repeat ends the listing.
      if (!token || seen.has(token)) return { pages, index };
      seen.add(token);
    }
  }

  private async request(
    method: string,
    path: string,
    body: unknown,
    extra: { query?: Record<string, string>; notFoundIsUndefined?: boolean; again?: Again } = {},
  ): Promise<unknown> {
    return (await this.send(method, path, body, extra)).body;
  }

  /**
   * One request: its JSON (undefined for a 404 when asked) and X-Fleet-Index, or a ClientError.
   * With `again`, a transient failure is followed by up to RETRIES more attempts.
   */
  private async send(
    method: string,
    path: string,
    body: unknown,
    extra: { query?: Record<string, string>; notFoundIsUndefined?: boolean; after?: UnitQuery["after"]; again?: Again } = {},
  ): Promise<{ body: unknown; index?: number }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.sendOnce(method, path, body, { ...extra, repeat: attempt > 1 });
      } catch (err) {
        if (!extra.again || attempt > RETRIES || !(err instanceof ClientError) || !err.transient) throw err;
        const delay = backoffDelay(attempt, RETRY_BACKOFF);
        this.opts.debug?.(`${method} ${path} failed (${err.message}); sending it again in ${delay} ms`);
        await Bun.sleep(delay);
      }
    }
  }

  /** One attempt; `repeat`: an earlier attempt failed, and may have done what it asked. */
  private async sendOnce(
    method: string,
    path: string,
    body: unknown,
    extra: { query?: Record<string, string>; notFoundIsUndefined?: boolean; after?: UnitQuery["after"]; again?: Again; repeat?: boolean },
  ): Promise<{ body: unknown; index?: number }> {
    const { res, done, timeoutMs } = await this.fetch(method, path, body, { query: extra.query, after: extra.after });
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw this.transportError(err, timeoutMs);
    } finally {
      done();
    }
    const status = res.status;
    this.opts.debug?.(`${method} ${path} -> ${status}${text ? ` ${text.slice(0, 500)}` : ""}`);
    const header = res.headers.get("X-Fleet-Index");
    const index = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
    // What the failed attempt may have done is what the repeat finds done.
    if (extra.repeat && ((extra.again === "delete" && status === 404) || (extra.again === "create" && status === 409))) return { body: {}, index };
    if (status === 404 && extra.notFoundIsUndefined) return { body: undefined, index };
    if (status < 200 || status > 299) throw httpError(status, text);
    if (text === "") return { body: {}, index };
    try {
      return { body: JSON.parse(text), index };
    } catch {
      throw new ClientError(`fleet at ${this.endpoint} sent a response that is not JSON: ${text.slice(0, 200)}`, status);
    }
  }

  /**
   * The request itself. Bounded by --request-timeout (a blocking read, `after`, by its wait too)
   * until `done` is called once the body is read; a stream (`stream`) only until its headers
   * come, then by that signal.
   */
  private async fetch(
    method: string,
    path: string,
    body: unknown,
    extra: { query?: Record<string, string>; after?: UnitQuery["after"]; accept?: string; stream?: AbortSignal },
  ): Promise<{ res: Response; done: () => void; timeoutMs?: number }> {
    const url = new URL(path, this.opts.baseUrl);
    if (!extra.stream) url.searchParams.set("alt", "json");
    for (const [k, v] of Object.entries(extra.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { "User-Agent": `fleetctl/${VERSION}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (extra.accept) headers.Accept = extra.accept;
    if (this.opts.token) headers.Authorization = `Bearer ${this.opts.token}`;
    const timeoutMs = this.opts.requestTimeout > 0 ? this.opts.requestTimeout * 1000 + (extra.after?.waitMs ?? 0) : undefined;
    const ac = new AbortController();
    const timer = timeoutMs !== undefined
      ? setTimeout(() => ac.abort(new DOMException("timed out", "TimeoutError")), timeoutMs)
      : undefined;
    const outer = extra.stream ?? extra.after?.signal;
    const onAbort = () => ac.abort(outer?.reason);
    if (outer?.aborted) onAbort();
    else outer?.addEventListener("abort", onAbort, { once: true });
    // `timeout: false` (not in Bun's types): Bun would cut a stream silent for ~360 s itself.
    const init: RequestInit & { unix?: string; tls?: Record<string, unknown>; timeout?: false } = {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: ac.signal,
      ...(extra.stream ? { timeout: false as const } : {}),
    };
    if (this.opts.unixSocket) init.unix = this.opts.unixSocket;
    if (this.opts.tls) init.tls = this.opts.tls;
    this.opts.debug?.(`${method} ${url.href}${body === undefined ? "" : ` ${init.body as string}`}`);
    const done = () => {
      clearTimeout(timer);
      if (!extra.stream) outer?.removeEventListener("abort", onAbort);
    };
    try {
      const res = await fetch(url, init);
      if (extra.stream) clearTimeout(timer);
      return { res, done, timeoutMs };
    } catch (err) {
      done();
      throw this.transportError(err, timeoutMs);
    }
  }

  private transportError(err: unknown, timeoutMs?: number): ClientError {
    const e = err as { name?: string; code?: string; message?: string };
    if (e?.name === "TimeoutError") {
      const within = timeoutMs !== undefined && timeoutMs !== this.opts.requestTimeout * 1000
        ? `${this.opts.requestTimeout}s (--request-timeout) after the ${Math.round((timeoutMs - this.opts.requestTimeout * 1000) / 1000)}s it was asked to wait`
        : `${this.opts.requestTimeout}s (--request-timeout)`;
      return new ClientError(`fleet at ${this.endpoint} did not answer within ${within}`);
    }
    if (e?.name === "AbortError") return new ClientError(`the request to fleet at ${this.endpoint} was cancelled`);
    // A connection the daemon reset or closed mid-answer; one it refused is not coming back soon.
    const broken = ["ECONNRESET", "EPIPE", "ConnectionClosed", "ECONNABORTED"].includes(e?.code ?? "");
    return new ClientError(`cannot reach fleet at ${this.endpoint}: ${describeNetworkError(e)}`, undefined, broken);
  }
}

/** `connect ENOENT`, `connect ECONNREFUSED`, or the runtime's own text. */
export function describeNetworkError(e: { code?: string; message?: string } | undefined): string {
  const code = e?.code;
  if (code && /^E[A-Z]+$/.test(code) && code !== "ENOTFOUND") return `connect ${code}`;
  return e?.message ?? String(e);
}

/** googleapi's error text, as fleetctl printed it. */
export function httpError(status: number, body: string): ClientError {
  let message = "";
  try {
    const parsed = JSON.parse(body) as { error?: { code?: number; message?: string } };
    message = parsed.error?.message ?? "";
  } catch {
    // not an error document; fall through to the raw body
  }
  if (message !== "") return new ClientError(`googleapi: Error ${status}: ${message}`, status);
  return new ClientError(`googleapi: got HTTP response code ${status} with body: ${body}`, status);
}

function toUnit(w: WireUnit): Unit {
  const unit: Unit = {
    name: w.name ?? "",
    options: (w.options ?? []).map((o) => ({ section: o.section ?? "", name: o.name ?? "", value: o.value ?? "" })),
    desiredState: w.desiredState ?? "inactive",
  };
  if (w.currentState) unit.currentState = w.currentState;
  if (w.machineID) unit.machineID = w.machineID;
  if (w.pendingReason) unit.pendingReason = w.pendingReason;
  if (w.pendingKind) unit.pendingKind = w.pendingKind;
  if (w.pendingMachineID) unit.pendingMachineID = w.pendingMachineID;
  if (w.placementReason) unit.placementReason = w.placementReason;
  return unit;
}

function toState(w: WireState): UnitState {
  return {
    name: w.name ?? "",
    machineID: w.machineID ?? "",
    hash: w.hash ?? "",
    systemdLoadState: w.systemdLoadState ?? "",
    systemdActiveState: w.systemdActiveState ?? "",
    systemdSubState: w.systemdSubState ?? "",
    ...(w.reason ? { reason: w.reason } : {}),
  };
}
