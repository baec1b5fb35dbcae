// The table of configuration keys: fleet's names, plus our additive ones. Each key knows how
// to apply a raw value to the Config it is building.
import { DEFAULTS } from "./defaults.ts";
import type { Config } from "./types.ts";
import {
  BadValue,
  asAbsolutePath,
  asBool,
  asDuration,
  asEtcdServers,
  asInt,
  asIp,
  asKeyPrefix,
  asListen,
  asMachineId,
  asMetadata,
  asResourceAmounts,
  asSeconds,
  asSecret,
  asString,
  asTokens,
  asUnitsDirectory,
} from "./values.ts";

/** What applying a key may leave behind besides Config fields. */
export interface ApplyContext {
  config: Config;
  /** Deprecated keys set to a value that would have done something, by key name. */
  deprecated: Map<string, boolean>;
}

type Apply = (ctx: ApplyContext, raw: unknown) => void;

function isEmpty(raw: unknown): boolean {
  return typeof raw === "string" && raw.trim() === "";
}

/**
 * A key stored in one Config field. An empty string (a set-but-empty FLEET_* variable, or
 * key = "") means the built-in default, so it still overrides what the file said.
 */
function field<K extends keyof Config>(name: K, coerce: (raw: unknown) => Config[K]): Apply {
  return (ctx, raw) => {
    ctx.config[name] = isEmpty(raw) ? structuredClone(DEFAULTS[name]) : coerce(raw);
  };
}

const optional = (raw: unknown) => asString(raw) || undefined;

export const KEYS: Readonly<Record<string, Apply>> = {
  etcd_servers: field("etcdServers", asEtcdServers),
  etcd_key_prefix: field("etcdKeyPrefix", asKeyPrefix),
  etcd_request_timeout: field("etcdRequestTimeoutMs", (v) =>
    asSeconds(v, Number.MIN_VALUE, "must be more than 0"),
  ),
  etcd_username: field("etcdUsername", optional),
  etcd_password: field("etcdPassword", (v) => asSecret(v) || undefined),
  etcd_cafile: field("etcdCafile", optional),
  etcd_certfile: field("etcdCertfile", optional),
  etcd_keyfile: field("etcdKeyfile", optional),
  public_ip: field("publicIp", asIp),
  metadata: field("metadata", asMetadata),
  // etcd v3 leases have whole-second TTLs, so anything shorter cannot be honoured.
  agent_ttl: field("agentTtlMs", (v) => asDuration(v, 1000, "at least 1s: etcd leases count whole seconds")),
  engine_reconcile_interval: field("engineReconcileIntervalMs", (v) =>
    asSeconds(v, Number.MIN_VALUE, "must be more than 0"),
  ),
  disable_engine: field("disableEngine", asBool),
  disable_watches: field("disableWatches", asBool),
  token_limit: field("tokenLimit", (v) => asInt(v, 1, 10000)),
  units_directory: field("unitsDirectory", asUnitsDirectory),
  allow_unit_shadowing: field("allowUnitShadowing", asBool),
  verbosity: field("verbosity", (v) => asInt(v, 0, Number.MAX_SAFE_INTEGER)),
  systemd_user: field("systemdUser", asBool),
  enable_grpc: (_ctx, raw) => {
    if (!isEmpty(raw) && asBool(raw)) {
      throw new BadValue("gRPC mode is not supported; set it to false or remove it");
    }
  },
  verify_units: (ctx, raw) => {
    ctx.deprecated.set("verify_units", !isEmpty(raw) && asBool(raw));
  },
  authorized_keys_file: (ctx, raw) => {
    ctx.deprecated.set("authorized_keys_file", asString(raw) !== "");
  },
  api_listen: field("apiListen", asListen),
  api_tls_cert: field("apiTlsCert", optional),
  api_tls_key: field("apiTlsKey", optional),
  api_tls_ca: field("apiTlsCa", optional),
  api_tokens: field("apiTokens", asTokens),
  // Below 4 KiB ordinary requests fail; above 64 MiB no valid request needs it (a unit file is
  // at most 512 KiB and a PATCH at most 1000 operations) and each request may hold that much.
  api_max_request_bytes: field("apiMaxRequestBytes", (v) => asInt(v, 4096, 64 << 20)),
  api_insecure: field("apiInsecure", asBool),
  machine_id: field("machineId", asMachineId),
  state_dir: field("stateDir", asAbsolutePath),
  capacity: field("capacity", asResourceAmounts),
  capacity_reserved: field("capacityReserved", asResourceAmounts),
};

export const KEY_NAMES: readonly string[] = Object.keys(KEYS);

export function envName(key: string): string {
  return `FLEET_${key.toUpperCase()}`;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min(sub, (prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The known key closest to a misspelt one, if it is close enough to be a typo. */
export function suggestKey(key: string): string | undefined {
  const wanted = key.toLowerCase().replace(/-/g, "_");
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of KEY_NAMES) {
    const d = distance(wanted, name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return bestDistance <= Math.max(2, Math.floor(wanted.length / 4)) ? best : undefined;
}
