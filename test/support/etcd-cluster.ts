// A real etcd cluster for tests: several members, each an etcd-server.ts LocalEtcd (free ports,
// its own data dir and log), that can be stopped, killed and started again one by one. It finds
// the raft leader from the members' own status (`leader` and `header.member_id` of
// /v3/maintenance/status), hands leadership over, and waits for a quorum to have, or to have lost,
// a leader.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EtcdServer, LocalEtcd, startOnFreePorts } from "./etcd-server.ts";
import { until } from "./until.ts";

export interface StartEtcdClusterOptions {
  /** How many members (default 3). */
  members?: number;
  /** Addresses every member serves clients on, each member on its own port (default `["127.0.0.1"]`). */
  listenHosts?: string[];
  /** How long starting waits for a member to answer (default 30 s). */
  startTimeoutMs?: number;
}

/** What one member says about itself and the cluster. */
export interface MemberStatus {
  memberId: string;
  /** The raft leader's member id, or undefined while the member knows of none. */
  leader: string | undefined;
  raftTerm: number;
}

const STATUS_TIMEOUT_MS = 1000;
const DEFAULT_WAIT_MS = 30_000;

/** `await using cluster = await startEtcdCluster()` kills every member and removes its files. */
export async function startEtcdCluster(opts: StartEtcdClusterOptions = {}): Promise<EtcdCluster> {
  const size = opts.members ?? 3;
  const hosts = opts.listenHosts ?? ["127.0.0.1"];
  const baseDir = mkdtempSync(join(tmpdir(), "fleet-etcd-cluster-"));
  try {
    const members = await startOnFreePorts(size, (ports) => {
      const names = ports.map((_, i) => `etcd${i + 1}`);
      const initialCluster = ports.map((p, i) => `${names[i]}=http://127.0.0.1:${p.peerPort}`).join(",");
      return ports.map((p, i) => {
        const dir = join(baseDir, names[i]!);
        mkdirSync(dir, { recursive: true });
        return new LocalEtcd(dir, { startTimeoutMs: opts.startTimeoutMs ?? DEFAULT_WAIT_MS }, hosts, undefined, p, { name: names[i]!, initialCluster });
      });
    });
    const cluster = new EtcdCluster(baseDir, members);
    await cluster.waitForLeader();
    return cluster;
  } catch (e) {
    rmSync(baseDir, { recursive: true, force: true });
    throw e;
  }
}

export class EtcdCluster implements AsyncDisposable {
  private readonly ids = new Map<EtcdServer, string>();

  constructor(
    private readonly baseDir: string,
    readonly members: readonly LocalEtcd[],
  ) {}

  /** One client URL per member, on the first listen host, in member order. */
  get endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  /** One client URL per member on `host` (one of the listen hosts), in member order. */
  endpointsOn(host: string): string[] {
    return this.members.map((m) => `http://${host}:${m.clientPort}`);
  }

  /** Every member runs. */
  get running(): boolean {
    return this.members.every((m) => m.running);
  }

  /** Starts the members that are not running, together, and waits for a leader. */
  async start(): Promise<void> {
    await Promise.all(this.members.filter((m) => !m.running).map((m) => m.start()));
    await this.waitForLeader();
  }

  /** Stops every member gracefully. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()));
  }

  /** The member's view, or undefined when it does not answer within a second. */
  async status(member: EtcdServer): Promise<MemberStatus | undefined> {
    if (!member.running) return undefined;
    try {
      const res = await fetch(`${member.endpoint}/v3/maintenance/status`, {
        method: "POST", body: "{}", signal: AbortSignal.timeout(STATUS_TIMEOUT_MS),
      });
      if (!res.ok) return undefined;
      const b = (await res.json()) as { header?: { member_id?: string }; leader?: string; raftTerm?: string };
      const memberId = b.header?.member_id ?? "";
      if (memberId) this.ids.set(member, memberId);
      // Fields at their default are omitted: no `leader` is leader 0, none.
      const leader = b.leader && b.leader !== "0" ? b.leader : undefined;
      return { memberId, leader, raftTerm: Number(b.raftTerm ?? 0) };
    } catch {
      return undefined;
    }
  }

