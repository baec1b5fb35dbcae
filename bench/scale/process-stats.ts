// CPU and memory of the current process, for the benchmark's child processes to report.
import { readFileSync, writeFileSync } from "node:fs";

export interface ProcessStats {
  /** User + system CPU seconds since the process started. */
  cpuSeconds: number;
  rssBytes: number;
  /** Peak resident memory since start or since the last resetPeak() (Linux VmHWM). */
  peakRssBytes: number;
  /** When these were read (ms since the epoch). */
  at: number;
}

export function processStats(): ProcessStats {
  const cpu = process.cpuUsage();
  const rss = process.memoryUsage().rss;
  return { cpuSeconds: (cpu.user + cpu.system) / 1e6, rssBytes: rss, peakRssBytes: Math.max(rss, statusKb("VmHWM") * 1024), at: Date.now() };
}

/** Starts a new peak-memory window (Linux: writing 5 to clear_refs resets VmHWM). */
export function resetPeak(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

function statusKb(field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export interface LoopLag {
  /** Longest stall since the last reset (ms). */
  maxMs: number;
  /** Total time the loop was late by more than 20 ms, since start (ms). */
  stalledMs: number;
}

/**
 * Measures how late a timer of `periodMs` fires: the event loop's stalls. The timer itself costs
 * a little CPU, which the process's figures include.
 */
export function monitorLoopLag(periodMs: number): LoopLag {
  const lag: LoopLag = { maxMs: 0, stalledMs: 0 };
  let tick = performance.now();
  setInterval(() => {
    const now = performance.now();
    const late = now - tick - periodMs;
    tick = now;
    if (late > lag.maxMs) lag.maxMs = late;
    if (late > 20) lag.stalledMs += late;
  }, periodMs);
  return lag;
}
