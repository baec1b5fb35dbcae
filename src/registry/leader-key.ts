// The engine leader's key, `<p>/leader` = {machineID, since}, bound to the leader's own lease.
// Its create revision is the epoch; the fence every write of a term carries is "the leader key
// still has this create revision". The election (src/engine/leader.ts) decides when to campaign,
// renew and resign; this is what those steps write and read.
import type { EtcdClient, KeyValue } from "./etcd/index.ts";
import { cmp, op } from "./etcd/txn.ts";
import type { Compare } from "./etcd/types.ts";
import type { LeaderRecord } from "./models.ts";
import { decodeLeaderAt, encodeLeaderAt, type Decoded } from "./records.ts";

/** The condition a leader's writes are fenced by: the leader key was created at `epoch`. */
export interface Fence {
  readonly key: string;
  readonly epoch: number;
}

/** Who holds the leader key. */
export interface LeaderHolder {
  /** The key's create revision: the holder's epoch. */
  readonly epoch: number;
  /** The lease the key is bound to ("0" for none). */
  readonly lease: string;
  readonly record: Decoded<LeaderRecord>;
}

/** The etcd compare of a fence (for the registry's own fenced writes). */
export function fenceCompare(f: Fence): Compare {
  return cmp.createRevision(f.key, "=", f.epoch);
}

export class LeaderKey {
  constructor(
    private readonly etcd: Pick<EtcdClient, "get" | "range" | "txn" | "leaseRevoke">,
    readonly key: string,
  ) {}

  fence(epoch: number): Fence {
    return { key: this.key, epoch };
  }

  /** Who holds the key (undefined: nobody), and the revision of the read. */
  async read(): Promise<{ holder: LeaderHolder | undefined; revision: number }> {
    const { kvs, revision } = await this.etcd.range(this.key);
    return { holder: kvs[0] && this.holderOf(kvs[0]), revision };
  }

  /** Whether the key still belongs to the term of `epoch` (a read, for after a refused write). */
  async holds(epoch: number): Promise<boolean> {
    const kv = await this.etcd.get(this.key);
    return kv?.createRevision === epoch;
  }

  /**
   * Creates the key for `machineId` on `lease` if nobody holds it. Won: the new epoch. Lost:
   * who holds it (undefined when it vanished in between). Throws InvalidRecordError before
   * writing a record no reader would accept.
   */
  async campaign(machineId: string, since: string, lease: string): Promise<{ won: true; epoch: number } | { won: false; holder: LeaderHolder | undefined }> {
    const res = await this.etcd.txn({
      compare: [cmp.createRevision(this.key, "=", 0)],
      success: [op.put(this.key, this.encode(machineId, since), { lease })],
      failure: [op.get(this.key)],
    });
    if (res.succeeded) return { won: true, epoch: res.revision };
    const other = res.responses[0];
    const kv = other?.type === "range" ? other.kvs[0] : undefined;
    return { won: false, holder: kv && this.holderOf(kv) };
  }

  /** Writes the term's record again on its lease, if the key still has the term's epoch. */
  async reclaim(fence: Fence, machineId: string, since: string, lease: string): Promise<void> {
    await this.etcd.txn({
      compare: [fenceCompare(fence)],
      success: [op.put(this.key, this.encode(machineId, since), { lease })],
    });
  }

  /** Ends a term: revoking its lease deletes the key, so another candidate may win at once. */
  async resign(lease: string): Promise<void> {
    await this.etcd.leaseRevoke(lease);
  }

  /** The holder a stored key-value of the leader key names. */
  holderOf(kv: KeyValue): LeaderHolder {
    return { epoch: kv.createRevision, lease: kv.lease, record: decodeLeaderAt(kv) };
  }

  private encode(machineId: string, since: string): string {
    const record: LeaderRecord = { machineID: machineId, since };
    return encodeLeaderAt(this.key, record);
  }
}
