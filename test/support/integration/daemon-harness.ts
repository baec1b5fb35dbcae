// An in-process fleet daemon for integration tests: a real etcd, the fake unit manager, the API
// on a unix socket in a temp directory, and the daemon's log and sd_notify messages kept.
import { join } from "node:path";
import { type Config, parseConfig } from "../../../src/config/index.ts";
import { Daemon, type DaemonOptions } from "../../../src/daemon/daemon.ts";
import { createLogger } from "../../../src/log/logger.ts";
import { FakeUnitManager } from "../../../src/systemd/fake-unit-manager.ts";

/** A daemon in this process; disposing of it stops the daemon (keeping its lease, as a restart would). */
export interface Node extends AsyncDisposable {
  daemon: Daemon;
  socket: string;
  units: FakeUnitManager;
  notified: string[];
  lines: string[];
}

/** The defaults with short timers, this etcd, and every path under `dir`. */
export function daemonConfig(endpoint: string, dir: string, machineId: string, over: Partial<Config> = {}): Config {
  const base = parseConfig(undefined, undefined, {}).config;
  return {
    ...base,
    etcdServers: [endpoint],
    agentTtlMs: 3000,
    engineReconcileIntervalMs: 500,
    apiListen: [{ kind: "unix", path: join(dir, "fleet.sock") }],
    unitsDirectory: join(dir, "units"),
    stateDir: join(dir, "state"),
    machineId,
    publicIp: "10.9.9.9",
    ...over,
  };
}

export async function startNode(
  endpoint: string,
  dir: string,
  opts: { machineId: string; config?: Partial<Config>; verbosity?: number; extra?: Partial<DaemonOptions> },
): Promise<Node> {
  const notified: string[] = [];
  const lines: string[] = [];
  const units = new FakeUnitManager({ unitsDirectory: join(dir, "units") });
  const daemon = await Daemon.start({
    config: daemonConfig(endpoint, dir, opts.machineId, opts.config),
    log: createLogger({ verbosity: opts.verbosity ?? 0, write: (l) => lines.push(l) }),
    version: "9.9.9",
    units,
    notify: async (s) => {
      notified.push(s);
      return true;
    },
    ...opts.extra,
  });
  return { daemon, socket: join(dir, "fleet.sock"), units, notified, lines, [Symbol.asyncDispose]: () => daemon.stop() };
}

/** A request to the node's API socket; `path` is the whole path, e.g. `/fleet/v1/machines`. */
export function api(node: Node, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`http://localhost${path}`, { ...init, unix: node.socket } as RequestInit);
}
