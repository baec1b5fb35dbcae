// Shared set-up of the engine's integration tests: a real etcd, engines with short TTLs and a
// log kept in memory, and "agents" played by the test: machines/<id> records under leases the
// test grants, renews and revokes. Units are submitted with the registry, as the API does.
import { createLogger, type Logger } from "../../../src/log/logger.ts";
import { MetricsRegistry } from "../../../src/metrics/metrics.ts";
import { createFleetMetrics } from "../../../src/metrics/fleet.ts";
import { EtcdClient, EtcdError } from "../../../src/registry/etcd/index.ts";
import type { MachineRecord, PendingRecord, ScheduleEntry, UnitRecord } from "../../../src/registry/models.ts";
import { InvalidRecords } from "../../../src/registry/invalid-records.ts";
import { Registry } from "../../../src/registry/registry.ts";
import { childPair } from "../../../src/registry/keys.ts";
import { Engine, type EngineConfig, type EngineDeps } from "../../../src/engine/engine.ts";
import type { DesiredState } from "../../../src/unit/types.ts";
import { describeUnit } from "../../../src/unit/describe-unit.ts";
import { type EtcdFixture, startEtcdFixture } from "../etcd-fixture.ts";
import type { EtcdServer } from "../etcd-server.ts";
import { until } from "../until.ts";

export const PREFIX = "/fleet/";

export interface LogLines {
  lines: string[];
  logger: Logger;
  /** Resolves with the first line containing `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<string>;
  has(text: string): boolean;
}

export function memoryLog(name: string): LogLines {
  const lines: string[] = [];
  const verbose = process.env.FLEET_TEST_VERBOSE === "1";
  const logger = createLogger({
    verbosity: 1, journal: false,
    write: (l) => {
      lines.push(l);
      if (verbose) process.stderr.write(`[${name}] ${l}\n`);
    },
  });
  return {
    lines, logger,
    has: (text) => lines.some((l) => l.includes(text)),
    waitFor: (text, timeoutMs) => until(`log line "${text}" from ${name}`, () => lines.find((l) => l.includes(text)), timeoutMs),
  };
}

export class Cluster implements AsyncDisposable {
  readonly etcd: EtcdServer;
  readonly client: EtcdClient;
  readonly registry: Registry;
  private readonly engines: Engine[] = [];
  private readonly agents: Agent[] = [];

  private constructor(private readonly fixture: EtcdFixture & AsyncDisposable) {
    this.etcd = fixture.server;
    this.client = fixture.client;
    // A reporter of its own: each test's etcd starts at revision 1, and "once per key and
    // revision" must not carry over from another test in the same process.
    this.registry = new Registry(this.client, PREFIX, { invalid: new InvalidRecords(createFleetMetrics(new MetricsRegistry())) });
  }

  static async start(): Promise<Cluster> {
    return new Cluster(await startEtcdFixture());
  }

  get keys() {
    return this.registry.keys;
  }

  /** An engine with short timings; `etcd` lets a test hand the engine a different client. */
  engine(machineId: string, config: Partial<EngineConfig> = {}, extra: Partial<EngineDeps> = {}): { engine: Engine; log: LogLines } {
    const log = memoryLog(`engine ${machineId}`);
    const engine = new Engine({
      etcd: this.client, registry: this.registry, machineId, log: log.logger,
      metrics: createFleetMetrics(new MetricsRegistry()),
      config: { reconcileIntervalMs: 400, agentTtlMs: 2000, evictionSettleMs: 300, ...config },
      ...extra,
    });
    this.engines.push(engine);
    return { engine, log };
  }

  async agent(id: string, metadata: Record<string, string> = {}, ttlSeconds = 2): Promise<Agent> {
    const a = new Agent(this.client, this.keys.machine(id), { id, publicIP: "10.0.0.1", metadata, version: "test", startedAt: new Date().toISOString() }, ttlSeconds);
    await a.register();
    this.agents.push(a);
    return a;
  }

  async submit(name: string, xfleet = "", desiredState: DesiredState = "launched", body = "ExecStart=/bin/true"): Promise<UnitRecord> {
    const rec = unitRecord(name, xfleet, desiredState, body);
    const created = await this.registry.createUnit(rec, unitText(xfleet, body));
    if (!created) throw new Error(`Unit ${name} exists already`);
    return rec;
  }

  /** unit name -> sorted machine ids, from etcd. */
  async placements(): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const [name, byMachine] of await this.registry.listSchedule()) out[name] = [...byMachine.keys()].sort();
    return out;
  }

  async entries(): Promise<{ unit: string; machine: string; entry: ScheduleEntry; modRevision: number }[]> {
    const { kvs } = await this.client.range(this.keys.schedules, { prefix: true });
    return kvs.map((kv) => {
      const [machine, unit] = childPair(this.keys.schedules, kv.key)!;
      return { unit, machine, entry: JSON.parse(kv.value) as ScheduleEntry, modRevision: kv.modRevision };
    });
  }

  async pending(unit: string): Promise<PendingRecord | undefined> {
    return this.registry.getPending(unit);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const a of this.agents) a.stopRenewing();
    await Promise.all(this.engines.map((e) => e.stop({ resign: false }).catch(() => undefined)));
    await this.fixture[Symbol.asyncDispose]();
  }
}

/** A machine's presence, as an agent keeps it: one lease, renewed at TTL/3. */
export class Agent {
  leaseId = "0";
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly client: EtcdClient, readonly key: string, readonly record: MachineRecord, private readonly ttlSeconds: number) {}

  get id(): string {
    return this.record.id;
  }

  async register(): Promise<void> {
    const lease = await this.client.leaseGrant(this.ttlSeconds);
    this.leaseId = lease.id;
    await this.client.put(this.key, JSON.stringify(this.record), { lease: lease.id });
    this.stopRenewing();
    // As a real agent does: a lease that lapsed (a renewal stalled on a slow host) is replaced
    // by a new registration, so that a machine the test means to keep is not lost for good.
    // A test that means to lose it stops the renewals first (stopRenewing, vanish).
    const timer = setInterval(() => {
      this.client.leaseKeepAlive(this.leaseId).catch((e: unknown) => {
        if (this.timer === timer && e instanceof EtcdError && e.kind === "not-found") void this.register().catch(() => undefined);
      });
    }, (this.ttlSeconds * 1000) / 3);
    this.timer = timer;
  }

  stopRenewing(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The machine is gone at once (its lease revoked). */
  async vanish(): Promise<void> {
    this.stopRenewing();
    await this.client.leaseRevoke(this.leaseId);
  }
}

export function unitText(xfleet: string, body = "ExecStart=/bin/true"): string {
  return `[Unit]\nDescription=test\n\n[Service]\n${body}\n${xfleet ? `\n[X-Fleet]\n${xfleet}\n` : ""}`;
}

export function unitRecord(name: string, xfleet: string, desiredState: DesiredState, body?: string): UnitRecord {
  const d = describeUnit(name, unitText(xfleet, body));
  return { name, hash: d.hash, desiredState, global: d.global, requirements: d.requirements, description: d.description };
}

/** Starts two or more engines, waits for a leader and returns it with the others. */
export async function electOne<T extends { engine: Engine }>(candidates: T[]): Promise<{ leader: T; others: T[] }> {
  for (const c of candidates) c.engine.start();
  const leader = await until("a leader", () => candidates.find((c) => c.engine.isLeader()));
  return { leader, others: candidates.filter((c) => c !== leader) };
}
