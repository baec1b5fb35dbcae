// What the engine leader writes: schedule entries and pending reasons from its plan, and the
// deletes of its two collectors (unit files nobody refers to, metadata of machines long gone).
// Every write is fenced by the leader's epoch, so a deposed leader can change nothing; every
// record is built and checked here, by the decoder that will read it back.
import type { EtcdClient } from "./etcd/index.ts";
import { cmp, op } from "./etcd/txn.ts";
import type { Op } from "./etcd/types.ts";
import type { KeySpace } from "./keys.ts";
import { fenceCompare, type Fence } from "./leader-key.ts";
import type { PendingRecord, ScheduleEntry } from "./models.ts";
import { encodeRecord } from "./records.ts";
import type { PendingKind } from "../scheduler/reasons.ts";

/** One change the engine decided on. */
export type EngineWrite =
  /** `reason` and `moved` only for a new entry (models.ts, ScheduleEntry); an update leaves them out. */
  | {
    kind: "schedule"; machine: string; unit: string; hash: string; desiredState: ScheduleEntry["desiredState"];
    reason?: string; moved?: { from: string; reason: string };
    /** The unit file's text, to store in the entry (only when at most INLINE_TEXT_MAX). */
    text?: string;
  }
  | { kind: "unschedule"; machine: string; unit: string }
  /** `pendingKind` and `machine` are the reason as data (models.ts, PendingRecord). */
  | { kind: "pending"; unit: string; reason: string; pendingKind?: PendingKind; machine?: string }
  | { kind: "clear-pending"; unit: string };

/**
 * Unit files up to this size (in UTF-16 code units, as JavaScript counts) are stored in their
 * schedule entries too, so an agent needs no read to start a unit: typical units are a few
 * hundred bytes, and larger ones would weigh on every watch event of the entry.
 */
export const INLINE_TEXT_MAX = 4096;

/** A write checked and encoded, ready for a fenced transaction. */
export interface PreparedWrite {
  readonly key: string;
  readonly op: Op;
}

/** The result of one fenced batch. */
export type BatchResult =
  | { succeeded: false }
  /** `changed[i]`: whether write i changed its key (deleting a key that is not there does not). */
  | { succeeded: true; revision: number; changed: boolean[] };

/**
 * The operation for `w`, written in the term of `epoch` at `now` (the time a pending reason
 * starts). Throws InvalidRecordError for a record no reader would accept.
 */
export function prepareWrite(keys: KeySpace, w: EngineWrite, epoch: number, now: number): PreparedWrite {
  switch (w.kind) {
    case "schedule": {
      const entry: ScheduleEntry = { hash: w.hash, desiredState: w.desiredState, epoch: String(epoch) };
      if (w.reason !== undefined) entry.reason = w.reason;
      if (w.moved !== undefined) entry.moved = { from: w.moved.from, reason: w.moved.reason };
      if (w.text !== undefined && w.text.length <= INLINE_TEXT_MAX) entry.text = w.text;
      const key = keys.schedule(w.machine, w.unit);
      return { key, op: op.put(key, encodeRecord("schedule", keys, key, entry)) };
    }
    case "unschedule": {
      const key = keys.schedule(w.machine, w.unit);
      return { key, op: op.del(key) };
    }
    case "pending": {
      const rec: PendingRecord = { reason: w.reason, since: new Date(now).toISOString() };
      if (w.pendingKind !== undefined) rec.kind = w.pendingKind;
      if (w.machine !== undefined) rec.machine = w.machine;
      const key = keys.pending(w.unit);
      return { key, op: op.put(key, encodeRecord("pending", keys, key, rec)) };
    }
    case "clear-pending": {
      const key = keys.pending(w.unit);
      return { key, op: op.del(key) };
    }
  }
}

export class EngineWrites {
  constructor(
    private readonly etcd: Pick<EtcdClient, "txn">,
    private readonly keys: KeySpace,
  ) {}

  /** Writes one batch if `fence` still holds; succeeded false when another leader holds the key. */
  async commit(fence: Fence, batch: readonly PreparedWrite[]): Promise<BatchResult> {
    const res = await this.etcd.txn({ compare: [fenceCompare(fence)], success: batch.map((w) => w.op) });
    if (!res.succeeded) return { succeeded: false };
    const changed = batch.map((_, i) => {
      const r = res.responses[i];
      return !(r?.type === "delete" && r.deleted === 0);
    });
    return { succeeded: true, revision: res.revision, changed };
  }

