// Shared by the API integration tests: a real etcd, the real Registry, and the handler called
// in-process with `new Request(...)`.
import { createApiHandler, type ApiDeps, type ApiHandler } from "../../../src/api/handler.ts";
import { createLogger, type Logger } from "../../../src/log/logger.ts";
import { createFleetMetrics, type FleetMetrics } from "../../../src/metrics/fleet.ts";
import { EtcdClient } from "../../../src/registry/etcd/index.ts";
import type { MachineRecord, PendingRecord, ScheduleEntry, UnitStateRecord } from "../../../src/registry/models.ts";
import { InvalidRecords } from "../../../src/registry/invalid-records.ts";
import { Registry } from "../../../src/registry/registry.ts";
import type { UnitOption } from "../../../src/unit/types.ts";
import { freshPrefix } from "../etcd-fixture.ts";


/** When the machines this fixture registers started: fixed, so listings compare as text. */
export const MACHINE_STARTED_AT = "2026-01-02T03:04:05.000Z";
export const VERSION = "9.8.7-test";

export interface ApiFixture {
  registry: Registry;
  handler: ApiHandler;
  metrics: FleetMetrics;
  /** Lines the handler logged. */
  logged: string[];
  ready: { value: boolean };
  call(method: string, path: string, init?: { body?: string | object; contentType?: string | null; headers?: Record<string, string> }): Promise<Response>;
  /** Writes what the engine and agents would: a schedule entry, a unit state, a machine, a pending reason. */
  schedule(machineId: string, unit: string, entry: Partial<ScheduleEntry>): Promise<void>;
  state(unit: string, machineId: string, rec?: Partial<UnitStateRecord>): Promise<void>;
  machine(rec: Partial<MachineRecord> & { id: string }): Promise<void>;
  pending(unit: string, reason: string, data?: Pick<PendingRecord, "kind" | "machine">): Promise<void>;
}

export function testLogger(lines: string[]): Logger {
  return createLogger({ verbosity: 1, journal: false, write: (l) => lines.push(l) });
}

/** A handler over a fresh key prefix of `client`'s etcd. */
export function apiFixture(client: EtcdClient, opts: Partial<Pick<ApiDeps, "tokenLimit" | "maxRequestBytes" | "journal">> = {}): ApiFixture {
  const metrics = createFleetMetrics();
  const logged: string[] = [];
  // Skipped records are told about in this fixture's log and counted in its metrics, as in a daemon.
  const registry = new Registry(client, freshPrefix("fleet-api-test"), {
    log: testLogger(logged), invalid: new InvalidRecords(metrics),
  });
  const ready = { value: true };
  const handler = createApiHandler({
    registry, tokenLimit: opts.tokenLimit ?? 100, maxRequestBytes: opts.maxRequestBytes, version: VERSION, isReady: () => ready.value, metrics, log: testLogger(logged),
    journal: opts.journal,
  });
  const k = registry.keys;
  return {
    registry, handler, metrics, logged, ready,
    call(method, path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.body !== undefined && init.contentType !== null) headers.set("Content-Type", init.contentType ?? "application/json");
      const body = init.body === undefined ? undefined : typeof init.body === "string" ? init.body : JSON.stringify(init.body);
      return handler(new Request(`http://fleet.test${path}`, { method, headers, body }));
    },
    async schedule(machineId, unit, entry) {
      const e: ScheduleEntry = { hash: HASH, desiredState: "launched", epoch: "1", ...entry };
      await client.put(k.schedule(machineId, unit), JSON.stringify(e));
    },
    async state(unit, machineId, rec = {}) {
      const s: UnitStateRecord = { loadState: "loaded", activeState: "active", subState: "running", hash: HASH, since: new Date().toISOString(), ...rec };
      await client.put(k.state(unit, machineId), JSON.stringify(s));
    },
    async machine(rec) {
      const m: MachineRecord = { publicIP: "", metadata: {}, version: VERSION, startedAt: MACHINE_STARTED_AT, ...rec };
      await client.put(k.machine(rec.id), JSON.stringify(m));
    },
    async pending(unit, reason, data = {}) {
      const p: PendingRecord = { reason, since: new Date().toISOString(), ...data };
      await client.put(k.pending(unit), JSON.stringify(p));
    },
  };
}

/** A well-formed hash for records whose unit file does not matter. */
export const HASH = "0123456789abcdef0123456789abcdef01234567";

export const SLEEP_OPTIONS: UnitOption[] = [
  { section: "Service", name: "ExecStart", value: "/usr/bin/sleep 3000" },
];

export async function errorOf(res: Response): Promise<{ status: number; body: string }> {
  return { status: res.status, body: await res.text() };
}

export function errorBody(code: number, message: string): string {
  return JSON.stringify({ error: { code, message } });
}
