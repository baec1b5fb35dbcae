// The one error type of the etcd client, and how gateway answers and fetch failures map onto it.

export type EtcdErrorKind =
  | "unavailable"
  | "timeout"
  | "not-found"
  | "compacted"
  | "permission-denied"
  | "unauthenticated"
  | "invalid-argument"
  | "failed-precondition"
  /** etcd refused the request for its size (its --max-request-bytes); sending it again cannot help. */
  | "too-large"
  | "internal";

/** gRPC status codes that etcd and its gateway use. */
export const GrpcCode = {
  ok: 0,
  cancelled: 1,
  unknown: 2,
  invalidArgument: 3,
  deadlineExceeded: 4,
  notFound: 5,
  alreadyExists: 6,
  permissionDenied: 7,
  resourceExhausted: 8,
  failedPrecondition: 9,
  aborted: 10,
  outOfRange: 11,
  unimplemented: 12,
  internal: 13,
  unavailable: 14,
  dataLoss: 15,
  unauthenticated: 16,
} as const;

/** How one endpoint failed, within a call that tried several. */
export interface EndpointFailure {
  endpoint: string;
  kind: EtcdErrorKind;
  detail: string;
}

export interface EtcdErrorInit {
  kind: EtcdErrorKind;
  endpoint: string;
  /** What was asked, e.g. "range", "put", "lease-keepalive". */
  op: string;
  key?: string;
  code: number;
  detail: string;
  httpStatus?: number;
  uncertain?: boolean;
  cause?: unknown;
  /** Every endpoint the call failed on, when there was more than one (see EtcdError.tried). */
  tried?: readonly EndpointFailure[];
}

export class EtcdError extends Error {
  override readonly name = "EtcdError";
  readonly kind: EtcdErrorKind;
  /** The endpoint that answered or failed ("" when none was tried). */
  readonly endpoint: string;
  readonly op: string;
  readonly key: string | undefined;
  /** gRPC status code (14 for connection failures, 4 for timeouts). */
  readonly code: number;
  readonly httpStatus: number | undefined;
  /** etcd's own message, or the network failure, without the endpoint/op prefix. */
  readonly detail: string;
  /**
   * True when a write failed in a way that leaves it unknown whether etcd applied it (a timeout or
   * a connection lost after the request was sent). The caller must read back before redoing it.
   */
  readonly uncertain: boolean;
  /**
   * When the call failed on more than one endpoint: how each failed (the last one is this error's
   * own endpoint and detail), in the order the endpoints are configured. Empty otherwise. A lost
   * quorum shows here as refused connections to the dead members and no answer from the others.
   */
  readonly tried: readonly EndpointFailure[];

  constructor(init: EtcdErrorInit) {
    const what = init.key === undefined ? init.op : `${init.op} ${init.key}`;
    const kind = init.kind.replace("-", " ");
    const tried = init.tried && init.tried.length > 1 ? init.tried : [];
    super(
      tried.length > 0
        ? `etcd ${kind} for ${what} at every endpoint tried: ${tried.map((f) => `${f.endpoint} (${f.detail})`).join(", ")}`
        : `etcd ${init.endpoint || "(no endpoint)"} ${kind} for ${what}: ${init.detail}`,
      { cause: init.cause },
    );
    this.tried = tried;
    this.kind = init.kind;
    this.endpoint = init.endpoint;
    this.op = init.op;
    this.key = init.key;
    this.code = init.code;
    this.httpStatus = init.httpStatus;
    this.detail = init.detail;
    this.uncertain = init.uncertain ?? false;
  }
}

/** The kind for a gRPC code and etcd message (one code covers several etcd conditions). */
export function kindFromGrpc(code: number, message: string): EtcdErrorKind {
  if (message.includes("has been compacted")) return "compacted";
  if (message.includes("user name is empty") || message.includes("authentication failed")) return "unauthenticated";
  // etcd says "request is too large" (InvalidArgument) up to its limit plus gRPC's 512 KiB slack,
  // and gRPC itself "received message larger than max" (ResourceExhausted) beyond: both are size.
  if (message.includes("request is too large") || message.includes("message larger than max")) return "too-large";
  switch (code) {
    case GrpcCode.notFound:
      return "not-found";
    case GrpcCode.permissionDenied:
      return "permission-denied";
    case GrpcCode.unauthenticated:
      return "unauthenticated";
    case GrpcCode.invalidArgument:
    case GrpcCode.outOfRange:
    case GrpcCode.alreadyExists:
      return "invalid-argument";
    case GrpcCode.failedPrecondition:
      return "failed-precondition";
    // The gateway answers "cancelled" when etcd is shutting down under it.
    case GrpcCode.cancelled:
    case GrpcCode.unavailable:
    case GrpcCode.resourceExhausted:
    case GrpcCode.aborted:
      return "unavailable";
    case GrpcCode.deadlineExceeded:
      return "timeout";
    default:
      return "internal";
  }
}

/** gRPC code from an HTTP status when the gateway's body has none (e.g. a proxy in between). */
export function grpcFromHttp(status: number): number {
  if (status === 400) return GrpcCode.invalidArgument;
  if (status === 401) return GrpcCode.unauthenticated;
  if (status === 403) return GrpcCode.permissionDenied;
  if (status === 404) return GrpcCode.notFound;
  if (status === 408 || status === 504) return GrpcCode.deadlineExceeded;
  if (status === 412) return GrpcCode.failedPrecondition;
  if (status === 429 || status === 502 || status === 503) return GrpcCode.unavailable;
  return GrpcCode.internal;
}
