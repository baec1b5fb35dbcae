// FleetClient straight over etcd through the registry module (--driver=etcd). It writes what the
// API writes and derives currentState with the functions the API uses (registry/unit-views.ts), so both
// drivers answer alike.
import type { Logger } from "../log/logger.ts";
import { EtcdClient, EtcdError } from "../registry/etcd/index.ts";
import type { PendingRecord, UnitRecord } from "../registry/models.ts";
import { Registry } from "../registry/registry.ts";
import { deriveUnitStatus, publishersByUnit, unitRecord } from "../registry/unit-views.ts";
import { unitNameInfo } from "../unit/unit-name.ts";
import type { DesiredState, UnitOption } from "../unit/types.ts";
import { byRevision, deriveEvents } from "../events/derive.ts";
import { matches, type EventFilter } from "../events/filter.ts";
import { EventQueryError, parseFilter, parseStart } from "../events/query.ts";
import { cursorId, isAfter, type Cursor } from "../events/types.ts";
import {
  ClientError, type EventStreamQuery, type FleetClient, type Indexed, type Machine, type StateFilter, type StreamMessage, type Unit,
  type UnitQuery, type UnitState, type RolloutPolicyFlags,
} from "./client.ts";
import { checkUnit } from "./unit-info.ts";
import { RolloutStore, type RolloutWriteResult } from "../registry/rollout-store.ts";
import type { ControlRequest } from "../rollout/control.ts";
import { prepareRollout } from "../rollout/prepare.ts";
import { rolloutView, type RolloutView } from "../rollout/view.ts";

export interface EtcdDriverOptions {
  endpoints: string[];
  prefix: string;
  /** Per-request timeout in seconds; 0 or less means the client's default. */
  requestTimeout: number;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Where a record skipped as unreadable is told about (fleetctl's stderr), once per key. */
  log?: Pick<Logger, "warn">;
}

export class EtcdDriver implements FleetClient {
  readonly endpoint: string;
  private readonly etcd: EtcdClient;
  private readonly registry: Registry;

  constructor(private readonly opts: EtcdDriverOptions) {
    this.endpoint = opts.endpoints.join(",");
    this.etcd = new EtcdClient({
      endpoints: opts.endpoints,
      requestTimeoutMs: opts.requestTimeout > 0 ? opts.requestTimeout * 1000 : undefined,
      tls: opts.tls,
      // A command fails fast and names the endpoint rather than retrying behind the user's back.
      retries: 0,
    });
    this.registry = new Registry(this.etcd, opts.prefix, { log: opts.log });
  }

  async listUnits(): Promise<Unit[]> {
    return this.wrap(async () => {
      const [records, schedule, states, pending] = await Promise.all([
        this.registry.listUnits(),
        this.registry.listSchedule(),
        this.registry.listStates(),
        this.registry.listPending(),
      ]);
      const files = await this.unitFiles(records.map((r) => r.hash));
      const published = publishersByUnit(states);
      return records.map((r) =>
        this.toUnit(r, files.get(r.hash), schedule.get(r.name), published.get(r.name) ?? new Set(), pending.get(r.name)),
      );
    });
  }

  /** No blocking reads here (`after` is not waited for) and no index: a waiting command polls. */
  async readUnits(q: UnitQuery): Promise<Indexed<Unit[]>> {
    if (q.names?.length === 0) return { value: [] };
    const wanted = q.names ? new Set(q.names) : undefined;
    return this.wrap(async () => {
      const [all, schedule, states, pending] = await Promise.all([
        this.registry.listUnits(),
        this.registry.listSchedule(),
        this.registry.listStates(),
        this.registry.listPending(),
      ]);
      // Only the files of the units asked for are read.
      const records = wanted ? all.filter((r) => wanted.has(r.name)) : all;
      const files = await this.unitFiles(records.map((r) => r.hash));
      const published = publishersByUnit(states);
      return {
        value: records.map((r) =>
          this.toUnit(r, files.get(r.hash), schedule.get(r.name), published.get(r.name) ?? new Set(), pending.get(r.name)),
        ),
      };
    });
  }

