// FleetClient over fleet's HTTP API v1 (fleet-reference.md §6.3, §7), on a unix socket or an
// http(s) endpoint. Every request is bounded by --request-timeout (quirk Q4 fixed) and every
// failure names the endpoint.
import type { MachineCapacity } from "../registry/models.ts";
import type { DesiredState, UnitOption } from "../unit/types.ts";
import { VERSION } from "../version.ts";
import {
  ClientError, type FleetClient, type Machine, type StateFilter, type Unit, type UnitState,
} from "./client.ts";

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
    const pages = await this.listAll<{ units?: WireUnit[] }>("units", {});
    return pages.flatMap((p) => p.units ?? []).map(toUnit);
  }

  async getUnit(name: string): Promise<Unit | undefined> {
    const res = await this.request("GET", `units/${encodeURIComponent(name)}`, undefined, { notFoundIsUndefined: true });
    return res === undefined ? undefined : toUnit(res as WireUnit);
  }

  async createUnit(name: string, options: UnitOption[]): Promise<void> {
    await this.request("PUT", `units/${encodeURIComponent(name)}`, { name, options });
  }

  async setUnitDesiredState(name: string, state: DesiredState): Promise<void> {
    await this.request("PUT", `units/${encodeURIComponent(name)}`, { name, desiredState: state });
  }

  async destroyUnit(name: string): Promise<boolean> {
    const res = await this.request("DELETE", `units/${encodeURIComponent(name)}`, undefined, { notFoundIsUndefined: true });
    return res !== undefined;
  }

  async listUnitStates(filter: StateFilter = {}): Promise<UnitState[]> {
    const query: Record<string, string> = {};
    if (filter.unitName) query.unitName = filter.unitName;
    if (filter.machineID) query.machineID = filter.machineID;
    const pages = await this.listAll<{ states?: WireState[] }>("state", query);
    return pages.flatMap((p) => p.states ?? []).map(toState);
  }

  async listMachines(): Promise<Machine[]> {
    const pages = await this.listAll<{ machines?: WireMachine[] }>("machines", {});
    return pages.flatMap((p) => p.machines ?? []).map((m) => {
      const capacity = wireCapacity(m.capacity);
      return {
        id: m.id ?? "",
        primaryIP: m.primaryIP ?? "",
        metadata: m.metadata ?? {},
        ...(m.drained === true ? { drained: true } : {}),
        ...(capacity ? { capacity } : {}),
      };
    });
  }

  async drainMachine(id: string): Promise<void> {
    await this.request("PUT", `machines/${encodeURIComponent(id)}/drain`, undefined);
  }

  async undrainMachine(id: string): Promise<boolean> {
    const res = await this.request("DELETE", `machines/${encodeURIComponent(id)}/drain`, undefined, { notFoundIsUndefined: true });
    return res !== undefined;
  }

  async close(): Promise<void> {}

  /** Follows nextPageToken until the server stops returning one. */
  private async listAll<T>(path: string, query: Record<string, string>): Promise<T[]> {
    const pages: T[] = [];
    const seen = new Set<string>();
    let token: string | undefined;
    for (;;) {
      const q = token ? { ...query, nextPageToken: token } : query;
      const page = (await this.request("GET", path, undefined, { query: q })) as T & { nextPageToken?: string };
      pages.push(page);
      token = page.nextPageToken;
      // A server repeating a token would loop forever; a repeat ends the listing.
      if (!token || seen.has(token)) return pages;
      seen.add(token);
    }
  }

  private async request(
    method: string,
    path: string,
    body: unknown,
    extra: { query?: Record<string, string>; notFoundIsUndefined?: boolean } = {},
  ): Promise<unknown> {
    const url = new URL(path, this.opts.baseUrl);
    url.searchParams.set("alt", "json");
    for (const [k, v] of Object.entries(extra.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { "User-Agent": `fleetctl/${VERSION}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.opts.token) headers.Authorization = `Bearer ${this.opts.token}`;
    const timeoutMs = this.opts.requestTimeout > 0 ? this.opts.requestTimeout * 1000 : undefined;
    const init: RequestInit & { unix?: string; tls?: Record<string, unknown> } = {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: timeoutMs !== undefined ? AbortSignal.timeout(timeoutMs) : undefined,
    };
    if (this.opts.unixSocket) init.unix = this.opts.unixSocket;
    if (this.opts.tls) init.tls = this.opts.tls;
    this.opts.debug?.(`${method} ${url.href}${body === undefined ? "" : ` ${init.body as string}`}`);

    let status: number;
    let text: string;
    try {
      const res = await fetch(url, init);
      status = res.status;
      text = await res.text();
    } catch (err) {
      throw this.transportError(err);
    }
    this.opts.debug?.(`${method} ${url.pathname} -> ${status}${text ? ` ${text.slice(0, 500)}` : ""}`);
    if (status === 404 && extra.notFoundIsUndefined) return undefined;
    if (status < 200 || status > 299) throw httpError(status, text);
    if (text === "") return {};
    try {
      return JSON.parse(text);
    } catch {
      throw new ClientError(`fleet at ${this.endpoint} sent a response that is not JSON: ${text.slice(0, 200)}`, status);
    }
  }

  private transportError(err: unknown): ClientError {
    const e = err as { name?: string; code?: string; message?: string };
    if (e?.name === "TimeoutError" || e?.name === "AbortError") {
      return new ClientError(`fleet at ${this.endpoint} did not answer within ${this.opts.requestTimeout}s (--request-timeout)`);
    }
    return new ClientError(`cannot reach fleet at ${this.endpoint}: ${describeNetworkError(e)}`);
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
