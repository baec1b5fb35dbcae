// Messages between the scale benchmark's orchestrator and its child processes (Bun IPC).
import type { ProcessStats } from "./process-stats.ts";
import type { HollowMachineSpec } from "./scenario.ts";

export interface EngineProcessConfig {
  endpoint: string;
  prefix: string;
  agentTtlMs: number;
  reconcileIntervalMs: number;
  /** Engine eviction brake overrides (undefined: the engine's defaults). */
  evictionsPerSecond?: number;
  evictionBurst?: number;
  evictionSettleMs?: number;
}

export interface EngineStats {
  process: ProcessStats;
  leader: boolean;
  /** Schedule entries written (puts under schedule/) and removed, with the time of the last. */
  schedulePuts: number;
  scheduleDeletes: number;
  lastScheduleWriteAt: number;
  /** Transactions the engine sent. */
  txns: number;
  reconciles: number;
  reconcileSeconds: number;
  /** Longest event-loop stall since the last peak reset, and the stalls' total since start. */
  loopMaxStallMs: number;
  loopStalledSeconds: number;
}

export type EngineRequest = { type: "stats"; resetPeak?: boolean } | { type: "stop" };
export type EngineReply =
  | { type: "ready"; api: string; token: string }
  | { type: "stats"; stats: EngineStats }
  | { type: "stopped" }
  | { type: "error"; message: string };

export interface WorkerConfig {
  endpoint: string;
  prefix: string;
  agentTtlMs: number;
  stateRoot: string;
  machines: HollowMachineSpec[];
  /** Registrations are spread over this long, so keepalives are not all in step. */
  rampMs: number;
  /** engine_reconcile_interval of the machines' engine candidates (their leader lease is 5 x this). */
  reconcileIntervalMs: number;
}

export interface WorkerStats {
  process: ProcessStats;
  agents: number;
  registered: number;
  /** Watch events delivered to the agents' watches inside their own schedule prefix. */
  ownEvents: number;
  /** Watch events delivered to an agent for keys outside its own schedule prefix (target 0). */
  foreignEvents: number;
  agentsWithForeignEvents: number;
  reconciles: number;
  actions: number;
  publishTxns: number;
  publishOps: number;
  /** Agent-side etcd requests by call. */
  calls: Record<string, number>;
  /** Longest event-loop stall since the last peak reset (ms). */
  loopMaxStallMs: number;
}

export type WorkerRequest =
  | { type: "start"; config: WorkerConfig }
  | { type: "stats"; resetPeak?: boolean }
  | { type: "kill"; ids: string[] }
  | { type: "stop" };
export type WorkerReply =
  | { type: "started"; registered: number }
  | { type: "stats"; stats: WorkerStats }
  | { type: "killed"; count: number }
  | { type: "stopped" }
  | { type: "error"; message: string };