  /**
   * The event stream from etcd itself: a watch of the key prefix from the place asked for,
   * derived into events as every daemon derives them (src/events/), so ids are the same. There is
   * no daemon buffer here: `since=oldest` and `until` are the API's.
   */
  async *events(q: EventStreamQuery, signal: AbortSignal): AsyncGenerator<StreamMessage> {
    const keys = this.registry.keys;
    let filter: EventFilter;
    let cursor: Cursor;
    try {
      if (q.since === "oldest" || q.until !== undefined) {
        throw new EventQueryError("the etcd driver reads etcd's changes as they happen: since=oldest and until=now need a daemon's buffer (the API driver)");
      }
      filter = parseFilter(q.units ?? [], q.machines ?? [], q.kinds ?? []);
      const start = q.since === undefined ? undefined : parseStart("since", q.since);
      cursor = start === undefined || start === "oldest"
        ? { revision: (await this.wrap(() => this.etcd.range(keys.version))).revision, index: Number.POSITIVE_INFINITY }
        : start;
    } catch (e) {
      if (e instanceof EventQueryError) throw new ClientError(e.message);
      throw e;
    }
    yield { kind: "open", id: cursorId(cursor), revision: cursor.revision };
    while (!signal.aborted) {
      const finite = cursor.index !== Number.POSITIVE_INFINITY;
      const watch = this.etcd.watch(keys.prefix, { prefix: true, startRevision: finite ? cursor.revision : cursor.revision + 1, prevKv: true, signal });
      let compacted: number | undefined;
      try {
        for await (const b of watch) {
          if (b.kind === "compacted") {
            compacted = b.compactRevision;
            break;
          }
          if (b.kind !== "events") continue;
          for (const [revision, changes] of byRevision(b.events)) {
            const derived = deriveEvents(keys, revision, changes);
            for (const f of derived.failures) this.registry.invalid.report(f.failure, f.revision, this.opts.log);
            const from = cursor;
            cursor = { revision, index: Number.POSITIVE_INFINITY };
            for (const [i, e] of derived.events.entries()) if (isAfter(from, revision, i) && matches(filter, e)) yield e;
          }
        }
      } catch (e) {
        if (signal.aborted) return;
        throw toClientError(e, this.endpoint, this.opts.requestTimeout);
      } finally {
        watch.close();
      }
      if (compacted === undefined) return;
      const { revision } = await this.wrap(() => this.etcd.range(keys.version));
      const reason = `etcd no longer holds the revisions after ${cursor.revision} (it compacted its history up to revision ${compacted})`;
      cursor = { revision, index: Number.POSITIVE_INFINITY };
      yield { kind: "reset", id: String(revision), revision, reason };
    }
  }

  async getUnit(name: string): Promise<Unit | undefined> {
    return this.wrap(async () => {
      const record = await this.registry.getUnit(name);
      if (!record) return undefined;
      const [files, schedule, states, pending] = await Promise.all([
        this.unitFiles([record.hash]),
        this.registry.listSchedule(),
        this.registry.listStates({ units: [name] }),
        this.registry.getPending(name),
      ]);
      const published = new Set(states.map((s) => s.machineId));
      return this.toUnit(record, files.get(record.hash), schedule.get(name), published, pending);
    });
  }

  async createUnit(name: string, options: UnitOption[]): Promise<void> {
    const checked = checkUnit(name, options);
    if ("problem" in checked) throw new ClientError(checked.problem);
    const { unit } = checked;
    // What the API's PUT does: create, or replace a unit whose file differs (desired state
    // reset to inactive, as --replace expects).
    await this.wrap(async () => {
      for (let attempt = 0; attempt < 3; attempt++) {
        if (await this.registry.createUnit(unitRecord(unit, "inactive"), unit.text)) return;
        const existing = await this.registry.getUnit(name);
        if (!existing) continue;
        if (existing.hash === unit.hash) throw new ClientError("must provide DesiredState to update existing unit");
        await this.registry.replaceUnit(unitRecord(unit, "inactive"), unit.text);
        return;
      }
      throw new ClientError(`unit ${JSON.stringify(name)} is being changed concurrently, try again`);
    });
  }

  async setUnitDesiredState(name: string, state: DesiredState): Promise<void> {
    if (state !== "inactive" && unitNameInfo(name)?.isTemplate) {
      throw new ClientError(`cannot activate template ${JSON.stringify(name)}`);
    }
    const found = await this.wrap(() => this.registry.setDesiredState(name, state));
    if (!found) throw new ClientError("unit does not exist");
  }

  async destroyUnit(name: string): Promise<boolean> {
    return this.wrap(() => this.registry.destroyUnit(name));
  }

  async listUnitStates(filter: StateFilter = {}): Promise<UnitState[]> {
    return this.wrap(async () => {
      const states = await this.registry.listStates({
        units: filter.unitName ? [filter.unitName] : undefined,
        machines: filter.machineID ? [filter.machineID] : undefined,
      });
      return states.map((s) => ({
        name: s.name,
        machineID: s.machineId,
        hash: s.hash,
        systemdLoadState: s.loadState,
        systemdActiveState: s.activeState,
        systemdSubState: s.subState,
        ...(typeof s.reason === "string" && s.reason !== "" ? { reason: s.reason } : {}),
      }));
    });
  }

