// Run by api-listeners.test.ts under `systemd-socket-activate`: serves the real API handler
// (over the test's etcd) on the inherited socket, prints its addresses (or why it refused to
// serve), stops on SIGTERM.
import { createApiHandler } from "../../src/api/handler.ts";
import { serveApi } from "../../src/api/listeners.ts";
import { createLogger } from "../../src/log/logger.ts";
import { EtcdClient } from "../../src/registry/etcd/index.ts";
import { Registry } from "../../src/registry/registry.ts";

const env = process.env;
const listenFds = env.LISTEN_FDS ?? null;
const log = createLogger({ verbosity: 1, journal: false });
const client = new EtcdClient({ endpoints: [env.FLEET_TEST_ETCD as string] });
const handler = createApiHandler({
  registry: new Registry(client, env.FLEET_TEST_PREFIX as string), tokenLimit: 100, version: "activated", isReady: () => true, log,
});
const tlsDir = env.FLEET_TEST_TLS_DIR;
const listeners = await serveApi(handler, {
  listen: [{ kind: "unix", path: env.FLEET_TEST_UNUSED_SOCKET as string }],
  tokens: env.FLEET_TEST_TOKENS ? env.FLEET_TEST_TOKENS.split(",") : undefined,
  tls: tlsDir ? { cert: `${tlsDir}/server.crt`, key: `${tlsDir}/server.key`, ca: `${tlsDir}/ca.crt` } : undefined,
  log,
  version: "activated",
}).catch((err: Error) => {
  process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
  process.exit(1);
});
process.stdout.write(`${JSON.stringify({ addresses: listeners.addresses, listenFds, leftInEnv: env.LISTEN_FDS ?? null })}\n`);
process.on("SIGTERM", () => {
  void listeners.close().then(() => {
    client.close();
    process.exit(0);
  });
});
