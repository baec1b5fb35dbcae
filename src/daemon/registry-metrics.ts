// Counts the daemon's etcd operations into fleet's registry metrics (compatibility.md §8.13,
// Q20): one count and one duration per logical operation, labelled with the client's fixed
// operation type, so the label set stays small.
import type { FleetMetrics } from "../metrics/fleet.ts";
import type { EtcdOperation } from "../registry/etcd/index.ts";

export function registryMetricsObserver(metrics: FleetMetrics): (op: EtcdOperation) => void {
  return (op) => {
    metrics.registryOperationCount.inc({ type: op.type });
    metrics.registryOperationDuration.observe({ ops: op.type }, op.durationMs / 1000);
    if (!op.ok) metrics.registryOperationFailedCount.inc({ type: op.type });
  };
}
