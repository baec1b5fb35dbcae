// The value rules of fleet's records: what a machine id, a hash, a time or an address may be.
// Shared by the registry's decoders, the config and the daemon's identity, so a value accepted
// in one place is never refused in another. Each check returns the problem or undefined.
import { isIP } from "node:net";

/** Machine ids: /etc/machine-id's 32 hex digits, or a configured `machine_id` of this shape. */
const MACHINE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const MACHINE_ID_MAX = 128;
export const MACHINE_ID_RULE = `letters, digits, "-", "_" and ".", not starting with "-", "_" or ".", at most ${MACHINE_ID_MAX} characters`;

export function machineIdProblem(id: string): string | undefined {
  if (id.length > MACHINE_ID_MAX || !MACHINE_ID.test(id)) return `${show(id)} is not a machine ID (${MACHINE_ID_RULE})`;
  return undefined;
}

const SHA1 = /^[0-9a-f]{40}$/;

export function hashProblem(hash: string): string | undefined {
  return SHA1.test(hash) ? undefined : `${show(hash)} is not a SHA-1 hash (40 lowercase hex digits)`;
}

/** What toISOString writes; an offset instead of Z is accepted from other writers. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export function timeProblem(time: string): string | undefined {
  return ISO_TIME.test(time) && !Number.isNaN(Date.parse(time)) ? undefined : `${show(time)} is not an ISO 8601 time`;
}

/**
 * A machine's public IP: an IPv4 or IPv6 literal without a zone, or "" (unknown). It reaches
 * `ssh` on operators' workstations, so nothing else may pass.
 */
export function publicIpProblem(ip: string): string | undefined {
  if (ip === "" || (isIP(ip) !== 0 && !ip.includes("%"))) return undefined;
  return `${show(ip)} is not an IP address`;
}

/** The create revision of the leader key, as a decimal string. */
const EPOCH = /^[1-9][0-9]{0,19}$/;

export function epochProblem(epoch: string): string | undefined {
  return EPOCH.test(epoch) ? undefined : `${show(epoch)} is not an engine epoch (a positive revision number)`;
}

/** A value shown in a message: quoted, and cut short so a huge one does not flood the log. */
export function show(value: string, max = 80): string {
  const quoted = JSON.stringify(value.length > max ? value.slice(0, max) : value);
  return value.length > max ? `${quoted}... (${value.length} characters)` : quoted;
}
