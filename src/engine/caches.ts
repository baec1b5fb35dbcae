// The leader's caches of the cluster: informers (list, then watch) on units/, machines/,
// metadata/, schedule/, pending/, unitfiles/ and drain/. Only a leader holds them: they are made
// when a term begins and closed when it ends, so a candidate watches nothing but the leader key.
// (Kept warm on every candidate, each change in the cluster would go to every daemon: at 1,000
// machines, a thousand copies of every schedule entry and unit, and each daemon holding the
// whole cluster in memory, to spare a new leader one list per prefix.)
import type { EtcdClient, KeyValue } from "../registry/etcd/index.ts";
import { INLINE_TEXT_MAX } from "../registry/engine-writes.ts";
import { acceptAll, Informer, recordDecoder } from "../registry/informer.ts";
import type { InvalidRecords } from "../registry/invalid-records.ts";
import type { KeySpace } from "../registry/keys.ts";
import { decodeRecord, type Decoded } from "../registry/records.ts";
import { childName } from "../registry/keys.ts";
import { sha1Hex } from "../lib/sha1.ts";
import type { DrainRecord, MachineRecord, PendingRecord, ScheduleEntry, UnitRecord, UnitStateRecord } from "../registry/models.ts";
import type { RolloutRecord } from "../rollout/types.ts";
import type { Logger } from "../log/logger.ts";
import type { Clock } from "../lib/clock.ts";
import type { EngineCaches } from "./state.ts";

export interface TermCachesOptions {
  etcd: Pick<EtcdClient, "range" | "watch">;
  keys: KeySpace;
  log: Logger;
  clock: Clock;
  random: () => number;
  invalid?: InvalidRecords;
}

export class TermCaches {
  readonly units: Informer<UnitRecord>;
  readonly machines: Informer<MachineRecord>;
  readonly metadata: Informer<Record<string, string>>;
  readonly schedule: Informer<ScheduleEntry>;
  readonly pending: Informer<PendingRecord>;
  /** Which unit files exist; of small ones (INLINE_TEXT_MAX) the text, for the schedule entries. */
  readonly files: Informer<string | true>;
  readonly drains: Informer<DrainRecord>;
  /** Rolling updates: the placement gives their instances the versions they say. */
  readonly rollouts: Informer<RolloutRecord>;
  /** The informers whose changes the placement plans from. */
  readonly all: readonly Informer<unknown>[];
  private readonly keys: KeySpace;
  private readonly make: <T>(prefix: string, decode: (kv: KeyValue) => Decoded<T>) => Informer<T>;

  constructor(o: TermCachesOptions) {
    this.keys = o.keys;
    const make = <T>(prefix: string, decode: (kv: KeyValue) => Decoded<T>) =>
      new Informer<T>({ etcd: o.etcd, prefix, decode, log: o.log, random: o.random, clock: o.clock, invalid: o.invalid });
    this.make = make;
    const k = o.keys;
    this.units = make<UnitRecord>(k.units, recordDecoder("units", k));
    this.machines = make<MachineRecord>(k.machines, recordDecoder("machines", k));
    this.metadata = make<Record<string, string>>(k.metadatas, recordDecoder("metadata", k));
    // The engine plans with the hash; an entry's copy of the text is the agent's, not kept here.
    this.schedule = make<ScheduleEntry>(k.schedules, (kv) => {
      const d = decodeRecord("schedule", k, kv);
      if (!d.ok || d.value.text === undefined) return d;
      const { text: _, ...entry } = d.value;
      return { ok: true, value: entry };
    });
    this.pending = make<PendingRecord>(k.pendings, recordDecoder("pending", k));
    // The names say which hashes have a file: a key here that no unit or entry names is collected
    // whatever it holds, so junk under unitfiles/ goes away too. A small text is kept when it is
    // the one its key names.
    this.files = make<string | true>(k.unitFiles, acceptAll((kv) =>
      kv.value.length <= INLINE_TEXT_MAX && sha1Hex(kv.value) === childName(k.unitFiles, kv.key) ? kv.value : true));
    this.drains = make<DrainRecord>(k.drains, recordDecoder("drain", k));
    this.rollouts = make<RolloutRecord>(k.rollouts, recordDecoder("rollouts", k));
    this.all = [this.units, this.machines, this.metadata, this.schedule, this.pending, this.files, this.drains, this.rollouts] as Informer<unknown>[];
  }

  /**
   * A cache of what the agents report, for the rollout reconciler's health checks: made only
   * while a rollout is active (every state change in the cluster would otherwise come to the
   * leader), and never part of `all`, so a state change does not make the placement plan again.
   * Its owner starts and closes it.
   */
  makeStates(): Informer<UnitStateRecord> {
    return this.make<UnitStateRecord>(this.keys.states, recordDecoder("states", this.keys));
  }

  start(): void {
    for (const i of this.all) i.start();
  }

  /** Resolves once every informer has listed. */
  get synced(): Promise<unknown> {
    return Promise.all(this.all.map((i) => i.synced));
  }

  close(): Promise<unknown> {
    return Promise.all(this.all.map((i) => i.close()));
  }

  /** What the planner's snapshot reads. */
  entries(): EngineCaches {
    return {
      units: this.units.entries(), machines: this.machines.entries(), metadata: this.metadata.entries(),
      schedule: this.schedule.entries(), pending: this.pending.entries(), drains: this.drains.entries(),
      invalidSchedule: this.schedule.invalidEntries(), invalidPending: this.pending.invalidEntries(),
      scheduleCreated: (key) => this.schedule.createRevision(key),
      rollouts: [...this.rollouts.entries()].map(([key, record]) => [key, { record, modRevision: this.rollouts.modRevision(key) ?? 0 }]),
      unitRevision: (name) => this.units.modRevision(this.keys.unit(name)),
      text: (hash) => {
        const t = this.files.get(this.keys.unitFile(hash));
        return typeof t === "string" ? t : undefined;
      },
    };
  }
}
