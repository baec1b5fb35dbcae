// The standard `process_*` metrics, read at scrape time from the runtime and /proc.
import { readdirSync, readFileSync } from "node:fs";
import { Counter, formatNumber, Gauge, type MetricsRegistry } from "./metrics.ts";

const PAGE_SIZE = 4096;

/** A counter whose value is read at scrape time (CPU seconds only ever grow). */
class CollectedCounter extends Counter {
  constructor(name: string, help: string, private readonly read: () => number) {
    super({ name, help });
  }

  override lines(): string[] {
    return [`${this.name} ${formatNumber(this.read())}`];
  }
}

export function registerProcessMetrics(registry: MetricsRegistry): void {
  const startTime = Date.now() / 1000 - process.uptime();
  registry.register(new CollectedCounter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }));
  registry.register(new Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    collect: () => process.memoryUsage().rss,
  }));
  registry.register(new Gauge({
    name: "process_virtual_memory_bytes",
    help: "Virtual memory size in bytes.",
    collect: () => {
      const pages = Number(readProc("/proc/self/statm")?.split(" ")[0]);
      return Number.isFinite(pages) ? pages * PAGE_SIZE : undefined;
    },
  }));
  registry.register(new Gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
    collect: () => startTime,
  }));
  registry.register(new Gauge({
    name: "process_open_fds",
    help: "Number of open file descriptors.",
    collect: () => {
      try {
        return readdirSync("/proc/self/fd").length;
      } catch {
        return undefined;
      }
    },
  }));
  registry.register(new Gauge({
    name: "process_max_fds",
    help: "Maximum number of open file descriptors.",
    collect: () => {
      const m = /^Max open files\s+(\d+)/m.exec(readProc("/proc/self/limits") ?? "");
      return m ? Number(m[1]) : undefined;
    },
  }));
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
