// fd-forward (compatibility.md §6.6.15): copy stdin to a unix socket and the socket to stdout.
// The remote end of --tunnel when the API is on a unix socket. Quirk Q22 fixed: a failed dial
// exits 1.
import { connect as netConnect } from "node:net";
import { errorText } from "../lib/error-text.ts";
import type { Command, Ctx } from "./command.ts";

async function runFdForward(ctx: Ctx): Promise<number> {
  if (ctx.args.length !== 1) {
    ctx.io.err("Provide a single argument\n");
    return 1;
  }
  const path = ctx.args[0]!;
  if (path === "") {
    ctx.io.err(`Unable to use ${JSON.stringify(path)} as unix address: empty path\n`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    let connected = false;
    let settled = false;
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      resolve(code);
    };
    const sock = netConnect(path);
    sock.on("connect", () => {
      connected = true;
      process.stdin.pipe(sock);
      sock.pipe(process.stdout);
      process.stdin.on("end", () => sock.end());
    });
    sock.on("error", (err) => {
      ctx.io.err(connected ? `Encountered error during copy: ${errorText(err)}\n` : `Failed dialing remote address: ${errorText(err)}\n`);
      finish(1);
    });
    sock.on("close", () => finish(0));
  });
}

export const fdForwardCommand: Command = {
  name: "fd-forward",
  short: "Proxy stdin and stdout to a unix domain socket",
  long: "fleetctl utilizes fd-forward when --tunnel is used and --endpoint is a unix socket. This command is not intended to be called by users directly.",
  usage: "fd-forward SOCKET",
  flags: [],
  needsClient: false,
  run: runFdForward,
};
