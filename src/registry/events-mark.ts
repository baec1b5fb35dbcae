// The one key the event stream writes. etcd's watch does not say when it has sent all of the
// history asked for, so a stream asked to stop once caught up (until=now) that must first read
// etcd's history (its start is older than the daemon's buffer) puts this key: its revision is a
// change the history will reach, and the stream ends there. No reader derives anything from it.
import type { EtcdClient } from "./etcd/client.ts";
import type { KeySpace } from "./keys.ts";

export function eventsMarkKey(keys: KeySpace): string {
  return `${keys.prefix}events-mark`;
}

/** Writes the mark and returns its revision: later than everything etcd held before. */
export async function markRevision(etcd: Pick<EtcdClient, "put">, keys: KeySpace): Promise<number> {
  return (await etcd.put(eventsMarkKey(keys), JSON.stringify({ at: new Date().toISOString() }))).revision;
}
