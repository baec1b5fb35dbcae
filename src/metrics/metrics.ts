import { compareStrings } from "../lib/compare.ts";
// A small Prometheus client: counters, gauges and histograms with labels, and the text
// exposition format 0.0.4. Enough for fleet's handful of metrics without a dependency.

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type MetricType = "counter" | "gauge" | "histogram";

/** Label values by label name; `L` is the union of the metric's label names. */
export type LabelValues<L extends string> = Record<L, string>;

export interface MetricOptions<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Every metric: its series are rendered on demand by the registry. */
export abstract class Metric<L extends string = string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  abstract readonly type: MetricType;

  constructor(opts: MetricOptions<L>) {
    if (!NAME.test(opts.name)) throw new Error(`Invalid metric name ${JSON.stringify(opts.name)}`);
    for (const l of opts.labelNames ?? []) {
      if (!LABEL.test(l) || l.startsWith("__") || l === "le") {
        throw new Error(`Invalid label name ${JSON.stringify(l)} of metric ${opts.name}`);
      }
    }
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = opts.labelNames ?? [];
  }

  /** The sample lines of this metric (without HELP and TYPE). */
  abstract lines(): string[];

  protected key(labels: Partial<LabelValues<L>> | undefined): string {
    const values = this.labelNames.map((l) => {
      const v = labels?.[l];
      if (v === undefined) throw new Error(`Metric ${this.name} needs label ${l}`);
      return v;
    });
    for (const k of Object.keys(labels ?? {})) {
      if (!this.labelNames.includes(k as L)) throw new Error(`Metric ${this.name} has no label ${k}`);
    }
    return JSON.stringify(values);
  }

  protected labelText(key: string, extra?: [string, string]): string {
    const values = JSON.parse(key) as string[];
    const pairs = this.labelNames.map((l, i) => `${l}="${escapeLabelValue(values[i] ?? "")}"`);
    if (extra) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
    return pairs.length ? `{${pairs.join(",")}}` : "";
  }
}

/** A value that only goes up. */
export class Counter<L extends string = never> extends Metric<L> {
  readonly type = "counter";
  private readonly values = new Map<string, number>();

  constructor(opts: MetricOptions<L>) {
    super(opts);
    // A metric without labels has exactly one series: show it at 0 before the first count.
    if (this.labelNames.length === 0) this.values.set(this.key(undefined), 0);
  }

  inc(labels?: LabelValues<L>, value = 1): void {
    if (!(value >= 0)) throw new Error(`Counter ${this.name} cannot be increased by ${value}`);
    const k = this.key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + value);
  }

  get(labels?: LabelValues<L>): number {
    return this.values.get(this.key(labels)) ?? 0;
  }

  lines(): string[] {
    return sortedEntries(this.values).map(([k, v]) => `${this.name}${this.labelText(k)} ${formatNumber(v)}`);
  }
}

export interface GaugeOptions<L extends string> extends MetricOptions<L> {
  /** Read the value at scrape time instead of storing it (only without labels). */
  collect?: () => number | undefined;
}

/** A value that is set, or goes up and down. */
export class Gauge<L extends string = never> extends Metric<L> {
  readonly type = "gauge";
  private readonly values = new Map<string, number>();
  private readonly collect: (() => number | undefined) | undefined;

  constructor(opts: GaugeOptions<L>) {
    super(opts);
    this.collect = opts.collect;
    if (this.collect && this.labelNames.length) throw new Error(`Gauge ${this.name}: collect needs no labels`);
    if (this.labelNames.length === 0) this.values.set(this.key(undefined), 0);
  }

  set(labels: LabelValues<L> | undefined, value: number): void {
    this.values.set(this.key(labels), value);
  }

