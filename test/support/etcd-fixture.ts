// The set-up every test against etcd starts with: a real etcd on free ports, a client to it, a
// fresh key prefix, and everything closed afterwards (clients first, then etcd). For one test,
// `await using etcd = await startEtcdFixture()`; for every test of a file, `sharedEtcd()`.
import { EtcdClient, type EtcdOptions } from "../../src/registry/etcd/index.ts";
import { type EtcdServer, type StartEtcdOptions, startEtcd } from "./etcd-server.ts";
import { shared } from "./shared.ts";

/** A client's options besides its endpoint, which is the fixture's etcd. */
export type ClientOptions = Omit<EtcdOptions, "endpoints">;

export interface EtcdFixtureOptions extends StartEtcdOptions {
  /** The options of `client`. */
  client?: ClientOptions;
}

export interface EtcdFixture {
  /** The etcd process: stop/start/kill for outages, its certificates, its log. */
  readonly server: EtcdServer;
  /** The etcd's client URL, e.g. `http://127.0.0.1:41234`. */
  readonly endpoint: string;
  /** A client to it, made on first use and closed with the fixture. */
  readonly client: EtcdClient;
  /** Another client to it (its own timeouts, observer or credentials), closed with the fixture. */
  connect(opts?: ClientOptions): EtcdClient;
}

class Fixture implements EtcdFixture, AsyncDisposable {
  private readonly clients: EtcdClient[] = [];
  private main: EtcdClient | undefined;

  constructor(readonly server: EtcdServer, private readonly clientOptions: ClientOptions = {}) {}

  get endpoint(): string {
    return this.server.endpoint;
  }

  get client(): EtcdClient {
    return (this.main ??= this.connect(this.clientOptions));
  }

  connect(opts: ClientOptions = {}): EtcdClient {
    const c = new EtcdClient({ endpoints: [this.endpoint], ...opts });
    this.clients.push(c);
    return c;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const c of this.clients) c.close();
    await this.server[Symbol.asyncDispose]();
  }
}

/** A fresh etcd for one test: `await using etcd = await startEtcdFixture()`. */
export async function startEtcdFixture(opts: EtcdFixtureOptions = {}): Promise<EtcdFixture & AsyncDisposable> {
  const { client, ...server } = opts;
  return new Fixture(await startEtcd(server), client);
}

/**
 * One etcd shared by the tests of the file (or of the describe block) it is called in: started
 * before the first test, removed after the last. Its members work inside tests and hooks.
 */
export function sharedEtcd(opts: EtcdFixtureOptions = {}): EtcdFixture {
  return shared("etcd", () => startEtcdFixture(opts));
}

let prefixes = 0;

/** A key prefix no other caller in this process gets, e.g. `/fleet-api-test-1234-3/`. */
export function freshPrefix(name: string): string {
  return `/${name}-${process.pid}-${++prefixes}/`;
}
