// The state file of a cluster: every host resource is recorded here before it is created, so
// a crashed run can always be cleaned up from the file alone.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isAlive, processStartTime } from "./command.ts";

export const STATE_FILE = "cluster.json";

export interface OwnerRecord {
  pid: number;
  /** Start time of the owner in clock ticks since boot, so a reused pid is not mistaken for it. */
  startTime: number;
}

export interface MachineRecord {
  name: string;
  index: number;
  hostname: string;
  machineId: string;
  ip: string;
  veth: string;
  /** Host pid of the machine's systemd while it runs. */
  pid?: number;
  /** Host pid of the unshare process that parents systemd. */
  launcherPid?: number;
}

export interface ClusterRecord {
  version: 1;
  name: string;
  /** This cluster's directory (stateRoot/name). */
  dir: string;
  /** The process whose exit makes the cluster stale; null for a detached cluster. */
  owner: OwnerRecord | null;
  createdAt: string;
  subnet?: string;
  bridge?: string;
  cgroupNode?: string;
  machines: MachineRecord[];
}

export function readRecord(dir: string): ClusterRecord {
  const record = JSON.parse(readFileSync(join(dir, STATE_FILE), "utf8")) as ClusterRecord;
  if (record.version !== 1) throw new Error(`Cannot read ${join(dir, STATE_FILE)}: unknown version ${String(record.version)}`);
  return record;
}

export function writeRecord(record: ClusterRecord): void {
  const path = join(record.dir, STATE_FILE);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

export function currentOwner(): OwnerRecord {
  return { pid: process.pid, startTime: processStartTime(process.pid) ?? 0 };
}

export function ownerAlive(owner: OwnerRecord | null): boolean {
  if (owner === null) return true;
  return isAlive(owner.pid) && processStartTime(owner.pid) === owner.startTime;
}

/** Every readable cluster record under stateRoot (unreadable ones are skipped). */
export function listRecords(stateRoot: string): ClusterRecord[] {
  if (!existsSync(stateRoot)) return [];
  const records: ClusterRecord[] = [];
  for (const entry of readdirSync(stateRoot, { withFileTypes: true })) {
    if (!entry.isDirectory() || !existsSync(join(stateRoot, entry.name, STATE_FILE))) continue;
    try {
      records.push(readRecord(join(stateRoot, entry.name)));
    } catch {
      // a half-written or foreign file: not ours to judge
    }
  }
  return records;
}
