/** Where the API server listens: a unix socket path, or a TCP host and port. */
export type ListenAddress =
  | { kind: "unix"; path: string }
  | { kind: "tcp"; host: string; port: number };

/**
 * The daemon's typed configuration. Durations are in milliseconds. Optional strings are
 * undefined when unset (an empty value in the file or environment also means unset).
 */
export interface Config {
  /** etcd endpoints, http:// or https:// URLs without a trailing slash. */
  etcdServers: string[];
  /** Keyspace prefix, always starting and ending with "/" so callers can concatenate. */
  etcdKeyPrefix: string;
  etcdRequestTimeoutMs: number;
  etcdUsername: string | undefined;
  etcdPassword: string | undefined;
  etcdCafile: string | undefined;
  etcdCertfile: string | undefined;
  etcdKeyfile: string | undefined;
  /** undefined: detect from the default route's interface. */
  publicIp: string | undefined;
  metadata: Record<string, string>;
  agentTtlMs: number;
  engineReconcileIntervalMs: number;
  disableEngine: boolean;
  disableWatches: boolean;
  /** API page size. */
  tokenLimit: number;
  unitsDirectory: string;
  /** Load units whose names the host already defines outside unitsDirectory (default false). */
  allowUnitShadowing: boolean;
  /** > 0 enables debug logging. */
  verbosity: number;
  systemdUser: boolean;
  apiListen: ListenAddress[];
  apiTlsCert: string | undefined;
  apiTlsKey: string | undefined;
  apiTlsCa: string | undefined;
  /** Bearer tokens accepted on TCP listeners; empty means no token is required. */
  apiTokens: string[];
  /** The largest API request body accepted, in bytes; larger ones are refused with 413. */
  apiMaxRequestBytes: number;
  /** Allows TCP listeners that break the security rules (docs/configuration.md, "Security"). */
  apiInsecure: boolean;
  /** undefined: read /etc/machine-id. */
  machineId: string | undefined;
  /** Where the daemon keeps state across restarts (the machine's lease id). */
  stateDir: string;
  /** The capacity this machine reports; a resource left out is detected. */
  capacity: ResourceAmounts;
  /** What this machine keeps back from its capacity for itself; what is left out is none. */
  capacityReserved: ResourceAmounts;
}

/** CPU in thousandths of a CPU, memory in bytes; each may be left out. */
export interface ResourceAmounts {
  cpuMillis?: number;
  memoryBytes?: number;
}
