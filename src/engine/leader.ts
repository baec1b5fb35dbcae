// Engine leader election (architecture.md §3, §4): `<p>/leader` = {machineID, since} is created if
// absent under a lease of its own; its create revision is the epoch that fences every engine
// write. A leader keeps its lease alive at TTL/3 and steps down, at once, when the lease is lost
// or the key is gone, then campaigns again. Resigning revokes the lease so another candidate
// takes over without waiting for the TTL. Three loops, each a Worker on the one clock: the
// campaign, and while leading the lease renewal and the watch of the leader key.
import { jitter, type Backoff } from "../lib/backoff.ts";
import { EtcdError } from "../registry/etcd/index.ts";
import type { EtcdClient, Watch } from "../registry/etcd/index.ts";
import { LeaderKey, type Fence, type LeaderHolder } from "../registry/leader-key.ts";
import type { Logger } from "../log/logger.ts";
import { systemClock, type Clock } from "../lib/clock.ts";
import { Worker, type Round } from "../lib/worker.ts";
import { errorText } from "../lib/error-text.ts";

export type ElectionEtcd = Pick<EtcdClient, "get" | "range" | "txn" | "leaseGrant" | "leaseKeepAlive" | "leaseRevoke" | "watch" | "observedRevision">;

/** One term of leadership. */
export interface Term {
  /** The leader key's create revision. */
  readonly epoch: number;
  readonly leaseId: string;
  /** ISO time the term began, as written in the leader record. */
  readonly since: string;
  /** The lease TTL etcd granted, in ms. */
  readonly ttlMs: number;
}

export interface LeaderElectionOptions {
  etcd: ElectionEtcd;
  /** `<p>/leader`. */
  key: string;
  machineId: string;
  /** Lease TTL (5 x engine_reconcile_interval); etcd counts it in whole seconds. */
  ttlMs: number;
  /**
   * The safety net of a candidate waiting for a vacancy, against a watch that died unnoticed:
   * this often (default 10 min, jittered) it reads the key again, but only when etcd's revision
   * (as any answer to this client told it, keepalives included) moved past what it knows. So an
   * idle cluster's candidates cost etcd nothing.
   */
  recheckMs?: number;
  /**
   * When the leader key is deleted, a waiting candidate campaigns after a random part of this
   * (default 500 ms), and not at all when a new leader appears meanwhile: thousands of candidates
   * campaigning at once (four requests each) swamped an etcd that was already struggling, which is
   * when leaders are lost. The first of many wakes within a few ms; alone, one waits half of it on
   * average.
   */
  campaignSpreadMs?: number;
  log: Logger;
  clock?: Clock;
  random?: () => number;
  retry?: Backoff;
}

const DEFAULT_RETRY: Backoff = { baseMs: 200, capMs: 5000 };
const DEFAULT_RECHECK_MS = 600_000;
const DEFAULT_CAMPAIGN_SPREAD_MS = 500;

export class LeaderElection {
  private readonly etcd: ElectionEtcd;
  private readonly leaderKey: LeaderKey;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly listeners = new Set<(term: Term | undefined) => void>();
  private term: Term | undefined;
  /** Resolves when the current term ends. */
  private termEnded: (() => void) | undefined;
  /** Campaigns, one step a round; a round lasts as long as a wait for vacancy or a term. */
  private campaigner: Worker | undefined;
  private knownLeader: string | undefined;
  /** Leases of our ended terms that could not be revoked (etcd was unreachable). */
  private readonly abandoned = new Set<string>();
  /** Ends the wait for a vacancy (to look again), while one runs. */
  private vacancy: AbortController | undefined;
  /** The leader's watch of its key, while it leads. */
  private keyWatch: Watch | undefined;

  constructor(private readonly opts: LeaderElectionOptions) {
    this.etcd = opts.etcd;
    this.leaderKey = new LeaderKey(opts.etcd, opts.key);
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log;
  }

  get key(): string {
    return this.opts.key;
  }

  /** The current term, while this candidate leads. */
  get current(): Term | undefined {
    return this.term;
  }

  isLeader(): boolean {
    return this.term !== undefined;
  }

  get running(): boolean {
    return this.campaigner !== undefined;
  }

