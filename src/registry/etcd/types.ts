// Public data types of the etcd client. Keys and values are UTF-8 strings, revisions numbers,
// lease IDs decimal strings (they exceed 2^53).

export interface EtcdOptions {
  /** Client URLs, tried in order; a connection failure moves to the next one. */
  endpoints: string[];
  /** Timeout of each HTTP attempt (default 5000 ms). */
  requestTimeoutMs?: number;
  username?: string;
  password?: string;
  /** PEM files; used for https endpoints. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Extra rounds over the endpoints after a transient failure (default 4). */
  retries?: number;
  /**
   * Observes every logical operation once, after it ends: retries, failover and
   * re-authentication are inside one operation, and its duration covers them all. A watch counts
   * each connection it opens (ok once the stream is open). Must not throw.
   */
  onOperation?: (op: EtcdOperation) => void;
}

/** The kinds of operation onOperation reports: a small fixed set, fit for metric labels. */
export type EtcdOperationType =
  | "range" | "put" | "delete" | "txn" | "compact" | "status" | "authenticate"
  | "lease_grant" | "lease_keepalive" | "lease_revoke" | "lease_ttl" | "watch";

export interface EtcdOperation {
  type: EtcdOperationType;
  durationMs: number;
  /**
   * False when the call threw. A txn whose compare failed is ok (etcd answered), and so is a
   * revoke of a lease that is already gone (the client treats it as done).
   */
  ok: boolean;
}

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  /** "0" when the key has no lease. */
  lease: string;
}

export interface RangeOptions {
  /** Every key starting with `key`. */
  prefix?: boolean;
  /** Keys in [key, rangeEnd); "\0" means every key >= key. */
  rangeEnd?: string;
  limit?: number;
  keysOnly?: boolean;
  countOnly?: boolean;
  /** Read the keyspace as it was at this revision. */
  revision?: number;
  sortByKey?: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Number of keys in the range (not limited by `limit`). */
  count: number;
  /** True when `limit` cut the result short. */
  more: boolean;
  /** The store revision the read was served at. */
  revision: number;
}

export interface PutOptions {
  lease?: string;
  prevKv?: boolean;
}

export interface PutResult {
  revision: number;
  prevKv?: KeyValue;
}

export interface DeleteOptions {
  prefix?: boolean;
  rangeEnd?: string;
  prevKv?: boolean;
}

export interface DeleteResult {
  revision: number;
  deleted: number;
  prevKvs: KeyValue[];
}

export type CompareOp = "=" | "!=" | "<" | ">";

export type Compare =
  | { target: "createRevision" | "modRevision" | "version"; key: string; op: CompareOp; value: number; prefix?: boolean }
  | { target: "value"; key: string; op: CompareOp; value: string; prefix?: boolean }
  | { target: "lease"; key: string; op: CompareOp; value: string; prefix?: boolean };

export type Op =
  | { type: "put"; key: string; value: string; lease?: string; prevKv?: boolean }
  | { type: "delete"; key: string; prefix?: boolean; rangeEnd?: string; prevKv?: boolean }
  | ({ type: "range"; key: string } & RangeOptions);

export type OpResponse =
  | ({ type: "put" } & PutResult)
  | ({ type: "delete" } & DeleteResult)
  | ({ type: "range" } & RangeResult);

export interface Txn {
  compare: Compare[];
  success: Op[];
  failure?: Op[];
}

export interface TxnResult {
  succeeded: boolean;
  revision: number;
  /** One per op of the branch that ran. */
  responses: OpResponse[];
}

export interface LeaseGrantResult {
  id: string;
  ttl: number;
}

export interface LeaseTimeToLive {
  /** Seconds left. */
  ttl: number;
  grantedTtl: number;
  /** Keys attached to the lease, when asked for. */
  keys?: string[];
}

export interface StatusResult {
  revision: number;
  version: string;
  endpoint: string;
}

export interface WatchOptions {
  prefix?: boolean;
  rangeEnd?: string;
  /** First revision to deliver; without it, changes after the watch is established. */
  startRevision?: number;
  prevKv?: boolean;
  progressNotify?: boolean;
  signal?: AbortSignal;
}

export interface WatchEvent {
  type: "put" | "delete";
  kv: KeyValue;
  prevKv?: KeyValue;
}

export type WatchBatch =
  /** `revision` is the mod revision of the last event: everything up to it has been delivered. */
  | { kind: "events"; revision: number; events: WatchEvent[] }
  /** Nothing changed in the watched range up to `revision`. */
  | { kind: "progress"; revision: number }
  /** The next revision to deliver was compacted away: re-list, then watch again. Ends the watch. */
  | { kind: "compacted"; compactRevision: number };

export interface Watch extends AsyncIterable<WatchBatch> {
  /** Stops the watch; a pending iteration ends (done). */
  close(): void;
}
