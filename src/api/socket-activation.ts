// systemd socket activation (LISTEN_FDS). Bun's HTTP servers ignore an inherited fd
// (testing.md), but Bun.listen({ fd }) accepts on it: each accepted connection is piped, byte
// for byte, to a private Bun.serve listener on a unix socket in a 0700 directory.
import { readFileSync, readlinkSync } from "node:fs";
import type { Socket, SocketListener, TLSOptions } from "bun";

/** The first inherited listening fd (sd_listen_fds' SD_LISTEN_FDS_START). */
const FIRST_FD = 3;

/**
 * The fds systemd passed to this process, if LISTEN_PID names it; the LISTEN_* variables are
 * removed so that child processes do not take the sockets for theirs.
 */
export function takeListenFds(env: Record<string, string | undefined> = process.env, pid = process.pid): number[] {
  const forUs = env.LISTEN_PID === String(pid);
  const n = Number(env.LISTEN_FDS);
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (!forUs || !Number.isInteger(n) || n < 1) return [];
  return Array.from({ length: n }, (_, i) => FIRST_FD + i);
}

export interface InheritedSocket {
  fd: number;
  /** unix or tcp (what auth applies); `unknown` when /proc does not tell. */
  kind: "unix" | "tcp" | "unknown";
  /** `unix:///path` or `tcp://host:port` when known, else `fd://N`. */
  address: string;
  /** The address a TCP socket is bound to (IPv6 in brackets); undefined for the others. */
  host?: string;
}

/** What kind of socket an inherited fd is, from its inode in /proc/net. */
export function describeInheritedSocket(fd: number): InheritedSocket {
  let inode: string | undefined;
  try {
    inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  } catch {
    inode = undefined;
  }
  if (inode) {
    const unix = procLines("/proc/net/unix").find((f) => f[6] === inode);
    if (unix) return { fd, kind: "unix", address: unix[7] ? `unix://${unix[7]}` : `fd://${fd}` };
    for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      const tcp = procLines(file).find((f) => f[9] === inode);
      if (tcp) {
        const hostPort = decodeProcAddress(tcp[1] ?? "");
        return { fd, kind: "tcp", address: `tcp://${hostPort}`, host: hostPort.slice(0, hostPort.lastIndexOf(":")) };
      }
    }
  }
  return { fd, kind: "unknown", address: `fd://${fd}` };
}

function procLines(file: string): string[][] {
  try {
    return readFileSync(file, "utf8").split("\n").slice(1).map((l) => l.trim().split(/\s+/));
  } catch {
    return [];
  }
}

/** `0100007F:BBFB` is 127.0.0.1:48123; IPv6 is four little-endian 32-bit words. */
export function decodeProcAddress(hex: string): string {
  const [addr = "", portHex = "0"] = hex.split(":");
  const port = parseInt(portHex, 16);
  const words = addr.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)));
  if (bytes.length === 4) return `${bytes.join(".")}:${port}`;
  const groups: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  return `[${formatIpv6(groups)}]:${port}`;
}

/** RFC 5952: lower-case hex, the longest run of two or more zero groups as `::`. */
function formatIpv6(groups: number[]): string {
  let best = { start: -1, len: 0 };
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > best.len) best = { start: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.len < 2) return hex.join(":");
  return `${hex.slice(0, best.start).join(":")}::${hex.slice(best.start + best.len).join(":")}`;
}

interface Pipe {
  /** The other socket, once connected. */
  peer?: Socket<Pipe>;
  /** Bytes for the peer that it has not accepted yet. */
  backlog: Uint8Array[];
  /** End the peer once its backlog is written. */
  ending: boolean;
  closed: boolean;
}

/** Writes what the socket takes now and keeps the rest, in order, for its drain event. */
function writeQueued(sock: Socket<Pipe> | undefined, backlog: Uint8Array[], data?: Uint8Array): void {
  if (data) {
    if (backlog.length || !sock) {
      backlog.push(new Uint8Array(data));
      return;
    }
    const n = sock.write(data);
    if (n < data.length) backlog.push(new Uint8Array(data.subarray(Math.max(n, 0))));
    return;
  }
  while (sock && backlog.length) {
    const head = backlog[0] as Uint8Array;
    const n = sock.write(head);
    if (n < head.length) {
      backlog[0] = head.subarray(Math.max(n, 0));
      return;
    }
    backlog.shift();
  }
}

function endWhenFlushed(sock: Socket<Pipe> | undefined, state: Pipe): void {
  state.ending = true;
  if (sock && state.backlog.length === 0) sock.end();
}

/**
 * Handlers shared by both ends. Each socket's `backlog` holds bytes it sent that its peer has
 * not taken yet (or that arrived before the peer was connected).
 */
function pipeHandlers(onError: (err: Error) => void) {
  return {
    data(sock: Socket<Pipe>, data: Uint8Array) {
      const peer = sock.data.peer;
      if (peer?.data.closed) return;
      writeQueued(peer, sock.data.backlog, data);
    },
    drain(sock: Socket<Pipe>) {
      const peer = sock.data.peer;
      if (!peer) return;
      writeQueued(sock, peer.data.backlog);
      if (peer.data.ending && peer.data.backlog.length === 0) sock.end();
    },
    close(sock: Socket<Pipe>) {
      sock.data.closed = true;
      const peer = sock.data.peer;
      if (peer && !peer.data.closed) endWhenFlushed(peer, sock.data);
    },
    error(_sock: Socket<Pipe>, err: Error) {
      onError(err);
    },
  };
}

/**
 * Accepts on an inherited listening fd and pipes every connection to `upstreamUnixPath`.
 * With `tls`, TLS ends here (client certificates are checked here too).
 */
export function proxyInheritedFd(
  fd: number,
  upstreamUnixPath: string,
  tls: TLSOptions | undefined,
  onError: (err: Error) => void,
): SocketListener<Pipe> {
  const handlers = pipeHandlers(onError);
  const connectUpstream = (client: Socket<Pipe>) => {
    Bun.connect<Pipe>({
      unix: upstreamUnixPath,
      data: { peer: client, backlog: [], ending: false, closed: false },
      socket: {
        ...handlers,
        open(upstream) {
          client.data.peer = upstream;
          // What the client sent before the upstream was up goes first.
          writeQueued(upstream, client.data.backlog);
          if (client.data.closed) endWhenFlushed(upstream, client.data);
        },
        connectError(_s, err) {
          onError(err);
          client.end();
        },
      },
    }).catch((err: Error) => {
      onError(err);
      client.end();
    });
  };
  // Bun.listen accepts { fd } at runtime (testing.md); its types only know host/port and unix.
  const options = {
    fd,
    tls,
    data: undefined,
    socket: {
      ...handlers,
      open(client: Socket<Pipe>) {
        client.data = { backlog: [], ending: false, closed: false };
        connectUpstream(client);
      },
      handshake(client: Socket<Pipe>, success: boolean, authorizationError: Error | null) {
        if (!success || (tls?.requestCert && authorizationError)) client.end();
      },
    },
  };
  return Bun.listen<Pipe>(options as unknown as Parameters<typeof Bun.listen<Pipe>>[0]);
}
