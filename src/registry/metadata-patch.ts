// Dynamic metadata changes for many machines at once (PATCH /machines), in few etcd requests:
// the machine records and current metadata of up to 64 machines in one read transaction, and
// their new metadata in one write transaction that also checks each machine is still live and
// its metadata unchanged since the read.
import { cmp, op } from "./etcd/txn.ts";
import type { KeyValue, Op } from "./etcd/types.ts";
import { encodeRecord } from "./records.ts";
import { type Registry, RegistryError } from "./registry.ts";

/** Machines per transaction: each costs two ops or compares, and etcd allows 128 by default. */
export const MACHINES_PER_TXN = 64;
const ATTEMPTS = 10;

/** Per machine: key -> new value, or undefined to delete the key. */
export type MetadataChanges = ReadonlyMap<string, Readonly<Record<string, string | undefined>>>;

interface Current {
  live: boolean;
  /** The machine's metadata key as read, absent when it has none. */
  kv: KeyValue | undefined;
}

/**
 * Applies the changes to live machines only. When any machine is not live, nothing is written
 * and its id is returned in `notLive` (all of them, in the order given). Each group of 64
 * machines is written atomically; a machine that vanishes between the read and the write of
 * its group ends the call with `notLive` naming it, and groups written before stay written.
 */
export async function patchLiveMetadata(registry: Registry, changes: MetadataChanges): Promise<{ notLive: string[] }> {
  const groups: string[][] = [];
  const ids = [...changes.keys()];
  for (let i = 0; i < ids.length; i += MACHINES_PER_TXN) groups.push(ids.slice(i, i + MACHINES_PER_TXN));
  const read = await Promise.all(groups.map((g) => readGroup(registry, g)));
  const notLive = ids.filter((id) => !read.some((m) => m.get(id)?.live));
  if (notLive.length > 0) return { notLive };
  for (const [i, group] of groups.entries()) {
    let current = read[i]!;
    for (let attempt = 1; ; attempt++) {
      const gone = group.filter((id) => !current.get(id)?.live);
      if (gone.length > 0) return { notLive: gone };
      if (await writeGroup(registry, group, current, changes)) break;
      if (attempt === ATTEMPTS) {
        throw new RegistryError(`Cannot update metadata of machines ${group.join(", ")}: too many concurrent changes`);
      }
      current = await readGroup(registry, group);
    }
  }
  return { notLive: [] };
}

async function readGroup(registry: Registry, group: readonly string[]): Promise<Map<string, Current>> {
  const k = registry.keys;
  const res = await registry.etcd.txn({
    compare: [],
    success: [...group.map((id) => op.get(k.machine(id), { keysOnly: true })), ...group.map((id) => op.get(k.metadata(id)))],
  });
  const out = new Map<string, Current>();
  group.forEach((id, i) => {
    const machine = res.responses[i];
    const meta = res.responses[group.length + i];
    out.set(id, {
      live: machine?.type === "range" && machine.kvs.length > 0,
      kv: meta?.type === "range" ? meta.kvs[0] : undefined,
    });
  });
  return out;
}

async function writeGroup(registry: Registry, group: readonly string[], current: Map<string, Current>, changes: MetadataChanges): Promise<boolean> {
  const k = registry.keys;
  const compare = [];
  const success: Op[] = [];
  for (const id of group) {
    const { kv } = current.get(id)!;
    // An unreadable record is replaced: it held nothing anyone could use.
    const next: Record<string, string> = { ...((kv && registry.read("metadata", kv)) || {}) };
    for (const [key, value] of Object.entries(changes.get(id) ?? {})) {
      if (value === undefined) delete next[key];
      else next[key] = value;
    }
    const key = k.metadata(id);
    compare.push(cmp.createRevision(k.machine(id), ">", 0));
    compare.push(kv ? cmp.modRevision(key, "=", kv.modRevision) : cmp.createRevision(key, "=", 0));
    success.push(Object.keys(next).length > 0 ? op.put(key, encodeRecord("metadata", k, key, next)) : op.del(key));
  }
  return (await registry.etcd.txn({ compare, success })).succeeded;
}
