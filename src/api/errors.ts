// The API's one error type and its JSON body, `{"error":{"code":N,"message":"..."}}`, and the
// one place other errors are turned into it.
import { EtcdError } from "../registry/etcd/errors.ts";
import { InvalidRecordError } from "../registry/records.ts";
import { jsonResponse } from "./json.ts";
import { errorText } from "../lib/error-text.ts";

/** An error answered to the client as is: `message` is sent, so it must not leak internals. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    message = "",
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

/** The error body for a status and message, with Content-Type application/json. */
export function errorResponse(status: number, message: string, headers?: Record<string, string>): Response {
  return jsonResponse(status, { error: { code: status, message } }, headers);
}

/**
 * The client's error for a failure that is the request's fault, or undefined for one that is
 * not (a registry or internal failure). etcd refusing a write for its size is the request's
 * fault: retrying cannot help, so it is a 413 that says so rather than a 500. A record the
 * request would have stored is refused by every reader (e.g. a machine id with "/"): a 400
 * naming it.
 */
export function clientErrorOf(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof EtcdError && err.kind === "too-large") {
    return new ApiError(413, `request is too large for etcd (${err.detail}): the change must fit in etcd's --max-request-bytes`);
  }
  if (err instanceof InvalidRecordError) return new ApiError(400, err.message);
  return undefined;
}

/**
 * Turns anything a route threw into a response. A client error is answered as is; anything else
 * is a registry or internal failure, answered as 500 with an empty message (the detail only
 * goes to the log, as in the original).
 */
export function toErrorResponse(err: unknown, logError: (message: string) => void): Response {
  const known = clientErrorOf(err);
  if (known) return errorResponse(known.status, known.message, known.headers);
  logError(errorText(err));
  return errorResponse(500, "");
}
