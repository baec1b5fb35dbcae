// A machine's own key, `<p>/machines/<id>`, bound to its lease: created if absent, taken over
// from an earlier lease of the same daemon, and re-put when the record changes. Never taken from
// another live lease (that is a second daemon with the same machine id). The lease itself is
// kept by presence (src/agent/presence.ts); this is what it writes and reads.
import type { EtcdClient, KeyValue } from "./etcd/index.ts";
import { cmp, op } from "./etcd/txn.ts";
import type { KeySpace } from "./keys.ts";
import type { MachineRecord } from "./models.ts";
import { decodeRecord, encodeRecord } from "./records.ts";

/** A machine record checked and encoded, with its key. */
export interface EncodedMachine {
  readonly key: string;
  readonly value: string;
}

/** What holds a machine's key when it could not be created. */
export interface MachineHolder {
  /** The lease the key is bound to ("0" for none). */
  readonly lease: string;
  readonly modRevision: number;
  /** The public IP its record names ("" when the record cannot be read). */
  readonly publicIP: string;
}

export class MachineKey {
  constructor(
    private readonly etcd: Pick<EtcdClient, "txn">,
    private readonly keys: KeySpace,
  ) {}

  /** Throws InvalidRecordError for a record no reader would accept (check it before taking a lease). */
  encode(record: MachineRecord): EncodedMachine {
    const key = this.keys.machine(record.id);
    return { key, value: encodeRecord("machines", this.keys, key, record) };
  }

  /** Whether `written` is what `record` encodes to (the record did not change since). */
  same(written: EncodedMachine | undefined, record: MachineRecord): boolean {
    return written?.value === JSON.stringify(record);
  }

  /** Creates the key on `lease` if absent; else who holds it (undefined when it vanished in between). */
  async create(m: EncodedMachine, lease: string): Promise<{ created: true } | { created: false; holder: MachineHolder | undefined }> {
    const res = await this.etcd.txn({
      compare: [cmp.createRevision(m.key, "=", 0)],
      success: [op.put(m.key, m.value, { lease })],
      failure: [op.get(m.key)],
    });
    if (res.succeeded) return { created: true };
    const got = res.responses[0];
    const kv: KeyValue | undefined = got?.type === "range" ? got.kvs[0] : undefined;
    return { created: false, holder: kv && this.holderOf(kv) };
  }

  /** Puts the record on `lease` if the key is still as `modRevision` left it. */
  async takeOver(m: EncodedMachine, lease: string, modRevision: number): Promise<boolean> {
    const res = await this.etcd.txn({
      compare: [cmp.modRevision(m.key, "=", modRevision)],
      success: [op.put(m.key, m.value, { lease })],
    });
    return res.succeeded;
  }

  /** Re-puts the record, only while the key is bound to `lease`. */
  async republish(m: EncodedMachine, lease: string): Promise<boolean> {
    const res = await this.etcd.txn({
      compare: [cmp.lease(m.key, "=", lease)],
      success: [op.put(m.key, m.value, { lease })],
    });
    return res.succeeded;
  }

  private holderOf(kv: KeyValue): MachineHolder {
    // An unreadable record still names its lease.
    const decoded = decodeRecord("machines", this.keys, kv);
    return { lease: kv.lease, modRevision: kv.modRevision, publicIP: decoded.ok ? decoded.value.publicIP : "" };
  }
}
