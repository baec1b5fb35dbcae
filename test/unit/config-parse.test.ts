import { describe, expect, test } from "bun:test";
import { ConfigError, DEFAULTS, KEY_NAMES, envName, parseConfig, type Config, type Env } from "../../src/config/index.ts";

const FILE = "/etc/fleet/fleet.conf";
const OWN = "fleet deletes the unit files it did not schedule from its units directory, so it must be fleet's own";

function config(partial: Partial<Config>): Config {
  return { ...(structuredClone(DEFAULTS) as Config), ...partial };
}

/** The ConfigError thrown by parseConfig, or a failure if none was thrown. */
function problemsOf(text: string | undefined, env: Env = {}): string[] {
  try {
    parseConfig(text, FILE, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("parseConfig accepted the configuration");
}

const CERT = 'etcd_certfile = "/c.pem"\netcd_keyfile = "/k.pem"\n';
const TLS = 'api_tls_cert = "/a.pem"\napi_tls_key = "/a.key"\n';

// Every key, set from the file, with the Config it must produce.
const fileCases: [string, Partial<Config>][] = [
  ['etcd_servers = ["http://a:2379", "https://b:2379/"]', { etcdServers: ["http://a:2379", "https://b:2379"] }],
  ['etcd_servers = "http://a:2379,http://b:2379"', { etcdServers: ["http://a:2379", "http://b:2379"] }],
  ['etcd_servers = \'["http://a:2379","http://b:2379"]\'', { etcdServers: ["http://a:2379", "http://b:2379"] }],
  ['etcd_servers = " http://a:2379 , http://b:2379, "', { etcdServers: ["http://a:2379", "http://b:2379"] }],
  ['etcd_key_prefix = "/custom/"', { etcdKeyPrefix: "/custom/" }],
  ['etcd_key_prefix = "custom"', { etcdKeyPrefix: "/custom/" }],
  ['etcd_key_prefix = "/"', { etcdKeyPrefix: "/" }],
  ["etcd_request_timeout = 1.5", { etcdRequestTimeoutMs: 1500 }],
  ["etcd_request_timeout = 2", { etcdRequestTimeoutMs: 2000 }],
  ['etcd_request_timeout = "2.5"', { etcdRequestTimeoutMs: 2500 }],
  ['etcd_request_timeout = "750ms"', { etcdRequestTimeoutMs: 750 }],
  ['etcd_username = "root"', { etcdUsername: "root" }],
  ['etcd_password = " s3cret "', { etcdPassword: " s3cret " }],
  ['etcd_cafile = "/ca.pem"', { etcdCafile: "/ca.pem" }],
  [CERT, { etcdCertfile: "/c.pem", etcdKeyfile: "/k.pem" }],
  ['public_ip = "10.0.0.5"', { publicIp: "10.0.0.5" }],
  ['public_ip = "fd00::1"', { publicIp: "fd00::1" }],
  ['metadata = "region=us-west,az=us-west-1"', { metadata: { region: "us-west", az: "us-west-1" } }],
  ['metadata = " a = 1 , b=x=y,a=2,, "', { metadata: { a: "2", b: "x=y" } }],
  ['metadata = "empty="', { metadata: { empty: "" } }],
  ['metadata = { region = "us-west", rack = 3, ssd = true }', { metadata: { region: "us-west", rack: "3", ssd: "true" } }],
  ['agent_ttl = "3s"', { agentTtlMs: 3000 }],
  ['agent_ttl = "1m30s"', { agentTtlMs: 90_000 }],
  ["engine_reconcile_interval = 5", { engineReconcileIntervalMs: 5000 }],
  ['engine_reconcile_interval = "0.5"', { engineReconcileIntervalMs: 500 }],
  ['engine_reconcile_interval = "1s"', { engineReconcileIntervalMs: 1000 }],
  ["disable_engine = true", { disableEngine: true }],
  ['disable_engine = "yes"', { disableEngine: true }],
  ["disable_engine = 1", { disableEngine: true }],
  ['disable_engine = "0"', { disableEngine: false }],
  ['disable_watches = "TRUE"', { disableWatches: true }],
  ["disable_watches = false", { disableWatches: false }],
  ['systemd_user = "1"', { systemdUser: true }],
  ['systemd_user = "no"', { systemdUser: false }],
  ["token_limit = 50", { tokenLimit: 50 }],
  ['token_limit = "100"', { tokenLimit: 100 }],
  ["token_limit = 1", { tokenLimit: 1 }],
  ["token_limit = 10000", { tokenLimit: 10000 }],
  ["api_max_request_bytes = 65536", { apiMaxRequestBytes: 65536 }],
  ['api_max_request_bytes = "4096"', { apiMaxRequestBytes: 4096 }],
  ["api_max_request_bytes = 67108864", { apiMaxRequestBytes: 67108864 }],
  ["api_insecure = true", { apiInsecure: true }],
  ['units_directory = "/tmp/units"', { unitsDirectory: "/tmp/units" }],
  ["allow_unit_shadowing = true", { allowUnitShadowing: true }],
  ["verbosity = 2", { verbosity: 2 }],
  ['verbosity = "1"', { verbosity: 1 }],
  ["enable_grpc = false", {}],
  ['enable_grpc = "no"', {}],
  ["verify_units = true", {}],
  ['authorized_keys_file = "/home/core/.ssh/authorized_keys"', {}],
  ['api_listen = ["unix:///run/f.sock", "tcp://127.0.0.1:49153"]', {
    apiListen: [{ kind: "unix", path: "/run/f.sock" }, { kind: "tcp", host: "127.0.0.1", port: 49153 }],
  }],
  ['api_listen = "tcp://[::1]:0,tcp://localhost:54728"', {
    apiListen: [{ kind: "tcp", host: "::1", port: 0 }, { kind: "tcp", host: "localhost", port: 54728 }],
  }],
  ["api_listen = []", { apiListen: [] }],
  [TLS, { apiTlsCert: "/a.pem", apiTlsKey: "/a.key" }],
  [`${TLS}api_tls_ca = "/ca.pem"`, { apiTlsCert: "/a.pem", apiTlsKey: "/a.key", apiTlsCa: "/ca.pem" }],
  ['api_tokens = ["abc", "d,e"]', { apiTokens: ["abc", "d,e"] }],
  ['api_tokens = "abc, def"', { apiTokens: ["abc", "def"] }],
  ['machine_id = "0123456789abcdef0123456789abcdef"', { machineId: "0123456789abcdef0123456789abcdef" }],
  ['state_dir = "/var/lib/fleet"', { stateDir: "/var/lib/fleet" }],
  ['capacity = "cpu=4,memory=8G"', { capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 } }],
  ['capacity = { cpu = 0.5, memory = "512M" }', { capacity: { cpuMillis: 500, memoryBytes: 512 * 2 ** 20 } }],
  ['capacity = "memory=1.5G"', { capacity: { memoryBytes: 1.5 * 2 ** 30 } }],
  ['capacity_reserved = "cpu=500m, memory=256M"', { capacityReserved: { cpuMillis: 500, memoryBytes: 256 * 2 ** 20 } }],
  ['AGENT_TTL = "4s"', { agentTtlMs: 4000 }],
];

describe("every key from the file", () => {
  test.each(fileCases)("%p", (text, partial) => {
    expect(parseConfig(text, FILE, {}).config).toEqual(config(partial));
  });
});

// Every key, set from the environment (always strings).
const envCases: [string, string, Partial<Config>][] = [
  ["FLEET_ETCD_SERVERS", "http://a:2379,http://b:2379", { etcdServers: ["http://a:2379", "http://b:2379"] }],
  ["FLEET_ETCD_SERVERS", '["http://a:2379","http://b:2379"]', { etcdServers: ["http://a:2379", "http://b:2379"] }],
  ["FLEET_ETCD_KEY_PREFIX", "/x", { etcdKeyPrefix: "/x/" }],
  ["FLEET_ETCD_REQUEST_TIMEOUT", "0.25", { etcdRequestTimeoutMs: 250 }],
  ["FLEET_ETCD_USERNAME", "root", { etcdUsername: "root" }],
  ["FLEET_ETCD_PASSWORD", "pw", { etcdPassword: "pw" }],
  ["FLEET_ETCD_CAFILE", "/ca.pem", { etcdCafile: "/ca.pem" }],
  ["FLEET_PUBLIC_IP", " 192.168.1.2 ", { publicIp: "192.168.1.2" }],
  ["FLEET_METADATA", "hostname=m1", { metadata: { hostname: "m1" } }],
  ["FLEET_AGENT_TTL", "3s", { agentTtlMs: 3000 }],
  ["FLEET_ENGINE_RECONCILE_INTERVAL", "3", { engineReconcileIntervalMs: 3000 }],
  ["FLEET_DISABLE_ENGINE", "true", { disableEngine: true }],
  ["FLEET_DISABLE_WATCHES", "yes", { disableWatches: true }],
  ["FLEET_TOKEN_LIMIT", "7", { tokenLimit: 7 }],
  ["FLEET_API_MAX_REQUEST_BYTES", "2097152", { apiMaxRequestBytes: 2097152 }],
  ["FLEET_API_INSECURE", "yes", { apiInsecure: true }],
  ["FLEET_UNITS_DIRECTORY", "/srv/units/", { unitsDirectory: "/srv/units/" }],
  ["FLEET_ALLOW_UNIT_SHADOWING", "yes", { allowUnitShadowing: true }],
  ["FLEET_VERBOSITY", "2", { verbosity: 2 }],
  ["FLEET_SYSTEMD_USER", "1", { systemdUser: true }],
  ["FLEET_ENABLE_GRPC", "false", {}],
  ["FLEET_VERIFY_UNITS", "false", {}],
  ["FLEET_AUTHORIZED_KEYS_FILE", "", {}],
  ["FLEET_API_LISTEN", "unix:///tmp/a.sock", { apiListen: [{ kind: "unix", path: "/tmp/a.sock" }] }],
  ["FLEET_API_LISTEN", "[]", { apiListen: [] }],
  ["FLEET_API_TLS_CA", "", {}],
  ["FLEET_API_TOKENS", "t1,t2", { apiTokens: ["t1", "t2"] }],
  ["FLEET_MACHINE_ID", "m1", { machineId: "m1" }],
  ["FLEET_STATE_DIR", "/tmp/state", { stateDir: "/tmp/state" }],
  ["FLEET_CAPACITY", "cpu=2", { capacity: { cpuMillis: 2000 } }],
  ["FLEET_CAPACITY_RESERVED", "memory=1G", { capacityReserved: { memoryBytes: 2 ** 30 } }],
];

describe("every key from the environment", () => {
  test.each(envCases)("%s=%p", (name, value, partial) => {
    expect(parseConfig(undefined, undefined, { [name]: value }).config).toEqual(config(partial));
  });
  test("the pairs that must go together", () => {
    const env = { FLEET_ETCD_CERTFILE: "/c", FLEET_ETCD_KEYFILE: "/k", FLEET_API_TLS_CERT: "/a", FLEET_API_TLS_KEY: "/b" };
    expect(parseConfig(undefined, undefined, env).config).toEqual(
      config({ etcdCertfile: "/c", etcdKeyfile: "/k", apiTlsCert: "/a", apiTlsKey: "/b" }),
    );
  });
});

test("the tables above cover every key", () => {
  const inFile = new Set(fileCases.flatMap(([t]) => [...t.matchAll(/^\s*(\w+)\s*=/gm)].map((m) => m[1])));
  const inEnv = new Set(envCases.map(([n]) => n));
  for (const key of KEY_NAMES) {
    expect({ key, inFile: inFile.has(key) }).toEqual({ key, inFile: true });
    const hasEnv = inEnv.has(envName(key)) || ["etcd_certfile", "etcd_keyfile", "api_tls_cert", "api_tls_key"].includes(key);
    expect({ key, hasEnv }).toEqual({ key, hasEnv: true });
  }
});

test("no file and no environment gives the documented defaults", () => {
  const { config: c, warnings } = parseConfig(undefined, undefined, {});
  expect(warnings).toEqual([]);
  expect(c).toEqual({
    etcdServers: ["http://127.0.0.1:2379", "http://127.0.0.1:4001"],
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
    apiMaxRequestBytes: 1048576,
    apiInsecure: false,
    machineId: undefined,
    stateDir: "/run/fleet",
    capacity: {},
    capacityReserved: {},
  });
});

test("the returned config is a copy: changing it leaves DEFAULTS alone", () => {
  const { config: c } = parseConfig(undefined, undefined, {});
  c.etcdServers.push("http://x:1");
  c.metadata.a = "b";
  expect(DEFAULTS.etcdServers).toEqual(["http://127.0.0.1:2379", "http://127.0.0.1:4001"]);
  expect(DEFAULTS.metadata).toEqual({});
  expect(Object.isFrozen(DEFAULTS.apiListen[0])).toBe(true);
});

test("a classic fleet.conf with comments parses", () => {
  const classic = [
    "# This config file is INI-formatted",
    "",
    "# Lower the logging threshold. Acceptable values are 0, 1, and 2. A higher",
    "# value corresponds to a lower logging threshold.",
    "verbosity=1",
    "",
    'etcd_servers="http://127.0.0.1:2379"',
    'metadata="region=us-west,az=us-west-1"',
    'agent_ttl="3s"',
    'public_ip="10.10.1.1"',
    'etcd_request_timeout=1.0',
    "engine_reconcile_interval=2",
    "",
  ].join("\n");
  expect(parseConfig(classic, FILE, {})).toEqual({
    config: config({
      verbosity: 1,
      etcdServers: ["http://127.0.0.1:2379"],
      metadata: { region: "us-west", az: "us-west-1" },
      agentTtlMs: 3000,
      publicIp: "10.10.1.1",
    }),
    warnings: [],
  });
});

const F = `Invalid configuration in ${FILE}:`;
const DURATION = 'is not a duration (e.g. "30s", "1m30s")';
const SECONDS = 'is not a number of seconds or a duration (e.g. 1.5 or "1500ms")';
const BOOL = "is not a boolean (true, false, 1, 0, yes or no)";
const LIST = "is not a list (an array of strings, or a comma-separated string)";
const LISTEN = "is not a unix:///path or tcp://host:port address";

const fileErrors: [string, string][] = [
  ['agent_ttl = "30x"', `${F} agent_ttl: "30x" ${DURATION}`],
  ["agent_ttl = 30", `${F} agent_ttl: 30 ${DURATION}`],
  ["agent_ttl = 1979-05-27", `${F} agent_ttl: a date ${DURATION}`],
  ['agent_ttl = "500ms"', `${F} agent_ttl: "500ms" is too short (at least 1s: etcd leases count whole seconds)`],
  ['agent_ttl = "-1s"', `${F} agent_ttl: "-1s" is too short (at least 1s: etcd leases count whole seconds)`],
  ['agent_ttl = "25h"', `${F} agent_ttl: "25h" is too long (at most 24h)`],
  ['token_limit = "abc"', `${F} token_limit: "abc" is not an integer`],
  ["token_limit = 1.5", `${F} token_limit: 1.5 is not an integer`],
  ["token_limit = true", `${F} token_limit: true is not an integer`],
  ["token_limit = 0", `${F} token_limit: 0 is out of range (1 to 10000)`],
  ["token_limit = 10001", `${F} token_limit: 10001 is out of range (1 to 10000)`],
  ["api_max_request_bytes = 4095", `${F} api_max_request_bytes: 4095 is out of range (4096 to 67108864)`],
  ['api_max_request_bytes = "1MiB"', `${F} api_max_request_bytes: "1MiB" is not an integer`],
  ["api_max_request_bytes = 67108865", `${F} api_max_request_bytes: 67108865 is out of range (4096 to 67108864)`],
  ['api_insecure = "maybe"', `${F} api_insecure: "maybe" is not a boolean (true, false, 1, 0, yes or no)`],
  ["verbosity = -1", `${F} verbosity: -1 is out of range (0 or more)`],
  ['verbosity = "high"', `${F} verbosity: "high" is not an integer`],
  ['disable_engine = "maybe"', `${F} disable_engine: "maybe" ${BOOL}`],
  ["disable_watches = 2", `${F} disable_watches: 2 ${BOOL}`],
  ['systemd_user = "on"', `${F} systemd_user: "on" ${BOOL}`],
  ["etcd_servers = 5", `${F} etcd_servers: 5 ${LIST}`],
  ["etcd_servers = [1, 2]", `${F} etcd_servers: [1,2] ${LIST}`],
  ['etcd_servers = { a = "b" }', `${F} etcd_servers: a table ${LIST}`],
  ['etcd_servers = "ftp://x:21"', `${F} etcd_servers: "ftp://x:21" is not an http:// or https:// URL`],
  ['etcd_servers = "http://a:2379,127.0.0.1:2379"', `${F} etcd_servers: "127.0.0.1:2379" is not an http:// or https:// URL`],
  ["etcd_servers = []", `${F} etcd_servers: needs at least one server`],
  ["etcd_key_prefix = 1", `${F} etcd_key_prefix: 1 is not a string (quote it)`],
  ["etcd_request_timeout = 0", `${F} etcd_request_timeout: 0 is too short (must be more than 0)`],
  ['etcd_request_timeout = "abc"', `${F} etcd_request_timeout: "abc" ${SECONDS}`],
  ["etcd_request_timeout = inf", `${F} etcd_request_timeout: Infinity ${SECONDS}`],
  ["engine_reconcile_interval = -2", `${F} engine_reconcile_interval: -2 is too short (must be more than 0)`],
  ["engine_reconcile_interval = 100000", `${F} engine_reconcile_interval: 100000 is too long (at most 24h)`],
  ["etcd_username = true", `${F} etcd_username: true is not a string (quote it)`],
  ["etcd_password = 12345", `${F} etcd_password: the value is not a string (quote it)`],
  ["etcd_cafile = 1", `${F} etcd_cafile: 1 is not a string (quote it)`],
  ['public_ip = "not-an-ip"', `${F} public_ip: "not-an-ip" is not an IP address`],
  ["public_ip = 10", `${F} public_ip: 10 is not a string (quote it)`],
  ['metadata = "region"', `${F} metadata: pair "region" has no "="`],
  ['metadata = "a=b, c "', `${F} metadata: pair "c" has no "="`],
  ['metadata = "a=b,=c"', `${F} metadata: pair "=c" has an empty key`],
  ["metadata = 5", `${F} metadata: 5 is not a list of key=value pairs or a table`],
  ["metadata = { a = [1] }", `${F} metadata: a: [1] is not a string`],
  ['units_directory = "run/units"', `${F} units_directory: "run/units" is not an absolute path`],
  // The agent deletes unscheduled unit files from its directory: never one of systemd's.
  ['units_directory = "/etc/systemd/system"', `${F} units_directory: "/etc/systemd/system" is inside /etc/systemd, where systemd looks for units (${OWN})`],
  ['units_directory = "/lib/systemd/system/"', `${F} units_directory: "/lib/systemd/system/" is inside /lib/systemd, where systemd looks for units (${OWN})`],
  ['units_directory = "/run//systemd/./transient"', `${F} units_directory: "/run//systemd/./transient" is inside /run/systemd, where systemd looks for units (${OWN})`],
  ['units_directory = "/etc/systemd/system/multi-user.target.wants"', `${F} units_directory: "/etc/systemd/system/multi-user.target.wants" is inside /etc/systemd, where systemd looks for units (${OWN})`],
  ['units_directory = "/run"', `${F} units_directory: "/run" is above /run/systemd, where systemd looks for units (${OWN})`],
  ['units_directory = "/"', `${F} units_directory: "/" is above /etc/systemd, where systemd looks for units (${OWN})`],
  ["enable_grpc = true", `${F} enable_grpc: gRPC mode is not supported; set it to false or remove it`],
  ['enable_grpc = "on"', `${F} enable_grpc: "on" ${BOOL}`],
  ['verify_units = "sure"', `${F} verify_units: "sure" ${BOOL}`],
  ["authorized_keys_file = 1", `${F} authorized_keys_file: 1 is not a string (quote it)`],
  ['api_listen = ["http://x:1"]', `${F} api_listen: "http://x:1" ${LISTEN}`],
  ['api_listen = "tcp://host:70000"', `${F} api_listen: "tcp://host:70000" ${LISTEN}`],
  ['api_listen = "tcp://:80"', `${F} api_listen: "tcp://:80" ${LISTEN}`],
  ['api_listen = "unix://relative.sock"', `${F} api_listen: "unix://relative.sock" ${LISTEN}`],
  ['api_listen = "/var/run/fleet.sock"', `${F} api_listen: "/var/run/fleet.sock" ${LISTEN}`],
  ["api_tls_cert = 1", `${F} api_tls_cert: 1 is not a string (quote it)`],
  ["api_tls_key = 1", `${F} api_tls_key: 1 is not a string (quote it)`],
  ["api_tls_ca = 1", `${F} api_tls_ca: 1 is not a string (quote it)`],
  ['api_tokens = ["has space"]', `${F} api_tokens: a token contains spaces or characters that are not printable ASCII`],
  ["api_tokens = 12345", `${F} api_tokens: the value ${LIST}`],
  ['machine_id = "a/b"', `${F} machine_id: "a/b" is not a machine ID (letters, digits, "-", "_" and ".", not starting with "-", "_" or ".", at most 128 characters)`],
  ['state_dir = "run/fleet"', `${F} state_dir: "run/fleet" is not an absolute path`],
  ['capacity = "cpu"', `${F} capacity: pair "cpu" has no "=" (e.g. "cpu=4,memory=8G")`],
  ['capacity = "disk=1T"', `${F} capacity: "disk" is not a resource (cpu or memory)`],
  ['capacity = "cpu=lots"', `${F} capacity: cpu: "lots" is not an amount of CPU (CPUs such as 0.5 or 2, thousandths of one such as 500m, or a percentage of one such as 50%)`],
  ['capacity_reserved = "memory=1Q"', `${F} capacity_reserved: memory: "1Q" is not a size (bytes, or a number with a K, M, G, T, P or E suffix, e.g. 512M or 1.5G)`],
  ["capacity = 4", `${F} capacity: 4 is not cpu=<CPUs>,memory=<size> pairs or a table`],
  ["capacity = { cpu = true }", `${F} capacity: cpu: true is not a string or a number`],
  ['Agent_TTL = "x"', `${F} Agent_TTL: "x" ${DURATION}`],
  ['agent_ttl = "3s"\nAGENT_TTL = "4s"', `${F} AGENT_TTL: given twice (also as agent_ttl)`],
  ['etcd_server = "http://a:1"', `Unknown configuration key "etcd_server" in ${FILE} (did you mean "etcd_servers"?)`],
  ["agent-ttl = 1", `Unknown configuration key "agent-ttl" in ${FILE} (did you mean "agent_ttl"?)`],
  ["verbosty = 1", `Unknown configuration key "verbosty" in ${FILE} (did you mean "verbosity"?)`],
  ["colour = 1", `Unknown configuration key "colour" in ${FILE}`],
  ["constructor = 1", `Unknown configuration key "constructor" in ${FILE}`],
  ['"__proto__" = 1', `Unknown configuration key "__proto__" in ${FILE}`],
  ["[etcd]\nservers = 1", `Unknown configuration key "etcd" in ${FILE}`],
  ['etcd_certfile = "/c.pem"', "Invalid configuration: etcd_certfile is set but etcd_keyfile is not (they go together)"],
  ['etcd_keyfile = "/k.pem"', "Invalid configuration: etcd_keyfile is set but etcd_certfile is not (they go together)"],
  ['api_tls_key = "/k.pem"', "Invalid configuration: api_tls_key is set but api_tls_cert is not (they go together)"],
  ['api_tls_ca = "/ca.pem"', "Invalid configuration: api_tls_ca is set but api_tls_cert is not (client certificates need TLS)"],
];

describe("bad values in the file name the file and the key", () => {
  test.each(fileErrors)("%p", (text, message) => {
    expect(problemsOf(text)).toEqual([message]);
  });
});

const envErrors: [string, string, string][] = [
  ["FLEET_TOKEN_LIMIT", "abc", '"abc" is not an integer'],
  ["FLEET_TOKEN_LIMIT", "20000", '"20000" is out of range (1 to 10000)'],
  ["FLEET_AGENT_TTL", "30", `"30" ${DURATION}`],
  ["FLEET_ENGINE_RECONCILE_INTERVAL", "soon", `"soon" ${SECONDS}`],
  ["FLEET_DISABLE_ENGINE", "maybe", `"maybe" ${BOOL}`],
  ["FLEET_METADATA", "hostname", 'pair "hostname" has no "="'],
  ["FLEET_ENABLE_GRPC", "true", "gRPC mode is not supported; set it to false or remove it"],
  ["FLEET_ETCD_SERVERS", "[]", "needs at least one server"],
  ["FLEET_API_LISTEN", "unix://x", `"unix://x" ${LISTEN}`],
  ["FLEET_PUBLIC_IP", "abc", '"abc" is not an IP address'],
  ["FLEET_VERBOSITY", "-1", '"-1" is out of range (0 or more)'],
  ["FLEET_MACHINE_ID", "has space", '"has space" is not a machine ID (letters, digits, "-", "_" and ".", not starting with "-", "_" or ".", at most 128 characters)'],
  ["FLEET_API_TOKENS", "a\tb", "a token contains spaces or characters that are not printable ASCII"],
];

describe("bad values in the environment name the variable", () => {
  test.each(envErrors)("%s=%p", (name, value, problem) => {
    expect(problemsOf(undefined, { [name]: value })).toEqual([`Invalid configuration in environment ${name}: ${problem}`]);
  });
});

describe("precedence", () => {
  const cases: [string, string, Env, Partial<Config>][] = [
    ["the environment wins over the file", "token_limit = 50", { FLEET_TOKEN_LIMIT: "70" }, { tokenLimit: 70 }],
    ["the file wins over the defaults", "token_limit = 50", {}, { tokenLimit: 50 }],
    ["an empty variable resets a duration to the default", 'agent_ttl = "3s"', { FLEET_AGENT_TTL: "" }, {}],
    ["an empty variable clears metadata", 'metadata = "a=b"', { FLEET_METADATA: "" }, {}],
    ["an empty variable clears public_ip", 'public_ip = "10.0.0.1"', { FLEET_PUBLIC_IP: "" }, {}],
    ["an empty variable restores the etcd servers", 'etcd_servers = "http://a:1"', { FLEET_ETCD_SERVERS: "" }, {}],
    ["an empty variable restores a boolean", "disable_engine = true", { FLEET_DISABLE_ENGINE: "" }, {}],
    ["an unset variable does not override", "token_limit = 50", { FLEET_TOKEN_LIMIT: undefined }, { tokenLimit: 50 }],
    ["an empty string in the file means the default", 'agent_ttl = ""\nunits_directory = ""', {}, {}],
    [
      "unknown FLEET_ variables are ignored",
      "",
      { FLEET_ARGV0: "fleetd", FLEET_ETCD_SERVER: "x", fleet_token_limit: "5", PATH: "/bin" },
      {},
    ],
  ];
  test.each(cases)("%s", (_name, text, env, partial) => {
    expect(parseConfig(text, FILE, env).config).toEqual(config(partial));
  });

  test("a bad file value is reported even when the environment overrides it", () => {
    expect(problemsOf('agent_ttl = "x"', { FLEET_AGENT_TTL: "3s" })).toEqual([`${F} agent_ttl: "x" ${DURATION}`]);
  });

  test("a pair can be completed from the environment", () => {
    const { config: c } = parseConfig('etcd_certfile = "/c.pem"', FILE, { FLEET_ETCD_KEYFILE: "/k.pem" });
    expect([c.etcdCertfile, c.etcdKeyfile]).toEqual(["/c.pem", "/k.pem"]);
  });
});

test("every problem is reported at once, file first, then environment, then combinations", () => {
  const text = 'agent_ttl = "30x"\netcd_server = "x"\ntoken_limit = 0\netcd_certfile = "/c"';
  const problems = problemsOf(text, { FLEET_VERBOSITY: "loud" });
  expect(problems).toEqual([
    `${F} agent_ttl: "30x" ${DURATION}`,
    `Unknown configuration key "etcd_server" in ${FILE} (did you mean "etcd_servers"?)`,
    `${F} token_limit: 0 is out of range (1 to 10000)`,
    'Invalid configuration in environment FLEET_VERBOSITY: "loud" is not an integer',
    "Invalid configuration: etcd_certfile is set but etcd_keyfile is not (they go together)",
  ]);
  expect(() => parseConfig(text, FILE, { FLEET_VERBOSITY: "loud" })).toThrow(new ConfigError(problems));
  expect(new ConfigError(problems).message).toBe(problems.join("\n"));
});

test("secrets are never echoed in errors", () => {
  const secret = "hunter2-secret";
  const problems = [
    ...problemsOf(`api_tokens = ["${secret}", "bad token"]`),
    ...problemsOf(`api_tokens = [1, "${secret}"]`),
    ...problemsOf(undefined, { FLEET_API_TOKENS: `${secret}, x\u0001y` }),
  ];
  expect(problems).toHaveLength(3);
  for (const p of problems) expect(p).not.toContain(secret);
});

describe("TOML syntax errors name the file and line", () => {
  const cases: [string, string][] = [
    ['verbosity = 1\netcd_servers = "http://a:1\n', `Cannot parse config file ${FILE}: line 2: unterminated string`],
    [
      "verbosity=1\netcd_servers=http://127.0.0.1:2379\n",
      `Cannot parse config file ${FILE}: line 2: unexpected character, expecting string, number, datetime, boolean, inline array or inline table (quote string values: etcd_servers="http://127.0.0.1:2379")`,
    ],
    [
      "agent_ttl=3s",
      `Cannot parse config file ${FILE}: line 1: unexpected character, expected only whitespace or comments till end of line (quote string values: agent_ttl="3s")`,
    ],
    ['a = "1"\na = "2"', `Cannot parse config file ${FILE}: line 2: can't redefine existing key`],
  ];
  test.each(cases)("%p", (text, message) => {
    expect(problemsOf(text)).toEqual([message]);
  });
  test("a byte-order mark is not a syntax error", () => {
    expect(parseConfig('\uFEFFagent_ttl = "3s"', FILE, {}).config.agentTtlMs).toBe(3000);
  });
});

describe("warnings", () => {
  const cases: [string, string, Env, string[]][] = [
    ["verify_units=true", "verify_units = true", {}, ["Config option verify_units is no longer supported - ignoring"]],
    ["verify_units=false", "verify_units = false", {}, []],
    [
      "disable_watches=true",
      "disable_watches = true",
      {},
      ["Config option disable_watches has no effect: each machine watches only its own keys in etcd - ignoring"],
    ],
    ["disable_watches=false", "", { FLEET_DISABLE_WATCHES: "false" }, []],
    ["verify_units turned off by the environment", "verify_units = true", { FLEET_VERIFY_UNITS: "false" }, []],
    [
      "authorized_keys_file set",
      "",
      { FLEET_AUTHORIZED_KEYS_FILE: "/root/.ssh/authorized_keys" },
      ["Config option authorized_keys_file is no longer supported - ignoring"],
    ],
    // Refused (or warned about, with api_insecure) when the daemon opens it: listener-policy.ts.
    ["a TCP listener without TLS or tokens", 'api_listen = "unix:///a.sock,tcp://0.0.0.0:49153"', {}, []],
    [
      "etcd credentials over http://",
      'etcd_servers = "https://a:2379,http://b:2379,http://c:2379"\netcd_username = "fleet"\netcd_password = "pw"',
      {},
      ["etcd_username and etcd_password are sent in clear text to http://b:2379, http://c:2379: anyone on the path can read them; use https:// etcd_servers"],
    ],
    ["etcd credentials over https:// only", 'etcd_servers = "https://a:2379"\netcd_username = "fleet"', {}, []],
    ["etcd over http:// without credentials", 'etcd_servers = "http://a:2379"', {}, []],
    ["a TCP listener with tokens", 'api_listen = "tcp://[::]:1"\napi_tokens = "t"', {}, []],
    ["a TCP listener with TLS", `api_listen = "tcp://[::]:1"\n${TLS}`, {}, []],
    // Warned about when the daemon opens its listeners: systemd may pass a TCP socket.
    ["TLS without a TCP listener", TLS, {}, []],
  ];
  test.each(cases)("%s", (_name, text, env, warnings) => {
    expect(parseConfig(text, FILE, env).warnings).toEqual(warnings);
  });
});
