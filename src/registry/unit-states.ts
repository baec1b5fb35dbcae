// One machine's unit states, `<p>/states/<unit>/<machine id>`, bound to the machine's lease so
// they leave etcd with it. Only this machine's keys are ever written or deleted (quirk Q18
// fixed). The state publisher (src/agent/publisher.ts) decides what and when; this is the how.
import type { EtcdClient } from "./etcd/index.ts";
import { op } from "./etcd/txn.ts";
import { childPair, type KeySpace } from "./keys.ts";
import type { UnitStateRecord } from "./models.ts";
import { encodeRecord } from "./records.ts";

/** One unit's state to store (its encoded value), or to delete (undefined). */
export interface StateChange {
  unit: string;
  value: string | undefined;
}

export class UnitStates {
  constructor(
    private readonly etcd: Pick<EtcdClient, "txn">,
    private readonly keys: KeySpace,
    private readonly machineId: string,
  ) {}

  /** The value to store for `unit`; throws InvalidRecordError for a record no reader would accept. */
  encode(unit: string, rec: UnitStateRecord): string {
    const key = this.keys.state(unit, this.machineId);
    return encodeRecord("states", this.keys, key, rec);
  }

  /** The unit a key of this machine's states names; undefined for any other key. */
  unitOf(key: string): string | undefined {
    const pair = childPair(this.keys.states, key);
    return pair && pair[1] === this.machineId ? pair[0] : undefined;
  }

  /** Writes `changes` in one transaction: values put under `lease`, the others deleted. */
  async write(lease: string, changes: readonly StateChange[]): Promise<void> {
    const ops = changes.map((c) => {
      const key = this.keys.state(c.unit, this.machineId);
      return c.value === undefined ? op.del(key) : op.put(key, c.value, { lease });
    });
    await this.etcd.txn({ compare: [], success: ops });
  }
}
