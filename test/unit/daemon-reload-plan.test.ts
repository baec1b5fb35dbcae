import { expect, test } from "bun:test";
import { type Config, parseConfig } from "../../src/config/index.ts";
import { planReload } from "../../src/daemon/reload-plan.ts";

const base: Config = { ...parseConfig(undefined, undefined, {}).config, machineId: "m1", publicIp: "10.0.0.1" };

test("an unchanged configuration changes nothing", () => {
  const plan = planReload(base, structuredClone(base));
  expect(plan).toEqual({ changed: [], needsRestart: [], config: base, machine: false, verbosity: false, presence: false, engine: false });
});

test("metadata, public_ip and verbosity apply in place without restarting components", () => {
  const plan = planReload(base, { ...base, metadata: { a: "b" }, publicIp: undefined, verbosity: 2 });
  expect(plan.changed).toEqual(["metadata", "public_ip", "verbosity"]);
  expect(plan).toMatchObject({ needsRestart: [], machine: true, verbosity: true, presence: false, engine: false });
  expect(plan.config.metadata).toEqual({ a: "b" });
  expect(plan.config.publicIp).toBeUndefined();
});

test("agent_ttl restarts presence and the engine; the reconcile interval only the engine", () => {
  expect(planReload(base, { ...base, agentTtlMs: 9000 })).toMatchObject({ presence: true, engine: true, machine: false });
  expect(planReload(base, { ...base, engineReconcileIntervalMs: 9000 })).toMatchObject({ presence: false, engine: true, machine: false });
});

test("disable_engine starts or stops the engine and changes the machine record's capabilities", () => {
  expect(planReload(base, { ...base, disableEngine: true })).toMatchObject({ changed: ["disable_engine"], engine: true, machine: true });
});

test("keys only a restart applies are named and keep their running values", () => {
  const next: Config = {
    ...base,
    etcdServers: ["http://elsewhere:2379"],
    tokenLimit: 7,
    apiListen: [{ kind: "tcp", host: "127.0.0.1", port: 1 }],
    machineId: "m2",
    metadata: { x: "y" },
  };
  const plan = planReload(base, next);
  expect(plan.needsRestart).toEqual(["api_listen", "etcd_servers", "machine_id", "token_limit"]);
  expect(plan.changed).toEqual(["api_listen", "etcd_servers", "machine_id", "metadata", "token_limit"]);
  expect(plan.config).toEqual({ ...base, metadata: { x: "y" } });
});

test("capacity and capacity_reserved re-put the machine record in place", () => {
  expect(planReload(base, { ...base, capacity: { cpuMillis: 2000 } })).toMatchObject({ changed: ["capacity"], needsRestart: [], machine: true, engine: false });
  expect(planReload(base, { ...base, capacityReserved: { memoryBytes: 1 } })).toMatchObject({ changed: ["capacity_reserved"], machine: true });
});
