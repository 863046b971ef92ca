/**
 * HTTP requests -> core calls and core results -> HTTP bodies, as pure functions of headers and
 * bytes (the express wiring is in `server.ts`). KServe v2 bodies follow the binary tensor data
 * extension (spec: triton-http-and-config.md); the codecs are in `protocol/`.
 */
import { randomUUID } from "node:crypto";
import { CACHE_CONTROL_HEADER, parseCacheControl } from "../cache/cache-control.js";
import type {
  CoreInferRequest,
  CoreInferResult,
  ModelMetadata,
  RequestContext,
} from "../core/gateway-core.js";
import { invalidArgument } from "../errors.js";
import type { Logger } from "../log.js";
import {
  buildInferResponse,
  type InferRequestJson,
  parseInferRequest,
} from "../protocol/binary-extension.js";
import { isDataType } from "../protocol/datatype.js";
import type { ParameterValue } from "../protocol/infer-message.js";
import type { TensorSpec } from "../protocol/tensor.js";
import { rawInputShape } from "./raw-input-shape.js";

/** Request header carrying the request id; echoed on every response. */
export const REQUEST_ID_HEADER = "x-request-id";

/**
 * Request header with the client's timeout in milliseconds (a positive integer), from which the
 * deadline is set; without it the deadline is `triton.defaultTimeoutMs` from arrival.
 */
export const TIMEOUT_HEADER = "x-infergate-timeout-ms";

/** The binary data extension's header: byte length of the JSON part of the body. */
export const HEADER_LENGTH_HEADER = "inference-header-content-length";

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A header as node gives it. */
type HeaderValue = string | string[] | undefined;

/** The client's `x-request-id` when it is 1-128 of `[A-Za-z0-9._:-]`, else a fresh UUID. */
export function requestIdOf(header: HeaderValue): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && SANE_REQUEST_ID.test(value) ? value : randomUUID();
}

/**
 * The timeout in ms from {@link TIMEOUT_HEADER}, or `defaultMs` when absent; anything but a
 * positive decimal integer (at most 9 digits, about 11 days) is INVALID_ARGUMENT.
 */