  async listMachines(): Promise<Machine[]> {
    return this.wrap(async () =>
      (await this.registry.listMachines()).map((m) => ({
        id: m.id,
        primaryIP: m.publicIP ?? "",
        metadata: m.metadata ?? {},
        version: m.version,
        ...(m.drained === true ? { drained: true } : {}),
        ...(m.startedAt ? { startedAt: m.startedAt } : {}),
        ...(m.capacity ? { capacity: m.capacity } : {}),
      })),
    );
  }

  async drainMachine(id: string): Promise<void> {
    await this.wrap(async () => {
      if (!(await this.registry.listMachines()).some((m) => m.id === id)) throw new ClientError("machine does not exist");
      await this.registry.setDrain(id);
    });
  }

  async undrainMachine(id: string): Promise<boolean> {
    return this.wrap(() => this.registry.clearDrain(id));
  }

  async startRollout(unit: string, options: UnitOption[], policy: RolloutPolicyFlags): Promise<RolloutView> {
    return this.wrap(async () => {
      const store = new RolloutStore(this.registry);
      const p = prepareRollout(unit, options, policy, options.length === 0 ? [] : await store.instances(unit), Date.now());
      if (!p.ok) throw new ClientError(p.problem, p.kind === "missing" ? 404 : 400);
      return rolloutAnswer(await store.create(p.record, p.text));
    });
  }

  async getRollout(unit: string): Promise<RolloutView | undefined> {
    return this.wrap(async () => {
      const r = await new RolloutStore(this.registry).get(unit);
      return r && rolloutView(r.record);
    });
  }

  async listRollouts(): Promise<RolloutView[]> {
    return this.wrap(async () => (await new RolloutStore(this.registry).list()).map(rolloutView));
  }

  async controlRollout(unit: string, action: ControlRequest): Promise<RolloutView> {
    return this.wrap(async () => rolloutAnswer(await new RolloutStore(this.registry).control(unit, action, Date.now)));
  }

  async close(): Promise<void> {
    this.etcd.close();
  }

  private async unitFiles(hashes: string[]): Promise<Map<string, UnitOption[]>> {
    const unique = [...new Set(hashes)];
    const files = await Promise.all(unique.map((h) => this.registry.getUnitFile(h)));
    const out = new Map<string, UnitOption[]>();
    // A file that is missing or unreadable shows as a unit without options.
    for (const f of files) if (f) out.set(f.hash, f.options);
    return out;
  }

  private toUnit(
    r: UnitRecord,
    options: UnitOption[] | undefined,
    schedule: Parameters<typeof deriveUnitStatus>[1],
    published: ReadonlySet<string>,
    pending: PendingRecord | undefined,
  ): Unit {
    const status = deriveUnitStatus(r.global, schedule, published);
    const unit: Unit = { name: r.name, options: options ?? [], desiredState: r.desiredState };
    if (status.currentState) unit.currentState = status.currentState;
    if (status.machineID) unit.machineID = status.machineID;
    if (pending?.reason) unit.pendingReason = pending.reason;
    if (pending?.kind) unit.pendingKind = pending.kind;
    if (pending?.machine) unit.pendingMachineID = pending.machine;
    if (status.placementReason) unit.placementReason = status.placementReason;
    return unit;
  }

  /** Turns etcd failures into messages that name the endpoint, like the API driver's. */
  private async wrap<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toClientError(err, this.endpoint, this.opts.requestTimeout);
    }
  }
}

function rolloutAnswer(r: RolloutWriteResult): RolloutView {
  if (r.ok) return rolloutView(r.record);
  throw new ClientError(r.problem, r.kind === "gone" ? 404 : 409);
}

/** An etcd failure as a ClientError naming the endpoint(s); anything else as it is. */
function toClientError(err: unknown, endpoint: string, requestTimeout: number): unknown {
  if (!(err instanceof EtcdError)) return err;
  const where = err.endpoint || endpoint;
  const silent = `did not answer within ${requestTimeout}s (--request-timeout)`;
  if (err.tried.length > 0) {
    const each = err.tried.map((f) => `${f.endpoint} ${f.kind === "timeout" ? silent : `(${f.detail})`}`);
    return new ClientError(`every etcd endpoint failed: ${each.join(", ")}`);
  }
  if (err.kind === "timeout") return new ClientError(`etcd at ${where} ${silent}`);
  if (err.kind === "unavailable") return new ClientError(`cannot reach etcd at ${where}: ${err.detail}`);
  return new ClientError(`etcd at ${where}: ${err.detail}`);
}
