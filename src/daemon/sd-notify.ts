// sd_notify(3) through libsystemd: Bun has no unix datagram sockets (testing.md), and
// libsystemd.so.0 is present on every systemd host.

/**
 * Sends `state` (e.g. "READY=1\nSTATUS=registered") to systemd when NOTIFY_SOCKET is set.
 * Returns false, without throwing, when there is no socket or no libsystemd.
 */
export async function sdNotify(state: string): Promise<boolean> {
  if (!process.env.NOTIFY_SOCKET) return false;
  try {
    const { dlopen, FFIType } = await import("bun:ffi");
    const lib = dlopen("libsystemd.so.0", {
      sd_notify: { args: [FFIType.i32, FFIType.cstring], returns: FFIType.i32 },
    });
    try {
      const buf = Buffer.from(`${state}\0`, "utf8");
      return lib.symbols.sd_notify(0, buf) > 0;
    } finally {
      lib.close();
    }
  } catch {
    return false;
  }
}
