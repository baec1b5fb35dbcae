// etcd's Prometheus text, reduced to what the scale benchmark reports: requests by kind, watch
// events, keepalives, keys written, and etcd's own CPU and memory. Scraped before and after a
// phase; the difference over the phase's duration gives rates. Pure, apart from scrape().

export type Samples = Map<string, number>;

export interface EtcdCounters {
  /** Range requests (reads). */
  range: number;
  /** Txn, Put and DeleteRange requests (every txn here writes, or compares then writes). */
  txn: number;
  put: number;
  deleteRange: number;
  /** Keys written and deleted by those requests. */
  keysPut: number;
  keysDeleted: number;
  /** Watch events sent to watchers, and the watch responses that carried them. */
  watchEvents: number;
  watchResponses: number;
  /** Watch streams opened (each gateway watch request opens one). */
  watchStreams: number;
  /** Lease renewals (one gateway POST each). */
  keepalives: number;
  leaseGrants: number;
  leaseRevokes: number;
  leaseTimeToLive: number;
  /** etcd's CPU seconds and resident memory. */
  cpuSeconds: number;
  rssBytes: number;
  dbBytes: number;
}

/** Parses the text exposition format into `name{labels}` -> value (labels as written). */
export function parseMetrics(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    if (space <= 0) continue;
    const value = Number(line.slice(space + 1));
    if (Number.isNaN(value)) continue;
    out.set(line.slice(0, space), value);
  }
  return out;
}

/** Sum of every sample of `name` whose labels include all of `labels`. */
export function sumOf(samples: Samples, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const [key, value] of samples) {
    const brace = key.indexOf("{");
    const metric = brace < 0 ? key : key.slice(0, brace);
    if (metric !== name) continue;
    const labelText = brace < 0 ? "" : key.slice(brace);
    if (wanted.every((w) => labelText.includes(w))) sum += value;
  }
  return sum;
}

export function countersOf(s: Samples): EtcdCounters {
  const started = (method: string) => sumOf(s, "grpc_server_started_total", { grpc_method: method });
  return {
    range: started("Range"),
    txn: started("Txn"),
    put: started("Put"),
    deleteRange: started("DeleteRange"),
    keysPut: sumOf(s, "etcd_mvcc_put_total"),
    keysDeleted: sumOf(s, "etcd_mvcc_delete_total"),
    watchEvents: sumOf(s, "etcd_debugging_mvcc_events_total"),
    watchResponses: sumOf(s, "grpc_server_msg_sent_total", { grpc_method: "Watch" }),
    watchStreams: started("Watch"),
    keepalives: sumOf(s, "grpc_server_msg_received_total", { grpc_method: "LeaseKeepAlive" }),
    leaseGrants: started("LeaseGrant"),
    leaseRevokes: started("LeaseRevoke"),
    leaseTimeToLive: started("LeaseTimeToLive"),
    cpuSeconds: sumOf(s, "process_cpu_seconds_total"),
    rssBytes: sumOf(s, "process_resident_memory_bytes"),
    dbBytes: sumOf(s, "etcd_mvcc_db_total_size_in_bytes"),
  };
}

/** Counter differences (gauges — rssBytes, dbBytes — are taken from `after`). */
export function diffCounters(before: EtcdCounters, after: EtcdCounters): EtcdCounters {
  const out = { ...after };
  for (const k of Object.keys(after) as (keyof EtcdCounters)[]) {
    if (k === "rssBytes" || k === "dbBytes") continue;
    out[k] = after[k] - before[k];
  }
  return out;
}

export async function scrape(endpoint: string): Promise<EtcdCounters> {
  const res = await fetch(`${endpoint}/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`Cannot scrape ${endpoint}/metrics: HTTP ${res.status}`);
  return countersOf(parseMetrics(await res.text()));
}
