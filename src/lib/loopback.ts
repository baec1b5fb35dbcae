// Whether a host names this machine's loopback interface: the one test behind the listener
// rules, the Host check against DNS rebinding, and fleet ctl's refusal to send a token in clear.
import { isIP } from "node:net";

/**
 * `localhost` and names under `.localhost` (RFC 6761: resolvers and browsers keep them on the
 * machine), 127.0.0.0/8, ::1 and 127.x.y.z mapped into IPv6. Brackets around an IPv6 address
 * are allowed. A wildcard (0.0.0.0, ::) is not loopback: it listens on every interface.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (isIP(h) === 6) {
    if (h === "::1" || /^(0{1,4}:){7}0{0,3}1$/.test(h)) return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h)?.[1];
    return mapped !== undefined && mapped.startsWith("127.");
  }
  return false;
}

/** The host of a Host header value (`name:port`, `[v6]:port`, or either without a port). */
export function hostOfHostHeader(value: string): string {
  const v = value.trim();
  if (v.startsWith("[")) {
    const end = v.indexOf("]");
    return end < 0 ? v : v.slice(0, end + 1);
  }
  const colon = v.lastIndexOf(":");
  // Two or more colons without brackets: a bare IPv6 address, not host:port.
  return colon >= 0 && v.indexOf(":") === colon ? v.slice(0, colon) : v;
}
