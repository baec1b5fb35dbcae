// Who this machine is: its id, its public IP. Reads the host, so kept apart from the pure parts.
import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { MACHINE_ID_RULE, machineIdProblem, show } from "../registry/record-values.ts";

export class IdentityError extends Error {
  override name = "IdentityError";
}

/** The machine id: `machine_id` from the config, else /etc/machine-id (compatibility.md §8.3). */
export function readMachineId(configured: string | undefined, file = "/etc/machine-id"): string {
  if (configured) return configured.trim();
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new IdentityError(`Unable to determine local machine ID: cannot read ${file}: ${(err as Error).message}`);
  }
  const id = text.trim();
  if (!id) throw new IdentityError(`Unable to determine local machine ID: ${file} is empty`);
  if (machineIdProblem(id) !== undefined) {
    throw new IdentityError(`Unable to determine local machine ID: ${file} holds ${show(id)}, not a machine ID (${MACHINE_ID_RULE}); set machine_id`);
  }
  return id;
}

/** The interface carrying the IPv4 default route, from the kernel's route table. */
export function defaultRouteInterface(routeTable: string): string | undefined {
  for (const line of routeTable.split("\n").slice(1)) {
    const [iface, destination, , , , , , mask] = line.trim().split(/\s+/);
    if (iface && destination === "00000000" && mask === "00000000") return iface;
  }
  return undefined;
}

/**
 * The public IP: `public_ip` from the config, else the first global IPv4 address of the
 * interface with the default route, else "" (list-machines then shows "-").
 */
export function detectPublicIp(configured: string | undefined, routeFile = "/proc/net/route"): string {
  if (configured) return configured;
  let table = "";
  try {
    table = readFileSync(routeFile, "utf8");
  } catch {
    return "";
  }
  const iface = defaultRouteInterface(table);
  if (!iface) return "";
  const addrs = networkInterfaces()[iface] ?? [];
  const v4 = addrs.find((a) => a.family === "IPv4" && !a.internal && !a.address.startsWith("169.254."));
  return v4?.address ?? "";
}
