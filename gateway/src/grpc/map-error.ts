/**
 * Errors to gRPC statuses: whatever a handler throws becomes an `InferError` (see `errors.ts`),
 * whose code is the status code and whose message is the status details. The `cause` goes to the
 * log, never to the client.
 */
import type { status as GrpcStatus } from "@grpc/grpc-js";
import { Code, InferError } from "../errors.js";
import type { Logger } from "../log.js";

/** A status for grpc-js: `callback(status)` on a unary call, `call.emit("error", status)` else. */
export interface GrpcErrorStatus {
  code: GrpcStatus;
  details: string;
  /** When to retry, ms, sent as `retry-after` trailing metadata in seconds. */
  retryAfterMs?: number;
}

/**
 * The status for `reason`. INTERNAL and UNKNOWN are logged on `log` (the request's logger) with
 * their cause and stack. Errors that are neither an `InferError` nor a gRPC status from Triton
 * (a bug: a TypeError, a failed assertion) reach the client only as "internal error" and the
 * request id, since their message may name internals. `OK` is no error, so it becomes UNKNOWN.
 */
export function toGrpcStatus(reason: unknown, log: Logger, requestId: string): GrpcErrorStatus {
  const error = InferError.from(reason);
  let code = error.code;
  let details = error.message;
  if (code === Code.OK) code = Code.UNKNOWN;
  if (code === Code.INTERNAL || code === Code.UNKNOWN) {
    log.error({ code: Code[code], err: describeCause(error) }, error.message);
    if (!(reason instanceof InferError) && !hasGrpcCode(reason)) {
      details = `internal error (request id ${requestId})`;
    }
  }
  // Code and grpc-js's `status` are the same numbers: the closed set of gRPC status codes.
  return { code: code as number as GrpcStatus, details, retryAfterMs: error.retryAfterMs };
}

function describeCause(error: InferError): string {
  const cause = error.cause ?? error;
  return cause instanceof Error ? (cause.stack ?? cause.message) : String(cause);
}

/** A grpc-js ServiceError (from a Triton call), whose details Triton wrote for its own clients. */
function hasGrpcCode(value: unknown): boolean {
  const code = value instanceof Error ? (value as { code?: unknown }).code : undefined;
  return typeof code === "number" && Number.isInteger(code) && code >= 0 && code <= 16;
}
