// Installs fleet in a machine the way docs/install.md tells an operator to: the shipped unit
// files (contrib/systemd) under /etc/systemd/system, /etc/fleet/fleet.conf, the binary at
// /usr/local/bin/fleet, then `systemctl enable` and start. Two things differ, both because a
// machine shares the host's filesystem outside /etc, /run and /tmp:
// - /usr/local gets an overlay inside the machine (its writes land in the machine directory)
//   and the host's binary is bind-mounted read-only at /usr/local/bin/fleet, so nothing is
//   written to the host's /usr and nothing is copied (the binary is over 100 MB).
// - a socket drop-in adds a TCP listener on the machine's address, so the host reaches the API;
//   it serves TLS with the sandbox's certificate (api-tls.ts) and requires the sandbox's token.
// Mounts do not survive a reboot of the machine: `fleet sandbox start` installs again.
import fleetService from "../../contrib/systemd/fleet.service" with { type: "text" };
import fleetSocket from "../../contrib/systemd/fleet.socket" with { type: "text" };
import { INNER_DIR } from "./boot-script.ts";
import type { Machine } from "./machine.ts";

export const CONFIG_PATH = "/etc/fleet/fleet.conf";
export const BINARY_PATH = "/usr/local/bin/fleet";
export const SERVICE = "fleet.service";
export const SOCKET = "fleet.socket";
const SOCKET_DROP_IN = "/etc/systemd/system/fleet.socket.d/50-sandbox.conf";
const TLS_CERT_PATH = "/etc/fleet/api.pem";
const TLS_KEY_PATH = "/etc/fleet/api-key.pem";
/** Paths a machine does not share with the host (see boot-script.ts). */

export interface InstallOptions {
  /** Host path of the fleet binary; machines see the host's files outside their private paths. */
  binary: string;
  /** Every etcd member's client URL, as the machine reaches it. */
  etcdEndpoints: readonly string[];
  keyPrefix: string;
  metadata: Record<string, string>;
  /** Bearer token of the TCP API listener. */
  token: string;
  /** PEM certificate and key the TCP API listener serves (a TCP listener off loopback needs TLS). */
  tls: { cert: string; key: string };
  apiPort: number;
  agentTtl: string;
}

const toml = (s: string) => JSON.stringify(s);

export function sandboxConfig(m: { name: string; ip: string }, o: InstallOptions): string {
  const lines = [
    `# Written by fleet sandbox for ${m.name}. Reference: docs/configuration.md.`,
    `etcd_servers = [${o.etcdEndpoints.map(toml).join(", ")}]`,
    `etcd_key_prefix = ${toml(o.keyPrefix)}`,
    `public_ip = ${toml(m.ip)}`,
    "# Short, so that a machine that dies hands its units over within seconds.",
    `agent_ttl = ${toml(o.agentTtl)}`,
    "# The TCP listener that fleet.socket.d/50-sandbox.conf adds: TLS, and this token required.",
    `api_tls_cert = ${toml(TLS_CERT_PATH)}`,
    `api_tls_key = ${toml(TLS_KEY_PATH)}`,
    `api_tokens = [${toml(o.token)}]`,
  ];
  const meta = Object.entries(o.metadata);
  if (meta.length > 0) lines.push(`metadata = { ${meta.map(([k, v]) => `${toml(k)} = ${toml(v)}`).join(", ")} }`);
  return `${lines.join("\n")}\n`;
}

export function socketDropIn(ip: string, port: number): string {
  return `# Written by fleet sandbox: the API on this machine's address too, so the host can reach it.\n[Socket]\nListenStream=${ip}:${port}\n`;
}

/**
 * Runs inside the machine with the binary's host path as $1; safe to run again. Machines see
 * the host's files except under their private /run, /tmp, /var/tmp and /dev/shm; the
 * directory of the running fleet binary is kept visible even under /tmp (boot-script.ts).
 */
export const INSTALL_SCRIPT = `set -eu
bin="$1"
mounted() { awk -v p="$1" '$5 == p { found = 1 } END { exit !found }' /proc/self/mountinfo; }
[ -f "$bin" ] || { echo "$bin is not visible inside the machine (it is under a path each machine mounts privately)" >&2; exit 1; }
if ! mounted /usr/local; then
  mkdir -p ${INNER_DIR}/usr-local/upper ${INNER_DIR}/usr-local/work
  mount -t overlay overlay -o lowerdir=/usr/local,upperdir=${INNER_DIR}/usr-local/upper,workdir=${INNER_DIR}/usr-local/work /usr/local
fi
mkdir -p /usr/local/bin
if ! mounted ${BINARY_PATH}; then
  [ -e ${BINARY_PATH} ] || : > ${BINARY_PATH}
  mount --bind "$bin" ${BINARY_PATH}
  mount -o remount,bind,ro ${BINARY_PATH}
fi
ln -sfn fleet /usr/local/bin/fleetd
ln -sfn fleet /usr/local/bin/fleetctl
systemctl daemon-reload
systemctl enable --quiet ${SOCKET} ${SERVICE}
systemctl start ${SOCKET}
systemctl reset-failed ${SERVICE} 2>/dev/null || true
systemctl start --no-block ${SERVICE}
`;

/** Writes the files, mounts the binary, enables and starts fleet; does not wait for it. */
export async function installFleet(m: Machine, opts: InstallOptions): Promise<void> {
  await m.writeFile(`/etc/systemd/system/${SERVICE}`, fleetService);
  await m.writeFile(`/etc/systemd/system/${SOCKET}`, fleetSocket);
  await m.writeFile(SOCKET_DROP_IN, socketDropIn(m.ip, opts.apiPort));
  await m.writeFile(TLS_CERT_PATH, opts.tls.cert);
  await m.writeFile(TLS_KEY_PATH, opts.tls.key, "0600");
  await m.writeFile(CONFIG_PATH, sandboxConfig(m, opts), "0600");
  try {
    await m.execOk(["/bin/sh", "-c", INSTALL_SCRIPT, "install-fleet", opts.binary], { timeoutMs: 30_000 });
  } catch (err) {
    throw new Error(`Cannot install fleet in ${m.name}: ${(err as Error).message}`);
  }
}

/** `systemctl is-active fleet.service` in the machine ("inactive" when it is not running). */
export async function fleetActiveState(m: Machine): Promise<string> {
  return unitActiveState(m, SERVICE);
}

/** `systemctl is-active` of a unit in the machine; "-" when the machine is not running. */
export async function unitActiveState(m: Machine, unit: string): Promise<string> {
  if (!m.isStarted()) return "-";
  const r = await m.exec(["systemctl", "is-active", unit], { timeoutMs: 5_000 });
  return r.stdout.trim() || (r.timedOut ? "unresponsive" : "unknown");
}
