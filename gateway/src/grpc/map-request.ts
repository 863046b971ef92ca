/**
 * gRPC calls to core requests: the {@link RequestContext} of a call (request id, deadline,
 * cancellation, logger) and `ModelInferRequest` / `ModelInferResponse` to and from the core's
 * front-end-neutral form.
 */
import { randomUUID } from "node:crypto";
import { type Deadline, Metadata } from "@grpc/grpc-js";
import { CACHE_CONTROL_HEADER, parseCacheControl } from "../cache/cache-control.js";
import type {
  CacheControl,
  CoreInferRequest,
  CoreInferResult,
  RequestContext,
} from "../core/gateway-core.js";
import { Code, InferError, invalidArgument } from "../errors.js";
import type { Logger } from "../log.js";
import {
  decodeInferRequestMessage,
  encodeInferResponseMessage,
  type ModelInferRequestMessage,
  type ModelInferResponseMessage,
  type ParameterValue,
} from "../protocol/infer-message.js";

/** Metadata key of the request id, read from the client and sent back in initial metadata. */
export const REQUEST_ID_KEY = "x-request-id";

/** A client's request id is kept when it is 1-128 of these characters; else one is generated. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Request parameters the gateway consumes rather than passes to Triton: `binary_data_output`
 * belongs to the HTTP binary extension, and `headers` is what Triton fills in itself from
 * forwarded HTTP headers. Everything else, `priority` and `timeout` included, goes through.
 */
const CONSUMED_PARAMETERS: ReadonlySet<string> = new Set(["binary_data_output", "headers"]);

/** Reserved parameters that must be non-negative integers (priority level; queue timeout, µs). */
const NON_NEGATIVE_INTEGER_PARAMETERS = ["priority", "timeout"] as const;

/** The parts of a grpc-js server call (unary or stream) that the mapping reads. */
export interface CallLike {
  readonly metadata: Metadata;
  readonly cancelled: boolean;
  getDeadline(): Deadline;
  once(event: "cancelled", listener: () => void): unknown;
  off(event: "cancelled", listener: () => void): unknown;
}

/** What {@link requestContextOf} needs besides the call. */
export interface ContextOptions {
  /** The front end's logger; the context's logger adds `request_id` and `rpc`. */
  log: Logger;
  /** Deadline of a call that sets none, ms from its arrival (`triton.defaultTimeoutMs`). */
  defaultTimeoutMs: number;
}

/** The client's `x-request-id` when valid (1-128 of `[A-Za-z0-9._:-]`), else a new UUID. */
export function requestIdOf(metadata: Metadata): string {
  const [value] = metadata.get(REQUEST_ID_KEY);
  return typeof value === "string" && REQUEST_ID_PATTERN.test(value) ? value : randomUUID();
}

/**
 * The absolute deadline, ms since the epoch: the call's gRPC deadline (a Date or ms since the
 * epoch; `Infinity` when the client set none), else `nowMs + defaultTimeoutMs`.
 */
export function deadlineMsOf(deadline: Deadline, defaultTimeoutMs: number, nowMs: number): number {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : nowMs + defaultTimeoutMs;
}

/** The `cache-control` metadata's directives (`no-cache`, `no-store`), if any. */
export function cacheControlOf(metadata: Metadata): CacheControl | undefined {
  const values = metadata.get(CACHE_CONTROL_HEADER).filter((v) => typeof v === "string");
  return values.length > 0 ? parseCacheControl(values) : undefined;
}

/** Initial metadata that returns the request id to the client. */
export function responseMetadata(requestId: string): Metadata {
  const metadata = new Metadata();
  metadata.set(REQUEST_ID_KEY, requestId);
  return metadata;
}

/** The abort reason of a call the client cancelled. */
const CLIENT_CANCELLED = new InferError(Code.CANCELLED, "the client cancelled the request");

/** A call's cancellation signal, and how to stop watching for it. */
export interface CallCancellation {
  /** Fires (reason CANCELLED) when the client hangs up or cancels, or the deadline passes. */
  signal: AbortSignal;
  /**
   * Stops watching the call: call it once the call is answered. grpc-js emits 'cancelled' also
   * when an answered call's stream closes, and aborting a signal that nothing needs any more
   * costs an event dispatch per call.
   */
  release(): void;
}

