// This machine's presence in etcd: one lease (TTL agent_ttl) kept alive every TTL/3, with
// `machines/<id>` bound to it (architecture.md §3, §5). The lease id is kept in <state_dir>/lease
// so a restarted daemon resumes the same lease while it is alive: nothing moves, nothing restarts.
// Registration never takes the key from another live lease: that is a second daemon with the
// same machine id, and this one waits (its API answering 503) until the other goes away.
import { join } from "node:path";
import type { Logger } from "../log/logger.ts";
import type { Backoff } from "../lib/backoff.ts";
import { systemClock, type Clock } from "../lib/clock.ts";
import { Worker } from "../lib/worker.ts";
import { EtcdError, type EtcdClient } from "../registry/etcd/index.ts";
import type { KeySpace } from "../registry/keys.ts";
import { MachineKey, type EncodedMachine, type MachineHolder } from "../registry/machine-key.ts";
import type { MachineRecord } from "../registry/models.ts";
import { isRecord, readJsonFile, removeFile, writeJsonFile } from "./state-file.ts";
import { errorText } from "../lib/error-text.ts";

export type PresenceEtcd = Pick<EtcdClient, "txn" | "leaseGrant" | "leaseKeepAlive" | "leaseRevoke" | "leaseTimeToLive">;

export interface PresenceOptions {
  etcd: PresenceEtcd;
  keys: KeySpace;
  /** The record to publish; called on every registration, so it may change (e.g. the IP). */
  machine: () => MachineRecord;
  ttlMs: number;
  /** Where the lease file lives (config state_dir). */
  stateDir: string;
  log: Logger;
  /** Registration back-off; defaults to 1 s doubling, capped at the TTL (at least 2 s, at most 60 s). */
  retry?: Backoff;
  random?: () => number;
  clock?: Clock;
}

export type PresenceState = "starting" | "registered" | "duplicate" | "unreachable" | "stopped";

export interface PresenceStatus {
  state: PresenceState;
  /** The lease in use (decimal), once registered. */
  lease?: string;
  /** Why this daemon is not registered, for logs and the state dump. */
  reason?: string;
}

export interface Registration {
  lease: string;
  /** The lease was resumed from the lease file (a daemon restart). */
  resumed: boolean;
  /**
   * Keys already bound to a resumed lease (states this machine published before the restart).
   * Empty for a new lease: whatever was published under the old one is gone or going.
   */
  leaseKeys: string[];
}

/** What the lease file holds. */
interface SavedLease {
  lease: string;
  machineId: string;
  prefix: string;
  ttl: number;
}

type Attempt =
  | { kind: "registered"; registration: Registration }
  | { kind: "duplicate"; reason: string }
  | { kind: "retry"; reason: string };

/** A registration attempt that did not register: the worker retries it after its back-off. */
class NotRegistered extends Error {
  constructor(readonly attempt: Exclude<Attempt, { kind: "registered" }>) {
    super(attempt.reason);
  }
}

/** A lease id as etcdctl shows it. */
export function leaseHex(lease: string): string {
  try {
    return BigInt(lease).toString(16);
  } catch {
    return lease;
  }
}

export class Presence {
  private readonly ttlSeconds: number;
  private readonly file: string;
  private readonly clock: Clock;
  private lease: string | undefined;
  private current: PresenceStatus = { state: "starting" };
  /** Registers (with back-off), then renews the lease every TTL/3 until it is lost, and again. */
  private readonly worker: Worker;
  /** The lease being renewed; undefined while registering. */
  private kept: Registration | undefined;
  /** The last renewal failed: the next comes sooner, and its success is told about. */
  private failing = false;
  private started = false;
  private stopped = false;
  private lastRenewal = 0;
  /** The record as last written to etcd, to notice a change made while registering. */
  private written: EncodedMachine | undefined;
  private readonly machineKey: MachineKey;
  private readonly registeredListeners = new Set<(r: Registration) => void | Promise<void>>();
  private readonly lostListeners = new Set<(lease: string) => void>();
  private readonly reconnectedListeners = new Set<() => void>();

  constructor(private readonly opts: PresenceOptions) {
    // etcd leases count whole seconds.
    this.ttlSeconds = Math.max(1, Math.ceil(opts.ttlMs / 1000));
    this.file = join(opts.stateDir, "lease");
    this.machineKey = new MachineKey(opts.etcd, opts.keys);
    this.clock = opts.clock ?? systemClock;
    this.worker = new Worker({
      clock: this.clock,
      random: opts.random,
      retry: opts.retry ?? { baseMs: 1000, capMs: Math.min(60_000, Math.max(2000, opts.ttlMs)) },
      run: () => (this.kept ? this.renew(this.kept) : this.registerOnce()),
      onError: (e, delay) => this.notRegistered(e, delay),
    });
  }

