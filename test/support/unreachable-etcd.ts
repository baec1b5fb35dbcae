// A real etcd client of an endpoint where nothing listens: every call fails at once (connection
// refused, no retries), and each is recorded. For loops that must back off: the failures are
// real, and a test on a manual clock sees the next attempt only once it moves the clock.
import { EtcdClient, type EtcdOperation } from "../../src/registry/etcd/index.ts";
import { freePort } from "./etcd-server.ts";

export interface UnreachableEtcd extends Disposable {
  readonly client: EtcdClient;
  /** Every operation tried so far (all failed). */
  readonly calls: EtcdOperation[];
}

export async function unreachableEtcd(): Promise<UnreachableEtcd> {
  const calls: EtcdOperation[] = [];
  const client = new EtcdClient({ endpoints: [`http://127.0.0.1:${await freePort()}`], retries: 0, onOperation: (op) => calls.push(op) });
  return { client, calls, [Symbol.dispose]: () => client.close() };
}
