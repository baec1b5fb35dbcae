// One D-Bus connection to systemd: a deadline on every call, a cap on calls in flight (below
// dbus-daemon's 128 pending replies per connection), and signals handed to one handler.
// dbus-next is loaded lazily: it is only needed by the daemon, never by the CLI.

export const SYSTEMD_BUS_NAME = "org.freedesktop.systemd1";
export const MANAGER_PATH = "/org/freedesktop/systemd1";
export const MANAGER_IFACE = "org.freedesktop.systemd1.Manager";
export const PROPERTIES_IFACE = "org.freedesktop.DBus.Properties";
export const SYSTEM_BUS_SOCKET = "unix:path=/run/dbus/system_bus_socket";
export const PRIVATE_SOCKET = "unix:path=/run/systemd/private";

export interface ConnectOptions {
  /** A D-Bus address; by default DBUS_SYSTEM_BUS_ADDRESS, then the system bus socket. */
  address?: string;
  /** Deadline for connecting and for every call. */
  callTimeoutMs: number;
  maxInFlight: number;
}

export interface Signal {
  path: string;
  interface: string;
  member: string;
  body: unknown[];
}

/** A call that failed: systemd's error name (empty for timeouts and lost connections) and text. */
export class CallError extends Error {
  constructor(
    readonly dbusName: string,
    readonly text: string,
    readonly kind: "dbus" | "timeout" | "disconnected",
  ) {
    super(dbusName ? `${dbusName}: ${text}` : text);
  }
}

/* eslint-disable @typescript-eslint/no-explicit-any -- dbus-next's objects are untyped here */
type Bus = any;

export class DbusConnection {
  private inFlight = 0;
  private readonly queue: (() => void)[] = [];
  private readonly pending = new Set<(err: CallError) => void>();
  private brokenReason: string | undefined;
  onSignal: (signal: Signal) => void = () => {};
  /** Called once when the connection breaks (not when we close it). */
  onBroken: (reason: string) => void = () => {};

  private constructor(
    private readonly bus: Bus,
    private readonly Message: any,
    /** The D-Bus address this connection uses. */
    readonly address: string,
    readonly peer: boolean,
    private readonly opts: ConnectOptions,
  ) {}

  /**
   * Connects and proves the connection with a real call. On systemd's private socket there is
   * no bus daemon: dbus-next's automatic Hello would fail with an unhandled rejection, so a
   * subclass answers it locally.
   */
  static async open(opts: ConnectOptions, address: string): Promise<DbusConnection> {
    const dbus: any = await import("dbus-next");
    const peer = address === PRIVATE_SOCKET;
    let bus: Bus;
    if (peer) {
      const MessageBus: new (connection: unknown) => Bus = (await import("dbus-next/lib/bus.js")).default;
      const createConnection = (await import("dbus-next/lib/connection.js")).default;
      class PeerBus extends MessageBus {
        call(msg: any): Promise<unknown> {
          if (msg.interface === "org.freedesktop.DBus" && msg.member === "Hello") return Promise.resolve({ body: [null] });
          return super.call(msg);
        }
      }
      bus = new PeerBus(createConnection({ busAddress: address }));
    } else {
      bus = dbus.sessionBus({ busAddress: address });
    }
    const conn = new DbusConnection(bus, dbus.Message, address, peer, opts);
    const signalType = dbus.MessageType.SIGNAL;
    bus.on("error", (err: Error) => conn.markBroken(`D-Bus connection error: ${err?.message ?? String(err)}`));
    bus._connection?.on?.("end", () => conn.markBroken("D-Bus connection closed"));
    bus.on("message", (msg: any) => {
      if (msg.type !== signalType) return;
      try {
        conn.onSignal({ path: msg.path, interface: msg.interface, member: msg.member, body: msg.body });
      } catch {
        // a listener's failure must not break the connection
      }
    });
    // On the private socket, systemd (252) leaves a message that arrives together with the
    // handshake's BEGIN unread until more bytes arrive: kick it with Pings until it answers.
    const kick = peer ? setInterval(() => conn.ping(), 50) : undefined;
    try {
      await conn.call(MANAGER_PATH, PROPERTIES_IFACE, "Get", "ss", [MANAGER_IFACE, "Version"]);
    } catch (err) {
      conn.close();
      throw err;
    } finally {
      clearInterval(kick);
    }
    return conn;
  }

  get broken(): boolean {
    return this.brokenReason !== undefined;
  }

  private markBroken(reason: string, byUs = false): void {
    if (this.brokenReason !== undefined) return;
    this.brokenReason = reason;
    for (const reject of this.pending) reject(new CallError("", reason, "disconnected"));
    this.pending.clear();
    if (!byUs) this.onBroken(reason);
  }

  /** Calls a method on systemd; resolves with the reply's body. */
  async call(path: string, iface: string, member: string, signature = "", body: unknown[] = [], destination = SYSTEMD_BUS_NAME): Promise<any[]> {
    await this.acquire();
    try {
      return await this.callNow(path, iface, member, signature, body, destination);
    } finally {
      this.release();
    }
  }

  private callNow(path: string, iface: string, member: string, signature: string, body: unknown[], destination: string): Promise<any[]> {
    if (this.brokenReason !== undefined) return Promise.reject(new CallError("", this.brokenReason, "disconnected"));
    const msg = new this.Message({ destination, path, interface: iface, member, signature, body });
    return new Promise((resolve, reject) => {
      const fail = (err: CallError) => {
        clearTimeout(timer);
        this.pending.delete(fail);
        reject(err);
      };
      const timer = setTimeout(() => {
        if (msg.serial !== null) delete this.bus._methodReturnHandlers?.[msg.serial];
        fail(new CallError("", `systemd did not answer ${member} within ${this.opts.callTimeoutMs} ms`, "timeout"));
      }, this.opts.callTimeoutMs);
      this.pending.add(fail);
      let sent: Promise<any>;
      try {
        sent = this.bus.call(msg);
      } catch (err) {
        fail(new CallError("", (err as Error).message, "disconnected"));
        return;
      }
      sent.then(
        (reply: any) => {
          clearTimeout(timer);
          this.pending.delete(fail);
          resolve(reply?.body ?? []);
        },
        (err: any) => fail(new CallError(err?.type ?? "", err?.text ?? err?.message ?? String(err), err?.type ? "dbus" : "disconnected")),
      );
    });
  }

  private async acquire(): Promise<void> {
    if (this.inFlight < this.opts.maxInFlight) {
      this.inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.queue.push(resolve));
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.inFlight--;
  }

  /** A Peer.Ping that expects no reply. */
  private ping(): void {
    if (this.brokenReason !== undefined) return;
    const NO_REPLY_EXPECTED = 1;
    try {
      this.bus.send(new this.Message({ destination: SYSTEMD_BUS_NAME, path: MANAGER_PATH, interface: "org.freedesktop.DBus.Peer", member: "Ping", flags: NO_REPLY_EXPECTED }));
    } catch {
      // the connection is going away; the probe's deadline reports it
    }
  }

  /** Adds a bus match rule and waits for the bus to confirm it (not on the private socket). */
  async addMatch(rule: string): Promise<void> {
    if (this.peer) return;
    await this.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s", [rule], "org.freedesktop.DBus");
  }

  close(): void {
    this.markBroken("D-Bus connection closed by us", true);
    try {
      this.bus.disconnect();
    } catch {
      // already closed
    }
  }
}