  get status(): PresenceStatus {
    return { ...this.current };
  }

  /**
   * Registered, and the lease was renewed within one TTL. After that long without reaching etcd
   * the lease has probably expired and the engine may have moved our units: the API says 503.
   */
  get ready(): boolean {
    return this.current.state === "registered" && this.clock.now() - this.lastRenewal < this.opts.ttlMs;
  }

  /** Called after each registration (the first one, and again after the lease was lost). */
  onRegistered(cb: (r: Registration) => void | Promise<void>): () => void {
    this.registeredListeners.add(cb);
    return () => this.registeredListeners.delete(cb);
  }

  /** Called when etcd says the lease expired; registration starts again right after. */
  onLost(cb: (lease: string) => void): () => void {
    this.lostListeners.add(cb);
    return () => this.lostListeners.delete(cb);
  }

  /**
   * Called when a renewal gets through after renewals failed (etcd was out of reach, and the
   * lease outlived it): watches may be stuck on connections that died meanwhile. (A lease that
   * did not outlive it ends in onLost, then onRegistered.)
   */
  onReconnected(cb: () => void): () => void {
    this.reconnectedListeners.add(cb);
    return () => this.reconnectedListeners.delete(cb);
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.worker.kick(0);
  }

  /** Stops registering and renewing; the lease stays alive until its TTL runs out. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.worker.stop();
    this.current = this.lease ? { state: "stopped", lease: this.lease } : { state: "stopped" };
  }

  /** Stops and revokes the lease: the machine and its unit states leave etcd at once. */
  async revoke(): Promise<void> {
    await this.stop();
    const lease = this.lease;
    if (!lease) return;
    await this.opts.etcd.leaseRevoke(lease);
    this.lease = undefined;
    removeFile(this.file);
    this.opts.log.info(`Revoked lease ${leaseHex(lease)} of machine ${this.machineId()}`);
  }

  /**
   * Re-puts the machine record (it changed: metadata, public IP) under the lease in use. False
   * when not registered, or when the key is no longer this lease's: the next registration
   * writes the current record anyway.
   */
  async republish(): Promise<boolean> {
    const lease = this.current.state === "registered" ? this.current.lease : undefined;
    if (!lease) return false;
    const m = this.machineKey.encode(this.opts.machine());
    const done = await this.machineKey.republish(m, lease);
    if (done) this.written = m;
    return done;
  }

  private machineId(): string {
    return this.opts.machine().id;
  }

  /** One registration attempt; registered, the lease is renewed from the next round on. */
  private async registerOnce(): Promise<number | undefined> {
    let attempt: Attempt;
    try {
      attempt = await this.register();
    } catch (e) {
      attempt = { kind: "retry", reason: errorText(e) };
    }
    if (this.stopped) return undefined;
    if (attempt.kind !== "registered") throw new NotRegistered(attempt);
    const reg = attempt.registration;
    this.lastRenewal = this.clock.now();
    this.current = { state: "registered", lease: reg.lease };
    this.opts.log.info(
      `Registered machine ${this.machineId()} with ${reg.resumed ? "resumed" : "new"} lease ${leaseHex(reg.lease)} (TTL ${this.ttlSeconds}s)`,
    );
    // The record changed while registration was under way (a reload, a new IP): put it again.
    if (!this.machineKey.same(this.written, this.opts.machine())) {
      await this.republish().catch((e) => this.opts.log.warn(`Cannot update machine ${this.machineId()}: ${errorText(e)}`));
    }
    for (const cb of [...this.registeredListeners]) {
      try {
        await cb(reg);
      } catch (e) {
        this.opts.log.error(`A registration listener failed: ${errorText(e)}`);
      }
    }
    this.kept = reg;
    this.failing = false;
    return this.renewInterval();
  }

  private notRegistered(e: unknown, delay: number): void {
    const attempt = e instanceof NotRegistered ? e.attempt : { kind: "retry" as const, reason: errorText(e) };
    this.current = { state: attempt.kind === "duplicate" ? "duplicate" : "unreachable", reason: attempt.reason };
    if (attempt.kind === "duplicate") this.opts.log.warn(attempt.reason);
    else this.opts.log.warn(`Server register machine failed: ${attempt.reason}, retrying in ${(delay / 1000).toFixed(1)} sec.`);
  }

  private renewInterval(): number {
    return Math.max(100, Math.floor(this.opts.ttlMs / 3));
  }

