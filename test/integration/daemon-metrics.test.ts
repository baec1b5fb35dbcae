// The daemon's registry metrics against a real etcd, with the in-memory UnitManager standing
// in for systemd: after start, GET /metrics shows the etcd operations registration made.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, parseConfig } from "../../src/config/index.ts";
import { Daemon } from "../../src/daemon/daemon.ts";
import { createLogger } from "../../src/log/logger.ts";
import { createFleetMetrics } from "../../src/metrics/fleet.ts";
import { MetricsRegistry } from "../../src/metrics/metrics.ts";
import { FakeUnitManager } from "../../src/systemd/fake-unit-manager.ts";
import { startEtcd } from "../support/etcd-server.ts";
import { until } from "../support/until.ts";

const ID = "beefbeefbeefbeefbeefbeefbeefbeef";

test("GET /metrics counts the daemon's etcd operations", async () => {
  await using etcd = await startEtcd();
  const dir = mkdtempSync(join(tmpdir(), "fleet-metrics-"));
  const socket = join(dir, "fleet.sock");
  const metrics = createFleetMetrics(new MetricsRegistry());
  const config: Config = {
    ...parseConfig(undefined, undefined, {}).config,
    etcdServers: [etcd.endpoint],
    agentTtlMs: 3000,
    apiListen: [{ kind: "unix", path: socket }],
    unitsDirectory: join(dir, "units"),
    stateDir: join(dir, "state"),
    machineId: ID,
    publicIp: "10.9.9.9",
    disableEngine: true,
  };
  const daemon = await Daemon.start({
    config, log: createLogger({ verbosity: 0, write: () => undefined }), version: "9.9.9",
    units: new FakeUnitManager({ unitsDirectory: join(dir, "units") }), notify: async () => true, metrics,
  });
  try {
    await until("registration", () => daemon.ready, 10_000);
    const text = await (await fetch("http://localhost/metrics", { unix: socket } as RequestInit)).text();
    const count = (type: string) => Number(text.match(new RegExp(`^fleet_registry_operation_count_total\\{type="${type}"\\} (\\d+)$`, "m"))?.[1] ?? 0);
    // Registration grants a lease and writes the machine in a txn; the agent lists its schedule.
    expect(count("lease_grant")).toBeGreaterThanOrEqual(1);
    expect(count("txn")).toBeGreaterThanOrEqual(1);
    expect(count("range")).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^fleet_registry_operation_duration_second_count\{ops="txn"\} [1-9]/m);
    expect(metrics.registryOperationCount.get({ type: "lease_grant" })).toBe(count("lease_grant"));
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
