import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, DEFAULTS, loadConfig, type LoadOptions } from "../../src/config/index.ts";

const dir = mkdtempSync(join(tmpdir(), "fleet-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const conf = join(dir, "fleet.conf");
writeFileSync(conf, 'etcd_servers="http://127.0.0.1:2379"\nmetadata="region=us-west,az=us-west-1"\nagent_ttl="3s"\n');
const sub = join(dir, "conf.d");
mkdirSync(sub);
const broken = join(dir, "broken.conf");
writeFileSync(broken, "verbosity = 1\netcd_servers = http://a:2379\n");
const badValue = join(dir, "bad-value.conf");
writeFileSync(badValue, 'agent_ttl = "30x"\n');
const missing = join(dir, "missing.conf");

function errorOf(opts: LoadOptions): string {
  try {
    loadConfig(opts);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error("loadConfig succeeded");
}

const failures: [string, LoadOptions, string][] = [
  ["a missing --config file", { file: missing, env: {} }, `Unable to use config file ${missing}: no such file or directory`],
  ["a --config directory", { file: sub, env: {} }, `Provided config ${sub} is a directory, not a file`],
  [
    "a --config path through a file",
    { file: join(conf, "x"), env: {} },
    `Unable to use config file ${join(conf, "x")}: not a directory`,
  ],
  ["a default file that is a directory", { defaultFile: sub, env: {} }, `Provided config ${sub} is a directory, not a file`],
  [
    "a syntax error names the real path",
    { file: broken, env: {} },
    `Cannot parse config file ${broken}: line 2: unexpected character, expecting string, number, datetime, boolean, inline array or inline table (quote string values: etcd_servers="http://a:2379")`,
  ],
  [
    "a bad value in the file names the real path",
    { file: badValue, env: {} },
    `Invalid configuration in ${badValue}: agent_ttl: "30x" is not a duration (e.g. "30s", "1m30s")`,
  ],
  [
    "a bad value in the environment names the variable",
    { file: conf, env: { FLEET_AGENT_TTL: "3" } },
    'Invalid configuration in environment FLEET_AGENT_TTL: "3" is not a duration (e.g. "30s", "1m30s")',
  ],
];

test.each(failures)("%s is an error", (_name, opts, message) => {
  expect(errorOf(opts)).toBe(message);
});

test("--config reads the file and reports it as the source", () => {
  const { config, source, warnings } = loadConfig({ file: conf, env: {}, defaultFile: missing });
  expect(source).toBe(conf);
  expect(warnings).toEqual([]);
  expect(config.etcdServers).toEqual(["http://127.0.0.1:2379"]);
  expect(config.metadata).toEqual({ region: "us-west", az: "us-west-1" });
  expect(config.agentTtlMs).toBe(3000);
});

test("--config wins over the default file", () => {
  const other = join(dir, "other.conf");
  writeFileSync(other, "token_limit = 5\n");
  expect(loadConfig({ file: other, defaultFile: conf, env: {} }).config.tokenLimit).toBe(5);
  expect(loadConfig({ file: other, defaultFile: conf, env: {} }).config.agentTtlMs).toBe(30_000);
});

test("without --config the default file is read when it exists", () => {
  const { config, source } = loadConfig({ defaultFile: conf, env: {} });
  expect(source).toBe(conf);
  expect(config.agentTtlMs).toBe(3000);
});

test("without --config and without the default file the defaults apply", () => {
  expect(loadConfig({ defaultFile: missing, env: {} })).toEqual({
    config: structuredClone(DEFAULTS),
    source: undefined,
    warnings: [],
  });
});

test("the environment overrides the file", () => {
  const { config } = loadConfig({ file: conf, env: { FLEET_AGENT_TTL: "7s", FLEET_METADATA: "" } });
  expect(config.agentTtlMs).toBe(7000);
  expect(config.metadata).toEqual({});
  expect(config.etcdServers).toEqual(["http://127.0.0.1:2379"]);
});

test("the environment defaults to process.env", () => {
  const saved = process.env.FLEET_TOKEN_LIMIT;
  process.env.FLEET_TOKEN_LIMIT = "42";
  try {
    expect(loadConfig({ file: conf }).config.tokenLimit).toBe(42);
  } finally {
    if (saved === undefined) delete process.env.FLEET_TOKEN_LIMIT;
    else process.env.FLEET_TOKEN_LIMIT = saved;
  }
});
