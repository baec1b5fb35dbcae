import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sdNotify } from "../../src/daemon/sd-notify.ts";
import { readLine } from "../support/read-line.ts";

// Bun cannot bind a unix datagram socket, so a small python3 receiver plays systemd.
test("READY=1 reaches the datagram socket named by NOTIFY_SOCKET", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fleet-notify-"));
  const sock = join(dir, "notify.sock");
  const receiver = Bun.spawn(["python3", "-c", [
    "import socket,sys",
    "s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)",
    `s.bind(${JSON.stringify(sock)})`,
    "sys.stdout.write('bound\\n'); sys.stdout.flush()",
    "s.settimeout(20)",
    "sys.stdout.write(s.recv(4096).decode()); sys.stdout.flush()",
  ].join("\n")], { stdout: "pipe" });
  try {
    const reader = receiver.stdout.getReader();
    expect(await readLine(reader)).toBe("bound\n");
    expect(existsSync(sock)).toBe(true);
    // libsystemd reads the C environment, so the sender is a process started with it.
    const sender = Bun.spawnSync([process.execPath, "-e",
      `import { sdNotify } from ${JSON.stringify(join(import.meta.dir, "../../src/daemon/sd-notify.ts"))};
       process.stdout.write(String(await sdNotify("READY=1\\nSTATUS=registered")));`],
      { env: { ...process.env, NOTIFY_SOCKET: sock }, stdout: "pipe", stderr: "pipe" });
    expect({ out: sender.stdout.toString(), err: sender.stderr.toString(), code: sender.exitCode })
      .toEqual({ out: "true", err: "", code: 0 });
    let got = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      got += new TextDecoder().decode(value);
    }
    expect(got).toBe("READY=1\nSTATUS=registered");
  } finally {
    receiver.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("without NOTIFY_SOCKET nothing is sent and nothing fails", async () => {
  const saved = process.env.NOTIFY_SOCKET;
  delete process.env.NOTIFY_SOCKET;
  try {
    expect(await sdNotify("READY=1")).toBe(false);
  } finally {
    if (saved !== undefined) process.env.NOTIFY_SOCKET = saved;
  }
});
