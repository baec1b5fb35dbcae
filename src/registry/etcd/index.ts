// The etcd v3 client (JSON gateway). Import from here.
export { EtcdClient } from "./client.ts";
export { prefixEnd } from "./codec.ts";
export { type EndpointFailure, EtcdError, type EtcdErrorKind, GrpcCode } from "./errors.ts";
export { cmp, op } from "./txn.ts";
export type * from "./types.ts";
