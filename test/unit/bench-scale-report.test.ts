// The scale benchmark's arithmetic: etcd metrics parsed and diffed by kind, phase figures from
// two snapshots, results merged by label and size, the generated section of scale.md.
import { describe, expect, test } from "bun:test";
import { countersOf, diffCounters, parseMetrics, sumOf } from "../../bench/scale/etcd-metrics.ts";
import type { EngineStats, WorkerStats } from "../../bench/scale/ipc.ts";
import { renderTable, spliceSection, TABLE_BEGIN, TABLE_END } from "../../bench/scale/report.ts";
import { mergeResults, phaseFigures, type SizeResult, type Snapshot } from "../../bench/scale/results.ts";

const TEXT = `# HELP grpc_server_started_total Total number of RPCs started on the server.
# TYPE grpc_server_started_total counter
grpc_server_started_total{grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 12
grpc_server_started_total{grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"} 5
grpc_server_started_total{grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"} 3
grpc_server_msg_received_total{grpc_method="LeaseKeepAlive",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"} 40
grpc_server_msg_sent_total{grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"} 9
etcd_debugging_mvcc_events_total 30
etcd_mvcc_put_total 7
process_cpu_seconds_total 1.5
process_resident_memory_bytes 1.048576e+08
`;

describe("etcd metrics", () => {
  test("parses samples and sums them by name and labels", () => {
    const s = parseMetrics(TEXT);
    expect(s.size).toBe(9);
    expect(sumOf(s, "grpc_server_started_total")).toBe(20);
    expect(sumOf(s, "grpc_server_started_total", { grpc_method: "Txn" })).toBe(5);
    expect(sumOf(s, "grpc_server_started_total", { grpc_method: "Put" })).toBe(0);
  });

  test("reduces to counters by kind and diffs them, keeping gauges as they are after", () => {
    const a = countersOf(parseMetrics(TEXT));
    expect(a).toMatchObject({ range: 12, txn: 5, watchStreams: 3, keepalives: 40, watchEvents: 30, watchResponses: 9, keysPut: 7, cpuSeconds: 1.5, rssBytes: 2 ** 20 * 100 });
    const b = { ...a, range: 20, keepalives: 100, rssBytes: 5 };
    expect(diffCounters(a, b)).toMatchObject({ range: 8, txn: 0, keepalives: 60, rssBytes: 5 });
  });
});

function engine(over: Partial<EngineStats> = {}): EngineStats {
  return {
    process: { cpuSeconds: 0, rssBytes: 0, peakRssBytes: 0, at: 0 }, leader: true, schedulePuts: 0, scheduleDeletes: 0,
    lastScheduleWriteAt: 0, txns: 0, reconciles: 0, reconcileSeconds: 0, loopMaxStallMs: 0, loopStalledSeconds: 0, ...over,
  };
}

function worker(over: Partial<WorkerStats> = {}): WorkerStats {
  return {
    process: { cpuSeconds: 0, rssBytes: 0, peakRssBytes: 0, at: 0 }, agents: 500, registered: 500, ownEvents: 0, foreignEvents: 0,
    agentsWithForeignEvents: 0, reconciles: 0, actions: 0, publishTxns: 0, publishOps: 0, calls: {}, loopMaxStallMs: 0, ...over,
  };
}

describe("phaseFigures", () => {
  test("turns two snapshots into rates, shares of a core and counts", () => {
    const etcd0 = countersOf(parseMetrics(TEXT));
    const a: Snapshot = { at: 0, etcd: etcd0, engine: engine(), workers: [worker(), worker()], observerEvents: 4 };
    const b: Snapshot = {
      at: 10_000,
      etcd: { ...etcd0, range: 32, keepalives: 1040, watchEvents: 130, cpuSeconds: 3.5 },
      engine: engine({ process: { cpuSeconds: 2, rssBytes: 0, peakRssBytes: 200 * 2 ** 20, at: 0 }, reconciles: 3 }),
      workers: [worker({ process: { cpuSeconds: 0.5, rssBytes: 0, peakRssBytes: 0, at: 0 }, foreignEvents: 1 }), worker({ process: { cpuSeconds: 0.5, rssBytes: 0, peakRssBytes: 0, at: 0 } })],
      observerEvents: 24,
    };
    const f = phaseFigures(a, b);
    expect(f.seconds).toBe(10);
    expect(f.etcd).toMatchObject({ reads: 2, keepalives: 100, watchEvents: 8, cpuPercent: 20 });
    expect(f.engine).toMatchObject({ cpuSeconds: 2, cpuPercent: 20, peakRssMB: 200, reconciles: 3 });
    // 1 CPU second over 10 s shared by 1000 machines: 0.01 % of a core each.
    expect(f.agents).toMatchObject({ machines: 1000, cpuSeconds: 1, cpuPercentPerMachine: 0.01, foreignEvents: 1 });
  });
});

function result(label: string, machines: number, over: Partial<SizeResult> = {}): SizeResult {
  return {
    label, size: { machines, units: machines * 10 }, date: "2026-01-01T00:00:00.000Z", commit: "abc",
    host: { cpus: 2, model: "cpu", memoryGB: 4, loadAverageStart: 1, loadAverageEnd: 2, bun: "1", etcd: "3.4" },
    config: { workers: 2, idleSeconds: 300, killed: machines / 10, agentTtlSeconds: 30, submitInFlight: 64 },
    instances: machines * 10, phases: {}, ...over,
  };
}

describe("results", () => {
  test("a run replaces the earlier one of its label and size; default runs first, by size", () => {
    const old = [result("default", 1000), result("other", 100), result("default", 100)];
    const merged = mergeResults(old, result("default", 1000, { commit: "new" }));
    expect(merged.map((r) => `${r.label}:${r.size.machines}:${r.commit}`)).toEqual(["default:100:abc", "default:1000:new", "other:100:abc"]);
  });

  test("the table has a column per run and says where a run stopped", () => {
    const table = renderTable([result("default", 100), result("no-brake", 1000, { failure: "submit: only 5 of 10 instances active" })]);
    const lines = table.split("\n");
    expect(lines[0]).toBe("| machines × units | target | 100 × 1,000 | 1,000 × 10,000 (no-brake) |");
    expect(lines.at(-1)).toBe("| result |  | complete | stopped: submit: only 5 of 10 instances active |");
    expect(table).toContain("| first PUT → every instance active (s) | ≤ 60 | — | — |");
  });

  test("the generated section is replaced in place, and text around it is kept", () => {
    const doc = `# Title\n\nintro\n\n${TABLE_BEGIN}\nold\n${TABLE_END}\n\n## Analysis\ntext\n`;
    expect(spliceSection(doc, `${TABLE_BEGIN}\nnew\n${TABLE_END}`)).toBe(`# Title\n\nintro\n\n${TABLE_BEGIN}\nnew\n${TABLE_END}\n\n## Analysis\ntext\n`);
    expect(spliceSection("# Title\n", "S")).toBe("# Title\n\nS\n");
  });
});