export function timeoutMsOf(header: HeaderValue, defaultMs: number): number {
  if (header === undefined) return defaultMs;
  const text = Array.isArray(header) ? header.join(",") : header.trim();
  const value = /^\d{1,9}$/.test(text) ? Number(text) : 0;
  if (value <= 0) {
    throw invalidArgument(
      `header ${TIMEOUT_HEADER} must be a positive whole number of milliseconds, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/** What {@link createRequestContext} needs from the transport. */
export interface ContextSource {
  headers: Record<string, HeaderValue>;
  /** Aborted when the client hangs up before the response is finished. */
  signal: AbortSignal;
  /** `triton.defaultTimeoutMs`. */
  defaultTimeoutMs: number;
  log: Logger;
  /** Arrival time, ms since the epoch; default now. */
  nowMs?: number;
}

/**
 * The core's per-request context, `Cache-Control` directives included; throws
 * INVALID_ARGUMENT for a malformed timeout header.
 */
export function createRequestContext(source: ContextSource): RequestContext {
  const requestId = requestIdOf(source.headers[REQUEST_ID_HEADER]);
  const timeoutMs = timeoutMsOf(source.headers[TIMEOUT_HEADER], source.defaultTimeoutMs);
  const cacheControl = parseCacheControl(source.headers[CACHE_CONTROL_HEADER]);
  return {
    requestId,
    deadlineMs: (source.nowMs ?? Date.now()) + timeoutMs,
    signal: source.signal,
    log: source.log.child({ request_id: requestId }),
    ...(cacheControl ? { cacheControl } : {}),
  };
}

/**
 * A body that must be a JSON object (pipeline fields, admin requests). An empty body is `{}`
 * when `emptyIsObject`; anything else that is not a JSON object is INVALID_ARGUMENT.
 */
export function parseJsonObject(body: Buffer, emptyIsObject = false): Record<string, unknown> {
  if (emptyIsObject && body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw invalidArgument(`the request body is not valid JSON: ${detail}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw invalidArgument("the request body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}

/** A mapped infer request, with the wire JSON the response must honour (`binary_data`). */
export interface MappedInferRequest {
  request: CoreInferRequest;
  /** The request's `parameters` and `outputs` as sent, for `wantsBinaryOutput`. */
  wire: Pick<InferRequestJson, "parameters" | "outputs">;
}

/** Where an infer request goes and how it may be read. */
export interface InferTarget {
  modelName: string;
  /** "" = latest. */
  modelVersion: string;
  /** `limits.maxTensorElements`. */
  maxElements: number;
  /** The model's only input, for `Inference-Header-Content-Length: 0` (see {@link singleInputSpec}). */
  singleInput?: TensorSpec;
}

/**
 * Request parameters this front end consumes rather than passes to Triton, as the gRPC front end
 * does: `binary_data_output` only says how to write the response, and `headers` is what Triton
 * fills in itself from forwarded HTTP headers.
 */
const CONSUMED_PARAMETERS: ReadonlySet<string> = new Set(["binary_data_output", "headers"]);

/** Reserved parameters that must be non-negative integers (priority level; queue timeout, µs). */
const NON_NEGATIVE_INTEGER_PARAMETERS = ["priority", "timeout"] as const;

function requestParameters(values: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(values ?? {})) {
    if (!CONSUMED_PARAMETERS.has(name)) out[name] = value;
  }
  return out;
}

/**
 * A KServe v2 infer body (JSON, or JSON plus binary tensors, or with a 0 header length the raw
 * bytes of the single input) -> the core's request. Request `parameters` pass through but for
 * those in CONSUMED_PARAMETERS, and requested outputs keep their parameters but for `binary_data`,
 * which only says how this front end writes the response. `priority` and `timeout` must be
 * non-negative integers. A raw body asks for binary outputs, as there is no JSON to ask in.
 */
export function toCoreInferRequest(
  body: Uint8Array,
  headerLength: HeaderValue,
  target: InferTarget,
): MappedInferRequest {
  const length = Array.isArray(headerLength) ? headerLength.join(",") : headerLength;
  const { request, inputs } = parseInferRequest(body, length, {
    maxElements: target.maxElements,
    singleInput: target.singleInput,
  });
  const raw = length !== undefined && length.trim() === "0";
  const wire = raw ? { parameters: { binary_data_output: true } } : request;
  const parameters = parameterValues(requestParameters(request.parameters), "request parameter");
  for (const name of NON_NEGATIVE_INTEGER_PARAMETERS) {
    const value = parameters[name];
    if (value !== undefined && !(Number.isInteger(value) && (value as number) >= 0)) {
      throw invalidArgument(
        `request parameter '${name}' must be a non-negative integer, got ${JSON.stringify(value)}`,
      );
    }
  }
  return {
    request: {
      modelName: target.modelName,
      modelVersion: target.modelVersion,
      id: request.id ?? "",
      inputs,
      outputs: (request.outputs ?? []).map(({ name, parameters: own }) => {
        const { binary_data: __, ...kept } = own ?? {};
        return { name, parameters: parameterValues(kept, `output '${name}' parameter`) };
      }),
      parameters,
    },
    wire,
  };
}

/**
 * Checks that every parameter is a boolean, number or string (what `InferParameter` holds);
 * INVALID_ARGUMENT naming the first that is not (`what` prefixes the name).
 */
export function parameterValues(
  values: Record<string, unknown>,
  what: string,
): Record<string, ParameterValue> {
  const out: Record<string, ParameterValue> = {};
  for (const [key, value] of Object.entries(values)) {
    if (typeof value !== "boolean" && typeof value !== "number" && typeof value !== "string") {
      throw invalidArgument(`${what} '${key}' must be a boolean, number or string`);
    }
    out[key] = value;
  }
  return out;
}

/**
 * The spec of a model's only input for a raw body of `byteLength` bytes (batch 1, see
 * `raw-input-shape.ts`); INVALID_ARGUMENT when the model has more or fewer than one input.
 */
export function singleInputSpec(metadata: ModelMetadata, byteLength: number): TensorSpec {
  if (metadata.inputs.length !== 1) {
    throw invalidArgument(
      `Inference-Header-Content-Length 0 (a body of raw bytes only) needs a model with a single input; '${metadata.name}' has ${metadata.inputs.length}`,
    );
  }
  const { name, datatype, shape } = metadata.inputs[0]!;
  if (!isDataType(datatype)) throw invalidArgument(`input '${name}': unknown datatype ${datatype}`);
  return { name, datatype, shape: rawInputShape(name, datatype, shape, byteLength) };
}

/** An HTTP response body: headers to set and the chunks to write in order. */
export interface HttpBody {
  headers: Record<string, string>;
  chunks: Buffer[];
}

/**
 * The core's result -> a KServe v2 response: `application/json`, or `application/octet-stream`
 * with `Inference-Header-Content-Length` when any output goes binary (see `buildInferResponse`).
 * `id` and `parameters` appear only when set, as Triton writes them.
 */
export function fromCoreInferResult(
  result: CoreInferResult,
  wire: MappedInferRequest["wire"],
): HttpBody {
  const hasParameters = result.parameters && Object.keys(result.parameters).length > 0;
  const encoded = buildInferResponse(
    {
      model_name: result.modelName,
      model_version: result.modelVersion,
      ...(result.id ? { id: result.id } : {}),
      ...(hasParameters ? { parameters: result.parameters } : {}),
    },
    result.outputs,
    wire,
  );
  const headers: Record<string, string> = {
    "content-type": encoded.binary ? "application/octet-stream" : "application/json",
    "content-length": String(encoded.byteLength),
  };
  if (encoded.binary) headers[HEADER_LENGTH_HEADER] = String(encoded.headerLength);
  return { headers, chunks: encoded.body };
}
