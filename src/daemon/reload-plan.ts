// What a SIGHUP reload can apply in place (compatibility.md §8.11, Q19): compares the running
// configuration with the newly read one. Pure; Daemon.reload carries the plan out.
import type { Config } from "../config/index.ts";

/** Config fields a reload applies in place, with the config key each comes from. */
const IN_PLACE = {
  metadata: "metadata",
  publicIp: "public_ip",
  verbosity: "verbosity",
  agentTtlMs: "agent_ttl",
  engineReconcileIntervalMs: "engine_reconcile_interval",
  disableEngine: "disable_engine",
  capacity: "capacity",
  capacityReserved: "capacity_reserved",
} as const satisfies Partial<Record<keyof Config, string>>;

/**
 * Fields only a restart applies: the etcd connection and keyspace (the API, registry, agent and
 * engine all share one client), the listeners and what they were built with, and the machine's
 * identity and local directories.
 */
const NEEDS_RESTART = {
  etcdServers: "etcd_servers",
  etcdKeyPrefix: "etcd_key_prefix",
  etcdRequestTimeoutMs: "etcd_request_timeout",
  etcdUsername: "etcd_username",
  etcdPassword: "etcd_password",
  etcdCafile: "etcd_cafile",
  etcdCertfile: "etcd_certfile",
  etcdKeyfile: "etcd_keyfile",
  tokenLimit: "token_limit",
  unitsDirectory: "units_directory",
  allowUnitShadowing: "allow_unit_shadowing",
  systemdUser: "systemd_user",
  apiListen: "api_listen",
  apiTlsCert: "api_tls_cert",
  apiTlsKey: "api_tls_key",
  apiTlsCa: "api_tls_ca",
  apiTokens: "api_tokens",
  apiMaxRequestBytes: "api_max_request_bytes",
  apiInsecure: "api_insecure",
  machineId: "machine_id",
  stateDir: "state_dir",
} as const satisfies Partial<Record<keyof Config, string>>;
// disable_watches is read but nothing in the daemon depends on it, so a change has nothing to apply.

export interface ReloadPlan {
  /** Config keys whose value changed. */
  changed: string[];
  /** Changed keys a reload cannot apply; they keep their running value until a restart. */
  needsRestart: string[];
  /** The configuration to run with from now on: the new one, minus the needsRestart keys. */
  config: Config;
  /** The machine record changes (metadata, public IP, capabilities, capacity): re-put it. */
  machine: boolean;
  verbosity: boolean;
  /** agent_ttl changed: a new lease of the new TTL (the machine stays registered meanwhile). */
  presence: boolean;
  /** The engine is restarted (its settings changed) or started or stopped (disable_engine). */
  engine: boolean;
}

export function planReload(running: Config, next: Config): ReloadPlan {
  const differs = (k: keyof Config) => JSON.stringify(running[k]) !== JSON.stringify(next[k]);
  const changedInPlace = (Object.keys(IN_PLACE) as (keyof typeof IN_PLACE)[]).filter(differs);
  const needsRestart = (Object.keys(NEEDS_RESTART) as (keyof typeof NEEDS_RESTART)[]).filter(differs);
  const config: Config = { ...next };
  for (const k of needsRestart) (config as unknown as Record<string, unknown>)[k] = running[k];
  const has = (k: keyof typeof IN_PLACE) => changedInPlace.includes(k);
  return {
    changed: [...changedInPlace.map((k) => IN_PLACE[k]), ...needsRestart.map((k) => NEEDS_RESTART[k])].sort(),
    needsRestart: needsRestart.map((k) => NEEDS_RESTART[k]).sort(),
    config,
    machine: has("metadata") || has("publicIp") || has("disableEngine") || has("capacity") || has("capacityReserved"),
    verbosity: has("verbosity"),
    presence: has("agentTtlMs"),
    engine: has("engineReconcileIntervalMs") || has("agentTtlMs") || has("disableEngine"),
  };
}