  inc(labels?: LabelValues<L>, value = 1): void {
    const k = this.key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + value);
  }

  dec(labels?: LabelValues<L>, value = 1): void {
    this.inc(labels, -value);
  }

  get(labels?: LabelValues<L>): number {
    return this.values.get(this.key(labels)) ?? 0;
  }

  lines(): string[] {
    if (this.collect) {
      const v = this.collect();
      return v === undefined ? [] : [`${this.name} ${formatNumber(v)}`];
    }
    return sortedEntries(this.values).map(([k, v]) => `${this.name}${this.labelText(k)} ${formatNumber(v)}`);
  }
}

/** Prometheus' default buckets, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  buckets?: readonly number[];
}

interface HistogramSeries {
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative buckets, with their sum and count. */
export class Histogram<L extends string = never> extends Metric<L> {
  readonly type = "histogram";
  readonly buckets: readonly number[];
  private readonly series = new Map<string, HistogramSeries>();

  constructor(opts: HistogramOptions<L>) {
    super(opts);
    const b = [...(opts.buckets ?? DEFAULT_BUCKETS)].filter((x) => x !== Infinity);
    if (b.some((x, i) => i > 0 && x <= (b[i - 1] as number))) {
      throw new Error(`Histogram ${this.name}: buckets must increase`);
    }
    this.buckets = b;
    if (this.labelNames.length === 0) this.seriesFor(undefined);
  }

  observe(labels: LabelValues<L> | undefined, value: number): void {
    const s = this.seriesFor(labels);
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= (this.buckets[i] as number)) s.counts[i] = (s.counts[i] ?? 0) + 1;
    }
    s.sum += value;
    s.count += 1;
  }

  /** Starts a timer; calling the result observes the seconds elapsed since. */
  startTimer(labels?: LabelValues<L>): () => number {
    const start = performance.now();
    return () => {
      const seconds = (performance.now() - start) / 1000;
      this.observe(labels, seconds);
      return seconds;
    };
  }

  /** The observation count of one series. */
  count(labels?: LabelValues<L>): number {
    return this.series.get(this.key(labels))?.count ?? 0;
  }

  lines(): string[] {
    const out: string[] = [];
    for (const [k, s] of sortedEntries(this.series)) {
      this.buckets.forEach((b, i) => {
        out.push(`${this.name}_bucket${this.labelText(k, ["le", formatNumber(b)])} ${formatNumber(s.counts[i] ?? 0)}`);
      });
      out.push(`${this.name}_bucket${this.labelText(k, ["le", "+Inf"])} ${formatNumber(s.count)}`);
      out.push(`${this.name}_sum${this.labelText(k)} ${formatNumber(s.sum)}`);
      out.push(`${this.name}_count${this.labelText(k)} ${formatNumber(s.count)}`);
    }
    return out;
  }

  private seriesFor(labels: LabelValues<L> | undefined): HistogramSeries {
    const k = this.key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    return s;
  }
}

/** A set of metrics exposed together; a name can be registered only once. */
export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  register<M extends Metric<string>>(metric: M): M {
    if (this.metrics.has(metric.name)) throw new Error(`Metric ${metric.name} is already registered`);
    this.metrics.set(metric.name, metric as Metric);
    return metric;
  }

  get(name: string): Metric | undefined {
    return this.metrics.get(name);
  }

  names(): string[] {
    return [...this.metrics.keys()].sort();
  }

  /** The Prometheus text exposition (format 0.0.4) of every metric, sorted by name. */
  expose(): string {
    let out = "";
    for (const name of this.names()) {
      const m = this.metrics.get(name) as Metric;
      out += `# HELP ${name} ${escapeHelp(m.help)}\n# TYPE ${name} ${m.type}\n`;
      for (const line of m.lines()) out += `${line}\n`;
    }
    return out;
  }
}

export function formatNumber(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (Number.isNaN(v)) return "NaN";
  return String(v);
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function sortedEntries<V>(m: Map<string, V>): [string, V][] {
  return [...m.entries()].sort(([a], [b]) => compareStrings(a, b));
}
