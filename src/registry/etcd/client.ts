// The etcd v3 client over the JSON gateway: KV, transactions, leases, watches, status.
import { decodeKvs, id, int } from "./codec.ts";
import { EtcdError, GrpcCode, kindFromGrpc } from "./errors.ts";
import { Transport } from "./transport.ts";
import {
  decodeDelete, decodeOpResponse, decodePut, decodeRange, encodeDeleteRequest, encodePutRequest,
  encodeRangeRequest, encodeTxn, txnIsReadOnly, type WireDelete, type WirePut, type WireRange, type WireTxn,
} from "./txn.ts";
import type {
  DeleteOptions, DeleteResult, EtcdOptions, KeyValue, LeaseGrantResult, LeaseTimeToLive, PutOptions,
  PutResult, RangeOptions, RangeResult, StatusResult, Txn, TxnResult, Watch, WatchOptions,
} from "./types.ts";
import { EtcdWatch } from "./watch.ts";

export class EtcdClient {
  private readonly transport: Transport;
  private readonly watches = new Set<EtcdWatch>();

  constructor(opts: EtcdOptions) {
    this.transport = new Transport(opts);
  }

  /** The endpoint requests currently go to (it moves on when one fails). */
  get endpoint(): string {
    return this.transport.endpoint;
  }

  /** The highest store revision seen in any answer, keepalives included (0 before the first). */
  observedRevision(): number {
    return this.transport.observedRevision;
  }

  async get(key: string, opts: { revision?: number } = {}): Promise<KeyValue | undefined> {
    const r = await this.range(key, opts);
    return r.kvs[0];
  }

  range(key: string, opts: RangeOptions = {}): Promise<RangeResult> {
    return this.transport.observed("range", () => this.rangeOnce(key, opts));
  }

  private async rangeOnce(key: string, opts: RangeOptions): Promise<RangeResult> {
    const { body } = await this.transport.call<WireRange>({ path: "/v3/kv/range", body: encodeRangeRequest(key, opts), op: "range", key, idempotent: true });
    return decodeRange(body);
  }

  put(key: string, value: string, opts: PutOptions = {}): Promise<PutResult> {
    return this.transport.observed("put", () => this.putOnce(key, value, opts));
  }

  private async putOnce(key: string, value: string, opts: PutOptions): Promise<PutResult> {
    const { body } = await this.transport.call<WirePut>({ path: "/v3/kv/put", body: encodePutRequest(key, value, opts), op: "put", key, idempotent: false });
    return decodePut(body);
  }

  delete(key: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
    return this.transport.observed("delete", () => this.deleteOnce(key, opts));
  }

  private async deleteOnce(key: string, opts: DeleteOptions): Promise<DeleteResult> {
    const { body } = await this.transport.call<WireDelete>({ path: "/v3/kv/deleterange", body: encodeDeleteRequest(key, opts), op: "delete", key, idempotent: false });
    return decodeDelete(body);
  }

  /**
   * Compares, then runs `success` or `failure` atomically. A txn that writes is not retried once
   * it may have reached etcd (see shouldRetry): on an `uncertain` error, read back and decide.
   */
  txn(t: Txn): Promise<TxnResult> {
    return this.transport.observed("txn", () => this.txnOnce(t));
  }

  private async txnOnce(t: Txn): Promise<TxnResult> {
    const key = t.compare[0]?.key ?? t.success[0]?.key ?? t.failure?.[0]?.key;
    const { body } = await this.transport.call<WireTxn>({ path: "/v3/kv/txn", body: encodeTxn(t), op: "txn", key, idempotent: txnIsReadOnly(t) });
    const succeeded = body.succeeded ?? false;
    const ops = (succeeded ? t.success : t.failure) ?? [];
    const wire = body.responses ?? [];
    return { succeeded, revision: int(body.header?.revision), responses: ops.map((o, i) => decodeOpResponse(wire[i] ?? {}, o)) };
  }

  /** Compacts the history before `revision`; watches from older revisions get "compacted". */
  async compact(revision: number, opts: { physical?: boolean } = {}): Promise<void> {
    const body: Record<string, unknown> = { revision: String(revision) };
    if (opts.physical) body.physical = true;
    await this.transport.observed("compact", () => this.transport.call({ path: "/v3/kv/compaction", body, op: "compact", key: String(revision), idempotent: true }));
  }

  /** Grants a lease of `ttlSeconds`; `id` asks for that lease ID (decimal string). */
  leaseGrant(ttlSeconds: number, leaseId?: string): Promise<LeaseGrantResult> {
    return this.transport.observed("lease_grant", () => this.leaseGrantOnce(ttlSeconds, leaseId));
  }

