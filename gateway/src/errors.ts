/**
 * The one error type of infergate. Every failure that reaches a client carries one of the
 * closed set of gRPC status codes; the HTTP front end maps the code to a status with
 * {@link httpStatusOf}. The `cause` is for logs and is never sent to a client.
 */

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html), numerically exact. */
export enum Code {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

/** An error with a gRPC status code, a client-safe message and an optional logged cause. */
export class InferError extends Error {
  override readonly name = "InferError";
  readonly code: Code;
  /** The underlying error, for logs only. */
  override readonly cause: unknown;
  /** When the client may try again, ms (HTTP `Retry-After`, gRPC `retry-after` metadata). */
  readonly retryAfterMs: number | undefined;

  constructor(code: Code, message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message);
    this.code = code;
    this.cause = options?.cause;
    this.retryAfterMs = options?.retryAfterMs;
  }

  /**
   * Wraps anything thrown into an InferError. InferErrors pass through; errors that carry a
   * numeric gRPC `code` (grpc-js ServiceError) keep it and their `details`; everything else
   * becomes INTERNAL with the original kept as `cause`.
   */
  static from(reason: unknown, fallback: Code = Code.INTERNAL): InferError {
    if (reason instanceof InferError) return reason;
    if (isGrpcLike(reason)) {
      return new InferError(reason.code, reason.details || reason.message, { cause: reason });
    }
    const message = reason instanceof Error ? reason.message : String(reason);
    return new InferError(fallback, message, { cause: reason });
  }
}

function isGrpcLike(value: unknown): value is { code: Code; details?: string; message: string } {
  if (!(value instanceof Error)) return false;
  const code = (value as { code?: unknown }).code;
  return typeof code === "number" && Number.isInteger(code) && code >= 0 && code <= 16;
}

/** Shorthand for the most common client error: a malformed request or tensor. */
export function invalidArgument(message: string): InferError {
  return new InferError(Code.INVALID_ARGUMENT, message);
}

/**
 * HTTP status for a code. INTERNAL, NOT_FOUND, UNAVAILABLE and UNIMPLEMENTED follow Triton's
 * HTTP front end (500, 404, 503, 501); the codes Triton lumps into 400 are refined where HTTP has
 * a better word for them (429 for RESOURCE_EXHAUSTED, 504 for DEADLINE_EXCEEDED, 401/403 for auth).
 * CANCELLED and UNKNOWN stay 400 as in Triton.
 */
export function httpStatusOf(code: Code): number {
  switch (code) {
    case Code.OK:
      return 200;
    case Code.NOT_FOUND:
      return 404;
    case Code.UNAVAILABLE:
      return 503;
    case Code.UNIMPLEMENTED:
      return 501;
    case Code.INTERNAL:
    case Code.DATA_LOSS:
      return 500;
    case Code.RESOURCE_EXHAUSTED:
      return 429;
    case Code.DEADLINE_EXCEEDED:
      return 504;
    case Code.UNAUTHENTICATED:
      return 401;
    case Code.PERMISSION_DENIED:
      return 403;
    default:
      return 400;
  }
}
