// fleet's metrics (compatibility.md §8.13), every documented one registered and exported.
// The original's quirks (Q20) are fixed by how callers use these: the leader gauge is SET to
// the time leadership was won, and the reconcile counter is increased once per round.
import { Counter, Gauge, Histogram, MetricsRegistry } from "./metrics.ts";
import { registerProcessMetrics } from "./process.ts";

export interface FleetMetrics {
  readonly registry: MetricsRegistry;
  /** Unix time (seconds) at which this daemon last became the engine leader: `set`, never `inc`. */
  readonly engineLeaderStartTime: Gauge;
  /** Engine tasks executed, by type (e.g. `schedule`, `unschedule`). */
  readonly engineTaskCount: Counter<"type">;
  readonly engineTaskFailureCount: Counter<"type">;
  /** Reconcile rounds: increase once per round. */
  readonly engineReconcileCount: Counter;
  /** Units that could not be placed in a round, by reason (e.g. `machine_away`, `constraints`). */
  readonly engineReconcileFailureCount: Counter<"type">;
  readonly engineReconcileDuration: Histogram;
  /** Rollouts this daemon's engine ended while it led, by outcome (the rollout's end state). */
  readonly engineRolloutCount: Counter<"outcome">;
  /** Registry operations, by type (e.g. `get`, `set`, `get_all`, `txn`). */
  readonly registryOperationCount: Counter<"type">;
  readonly registryOperationDuration: Histogram<"ops">;
  readonly registryOperationFailedCount: Counter<"type">;
  /** API responses, by HTTP method and status code. */
  readonly apiRequestCount: Counter<"method" | "code">;
  /** Stored records refused by their decoder, once per key and revision, by key family. */
  readonly registryInvalidRecords: Counter<"kind">;
}

/** Creates fleet's metrics in `registry` (a fresh one by default), with the process metrics. */
export function createFleetMetrics(registry = new MetricsRegistry()): FleetMetrics {
  registerProcessMetrics(registry);
  const r = <M extends Parameters<MetricsRegistry["register"]>[0]>(m: M) => registry.register(m);
  return {
    registry,
    engineLeaderStartTime: r(new Gauge({
      name: "fleet_engine_leader_start_time",
      help: "Unix time at which this fleet daemon last became the engine leader.",
    })),
    engineTaskCount: r(new Counter({
      name: "fleet_engine_task_count_total",
      help: "Engine tasks executed, by type.",
      labelNames: ["type"],
    })),
    engineTaskFailureCount: r(new Counter({
      name: "fleet_engine_task_failure_count_total",
      help: "Engine tasks that failed, by type.",
      labelNames: ["type"],
    })),
    engineReconcileCount: r(new Counter({
      name: "fleet_engine_reconcile_count_total",
      help: "Engine reconcile rounds.",
    })),
    engineReconcileFailureCount: r(new Counter({
      name: "fleet_engine_reconcile_failure_count_total",
      help: "Units the engine could not place in a reconcile round, by reason.",
      labelNames: ["type"],
    })),
    engineReconcileDuration: r(new Histogram({
      name: "fleet_engine_reconcile_duration_second",
      help: "Duration of engine reconcile rounds in seconds.",
    })),
    engineRolloutCount: r(new Counter({
      name: "fleet_engine_rollouts_total",
      help: "Rolling updates this daemon's engine ended while leading, by outcome (succeeded, failed, reverted, aborted).",
      labelNames: ["outcome"],
    })),
    registryOperationCount: r(new Counter({
      name: "fleet_registry_operation_count_total",
      help: "Registry (etcd) operations, by type.",
      labelNames: ["type"],
    })),
    registryOperationDuration: r(new Histogram({
      name: "fleet_registry_operation_duration_second",
      help: "Duration of registry (etcd) operations in seconds, by operation.",
      labelNames: ["ops"],
    })),
    registryOperationFailedCount: r(new Counter({
      name: "fleet_registry_operation_failed_count_total",
      help: "Registry (etcd) operations that failed, by type.",
      labelNames: ["type"],
    })),
    apiRequestCount: r(new Counter({
      name: "fleet_api_request_count_total",
      help: "HTTP API requests answered, by method and status code.",
      labelNames: ["method", "code"],
    })),
    registryInvalidRecords: r(new Counter({
      name: "fleet_registry_invalid_records_total",
      help: "Records in etcd that were skipped because they could not be read, once per key and revision, by key family.",
      labelNames: ["kind"],
    })),
  };
}

/** The daemon's metrics: the engine, agent, registry and API all count into these. */
export const fleetMetrics: FleetMetrics = createFleetMetrics();