  private async leaseGrantOnce(ttlSeconds: number, leaseId: string | undefined): Promise<LeaseGrantResult> {
    const req: Record<string, unknown> = { TTL: String(ttlSeconds) };
    if (leaseId && leaseId !== "0") req.ID = leaseId;
    const { body, endpoint } = await this.transport.call<{ ID?: string; TTL?: string; error?: string }>({
      path: "/v3/lease/grant", body: req, op: "lease-grant", key: leaseId, idempotent: false,
    });
    if (body.error) {
      throw new EtcdError({ kind: kindFromGrpc(GrpcCode.unknown, body.error), endpoint, op: "lease-grant", key: leaseId, code: GrpcCode.unknown, detail: body.error });
    }
    return { id: id(body.ID), ttl: int(body.TTL) };
  }

  /** Renews the lease once; resolves to the TTL it has now. Throws kind "not-found" when it expired. */
  leaseKeepAlive(leaseId: string): Promise<number> {
    return this.transport.observed("lease_keepalive", () => this.leaseKeepAliveOnce(leaseId));
  }

  private async leaseKeepAliveOnce(leaseId: string): Promise<number> {
    const { body, endpoint } = await this.transport.call<{ result?: { TTL?: string }; error?: { grpc_code?: number; message?: string } }>({
      path: "/v3/lease/keepalive", body: { ID: leaseId }, op: "lease-keepalive", key: leaseId, idempotent: true,
    });
    if (body.error) {
      const code = body.error.grpc_code ?? GrpcCode.unknown;
      const detail = body.error.message ?? "keepalive failed";
      throw new EtcdError({ kind: kindFromGrpc(code, detail), endpoint, op: "lease-keepalive", key: leaseId, code, detail });
    }
    // A lease that is gone still answers 200, only without a TTL.
    const ttl = int(body.result?.TTL);
    if (ttl <= 0) {
      throw new EtcdError({ kind: "not-found", endpoint, op: "lease-keepalive", key: leaseId, code: GrpcCode.notFound, detail: "lease not found or expired" });
    }
    return ttl;
  }

  /**
   * Revokes the lease and deletes its keys. A lease that is already gone is not an error, which
   * also makes a retried revoke (the first one may have been applied) safe.
   */
  leaseRevoke(leaseId: string): Promise<void> {
    return this.transport.observed("lease_revoke", () => this.leaseRevokeOnce(leaseId));
  }

  private async leaseRevokeOnce(leaseId: string): Promise<void> {
    try {
      await this.transport.call({ path: "/v3/lease/revoke", body: { ID: leaseId }, op: "lease-revoke", key: leaseId, idempotent: true });
    } catch (e) {
      if (e instanceof EtcdError && e.kind === "not-found") return;
      throw e;
    }
  }

  /** The lease's remaining and granted TTL, or undefined when it expired or never existed. */
  leaseTimeToLive(leaseId: string, opts: { keys?: boolean } = {}): Promise<LeaseTimeToLive | undefined> {
    return this.transport.observed("lease_ttl", () => this.leaseTimeToLiveOnce(leaseId, opts));
  }

  private async leaseTimeToLiveOnce(leaseId: string, opts: { keys?: boolean }): Promise<LeaseTimeToLive | undefined> {
    const req: Record<string, unknown> = { ID: leaseId };
    if (opts.keys) req.keys = true;
    const { body } = await this.transport.call<{ TTL?: string; grantedTTL?: string; keys?: string[] }>({
      path: "/v3/lease/timetolive", body: req, op: "lease-timetolive", key: leaseId, idempotent: true,
    });
    // A gone lease answers TTL -1; a live one about to expire has TTL 0, which is omitted.
    const ttl = int(body.TTL);
    if (ttl < 0) return undefined;
    const r: LeaseTimeToLive = { ttl, grantedTtl: int(body.grantedTTL) };
    if (opts.keys) r.keys = decodeKvs((body.keys ?? []).map((k) => ({ key: k }))).map((kv) => kv.key);
    return r;
  }

  /**
   * Watches a key or range. Iterate it with `for await`; it reconnects (with back-off, across
   * etcd restarts and endpoints) until closed, resuming after the last delivered revision. A
   * "compacted" batch ends it. Without `startRevision` it starts once the first connection is
   * made, so for list-then-watch pass the list's revision + 1.
   */
  watch(key: string, opts: WatchOptions = {}): Watch {
    const w = new EtcdWatch(this.transport, key, opts, (x) => this.watches.delete(x));
    // A watch on a closed client ends at once, like the watches close() ended.
    if (this.transport.isClosed) w.close();
    if (!w.closed) this.watches.add(w);
    return w;
  }

  status(): Promise<StatusResult> {
    return this.transport.observed("status", () => this.statusOnce());
  }

  private async statusOnce(): Promise<StatusResult> {
    const { body, endpoint } = await this.transport.call<{ header?: { revision?: string }; version?: string }>({
      path: "/v3/maintenance/status", body: {}, op: "status", idempotent: true,
    });
    return { revision: int(body.header?.revision), version: body.version ?? "", endpoint };
  }

  /** Closes every watch; later calls fail with kind "unavailable". */
  close(): void {
    this.transport.close();
    for (const w of [...this.watches]) w.close();
  }

  /** For tests: replace the cached auth token (e.g. with a corrupt one). */
  setAuthTokenForTesting(token: string): void {
    this.transport.tokens.set(token);
  }
}