  /** Called synchronously whenever a term begins (term) or ends (undefined). */
  onChange(cb: (term: Term | undefined) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** The fence every write of `term` carries: the leader key still has the term's epoch. */
  fence(term: Term): Fence {
    return this.leaderKey.fence(term.epoch);
  }

  /** Whether the leader key in etcd still belongs to `term` (a read, for after a refused write). */
  holds(term: Term): Promise<boolean> {
    return this.leaderKey.holds(term.epoch);
  }

  start(): void {
    if (this.campaigner) return;
    this.campaigner = this.worker(
      (round) => this.campaign(round),
      (e, delay) => this.log.warn(`Cannot campaign for engine leadership, retrying in ${delay} ms: ${errorText(e)}`),
    );
    this.campaigner.kick(0);
  }

  /**
   * etcd was out of reach and is back: a watch may be stuck on a connection that died without a
   * word, delivering nothing (or only once TCP's retransmission back-off allows). A candidate
   * looks at the key again (one read) and watches anew; a leader watches its key anew from where
   * it was. No timer does this: an idle candidate costs etcd nothing.
   */
  refresh(): void {
    this.vacancy?.abort();
    this.keyWatch?.close();
  }

  /** Ends `term` at once because etcd refused one of its writes; campaigns again after. */
  deposed(term: Term, reason: string): void {
    this.endTerm(term, reason, true);
  }

  /**
   * Stops campaigning. With `resign` (the default) the lease is revoked, which deletes the
   * leader key so another candidate takes over at once; without it the lease is left to
   * expire, as if this process had died.
   */
  async stop(opts: { resign?: boolean } = {}): Promise<void> {
    const campaigner = this.campaigner;
    if (!campaigner) return;
    const resign = opts.resign ?? true;
    const term = this.term;
    const stopped = campaigner.stop();
    if (term) this.endTerm(term, resign ? "resigned" : "stopped", false);
    await stopped;
    this.campaigner = undefined;
    if (term && resign) {
      await this.revokeQuietly(term.leaseId);
      this.log.info("Engine leadership resigned", { epoch: term.epoch });
    }
  }

  private worker(run: (round: Round) => Promise<number | undefined>, onError?: (e: unknown, delay: number) => void): Worker {
    return new Worker({ clock: this.clock, random: this.opts.random, retry: this.opts.retry ?? DEFAULT_RETRY, run, onError });
  }

  /** One step: wait while another leads, take the key when it is free, then hold it until the term ends. */
  private async campaign(round: Round): Promise<number | undefined> {
    const signal = round.signal;
    const { holder: held, revision } = await this.leaderKey.read();
    if (signal.aborted) return undefined;
    if (held && this.abandoned.has(held.lease)) {
      // Our own earlier term, whose lease could not be revoked then: end it now.
      await this.revokeQuietly(held.lease);
      if (this.abandoned.has(held.lease)) throw new Error(`cannot revoke lease ${held.lease} of an earlier term`);
    } else if (held) {
      this.noteLeader(held);
      await this.waitForVacancy(revision + 1, signal);
    } else {
      const term = await this.tryAcquire(signal);
      if (term) await this.hold(term);
    }
    return 0;
  }

  private async tryAcquire(signal: AbortSignal): Promise<Term | undefined> {
    const lease = await this.etcd.leaseGrant(Math.max(1, Math.ceil(this.opts.ttlMs / 1000)));
    const since = new Date(this.clock.now()).toISOString();
    let res;
    try {
      res = await this.leaderKey.campaign(this.opts.machineId, since, lease.id);
    } catch (e) {
      // Whether the key was created is unknown; revoking the lease removes it if it was.
      await this.revokeQuietly(lease.id);
      throw e;
    }
    if (!res.won || signal.aborted) {
      await this.revokeQuietly(lease.id);
      if (!res.won && res.holder) this.noteLeader(res.holder);
      return undefined;
    }
    return { epoch: res.epoch, leaseId: lease.id, since, ttlMs: lease.ttl * 1000 };
  }

  /** Leads until the term ends (lease lost, key gone, deposed or stopped). */
  private async hold(term: Term): Promise<void> {
    const ended = new Promise<void>((resolve) => (this.termEnded = resolve));
    this.term = term;
    this.knownLeader = this.opts.machineId;
    this.log.info("Engine leadership acquired", { epoch: term.epoch, ttl: `${term.ttlMs / 1000}s` });
    this.notify(term);
    if (this.term !== term) return;
    const interval = Math.max(100, Math.floor(term.ttlMs / 3));
    let renewedAt = this.clock.now();
    const renewal = this.worker(async () => {
      const renewed = await this.renew(term, renewedAt);
      if (renewed === undefined) return undefined;
      if (renewed === false) return Math.max(50, Math.floor(interval / 4));
      renewedAt = renewed;
      return interval;
    });
    const cursor = { from: term.epoch + 1 };
    const watch = this.worker(
      async (round) => {
        await this.watchKey(term, cursor, round);
        return this.term === term && !round.signal.aborted ? 0 : undefined;
      },
      (e, delay) => this.log.warn(`Cannot watch ${this.opts.key}, retrying in ${delay} ms: ${errorText(e)}`),
    );
    renewal.kick(interval);
    watch.kick(0);
    await ended;
    await Promise.all([renewal.stop(), watch.stop()]);
  }

  private endTerm(term: Term, reason: string, revoke: boolean): void {
    if (this.term !== term) return;
    this.term = undefined;
    this.termEnded?.();
    this.termEnded = undefined;
    if (reason !== "resigned" && reason !== "stopped") this.log.warn(`Engine leadership lost: ${reason}`, { epoch: term.epoch });
    this.notify(undefined);
    // The lease may outlive the key (deleted by hand, or a newer leader): do not leak it.
    if (revoke) void this.revokeQuietly(term.leaseId);
  }

  /**
   * One renewal of the term's lease: the time it was renewed, false when it failed (try again
   * sooner), undefined when the term ended (the lease expired, or could not be renewed for a TTL).
   */
  private async renew(term: Term, renewedAt: number): Promise<number | false | undefined> {
    if (this.term !== term) return undefined;
    const attempt = this.clock.now();
    try {
      await this.etcd.leaseKeepAlive(term.leaseId);
      return attempt;
    } catch (e) {
      if (this.term !== term) return undefined;
      if (e instanceof EtcdError && e.kind === "not-found") {
        this.endTerm(term, "the leader lease expired", true);
        return undefined;
      }
      // etcd counts the TTL from its last renewal, which was no earlier than ours.
      const since = this.clock.now() - renewedAt;
      if (since >= term.ttlMs) {
        this.endTerm(term, `cannot renew the leader lease for ${Math.round(since / 1000)}s: ${errorText(e)}`, true);
        return undefined;
      }
      this.log.warn(`Cannot renew the leader lease, retrying: ${errorText(e)}`);
      return false;
    }
  }

  /**
   * Watches the leader key from `cursor.from` (moved on as events arrive, so a new watch after a
   * break resumes there) until the watch ends or breaks (a throw). Ends the term when the key is
   * deleted or recreated by someone else.
   */
  private async watchKey(term: Term, cursor: { from: number }, round: Round): Promise<void> {
    const w = this.etcd.watch(this.opts.key, { startRevision: cursor.from, signal: round.signal });
    this.keyWatch = w;
    try {
      await this.followKey(term, cursor, round, w);
    } finally {
      if (this.keyWatch === w) this.keyWatch = undefined;
    }
  }

  private async followKey(term: Term, cursor: { from: number }, round: Round, w: Watch): Promise<void> {
    for await (const batch of w) {
      if (batch.kind === "events") {
        round.progressed();
        for (const ev of batch.events) {
          if (ev.type === "delete") return this.endTerm(term, "the leader key was deleted", true);
          if (ev.kv.createRevision !== term.epoch) return this.endTerm(term, "the leader key was replaced", true);
          if (ev.kv.lease !== term.leaseId) await this.reclaim(term, this.leaderKey.holderOf(ev.kv));
        }
        cursor.from = batch.revision + 1;
      } else if (batch.kind === "compacted") {
        const r = await this.leaderKey.read();
        if (r.holder?.epoch !== term.epoch) return this.endTerm(term, "the leader key is gone", true);
        cursor.from = r.revision + 1;
      }
    }
  }

  /**
   * Someone overwrote the leader key (same epoch, but no longer on our lease): left so, it would
   * outlive this leader and no candidate could ever win. Writes our record back on our lease.
   */
  private async reclaim(term: Term, holder: LeaderHolder): Promise<void> {
    const what = holder.record.ok ? `a record of ${holder.record.value.machineID}` : `an unreadable record (${holder.record.failure.reason})`;
    this.log.warn(`The leader key was overwritten with ${what}, not on the leader lease; writing it again`, { epoch: term.epoch });
    await this.leaderKey.reclaim(this.fence(term), this.opts.machineId, term.since, term.leaseId);
  }

  /**
   * Returns a random part of campaignSpreadMs after the leader key is deleted, unless a new leader
   * takes it meanwhile (or at once when history was compacted, or it is time to look again). One
   * watch, however long the wait: the watch resumes at the exact revision after any break it
   * notices; refresh() covers the breaks it cannot see, and the recheck (a timer, no request
   * unless etcd's revision moved) a watch that died with no outage to tell of it.
   */
  private async waitForVacancy(from: number, stop: AbortSignal): Promise<void> {
    const ac = new AbortController();
    this.vacancy = ac;
    const onStop = () => ac.abort();
    stop.addEventListener("abort", onStop, { once: true });
    let known = from - 1;
    let timer: unknown;
    const recheck = () => {
      if (this.etcd.observedRevision() > known) ac.abort();
      else timer = this.clock.setTimeout(recheck, jitter(this.opts.recheckMs ?? DEFAULT_RECHECK_MS, this.opts.random ?? Math.random));
    };
    timer = this.clock.setTimeout(recheck, jitter(this.opts.recheckMs ?? DEFAULT_RECHECK_MS, this.opts.random ?? Math.random));
    let vacant: unknown;
    const clearVacant = () => {
      if (vacant !== undefined) this.clock.clearTimeout(vacant);
      vacant = undefined;
    };
    try {
      const w = this.etcd.watch(this.opts.key, { startRevision: from, signal: ac.signal });
      for await (const batch of w) {
        if (batch.kind === "compacted") return;
        if (batch.kind !== "events") continue;
        for (const ev of batch.events) {
          if (ev.type === "delete") {
            const spread = this.opts.campaignSpreadMs ?? DEFAULT_CAMPAIGN_SPREAD_MS;
            if (vacant === undefined) vacant = this.clock.setTimeout(() => ac.abort(), Math.floor(spread * (this.opts.random ?? Math.random)()));
          } else {
            // Another candidate won while this one waited its turn: nothing to send.
            clearVacant();
            this.noteLeader(this.leaderKey.holderOf(ev.kv));
          }
        }
        known = batch.revision;
      }
    } finally {
      clearVacant();
      this.clock.clearTimeout(timer);
      if (this.vacancy === ac) this.vacancy = undefined;
      stop.removeEventListener("abort", onStop);
      ac.abort();
    }
  }

  private noteLeader(holder: LeaderHolder): void {
    // Not ours to repair (the key is bound to the leader's lease): name what it holds.
    const id = holder.record.ok ? holder.record.value.machineID : `an unreadable record (${holder.record.failure.reason})`;
    if (id === this.knownLeader) return;
    const from = this.knownLeader;
    this.knownLeader = id;
    const mine = id === this.opts.machineId ? " (this machine, an earlier term or run: waiting for its lease to expire)" : "";
    if (from === undefined || from === this.opts.machineId) this.log.info(`Engine leader is ${id}${mine}`);
    else this.log.info(`Engine leadership changed from ${from} to ${id}${mine}`);
  }

  private notify(term: Term | undefined): void {
    for (const cb of [...this.listeners]) {
      try {
        cb(term);
      } catch (e) {
        this.log.error(`A leadership listener failed: ${errorText(e)}`);
      }
    }
  }

  private async revokeQuietly(leaseId: string): Promise<void> {
    try {
      await this.leaderKey.resign(leaseId);
      this.abandoned.delete(leaseId);
    } catch (e) {
      this.abandoned.add(leaseId);
      this.log.debug(`Cannot revoke lease ${leaseId}; it will expire: ${errorText(e)}`);
    }
  }
}

