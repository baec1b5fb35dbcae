// The event stream's metrics, in the same registry as the API's other metrics (/metrics).
import { Counter, Gauge, type MetricsRegistry } from "../metrics/metrics.ts";

export interface EventStreamMetrics {
  /** Event stream clients connected now. */
  readonly clients: Gauge;
  /** Events written to clients (each client counts its own). */
  readonly sent: Counter;
  /** Clients the daemon ended, by why: `slow` (fell behind), `failed` (etcd), `stopping`. */
  readonly dropped: Counter<"reason">;
}

const byRegistry = new WeakMap<MetricsRegistry, EventStreamMetrics>();

/** The event stream's metrics in `registry`, registered there on first use. */
export function eventStreamMetrics(registry: MetricsRegistry): EventStreamMetrics {
  let m = byRegistry.get(registry);
  if (!m) {
    m = {
      clients: registry.register(new Gauge({
        name: "fleet_api_event_stream_clients", help: "Clients connected to the event stream (GET /fleet/v1/events).",
      })),
      sent: registry.register(new Counter({
        name: "fleet_api_event_stream_events_sent_total", help: "Events written to event stream clients.",
      })),
      dropped: registry.register(new Counter({
        name: "fleet_api_event_stream_clients_dropped_total", help: "Event stream clients the daemon disconnected, by reason.", labelNames: ["reason"],
      })),
    };
    byRegistry.set(registry, m);
  }
  return m;
}
