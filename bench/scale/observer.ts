// The benchmark's view of the cluster: which unit instances etcd holds as active, on which
// machines, and which machines are live. Two informers (states/, machines/) on their own client;
// the events they receive are counted so they can be taken out of etcd's watch-event figures.
import { EtcdClient, type Watch, type WatchBatch } from "../../src/registry/etcd/index.ts";
import { acceptAll, Informer } from "../../src/registry/informer.ts";
import { childName, childPair, keySpace, type KeySpace } from "../../src/registry/keys.ts";
import type { UnitStateRecord } from "../../src/registry/models.ts";

export class Observer {
  /** Unit -> machines where etcd says it is active. */
  readonly activeOn = new Map<string, Set<string>>();
  /** Machine id -> when its key was seen deleted. */
  readonly machineGoneAt = new Map<string, number>();
  readonly live = new Set<string>();
  activeInstances = 0;
  /** Watch events delivered to the observer's own watches. */
  events = 0;
  private readonly etcd: EtcdClient;
  private readonly keys: KeySpace;
  private readonly states: Informer<boolean>;
  private readonly machines: Informer<true>;

  constructor(endpoint: string, prefix: string) {
    this.etcd = new EtcdClient({ endpoints: [endpoint], requestTimeoutMs: 30_000 });
    this.keys = keySpace(prefix);
    const etcd = {
      range: this.etcd.range.bind(this.etcd),
      watch: (...a: Parameters<EtcdClient["watch"]>) => this.counted(this.etcd.watch(...a)),
    };
    this.states = new Informer<boolean>({
      etcd, prefix: this.keys.states, pageSize: 5000,
      decode: acceptAll((kv) => (JSON.parse(kv.value) as UnitStateRecord).activeState === "active"),
    });
    this.machines = new Informer<true>({ etcd, prefix: this.keys.machines, decode: acceptAll(() => true as const) });
    this.states.onChange((changes) => {
      for (const c of changes) {
        const pair = childPair(this.keys.states, c.key);
        if (!pair) continue;
        const [unit, machine] = pair;
        const was = c.prev === true;
        const is = c.value === true;
        if (was === is) continue;
        let set = this.activeOn.get(unit);
        if (!set) this.activeOn.set(unit, (set = new Set()));
        if (is) set.add(machine);
        else set.delete(machine);
        this.activeInstances += is ? 1 : -1;
      }
    });
    this.machines.onChange((changes) => {
      for (const c of changes) {
        const id = childName(this.keys.machines, c.key);
        if (id === undefined) continue;
        if (c.type === "delete") {
          this.live.delete(id);
          this.machineGoneAt.set(id, Date.now());
        } else {
          this.live.add(id);
          this.machineGoneAt.delete(id);
        }
      }
    });
  }

  async start(): Promise<void> {
    this.states.start();
    this.machines.start();
    await Promise.all([this.states.synced, this.machines.synced]);
  }

  /** Machines other than `except` where `unit` is active. */
  activeElsewhere(unit: string, except: ReadonlySet<string>): number {
    let n = 0;
    for (const m of this.activeOn.get(unit) ?? []) if (!except.has(m)) n++;
    return n;
  }

  async close(): Promise<void> {
    await Promise.all([this.states.close(), this.machines.close()]);
    this.etcd.close();
  }

  private counted(inner: Watch): Watch {
    const self = this;
    return {
      close: () => inner.close(),
      async *[Symbol.asyncIterator](): AsyncGenerator<WatchBatch> {
        for await (const b of inner) {
          if (b.kind === "events") self.events += b.events.length;
          yield b;
        }
      },
    };
  }
}
