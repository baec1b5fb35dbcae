// The host's cgroup2 hierarchy: one node per cluster, one child node per machine.
// The machine's own systemd manages everything below its node through a cgroup namespace.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runOk } from "./command.ts";
import { waitFor } from "../lib/wait-for.ts";

/** Where a hybrid host (v1 controllers) gets its cgroup2 tree, the same place systemd uses. */
const HYBRID_CGROUP2 = "/sys/fs/cgroup/unified";

interface Mount {
  mountPoint: string;
  fsType: string;
}

function mounts(): Mount[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(" ");
      const sep = fields.indexOf("-");
      return { mountPoint: unescapeMountPath(fields[4] ?? ""), fsType: fields[sep + 1] ?? "" };
    });
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The mount point of the host's cgroup2 hierarchy, or undefined when none is mounted. */
export function findCgroup2Root(): string | undefined {
  const all = mounts().filter((m) => m.fsType === "cgroup2").map((m) => m.mountPoint);
  for (const preferred of ["/sys/fs/cgroup", HYBRID_CGROUP2]) {
    if (all.includes(preferred)) return preferred;
  }
  return all[0];
}

/**
 * Finds the host's cgroup2 hierarchy, mounting it at /sys/fs/cgroup/unified on a v1-only host
 * whose /sys/fs/cgroup is a tmpfs (cgroup2 can always be mounted beside the v1 hierarchies; it
 * just gets no controllers, which machines do not need).
 */
export async function ensureCgroup2Root(): Promise<string> {
  const found = findCgroup2Root();
  if (found) return found;
  const v1Tmpfs = mounts().some((m) => m.mountPoint === "/sys/fs/cgroup" && m.fsType === "tmpfs");
  if (!v1Tmpfs) {
    throw new Error("Cannot find a cgroup2 hierarchy: nothing of type cgroup2 is mounted and /sys/fs/cgroup is not a tmpfs to mount one under");
  }
  mkdirSync(HYBRID_CGROUP2, { recursive: true });
  await runOk(["mount", "-t", "cgroup2", "cgroup2", HYBRID_CGROUP2]);
  return HYBRID_CGROUP2;
}

export function createNode(path: string): void {
  mkdirSync(path, { recursive: true });
}

function readKeyed(path: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const [key, value] = line.split(" ");
    if (key && value !== undefined) map.set(key, value);
  }
  return map;
}

/** True when any process lives in the node or below it (zombies do not count). */
export function isPopulated(node: string): boolean {
  if (!existsSync(node)) return false;
  return readKeyed(join(node, "cgroup.events")).get("populated") === "1";
}

export function isFrozen(node: string): boolean {
  if (!existsSync(node)) return false;
  return readKeyed(join(node, "cgroup.events")).get("frozen") === "1";
}

export function procsOf(node: string): number[] {
  try {
    return readFileSync(join(node, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** SIGKILLs every process in the node and below (cgroup.kill, Linux 5.14+). */
export function killNode(node: string): void {
  if (existsSync(node)) writeFileSync(join(node, "cgroup.kill"), "1");
}

export async function setFrozen(node: string, frozen: boolean, timeoutMs = 10_000): Promise<void> {
  writeFileSync(join(node, "cgroup.freeze"), frozen ? "1" : "0");
  await waitFor(() => isFrozen(node) === frozen, {
    timeoutMs,
    what: `cgroup ${node} to become ${frozen ? "frozen" : "thawed"}`,
    intervalMs: 10,
  });
}

export async function waitEmpty(node: string, timeoutMs: number): Promise<void> {
  await waitFor(() => !isPopulated(node), {
    timeoutMs,
    what: `every process of cgroup ${node} to exit`,
    intervalMs: 20,
  });
}

/** Removes a node and everything below it, deepest first (cgroup directories only rmdir). */
export function removeTree(node: string): void {
  if (!existsSync(node)) return;
  for (const entry of readdirSync(node, { withFileTypes: true })) {
    if (entry.isDirectory()) removeTree(join(node, entry.name));
  }
  try {
    rmdirSync(node);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new Error(`Cannot remove cgroup ${node}: ${(err as Error).message}`);
    }
  }
}
