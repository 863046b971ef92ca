/**
 * Errors -> HTTP responses. An `InferError`'s code picks the status through `httpStatusOf`
 * (Triton's table, see errors.ts); a few errors that only HTTP has (a body over the limit, a
 * content type the route does not take, a route that does not exist) carry a sharper status
 * beside their gRPC code. The body is always `{"error": "<message>"}` as Triton sends it; the
 * `cause` goes to the log and never to the client.
 */
import { Code, httpStatusOf, InferError } from "../errors.js";

/** What to send for an error. */
export interface HttpErrorResponse {
  status: number;
  body: { error: string };
  /** The error as an InferError, for the log (with its `cause`). */
  error: InferError;
}

// The sharper status of errors made here; an InferError stays the one error type.
const statusOverrides = new WeakMap<InferError, number>();

function withStatus(error: InferError, status: number): InferError {
  statusOverrides.set(error, status);
  return error;
}

/** A body longer than `limits.maxBodyBytes`: RESOURCE_EXHAUSTED, sent as 413. */
export function bodyTooLarge(maxBytes: number): InferError {
  const message = `request body exceeds the limit of ${maxBytes} bytes (limits.maxBodyBytes)`;
  return withStatus(new InferError(Code.RESOURCE_EXHAUSTED, message), 413);
}

/** A body whose content type the route cannot read: INVALID_ARGUMENT, sent as 415. */
export function unsupportedMediaType(contentType: string, accepted: readonly string[]): InferError {
  const message = `unsupported content type '${contentType}'; expected one of ${accepted.join(", ")}`;
  return withStatus(new InferError(Code.INVALID_ARGUMENT, message), 415);
}

/** No route for this method and path: NOT_FOUND, sent as 404. */
export function routeNotFound(method: string, path: string): InferError {
  return new InferError(Code.NOT_FOUND, `no route for ${method} ${path}`);
}

/** Model control asked of the public listener: PERMISSION_DENIED, sent as 403. */
export function modelControlNotServed(): InferError {
  return new InferError(
    Code.PERMISSION_DENIED,
    "model control is served on the admin listener only, not on this port",
  );
}

/** A missing or wrong admin bearer token: UNAUTHENTICATED, sent as 401. */
export function adminTokenRequired(): InferError {
  return new InferError(
    Code.UNAUTHENTICATED,
    "the admin listener requires 'Authorization: Bearer <admin.token>'",
  );
}

/**
 * Maps anything thrown to a response. InferErrors keep their message; express's own client
 * errors (e.g. a path parameter that is not valid percent-encoding) keep their 4xx status and
 * message; anything else is a bug and reads "internal error" without detail.
 */
export function httpErrorOf(reason: unknown): HttpErrorResponse {
  const error = reason instanceof InferError ? reason : fromForeign(reason);
  const status = statusOverrides.get(error) ?? httpStatusOf(error.code);
  return { status, body: { error: error.message }, error };
}

function fromForeign(reason: unknown): InferError {
  const status = clientStatusOf(reason);
  if (status !== undefined) {
    const message = reason instanceof Error ? reason.message : String(reason);
    return withStatus(new InferError(Code.INVALID_ARGUMENT, message, { cause: reason }), status);
  }
  return new InferError(Code.INTERNAL, "internal error", { cause: reason });
}

/**
 * The status of a client error from express or its router (`status` 4xx, as http-errors and the
 * router's percent-decoding set it, and not marked `expose: false`), if it is one.
 */
function clientStatusOf(reason: unknown): number | undefined {
  if (reason === null || typeof reason !== "object") return undefined;
  const { status, expose } = reason as { status?: unknown; expose?: unknown };
  if (typeof status !== "number" || status < 400 || status > 499 || expose === false) {
    return undefined;
  }
  return status;
}
