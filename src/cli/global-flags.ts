// fleetctl's persistent (global) flags, their FLEETCTL_* environment forms, and the typed view
// the commands use (compatibility.md §6.2).
import { convert, type FlagSpec, type FlagValue, type ParsedFlags } from "./args.ts";

export const DEFAULT_ENDPOINT = "unix:///var/run/fleet.sock";
export const DEFAULT_ETCD_PREFIX = "/fleet/";

export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  { name: "ca-file", type: "string", default: "", usage: "Path to a CA bundle (PEM) used to verify the TLS certificate of the fleet API or etcd." },
  { name: "cert-file", type: "string", default: "", usage: "Path to the TLS client certificate for the fleet API or etcd." },
  { name: "debug", type: "bool", default: false, usage: "Print out more debug information to stderr." },
  { name: "driver", type: "string", default: "API", usage: 'Adapter used to execute fleetctl commands. Options include "API" and "etcd".' },
  { name: "endpoint", type: "string", default: DEFAULT_ENDPOINT, usage: "Location of the fleet API if --driver=API. Alternatively, if --driver=etcd, location of the etcd API." },
  { name: "etcd-key-prefix", type: "string", default: DEFAULT_ETCD_PREFIX, usage: "Keyspace for fleet data in etcd (development use only!)" },
  { name: "experimental-api", type: "bool", default: true, usage: "DEPRECATED: do not use this flag.", deprecated: "do not use this flag", hidden: true },
  { name: "etcd-cafile", type: "string", default: "", usage: "DEPRECATED: do not use this flag.", aliasOf: "ca-file", deprecated: "use --ca-file", hidden: true },
  { name: "etcd-certfile", type: "string", default: "", usage: "DEPRECATED: do not use this flag.", aliasOf: "cert-file", deprecated: "use --cert-file", hidden: true },
  { name: "etcd-keyfile", type: "string", default: "", usage: "DEPRECATED: do not use this flag.", aliasOf: "key-file", deprecated: "use --key-file", hidden: true },
  { name: "help", short: "h", type: "bool", default: false, usage: "Print usage information and exit." },
  { name: "key-file", type: "string", default: "", usage: "Path to the TLS client key for the fleet API or etcd." },
  { name: "known-hosts-file", type: "string", default: "~/.fleetctl/known_hosts", usage: "File used to store remote machine fingerprints. Ignored if strict host key checking is disabled." },
  { name: "request-timeout", type: "float", default: 3.0, usage: "Amount of time in seconds to allow a single request before considering it failed." },
  { name: "ssh-identity-file", type: "string", default: "", usage: "Private key file SSH connections offer (ssh -i, and only that key) instead of the ssh-agent's and the default ones." },
  { name: "ssh-timeout", type: "float", default: 10.0, usage: "Amount of time in seconds to allow for SSH connection initialization before failing." },
  { name: "ssh-username", type: "string", default: "core", usage: "Username to use when connecting to CoreOS instance." },
  { name: "strict-host-key-checking", type: "bool", default: true, usage: "Verify host keys presented by remote machines before initiating SSH connections." },
  { name: "token", type: "string", default: "", usage: "Bearer token sent to a TCP (http/https) fleet API endpoint that requires one." },
  { name: "tunnel", type: "string", default: "", usage: "Establish an SSH tunnel through the provided address for communication with fleet and etcd." },
  { name: "version", type: "bool", default: false, usage: "Print the version and exit." },
];

/** The typed global options every command sees. */
export interface GlobalOptions {
  caFile: string;
  certFile: string;
  keyFile: string;
  debug: boolean;
  driver: string;
  endpoint: string;
  etcdKeyPrefix: string;
  experimentalApi: boolean;
  knownHostsFile: string;
  requestTimeout: number;
  sshIdentityFile: string;
  sshTimeout: number;
  sshUsername: string;
  strictHostKeyChecking: boolean;
  token: string;
  tunnel: string;
}

/** `FLEETCTL_<NAME>`: the flag name upper-cased, `-` replaced by `_`. */
export function envName(flag: string): string {
  return `FLEETCTL_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/**
 * Applies FLEETCTL_* variables to the flags not given on the command line. An unparsable value
 * is ignored, as fleetctl did. Returns the names of the variables that were ignored.
 */
export function applyEnvironment(parsed: ParsedFlags, env: Record<string, string | undefined>): string[] {
  const ignored: string[] = [];
  for (const spec of GLOBAL_FLAGS) {
    if (spec.name === "help" || spec.name === "version") continue;
    const target = spec.aliasOf ?? spec.name;
    if (parsed.set.has(target)) continue;
    const raw = env[envName(spec.name)];
    if (raw === undefined || raw === "") continue;
    const targetSpec = GLOBAL_FLAGS.find((s) => s.name === target) ?? spec;
    try {
      parsed.values[target] = convert(targetSpec.type, raw, `--${target}`);
    } catch {
      ignored.push(envName(spec.name));
    }
  }
  return ignored;
}

export function globalOptions(values: Record<string, FlagValue>): GlobalOptions {
  const s = (k: string) => String(values[k] ?? "");
  const b = (k: string) => values[k] === true;
  const n = (k: string) => Number(values[k]);
  return {
    caFile: s("ca-file"),
    certFile: s("cert-file"),
    keyFile: s("key-file"),
    debug: b("debug"),
    driver: s("driver"),
    endpoint: s("endpoint"),
    etcdKeyPrefix: s("etcd-key-prefix"),
    experimentalApi: b("experimental-api"),
    knownHostsFile: s("known-hosts-file"),
    requestTimeout: n("request-timeout"),
    sshIdentityFile: s("ssh-identity-file"),
    sshTimeout: n("ssh-timeout"),
    sshUsername: s("ssh-username"),
    strictHostKeyChecking: b("strict-host-key-checking"),
    token: s("token"),
    tunnel: s("tunnel"),
  };
}