  /**
   * One renewal; due again in TTL/3, or sooner after a failure (the lease then has at most two
   * intervals left). When etcd says the lease is gone, registration starts again at once.
   */
  private async renew(reg: Registration): Promise<number | undefined> {
    const lease = reg.lease;
    try {
      await this.opts.etcd.leaseKeepAlive(lease);
      this.lastRenewal = this.clock.now();
      const recovered = this.failing;
      this.failing = false;
      if (recovered) {
        this.opts.log.info(`Renewed lease ${leaseHex(lease)} again`);
        for (const cb of [...this.reconnectedListeners]) cb();
      }
      return this.renewInterval();
    } catch (e) {
      if (this.stopped) return undefined;
      if (e instanceof EtcdError && e.kind === "not-found") {
        this.opts.log.warn(`Lease ${leaseHex(lease)} of machine ${this.machineId()} expired; registering again`);
        this.kept = undefined;
        this.lease = undefined;
        this.current = { state: "starting", reason: "lease expired" };
        for (const cb of [...this.lostListeners]) cb(lease);
        return 0;
      }
      if (!this.failing) this.opts.log.warn(`Cannot renew lease ${leaseHex(lease)}, units keep running: ${errorText(e)}`);
      this.failing = true;
      return Math.max(100, Math.floor(this.renewInterval() / 3));
    }
  }

  /** One registration attempt. */
  private async register(): Promise<Attempt> {
    const { etcd, keys } = this.opts;
    const record = this.opts.machine();
    // Checked before any lease is taken: a record no reader would accept is never registered.
    const m = this.machineKey.encode(record);
    const key = m.key;
    const saved = this.readSaved(record.id);
    let lease = this.lease;
    let resumed = false;
    let leaseKeys: string[] = [];
    if (!lease && saved && (await this.renewSaved(saved.lease))) {
      const ttl = await etcd.leaseTimeToLive(saved.lease, { keys: true });
      if (ttl && ttl.grantedTtl === this.ttlSeconds) {
        lease = saved.lease;
        resumed = true;
        leaseKeys = ttl.keys ?? [];
      }
    }
    let granted = false;
    if (!lease) {
      lease = (await etcd.leaseGrant(this.ttlSeconds)).id;
      granted = true;
      // Saved before it is used, so a crash right after still resumes it.
      this.save({ lease, machineId: record.id, prefix: keys.prefix, ttl: this.ttlSeconds });
    }
    this.lease = lease;
    // A lease from the file with another TTL (agent_ttl changed) is still ours to take over
    // from; left alone, it expires with whatever stale states are bound to it.
    const ours = new Set([lease, ...(saved ? [saved.lease] : [])]);
    this.written = m;

    const created = await this.machineKey.create(m, lease);
    if (created.created) return this.done(lease, resumed, leaseKeys);
    const existing = created.holder;
    if (!existing) return { kind: "retry", reason: `${key} vanished while registering` };

    if (ours.has(existing.lease) || existing.lease === "0") {
      if (await this.machineKey.takeOver(m, lease, existing.modRevision)) return this.done(lease, resumed, leaseKeys);
      return { kind: "retry", reason: `${key} changed while registering` };
    }

    const other = await etcd.leaseTimeToLive(existing.lease);
    if (!other) return { kind: "retry", reason: `${key} is bound to an expiring lease` };
    // A second daemon with this machine id: leave it alone, and do not hold a lease meanwhile.
    if (granted) {
      this.lease = undefined;
      removeFile(this.file);
      await etcd.leaseRevoke(lease).catch(() => undefined);
    } else {
      this.lease = undefined;
    }
    return { kind: "duplicate", reason: duplicateReason(record.id, existing) };
  }

  /**
   * Renews a lease from the file before anything else: a restart may have eaten most of its
   * TTL, and the keepalive loop only renews after its first interval. False when it is gone.
   */
  private async renewSaved(lease: string): Promise<boolean> {
    try {
      await this.opts.etcd.leaseKeepAlive(lease);
      return true;
    } catch (e) {
      if (e instanceof EtcdError && e.kind === "not-found") return false;
      throw e;
    }
  }

  private done(lease: string, resumed: boolean, leaseKeys: string[]): Attempt {
    return { kind: "registered", registration: { lease, resumed, leaseKeys } };
  }

  private readSaved(machineId: string): SavedLease | undefined {
    const v = readJsonFile(this.file);
    if (!isRecord(v)) return undefined;
    const { lease, prefix, ttl } = v;
    if (typeof lease !== "string" || !/^[0-9]+$/.test(lease) || lease === "0") return undefined;
    if (v.machineId !== machineId || prefix !== this.opts.keys.prefix || typeof ttl !== "number") return undefined;
    return { lease, machineId, prefix, ttl };
  }

  private save(s: SavedLease): void {
    try {
      writeJsonFile(this.file, s);
    } catch (e) {
      this.opts.log.warn(`Cannot save the lease id to ${this.file}, a restart will not resume it: ${errorText(e)}`);
    }
  }
}

function duplicateReason(machineId: string, existing: MachineHolder): string {
  return `Machine id ${machineId} is already registered by another live daemon (lease ${leaseHex(existing.lease)}, public IP ${existing.publicIP || "-"}); not registering until it goes away`;
}

