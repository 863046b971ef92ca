/**
 * The wrapper every unary RPC of the front end goes through: it builds the request context,
 * returns the request id in initial metadata, calls the handler, maps a failure to a status,
 * and records one metric sample and one log line per call.
 */
import {
  type handleUnaryCall,
  Metadata,
  type ServerUnaryCall,
  type sendUnaryData,
} from "@grpc/grpc-js";
import type { RequestContext } from "../core/gateway-core.js";
import { Code, InferError } from "../errors.js";
import { logsAtInfo } from "../log.js";
import { toGrpcStatus } from "./map-error.js";
import { requestContextOf, responseMetadata } from "./map-request.js";
import type { GrpcServerDeps } from "./server-deps.js";

/**
 * A unary RPC's logic: the request and its context in, the response out. `trailers` is the
 * trailing metadata sent with a successful response (e.g. `x-cache`).
 */
export type UnaryLogic<Req, Res> = (
  request: Req,
  ctx: RequestContext,
  trailers: Metadata,
) => Promise<Res> | Res;

/** Per-method options of {@link unaryHandler}. */
export interface UnaryOptions<Req> {
  /** Log at debug rather than info: for health probes, which arrive every few seconds. */
  quiet?: boolean;
  /** Extra fields for the call's log line, e.g. the model name. */
  logFields?: (request: Req) => Record<string, unknown>;
}

/** How long a unary call may run before its initial metadata (the request id) is sent alone. */
export const EARLY_METADATA_MS = 20;

/** A grpc-js unary handler for `method` (the RPC name, a metric label) running `logic`. */
export function unaryHandler<Req, Res>(
  deps: GrpcServerDeps,
  method: string,
  logic: UnaryLogic<Req, Res>,
  options: UnaryOptions<Req> = {},
): handleUnaryCall<Req, Res> {
  const contextOptions = { log: deps.log, defaultTimeoutMs: deps.config.triton.defaultTimeoutMs };
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const startMs = performance.now();
    const recorded = deps.metrics.started(method);
    const { ctx, release } = requestContextOf(call, method, contextOptions);
    // The request id goes out in initial metadata together with the answer: sent at the start,
    // the headers would cost a write of their own here and a wake-up of their own in the client.
    // A call still running after EARLY_METADATA_MS gets them then, so that one that ends by its
    // deadline or a cancellation (answered by grpc-js, without us) still carries its id.
    let headersSent = false;
    const sendHeaders = () => {
      if (headersSent || call.cancelled) return;
      headersSent = true;
      call.sendMetadata(responseMetadata(ctx.requestId));
    };
    const early = setTimeout(sendHeaders, EARLY_METADATA_MS);
    early.unref();
    const finish = (code: Code) => {
      clearTimeout(early);
      release();
      sendHeaders();
      // A cancelled call was answered by grpc-js already (CANCELLED, or DEADLINE_EXCEEDED).
      const outcome = call.cancelled ? cancelledCode(ctx) : code;
      recorded(outcome);
      const fields = {
        ...options.logFields?.(call.request),
        code: Code[outcome],
        duration_ms: Math.round((performance.now() - startMs) * 1000) / 1000,
      };
      const failed = outcome !== Code.OK;
      if (!options.quiet && logsAtInfo(deps.config.log, failed, fields.duration_ms)) {
        ctx.log.info(fields, "grpc request");
      } else ctx.log.debug(fields, "grpc request");
    };
    const trailers = new Metadata();
    Promise.resolve()
      .then(() => logic(call.request, ctx, trailers))
      .then(
        (response) => {
          finish(Code.OK);
          callback(null, response, trailers);
        },
        (reason: unknown) => {
          const status = toGrpcStatus(reason, ctx.log, ctx.requestId);
          finish(status.code as number as Code);
          // The id again in the trailers: some clients show only trailing metadata on errors.
          const metadata = responseMetadata(ctx.requestId);
          if (status.retryAfterMs !== undefined) {
            metadata.set("retry-after", String(Math.max(1, Math.ceil(status.retryAfterMs / 1000))));
          }
          callback({ code: status.code, details: status.details, metadata });
        },
      );
  };
}

/** A handler that always fails with `code` and `details` (counted and logged like any call). */
export function refusingHandler(
  deps: GrpcServerDeps,
  method: string,
  code: Code,
  details: string,
): handleUnaryCall<unknown, unknown> {
  return unaryHandler(deps, method, () => {
    throw new InferError(code, details);
  });
}

/** Whether a cancelled call ran out of time or was cancelled by its client. */
function cancelledCode(ctx: RequestContext): Code {
  return Date.now() >= ctx.deadlineMs ? Code.DEADLINE_EXCEEDED : Code.CANCELLED;
}
