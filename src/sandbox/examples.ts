// The example units `fleet sandbox up --examples` starts, embedded from examples/units so the
// binary needs no checkout. They are started with the real `fleet ctl` against the sandbox's
// API, which exercises the whole path: client, API, engine, agents, systemd.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import hello from "../../examples/units/hello.service" with { type: "text" };
import monitor from "../../examples/units/monitor.service" with { type: "text" };
import web from "../../examples/units/web@.service" with { type: "text" };
import { EtcdClient } from "../registry/etcd/index.ts";
import { Registry } from "../registry/registry.ts";
import { run } from "./command.ts";
import { waitFor } from "../lib/wait-for.ts";

export const EXAMPLE_FILES: Readonly<Record<string, string>> = {
  "hello.service": hello,
  "monitor.service": monitor,
  "web@.service": web,
};

/** A unit anywhere, a global unit, and two instances that may not share a machine. */
export const EXAMPLE_UNITS: readonly string[] = ["hello.service", "monitor.service", "web@1.service", "web@2.service"];
/** fleet ctl start does not wait for global units: the sandbox does, so what it shows is complete. */
const GLOBAL_EXAMPLE = "monitor.service";

/** Writes the example files into dir (the user can edit and start them again from there). */
export function writeExamples(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(EXAMPLE_FILES)) writeFileSync(join(dir, name), text);
}

/** `fleet ctl start` of the examples from dir, with the sandbox's FLEETCTL_* environment. */
export async function startExamples(binary: string, dir: string, env: Record<string, string>, timeoutMs = 90_000): Promise<string> {
  writeExamples(dir);
  const argv = ["/bin/sh", "-c", 'cd "$0" && exec "$@"', dir, binary, "ctl", "start", ...EXAMPLE_UNITS];
  const result = await run(argv, { env: { ...baseEnv(), ...env }, timeoutMs });
  if (result.code !== 0 || result.timedOut) {
    const why = result.timedOut ? `did not finish within ${timeoutMs / 1000} s` : `exited with ${result.code}`;
    throw new Error(`Cannot start the example units: fleet ctl start ${why}: ${(result.stderr || result.stdout).trim()}`);
  }
  return result.stdout;
}

/** Waits until the global example is active on every machine (by its state in etcd). */
export async function waitGlobalExample(etcdEndpoint: string, keyPrefix: string, machines: readonly { name: string; machineId: string }[], timeoutMs = 30_000): Promise<void> {
  const client = new EtcdClient({ endpoints: [etcdEndpoint], retries: 0 });
  const registry = new Registry(client, keyPrefix);
  let lagging = [...machines];
  try {
    await waitFor(
      async () => {
        const states = await registry.listStates({ units: [GLOBAL_EXAMPLE] });
        const active = new Set(states.filter((s) => s.activeState === "active").map((s) => s.machineId));
        lagging = machines.filter((m) => !active.has(m.machineId));
        return lagging.length === 0;
      },
      { timeoutMs, what: () => `${GLOBAL_EXAMPLE} to be active on ${lagging.map((m) => m.name).join(", ")}`, intervalMs: 100 },
    );
  } finally {
    client.close();
  }
}

function baseEnv(): Record<string, string> {
  const keep: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("FLEETCTL_")) keep[k] = v;
  return keep;
}