  /**
   * The raft leader: the member that names itself leader and whom every other answering member
   * names too. Undefined during an election or without a quorum.
   */
  async leader(): Promise<LocalEtcd | undefined> {
    const views = await Promise.all(this.members.map(async (m) => ({ m, s: await this.status(m) })));
    const answering = views.filter((v) => v.s !== undefined);
    const self = answering.find((v) => v.s!.leader !== undefined && v.s!.leader === v.s!.memberId);
    if (!self || !answering.every((v) => v.s!.leader === self.s!.memberId)) return undefined;
    return self.m;
  }

  /** Waits until a leader is agreed on (see leader()). */
  async waitForLeader(timeoutMs = DEFAULT_WAIT_MS): Promise<LocalEtcd> {
    return this.until(`a raft leader among ${this.describe()}`, () => this.leader(), timeoutMs);
  }

  /**
   * Waits until every running member answers and knows of no leader: the cluster has lost its
   * quorum and noticed (a follower gives up on a dead leader after an election timeout).
   */
  async waitForNoLeader(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await this.until(`every running member of ${this.describe()} to be without a leader`, async () => {
      const live = this.members.filter((m) => m.running);
      const views = await Promise.all(live.map((m) => this.status(m)));
      return live.length > 0 && views.every((s) => s !== undefined && s.leader === undefined);
    }, timeoutMs);
  }

  /**
   * How many calls of a gRPC method (e.g. "LeaseKeepAlive") the member has begun serving since it
   * started, from its /metrics; undefined when it does not answer. Shows which member clients use.
   */
  async callsServed(member: EtcdServer, method: string): Promise<number | undefined> {
    if (!member.running) return undefined;
    try {
      const res = await fetch(`${member.endpoint}/metrics`, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) });
      if (!res.ok) return undefined;
      let n = 0;
      for (const line of (await res.text()).split("\n")) {
        if (line.startsWith("grpc_server_started_total{") && line.includes(`grpc_method="${method}"`)) n += Number(line.split(" ").pop());
      }
      return n;
    } catch {
      return undefined;
    }
  }

  /** Makes `target` the leader (etcd's move-leader, asked of the current leader). */
  async transferLeadership(target: LocalEtcd): Promise<void> {
    const current = await this.waitForLeader();
    if (current === target) return;
    const targetId = this.ids.get(target) ?? (await this.status(target))?.memberId;
    if (!targetId) throw new Error(`Cannot hand leadership to ${target.identity.name}: it does not answer`);
    await current.admin("/v3/maintenance/transfer-leadership", { targetID: targetId });
    await this.until(`${target.identity.name} to lead`, async () => (await this.leader()) === target, DEFAULT_WAIT_MS);
  }

  /** The member's name (m0, m1, ...), for messages. */
  nameOf(member: EtcdServer): string {
    const m = this.members.find((x) => x === member);
    return m ? m.identity.name : member.endpoint;
  }

  /** The last lines of every member's log, each under its name. */
  logTail(lines = 20): string {
    return this.members.map((m) => `--- etcd ${m.identity.name} (${m.running ? "running" : "down"})\n${m.logTail(lines)}`).join("\n");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await Promise.all(this.members.map((m) => m[Symbol.asyncDispose]()));
    } finally {
      rmSync(this.baseDir, { recursive: true, force: true });
    }
  }

  private describe(): string {
    return this.members.map((m) => `${m.identity.name}${m.running ? "" : " (down)"}`).join(", ");
  }

  private until<T>(what: string, cond: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
    return until(() => `${what}:\n${this.logTail(10)}`, cond, { timeoutMs, intervalMs: 100, retryErrors: true }) as Promise<T>;
  }
}
