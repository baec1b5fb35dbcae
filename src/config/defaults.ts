import type { Config } from "./types.ts";

export const DEFAULT_CONFIG_FILE = "/etc/fleet/fleet.conf";

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Built-in defaults (compatibility.md §8.10), frozen: copy before changing. */
export const DEFAULTS: Readonly<Config> = deepFreeze<Config>({
  etcdServers: ["http://127.0.0.1:2379", "http://127.0.0.1:4001"],
  // Not the original "/_coreos.com/fleet/": our keyspace is etcd v3 with a different layout
  // (architecture.md §3), so it must never be mistaken for, or collide with, a v2 fleet's keys.
  etcdKeyPrefix: "/fleet/",
  etcdRequestTimeoutMs: 1000,
  etcdUsername: undefined,
  etcdPassword: undefined,
  etcdCafile: undefined,
  etcdCertfile: undefined,
  etcdKeyfile: undefined,
  publicIp: undefined,
  metadata: {},
  agentTtlMs: 30_000,
  engineReconcileIntervalMs: 2000,
  disableEngine: false,
  disableWatches: false,
  tokenLimit: 100,
  unitsDirectory: "/run/fleet/units/",
  allowUnitShadowing: false,
  verbosity: 0,
  systemdUser: false,
  apiListen: [{ kind: "unix", path: "/var/run/fleet.sock" }],
  apiTlsCert: undefined,
  apiTlsKey: undefined,
  apiTlsCa: undefined,
  apiTokens: [],
  apiMaxRequestBytes: 1 << 20,
  apiInsecure: false,
  machineId: undefined,
  stateDir: "/run/fleet",
  capacity: {},
  capacityReserved: {},
});
