// What `fleet sandbox` keeps beside the cluster's own state file: the etcd it uses, the API
// token, each machine's metadata. It lives in the cluster directory, so `down` (or the cleanup
// of a stale cluster) removes it with everything else.
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ApiTlsFiles } from "./api-tls.ts";

export const SANDBOX_FILE = "sandbox.json";
export const ENV_FILE = "env";
/** The API's TCP port on every machine (besides the unix socket). */
export const API_PORT = 49153;
export const KEY_PREFIX = "/fleet/";

export interface EtcdRecord {
  /** Client URL the machines and the host use. */
  endpoint: string;
  /** True when the sandbox started this etcd (and stops it on down). */
  own: boolean;
  /** Data directory and log of our own etcd. */
  dataDir?: string;
  logFile?: string;
}

export interface SandboxRecord {
  version: 1;
  name: string;
  etcd: EtcdRecord;
  /** Bearer token of the machines' TCP API listeners. */
  token: string;
  apiPort: number;
  /**
   * The API's CA and server certificate on the host. Records written before the API had TLS lack
   * it: such a sandbox counts as broken (fleet ctl would refuse to send it the token).
   */
  tls: ApiTlsFiles;
  /** Host path of the fleet binary bind-mounted into the machines. */
  binary: string;
  /** Metadata of each machine by machine name ("m1"); machines not listed have none. */
  metadata: Record<string, Record<string, string>>;
  agentTtl: string;
  /** True once the machines run sshd (absent in records written before that existed). */
  ssh?: boolean;
  /** The host port of the dashboard (http://127.0.0.1:PORT/ui/); absent until it was started. */
  dashboardPort?: number;
}

export function sandboxFile(dir: string): string {
  return join(dir, SANDBOX_FILE);
}

export function hasSandboxRecord(dir: string): boolean {
  return existsSync(sandboxFile(dir));
}

export function readSandboxRecord(dir: string): SandboxRecord {
  const path = sandboxFile(dir);
  const record = JSON.parse(readFileSync(path, "utf8")) as SandboxRecord;
  if (record.version !== 1) throw new Error(`Cannot read ${path}: unknown version ${String(record.version)}`);
  return record;
}

/** Written 0600: it holds the API token. */
export function writeSandboxRecord(dir: string, record: SandboxRecord): void {
  writePrivate(sandboxFile(dir), `${JSON.stringify(record, null, 2)}\n`);
}

export function writePrivate(path: string, content: string): void {
  writeFileSync(`${path}.tmp`, content, { mode: 0o600 });
  chmodSync(`${path}.tmp`, 0o600);
  renameSync(`${path}.tmp`, path);
}

export interface EnvTarget {
  name: string;
  /** The machine whose API the endpoint names, and its address. */
  machine: string;
  ip: string;
  /** FLEETCTL_* settings for fleet ctl's ssh (status, journal, ssh); absent without sshd. */
  ssh?: Record<string, string>;
}

/** The lines `source <dir>/env` runs: the API of one machine, with the etcd driver as a comment. */
export function envText(record: SandboxRecord, target: EnvTarget): string {
  return [
    `# fleet sandbox ${record.name}: fleet ctl talks to the API of ${target.machine} (${target.ip}).`,
    ...Object.entries(apiEnv(record, target.ip)).map(([k, v]) => `export ${k}=${shellWord(v)}`),
    ...(target.ssh
      ? ["# fleet ctl status, journal and ssh: as root with the sandbox's key, checking host keys.", ...Object.entries(target.ssh).map(([k, v]) => `export ${k}=${shellWord(v)}`)]
      : []),
    ...(record.dashboardPort ? [`# The dashboard: http://127.0.0.1:${record.dashboardPort}/ui/ (sign in with FLEETCTL_TOKEN).`] : []),
    `# Through etcd instead (works whichever machines are up):`,
    `# export FLEETCTL_DRIVER=etcd FLEETCTL_ENDPOINT=${record.etcd.endpoint} FLEETCTL_ETCD_KEY_PREFIX=${KEY_PREFIX}`,
    "",
  ].join("\n");
}

/** The FLEETCTL_* settings that reach one machine's API: over TLS, against the sandbox's CA. */
export function apiEnv(record: SandboxRecord, ip: string): Record<string, string> {
  return {
    FLEETCTL_DRIVER: "API",
    FLEETCTL_ENDPOINT: `https://${ip}:${record.apiPort}`,
    FLEETCTL_CA_FILE: record.tls.caFile,
    FLEETCTL_TOKEN: record.token,
  };
}

/** A value for the shell that sources the env file: bare when safe, otherwise single-quoted. */
function shellWord(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}
