// The API's one error type and its JSON body, `{"error":{"code":N,"message":"..."}}`.
import { InvalidRecordError } from "../registry/records.ts";
import { jsonResponse } from "./json.ts";

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
 * Turns anything a route threw into a response. An ApiError is answered as is, a record the
 * request would have stored invalid is a 400 naming it; anything else is a registry or internal failure, answered as 500 with an empty message (the detail only
 * goes to the log, as in the original).
 */
export function toErrorResponse(err: unknown, logError: (message: string) => void): Response {
  if (err instanceof ApiError) return errorResponse(err.status, err.message, err.headers);
  // What the request asked to store would be refused by every reader (e.g. a machine id with "/").
  if (err instanceof InvalidRecordError) return errorResponse(400, err.message);
  logError(err instanceof Error ? err.message : String(err));
  return errorResponse(500, "");
}
