// The hand-over benchmark's view of the cluster from the host: which machines etcd holds as
// active for each unit, which machines are registered and who leads, each change stamped with the
// host's clock as its watch event arrives. Informers on states/, machines/ and the leader key, on
// their own etcd client.
import { EtcdClient } from "../../src/registry/etcd/index.ts";
import { acceptAll, Informer } from "../../src/registry/informer.ts";
import { childName, childPair, keySpace, type KeySpace } from "../../src/registry/keys.ts";
import type { LeaderRecord, UnitStateRecord } from "../../src/registry/models.ts";
import { waitFor } from "../../src/lib/wait-for.ts";

export class ClusterView {
  /** Unit -> machine -> when etcd first said active there (since the last change). */
  readonly activeOn = new Map<string, Map<string, number>>();
  /** Machine id -> when its key was seen deleted. */
  readonly goneAt = new Map<string, number>();
  readonly live = new Set<string>();
  leader: { id: string; since: number } | undefined;
  /** Unit -> the machine its first schedule entry named. */
  readonly firstPlaced = new Map<string, string>();
  private readonly etcd: EtcdClient;
  private readonly keys: KeySpace;
  private readonly informers: Informer<unknown>[];

  constructor(endpoints: string[], prefix: string) {
    this.etcd = new EtcdClient({ endpoints, requestTimeoutMs: 10_000 });
    this.keys = keySpace(prefix);
    const etcd = this.etcd;
    const states = new Informer<boolean>({
      etcd, prefix: this.keys.states, decode: acceptAll((kv) => (JSON.parse(kv.value) as UnitStateRecord).activeState === "active"),
    });
    const machines = new Informer<true>({ etcd, prefix: this.keys.machines, decode: acceptAll(() => true as const) });
    const leader = new Informer<string>({ etcd, prefix: this.keys.leader, decode: acceptAll((kv) => (JSON.parse(kv.value) as LeaderRecord).machineID) });
    states.onChange((changes) => {
      const now = Date.now();
      for (const c of changes) {
        const pair = childPair(this.keys.states, c.key);
        if (!pair) continue;
        const [unit, machine] = pair;
        let on = this.activeOn.get(unit);
        if (!on) this.activeOn.set(unit, (on = new Map()));
        if (c.value === true) {
          if (!on.has(machine)) on.set(machine, now);
        } else on.delete(machine);
      }
    });
    machines.onChange((changes) => {
      const now = Date.now();
      for (const c of changes) {
        const id = childName(this.keys.machines, c.key);
        if (id === undefined) continue;
        if (c.type === "delete") {
          this.live.delete(id);
          this.goneAt.set(id, now);
        } else {
          this.live.add(id);
          this.goneAt.delete(id);
        }
      }
    });
    leader.onChange((changes) => {
      const last = changes.at(-1);
      if (!last) return;
      this.leader = last.value === undefined ? undefined : { id: last.value, since: Date.now() };
    });
    const schedule = new Informer<true>({ etcd, prefix: this.keys.schedules, decode: acceptAll(() => true as const) });
    schedule.onChange((changes) => {
      for (const c of changes) {
        const pair = childPair(this.keys.schedules, c.key);
        if (pair && c.type === "add" && !this.firstPlaced.has(pair[1])) this.firstPlaced.set(pair[1], pair[0]);
      }
    });
    this.informers = [states, machines, leader, schedule] as Informer<unknown>[];
  }

  async start(): Promise<void> {
    for (const i of this.informers) i.start();
    await Promise.all(this.informers.map((i) => i.synced));
  }

  /** Machines other than `except` where `unit` is active. */
  activeElsewhere(unit: string, except: string): string[] {
    return [...(this.activeOn.get(unit)?.keys() ?? [])].filter((m) => m !== except);
  }

  /** The units etcd holds as active on `machine`. */
  unitsOn(machine: string): string[] {
    return [...this.activeOn].filter(([, on]) => on.has(machine)).map(([u]) => u).sort();
  }

  /**
   * Waits until every unit of `units` is active on a machine other than `except`; resolves to
   * the time the last of them became so (host clock, ms).
   */
  async movedOff(units: readonly string[], except: string, timeoutMs: number): Promise<number> {
    await waitFor(() => units.every((u) => this.activeElsewhere(u, except).length > 0), { timeoutMs, what: `${units.join(", ")} to run off ${except.slice(0, 8)}`, intervalMs: 5 });
    return Math.max(...units.map((u) => Math.min(...this.activeElsewhere(u, except).map((m) => this.activeOn.get(u)!.get(m)!))));
  }

  /** Waits until `unit` is active somewhere; resolves to when it first was. */
  async active(unit: string, timeoutMs: number): Promise<number> {
    await waitFor(() => (this.activeOn.get(unit)?.size ?? 0) > 0, { timeoutMs, what: `${unit} to be active`, intervalMs: 5 });
    return Math.min(...this.activeOn.get(unit)!.values());
  }

  async close(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.close()));
    this.etcd.close();
  }
}
