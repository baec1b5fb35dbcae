import { describe, expect, test } from "bun:test";
import { createFleetMetrics } from "../../src/metrics/fleet.ts";
import { Counter, Gauge, Histogram, MetricsRegistry } from "../../src/metrics/metrics.ts";

/** The value of one sample line `name{labels} value` in an exposition. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("exposition format", () => {
  test("HELP and TYPE, label escaping, sorted series", () => {
    const r = new MetricsRegistry();
    const c = r.register(new Counter({ name: "x_total", help: "Things\\counted\nhere.", labelNames: ["kind"] }));
    c.inc({ kind: 'b"q\\\n' });
    c.inc({ kind: "a" }, 2);
    expect(r.expose()).toBe(
      "# HELP x_total Things\\\\counted\\nhere.\n# TYPE x_total counter\n" +
        'x_total{kind="a"} 2\n' +
        'x_total{kind="b\\"q\\\\\\n"} 1\n',
    );
  });

  test("a metric without labels shows 0 before its first use; a labelled one only its header", () => {
    const r = new MetricsRegistry();
    r.register(new Counter({ name: "plain_total", help: "h" }));
    r.register(new Counter({ name: "labelled_total", help: "h", labelNames: ["type"] }));
    expect(r.expose()).toBe("# HELP labelled_total h\n# TYPE labelled_total counter\n# HELP plain_total h\n# TYPE plain_total counter\nplain_total 0\n");
  });

  test("histograms: cumulative buckets, +Inf, sum and count", () => {
    const r = new MetricsRegistry();
    const h = r.register(new Histogram({ name: "d_second", help: "h", buckets: [0.1, 1], labelNames: ["ops"] }));
    h.observe({ ops: "get" }, 0.05);
    h.observe({ ops: "get" }, 0.5);
    h.observe({ ops: "get" }, 5);
    const text = r.expose();
    expect(sample(text, 'd_second_bucket{ops="get",le="0.1"}')).toBe(1);
    expect(sample(text, 'd_second_bucket{ops="get",le="1"}')).toBe(2);
    expect(sample(text, 'd_second_bucket{ops="get",le="+Inf"}')).toBe(3);
    expect(sample(text, 'd_second_sum{ops="get"}')).toBe(5.55);
    expect(sample(text, 'd_second_count{ops="get"}')).toBe(3);
  });

  test("misuse is an error: duplicate names, unknown or missing labels, negative counts", () => {
    const r = new MetricsRegistry();
    const c = r.register(new Counter({ name: "a_total", help: "h", labelNames: ["type"] }));
    expect(() => r.register(new Counter({ name: "a_total", help: "h" }))).toThrow(/already registered/);
    expect(() => c.inc({} as { type: string })).toThrow(/needs label type/);
    expect(() => c.inc({ type: "x", other: "y" } as { type: string })).toThrow(/has no label other/);
    expect(() => c.inc({ type: "x" }, -1)).toThrow();
    expect(() => new Gauge({ name: "bad name", help: "h" })).toThrow(/Invalid metric name/);
  });
});

describe("fleet metrics", () => {
  const names = [
    "fleet_engine_leader_start_time",
    "fleet_engine_task_count_total",
    "fleet_engine_task_failure_count_total",
    "fleet_engine_reconcile_count_total",
    "fleet_engine_reconcile_failure_count_total",
    "fleet_engine_reconcile_duration_second",
    "fleet_registry_operation_count_total",
    "fleet_registry_operation_duration_second",
    "fleet_registry_operation_failed_count_total",
    "fleet_api_request_count_total",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_start_time_seconds",
  ];

  test("every documented metric is exported (Q20: including the registry and duration ones)", () => {
    const text = createFleetMetrics().registry.expose();
    for (const n of names) expect(text).toContain(`# TYPE ${n} `);
    expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(0);
    const start = sample(text, "process_start_time_seconds") as number;
    expect(start).toBeLessThanOrEqual(Date.now() / 1000);
    expect(start).toBeGreaterThan(Date.now() / 1000 - 3600);
  });

  test("one increment shows as exactly one in the exposition", () => {
    const m = createFleetMetrics();
    m.engineTaskCount.inc({ type: "schedule" });
    m.engineTaskFailureCount.inc({ type: "unschedule" });
    m.engineReconcileCount.inc();
    m.engineReconcileFailureCount.inc({ type: "machine_away" });
    m.engineReconcileDuration.observe(undefined, 0.2);
    m.registryOperationCount.inc({ type: "get" });
    m.registryOperationDuration.observe({ ops: "get" }, 0.001);
    m.registryOperationFailedCount.inc({ type: "txn" });
    m.apiRequestCount.inc({ method: "GET", code: "200" });
    const text = m.registry.expose();
    expect(sample(text, 'fleet_engine_task_count_total{type="schedule"}')).toBe(1);
    expect(sample(text, 'fleet_engine_task_failure_count_total{type="unschedule"}')).toBe(1);
    expect(sample(text, "fleet_engine_reconcile_count_total")).toBe(1);
    expect(sample(text, 'fleet_engine_reconcile_failure_count_total{type="machine_away"}')).toBe(1);
    expect(sample(text, "fleet_engine_reconcile_duration_second_count")).toBe(1);
    expect(sample(text, 'fleet_registry_operation_count_total{type="get"}')).toBe(1);
    expect(sample(text, 'fleet_registry_operation_duration_second_count{ops="get"}')).toBe(1);
    expect(sample(text, 'fleet_registry_operation_failed_count_total{type="txn"}')).toBe(1);
    expect(sample(text, 'fleet_api_request_count_total{method="GET",code="200"}')).toBe(1);
  });

  test("the leader gauge is set, not accumulated (Q20)", () => {
    const m = createFleetMetrics();
    m.engineLeaderStartTime.set(undefined, 1000);
    m.engineLeaderStartTime.set(undefined, 2000);
    expect(sample(m.registry.expose(), "fleet_engine_leader_start_time")).toBe(2000);
  });

  test("each exposition lists every metric once", () => {
    const text = createFleetMetrics().registry.expose();
    const types = text.split("\n").filter((l) => l.startsWith("# TYPE "));
    expect(new Set(types).size).toBe(types.length);
  });
});
