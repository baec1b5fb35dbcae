// Unit files by hash, as an agent reads them to run its units: many in one read-only transaction
// (one request for a whole plan's new units rather than one each). The decoding and checks are
// the unit-file decoder's (records.ts), applied by the caller to each key-value.
import type { EtcdClient, KeyValue } from "./etcd/index.ts";
import { op } from "./etcd/txn.ts";
import type { KeySpace } from "./keys.ts";

/** etcd's default limit of operations in one transaction (--max-txn-ops). */
const MAX_OPS = 128;

/** The stored unit file of each hash that has one (missing hashes are absent from the map). */
export async function readUnitFiles(etcd: Pick<EtcdClient, "txn">, keys: KeySpace, hashes: readonly string[]): Promise<Map<string, KeyValue>> {
  const unique = [...new Set(hashes)];
  const found = new Map<string, KeyValue>();
  const chunks: string[][] = [];
  for (let i = 0; i < unique.length; i += MAX_OPS) chunks.push(unique.slice(i, i + MAX_OPS));
  await Promise.all(chunks.map(async (chunk) => {
    const res = await etcd.txn({ compare: [], success: chunk.map((h) => op.get(keys.unitFile(h))) });
    res.responses.forEach((r, i) => {
      const kv = r.type === "range" ? r.kvs[0] : undefined;
      if (kv) found.set(chunk[i]!, kv);
    });
  }));
  return found;
}