  /**
   * Deletes the unit files of `hashes`, if `fence` holds and none was written after revision
   * `notAfter` (a unit created since writes its file in the same transaction: then nothing is
   * deleted and the caller finds out which file it was). False when nothing was deleted.
   */
  async deleteUnitFiles(fence: Fence, hashes: readonly string[], notAfter: number, seen?: { units: number; rollouts: number }): Promise<boolean> {
    const { keys } = this;
    // With `seen`: nothing under units/ or rollouts/ may be newer than what the caller has seen,
    // so whatever wrote a file (a unit, or a rollout with its new version) was known to it.
    const guards = seen === undefined ? [] : [
      cmp.modRevision(keys.units, "<", seen.units + 1, { prefix: true }),
      cmp.modRevision(keys.rollouts, "<", seen.rollouts + 1, { prefix: true }),
    ];
    const res = await this.etcd.txn({
      compare: [fenceCompare(fence), ...guards, ...hashes.map((h) => cmp.modRevision(keys.unitFile(h), "<", notAfter + 1))],
      success: hashes.map((h) => op.del(keys.unitFile(h))),
    });
    return res.succeeded;
  }

  /**
   * Deletes the dynamic metadata of machines, if `fence` holds and, for each, the machine is
   * still absent and its metadata unchanged since `modRevision`. False when nothing was deleted.
   */
  async deleteMetadata(fence: Fence, machines: readonly { id: string; modRevision: number }[]): Promise<boolean> {
    const { keys } = this;
    const res = await this.etcd.txn({
      compare: [
        fenceCompare(fence),
        ...machines.flatMap((g) => [cmp.createRevision(keys.machine(g.id), "=", 0), cmp.modRevision(keys.metadata(g.id), "=", g.modRevision)]),
      ],
      success: machines.map((g) => op.del(keys.metadata(g.id))),
    });
    return res.succeeded;
  }
}

/**
 * Writes split into transactions of at most `max`, one write per key (the last one wins). A write
 * in `withNext` goes in the same transaction as the write after it (a move's two halves).
 */
export function batches(writes: readonly PreparedWrite[], max: number, withNext: ReadonlySet<PreparedWrite> = new Set()): PreparedWrite[][] {
  const byKey = new Map<string, PreparedWrite>();
  for (const w of writes) {
    byKey.delete(w.key);
    byKey.set(w.key, w);
  }
  const all = [...byKey.values()];
  const out: PreparedWrite[][] = [];
  let batch: PreparedWrite[] = [];
  for (let i = 0; i < all.length; i++) {
    const size = withNext.has(all[i]!) && i + 1 < all.length && max >= 2 ? 2 : 1;
    if (batch.length + size > max) {
      out.push(batch);
      batch = [];
    }
    batch.push(...all.slice(i, i + size));
    i += size - 1;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

/**
 * A prepared write and what ties it to other writes of the same plan: its machine (`m:<id>`) and,
 * for a unit that runs on one machine at a time, its unit (`u:<name>`). Writes that share a tie
 * are committed in the order given; writes that share none may go to etcd side by side.
 */
export interface TiedWrite {
  write: PreparedWrite;
  ties: readonly string[];
}

/**
 * A plan's writes as transactions, in chains: a chain's transactions are committed one after the
 * other, in order, and different chains (which share no machine and no unit) side by side. Writes
 * tied together form a group kept in its order; small groups share transactions of up to `max`
 * writes, so an agent gets all of a plan's changes to its machine in one transaction (one watch
 * event, one reconcile, one state report) and no removal is overtaken by an addition it had to
 * precede. A group too big for one transaction is a chain of its own. One write per key (the
 * last), and a write in `withNext` stays in the same transaction as the write after it.
 */
export function transactions(writes: readonly TiedWrite[], max: number, withNext: ReadonlySet<PreparedWrite> = new Set()): PreparedWrite[][][] {
  const byKey = new Map<string, TiedWrite>();
  for (const w of writes) {
    byKey.delete(w.write.key);
    byKey.set(w.write.key, w);
  }
  const all = [...byKey.values()];
  // Union-find over the writes, joined by a shared tie.
  const parent = all.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  const firstWith = new Map<string, number>();
  all.forEach((w, i) => {
    for (const tie of w.ties) {
      const j = firstWith.get(tie);
      if (j === undefined) firstWith.set(tie, i);
      else parent[find(i)] = find(j);
    }
  });
  const groups = new Map<number, PreparedWrite[]>();
  all.forEach((w, i) => {
    const root = find(i);
    let g = groups.get(root);
    if (!g) groups.set(root, (g = []));
    g.push(w.write);
  });
  const chains: PreparedWrite[][][] = [];
  let open: PreparedWrite[] = [];
  for (const g of groups.values()) {
    if (g.length > max) {
      chains.push(batches(g, max, withNext));
      continue;
    }
    if (open.length + g.length > max) {
      chains.push([open]);
      open = [];
    }
    open.push(...g);
  }
  if (open.length > 0) chains.push([open]);
  return chains;
}
