// Which failed etcd calls may be retried (the back-off between them is src/lib/backoff.ts).
import type { EtcdErrorKind } from "./errors.ts";

/** How far a failed attempt got: never sent, possibly applied, or answered by etcd. */
export type Reach = "not-sent" | "maybe" | "answered";

export interface AttemptFailure {
  kind: EtcdErrorKind;
  reach: Reach;
  /** etcd's message, for the few 503s known to be refused before any effect. */
  detail: string;
}

/**
 * Whether to try again (on another endpoint or after a back-off). Reads are retried on any
 * transient failure. A write (put, delete, txn with writes, lease grant) is retried only when it
 * cannot have taken effect: the connection was never made, or etcd refused it up front ("no
 * leader", "too many requests"). A write that timed out, lost its connection, or got another 503
 * ("request timed out", "leader changed") may have been applied: retrying it blindly could apply
 * it twice (a second revision, a second lease), so the error goes to the caller, marked
 * `uncertain`, who can read back and decide.
 */
export function shouldRetry(f: AttemptFailure, idempotent: boolean): boolean {
  if (f.reach === "not-sent") return f.kind === "unavailable" || f.kind === "timeout";
  const transient = f.kind === "unavailable" || f.kind === "timeout";
  if (!transient) return false;
  if (idempotent) return true;
  return f.reach === "answered" && (f.detail.includes("no leader") || f.detail.includes("too many requests"));
}
