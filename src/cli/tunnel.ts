// --tunnel: a local listener whose every connection is carried by the system ssh client to the
// tunnel host, either to a TCP address there (`ssh -W host:port`) or to fleet's unix socket
// through `fleetctl fd-forward` on that host, as the original fleetctl did.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Tunnel {
  /** Unix socket path of the local end (when listening on a unix socket). */
  unixPath?: string;
  /** `127.0.0.1:<port>` of the local end (when listening on TCP). */
  tcpAddress?: string;
  close(): Promise<void>;
}

/** Starts a local forwarder; `argv` is the ssh command line run for each connection. */
export async function startTunnel(argv: readonly string[], listen: "unix" | "tcp", debug?: (line: string) => void): Promise<Tunnel> {
  const open = new Set<() => void>();
  const server: Server = createServer((conn) => {
    debug?.(`tunnel: ${argv.join(" ")}`);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
    const drop = () => {
      conn.destroy();
      child.kill();
    };
    open.add(drop);
    conn.on("close", () => open.delete(drop));
    conn.pipe(child.stdin!);
    child.stdout!.pipe(conn);
    child.on("exit", () => conn.end());
    child.on("error", drop);
    conn.on("error", drop);
    conn.on("close", () => child.kill());
  });
  // The HTTP client keeps connections alive: end them, or closing the server waits forever.
  const stop = () =>
    new Promise<void>((r) => {
      for (const drop of [...open]) drop();
      server.close(() => r());
    });
  if (listen === "unix") {
    const dir = mkdtempSync(join(tmpdir(), "fleetctl-tunnel-"));
    const unixPath = join(dir, "api.sock");
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(unixPath, () => resolve());
    });
    return {
      unixPath,
      close: async () => {
        await stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    tcpAddress: `127.0.0.1:${port}`,
    close: stop,
  };
}
