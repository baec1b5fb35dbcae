// Host networking for a cluster: one bridge per /24 subnet, one veth pair per machine.
// Link names derive from the subnet, so creating the bridge atomically reserves the subnet
// against every other cluster on the host.
import { run, runOk } from "./command.ts";

export const PREFIX_LENGTH = 24;
/** Subnets tried in order when none is given: 10.250.0.0/24 .. 10.250.255.0/24. */
const DEFAULT_SUBNET_BASE = "10.250";

export interface LinkInfo {
  name: string;
  kind?: string;
  alias?: string;
}

export function parseSubnet(subnet: string): [number, number, number] {
  const parts = subnet.split(".").map(Number);
  if (parts.length !== 3 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`Cannot use subnet "${subnet}": expected three octets such as 10.250.0`);
  }
  return parts as [number, number, number];
}

export function defaultSubnets(): string[] {
  return Array.from({ length: 256 }, (_, i) => `${DEFAULT_SUBNET_BASE}.${i}`);
}

const hex = (n: number) => n.toString(16).padStart(2, "0");

/** "fsb" + the subnet in hex, e.g. fsb0afa00 for 10.250.0: unique per subnet, 9 characters. */
export function bridgeName(subnet: string): string {
  return `fsb${parseSubnet(subnet).map(hex).join("")}`;
}

/** The host end of a machine's veth pair (interface names are limited to 15 characters). */
export function vethName(bridge: string, index: number): string {
  const name = `${bridge}v${index}`;
  if (name.length > 15) throw new Error(`Cannot name the link of machine ${index}: ${name} is longer than 15 characters`);
  return name;
}

/**
 * A fixed locally administered MAC derived from the IP. A bridge without a fixed MAC takes
 * its lowest port's and changes it when that port goes away, cutting every machine off.
 */
export function macFor(ip: string): string {
  return `02:f5:${ip.split(".").map((o) => hex(Number(o))).join(":")}`;
}

/** The destinations of the host's IPv4 routes (addresses and networks in CIDR form). */
export async function hostRoutes(): Promise<string[]> {
  const routes = JSON.parse(await runOk(["ip", "-j", "-4", "route", "show", "table", "all"])) as { dst?: string }[];
  return routes.map((r) => r.dst ?? "").filter((d) => d && d !== "default");
}

/** True when a.b.c.0/24 overlaps one of the routes (a default route overlaps nothing). */
export function subnetOverlaps(subnet: string, routes: string[]): boolean {
  const [a, b, c] = parseSubnet(subnet);
  const base = ((a << 24) | (b << 16) | (c << 8)) >>> 0;
  for (const dst of routes) {
    const [addr, len] = dst.split("/");
    const prefix = len === undefined ? 32 : Number(len);
    if (prefix === 0 || !addr) continue;
    const common = Math.min(prefix, PREFIX_LENGTH);
    const mask = (~0 << (32 - common)) >>> 0;
    if (((ipToInt(addr) & mask) >>> 0) === ((base & mask) >>> 0)) return true;
  }
  return false;
}

function ipToInt(ip: string): number {
  const [a = 0, b = 0, c = 0, d = 0] = ip.split(".").map(Number);
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

export async function listLinks(): Promise<LinkInfo[]> {
  const raw = JSON.parse(await runOk(["ip", "-j", "-d", "link", "show"])) as {
    ifname: string;
    ifalias?: string;
    linkinfo?: { info_kind?: string };
  }[];
  return raw.map((l) => ({ name: l.ifname, kind: l.linkinfo?.info_kind, alias: l.ifalias }));
}

export async function linkExists(name: string): Promise<boolean> {
  return (await run(["ip", "link", "show", "dev", name])).code === 0;
}

export async function linkAlias(name: string): Promise<string | undefined> {
  const links = (await listLinks()).filter((l) => l.name === name);
  return links[0]?.alias;
}

/**
 * Creates the bridge with its address and fixed MAC; returns false (creating nothing) when a
 * link of that name already exists, i.e. another cluster holds the subnet.
 */
export async function createBridge(name: string, subnet: string, alias: string): Promise<boolean> {
  const added = await run(["ip", "link", "add", name, "type", "bridge"]);
  if (added.code !== 0) {
    if (/File exists/.test(added.stderr)) return false;
    throw new Error(`Cannot create bridge ${name}: ${added.stderr.trim()}`);
  }
  const ip = `${subnet}.1`;
  await runOk(["ip", "link", "set", "dev", name, "address", macFor(ip), "alias", alias]);
  await runOk(["ip", "addr", "add", `${ip}/${PREFIX_LENGTH}`, "dev", name]);
  await runOk(["ip", "link", "set", "dev", name, "up"]);
  return true;
}

export async function deleteLink(name: string): Promise<void> {
  const result = await run(["ip", "link", "del", "dev", name]);
  // Already gone is done: a veth vanishes by itself when its peer's namespace dies, which can
  // happen between listing the links and deleting them ("RTNETLINK answers: No such device").
  if (result.code !== 0 && !/Cannot find device|does not exist|No such device/.test(result.stderr)) {
    throw new Error(`Cannot delete link ${name}: ${result.stderr.trim()}`);
  }
}

/** Sets a link administratively up or down. */
export async function setLinkUp(name: string, up: boolean): Promise<void> {
  await runOk(["ip", "link", "set", "dev", name, up ? "up" : "down"]);
}

export interface MachineLink {
  veth: string;
  bridge: string;
  /** Host pid of a process in the machine's network namespace. */
  pid: number;
  ip: string;
  gateway: string;
}

/** Creates the veth pair with its inner end as eth0 in the machine, addressed and routed. */
export async function attachMachine(link: MachineLink): Promise<void> {
  await deleteLink(link.veth);
  await runOk([
    "ip", "link", "add", link.veth, "type", "veth",
    "peer", "name", "eth0", "address", macFor(link.ip), "netns", String(link.pid),
  ]);
  await runOk(["ip", "link", "set", "dev", link.veth, "master", link.bridge, "up"]);
  const batch = [
    `addr add ${link.ip}/${PREFIX_LENGTH} dev eth0`,
    "link set dev eth0 up",
    "link set dev lo up",
    `route add default via ${link.gateway}`,
  ];
  await runOk(["nsenter", "-t", String(link.pid), "-n", "--", "ip", "-batch", "-"], {
    stdin: `${batch.join("\n")}\n`,
  });
}
