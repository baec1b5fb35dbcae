// The sample config and the key reference must stay in step with the code.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULTS, KEY_NAMES, parseConfig } from "../../src/config/index.ts";

const root = join(import.meta.dir, "../..");
const sample = readFileSync(join(root, "contrib/fleet.conf.sample"), "utf8");
const reference = readFileSync(join(root, "docs/configuration.md"), "utf8");

/** The sample with the first commented example of each key switched on. */
function uncommented(): { text: string; keys: string[] } {
  const keys: string[] = [];
  const lines = sample.split("\n").map((line) => {
    const m = /^#([a-z_]+) = /.exec(line);
    if (!m?.[1] || keys.includes(m[1])) return line;
    keys.push(m[1]);
    return line.slice(1);
  });
  return { text: lines.join("\n"), keys };
}

test("the sample as shipped changes nothing", () => {
  expect(parseConfig(sample, "fleet.conf.sample", {})).toEqual({ config: structuredClone(DEFAULTS), warnings: [] });
});

test("the sample shows every key, and every example is valid", () => {
  const { text, keys } = uncommented();
  expect([...keys].sort()).toEqual([...KEY_NAMES].sort());
  const { config } = parseConfig(text, "fleet.conf.sample", {});
  // The lines that claim to show the default must match the defaults.
  const shownAsDefault = [
    "etcdServers",
    "etcdKeyPrefix",
    "etcdRequestTimeoutMs",
    "agentTtlMs",
    "unitsDirectory",
    "allowUnitShadowing",
    "stateDir",
    "systemdUser",
    "disableEngine",
    "engineReconcileIntervalMs",
    "disableWatches",
    "apiListen",
    "tokenLimit",
    "apiMaxRequestBytes",
    "apiInsecure",
    "verbosity",
  ] as const;
  for (const field of shownAsDefault) expect({ field, value: config[field] }).toEqual({ field, value: DEFAULTS[field] });
});

test("docs/configuration.md has one row for every key and no others", () => {
  const rows = [...reference.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
  expect([...rows].sort()).toEqual([...KEY_NAMES].sort());
});