/** Watches `call` for cancellation (see {@link CallCancellation}). */
export function cancellationOf(call: CallLike): CallCancellation {
  const controller = new AbortController();
  const abort = () => controller.abort(CLIENT_CANCELLED);
  if (call.cancelled) abort();
  else call.once("cancelled", abort);
  return { signal: controller.signal, release: () => call.off("cancelled", abort) };
}

/**
 * An AbortSignal that fires when the call is cancelled, for a call watched for its whole life (a
 * stream). Unary calls use {@link cancellationOf} and release it when answered.
 */
export function cancelSignalOf(call: CallLike): AbortSignal {
  return cancellationOf(call).signal;
}

/** A unary call's context and the release of its cancellation watch. */
export interface CallContext {
  ctx: RequestContext;
  /** See {@link CallCancellation.release}. */
  release(): void;
}

/** The core's context for a call; `rpc` names the method in the context's log lines. */
export function requestContextOf(
  call: CallLike,
  rpc: string,
  options: ContextOptions,
): CallContext {
  const requestId = requestIdOf(call.metadata);
  const cacheControl = cacheControlOf(call.metadata);
  const { signal, release } = cancellationOf(call);
  const ctx: RequestContext = {
    requestId,
    deadlineMs: deadlineMsOf(call.getDeadline(), options.defaultTimeoutMs, Date.now()),
    signal,
    log: options.log.child({ request_id: requestId, rpc }),
    ...(cacheControl ? { cacheControl } : {}),
  };
  return { ctx, release };
}

/** What the requests of one `ModelStreamInfer` stream share. */
export interface StreamScope {
  /** The stream's request id (from `x-request-id`, or generated). */
  requestId: string;
  /** The stream's gRPC deadline, `Infinity` when none. */
  deadline: Deadline;
  /** Fires when the stream is cancelled; one signal for all its requests. */
  signal: AbortSignal;
  /** The stream's `cache-control` metadata, for all its requests. */
  cacheControl?: CacheControl;
}

/**
 * The context of request number `index` (from 0) on a stream. Its request id is the stream's
 * with `.index` appended, unique per request yet traceable to the stream. Its deadline is the
 * stream's, or, since a stream may stay open for hours, the default timeout from now.
 */
export function streamRequestContextOf(
  stream: StreamScope,
  index: number,
  options: ContextOptions,
): RequestContext {
  const requestId = `${stream.requestId}.${index}`;
  return {
    requestId,
    deadlineMs: deadlineMsOf(stream.deadline, options.defaultTimeoutMs, Date.now()),
    signal: stream.signal,
    log: options.log.child({ request_id: requestId, rpc: "ModelStreamInfer" }),
    ...(stream.cacheControl ? { cacheControl: stream.cacheControl } : {}),
  };
}

/**
 * A `ModelInferRequest` as the core takes it. Malformed tensors, shapes beyond `maxElements`
 * and a `priority` or `timeout` that is not a non-negative integer are INVALID_ARGUMENT.
 */
export function toCoreInferRequest(
  message: ModelInferRequestMessage,
  maxElements: number,
): CoreInferRequest {
  const decoded = decodeInferRequestMessage(message, { maxElements });
  const parameters: Record<string, ParameterValue> = {};
  for (const [name, value] of Object.entries(decoded.parameters)) {
    if (!CONSUMED_PARAMETERS.has(name)) parameters[name] = value;
  }
  for (const name of NON_NEGATIVE_INTEGER_PARAMETERS) {
    const value = parameters[name];
    if (value !== undefined && !(Number.isInteger(value) && (value as number) >= 0)) {
      throw invalidArgument(
        `request parameter '${name}' must be a non-negative integer, got ${JSON.stringify(value)}`,
      );
    }
  }
  return {
    modelName: decoded.modelName,
    modelVersion: decoded.modelVersion,
    id: decoded.id,
    inputs: decoded.inputs,
    outputs: decoded.outputs,
    parameters,
  };
}

/** A core result as a `ModelInferResponse`, outputs in `raw_output_contents`. */
export function toModelInferResponse(result: CoreInferResult): ModelInferResponseMessage {
  return encodeInferResponseMessage(result);
}
