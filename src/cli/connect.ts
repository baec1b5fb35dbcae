// Builds the FleetClient for the global options: the API driver on a unix socket or http(s), or
// the etcd driver; TLS files, the bearer token, the request timeout and --tunnel.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { ApiDriver } from "./api-driver.ts";
import type { Logger } from "../log/logger.ts";
import type { FleetClient } from "./client.ts";
import { apiBaseUrl, InitError, planConnection } from "./endpoint.ts";
import { EtcdDriver } from "./etcd-driver.ts";
import type { GlobalOptions } from "./global-flags.ts";
import { expandHome, splitHostPort, sshAddressProblem, tunnelFdForwardArgv, tunnelForwardArgv, type SshSettings } from "./ssh.ts";
import { startTunnel, type Tunnel } from "./tunnel.ts";
import { homeOfUser } from "./remote.ts";

export interface Connection {
  client: FleetClient;
  warnings: string[];
}

function readPem(flag: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new InitError(`cannot read --${flag} ${path}: ${(err as Error).message}`);
  }
}

export function sshSettings(g: GlobalOptions, port = 22): SshSettings {
  return {
    username: g.sshUsername,
    port,
    strictHostKeyChecking: g.strictHostKeyChecking,
    knownHostsFile: expandHome(g.knownHostsFile, homedir(), homeOfUser),
    timeout: g.sshTimeout,
    identityFile: g.sshIdentityFile ? expandHome(g.sshIdentityFile, homedir(), homeOfUser) : undefined,
    tunnel: g.tunnel ? (g.tunnel.includes(":") ? g.tunnel : `${g.tunnel}:22`) : undefined,
  };
}

export async function connect(g: GlobalOptions, debug?: (line: string) => void, log?: Pick<Logger, "warn">): Promise<Connection> {
  const plan = planConnection(g);
  if (Boolean(g.certFile) !== Boolean(g.keyFile)) {
    throw new InitError("a TLS client certificate needs both --cert-file and --key-file");
  }
  let tunnel: Tunnel | undefined;
  const ssh = sshSettings(g);
  const tunnelProblem = ssh.tunnel === undefined ? undefined : sshAddressProblem(ssh.tunnel);
  if (tunnelProblem) throw new InitError(`--tunnel ${JSON.stringify(g.tunnel)} is ${tunnelProblem}`);

  if (plan.driver === "etcd") {
    let endpoints = plan.endpoints;
    if (ssh.tunnel) {
      const target = new URL(endpoints[0]!);
      const port = target.port || (target.protocol === "https:" ? "443" : "80");
      tunnel = await startTunnel(tunnelForwardArgv(ssh, `${target.hostname}:${port}`), "tcp", debug);
      endpoints = [`${target.protocol}//${tunnel.tcpAddress}`];
    }
    const tls = g.caFile || g.certFile ? { caFile: g.caFile || undefined, certFile: g.certFile || undefined, keyFile: g.keyFile || undefined } : undefined;
    const driver = new EtcdDriver({ endpoints, prefix: g.etcdKeyPrefix, requestTimeout: g.requestTimeout, tls, log });
    return { client: withTunnel(driver, tunnel), warnings: plan.warnings };
  }

  const target = plan.target;
  let unixSocket = target.kind === "unix" ? target.socketPath : undefined;
  if (ssh.tunnel) {
    if (target.kind === "unix") {
      tunnel = await startTunnel(tunnelFdForwardArgv(ssh, target.socketPath), "unix", debug);
    } else {
      const port = target.url.port || (target.url.protocol === "https:" ? "443" : "80");
      tunnel = await startTunnel(tunnelForwardArgv(ssh, `${splitHostPort(target.url.host).host}:${port}`), "unix", debug);
    }
    unixSocket = tunnel.unixPath;
  }
  let tls: { ca?: string; cert?: string; key?: string } | undefined;
  if (target.kind === "http" && target.url.protocol === "https:") {
    // Quirk Q5 fixed: the server is always verified, against --ca-file when given.
    tls = {};
    if (g.caFile) tls.ca = readPem("ca-file", g.caFile);
    if (g.certFile) tls.cert = readPem("cert-file", g.certFile);
    if (g.keyFile) tls.key = readPem("key-file", g.keyFile);
  }
  const driver = new ApiDriver({
    endpoint: target.endpoint,
    baseUrl: apiBaseUrl(target),
    unixSocket,
    requestTimeout: g.requestTimeout,
    tls,
    // A token is for TCP endpoints; a unix socket is guarded by its file permissions.
    token: target.kind === "http" && g.token ? g.token : undefined,
    debug,
  });
  return { client: withTunnel(driver, tunnel), warnings: plan.warnings };
}

function withTunnel(client: FleetClient, tunnel: Tunnel | undefined): FleetClient {
  if (!tunnel) return client;
  const close = client.close.bind(client);
  client.close = async () => {
    await close();
    await tunnel.close();
  };
  return client;
}
