/**
 * KServe v2 HTTP inference bodies, JSON or with the binary tensor data extension
 * (spec: triton-http-and-config.md): parse a request and build a response on the server side,
 * and the mirror pair for a client. Framing lives in `binary-body.ts`.
 */
import { invalidArgument } from "../errors.js";
import {
  type DecodeBodyOptions,
  decodeBody,
  type EncodedBody,
  encodeBody,
  parseHeaderLength,
} from "./binary-body.js";
import type { JsonTensor } from "./json-codec.js";
import type { BytesEncoding } from "./json-values.js";
import { decodeRawTensor } from "./raw-codec.js";
import type { Tensor, TensorSpec } from "./tensor.js";

/** An output a client asks for, with `parameters.binary_data` to choose binary or JSON. */
export interface RequestedOutputJson {
  name: string;
  parameters?: Record<string, unknown>;
}

/** The JSON part of an inference request (input `data` stays as sent; use the tensors). */
export interface InferRequestJson {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: JsonTensor[];
  outputs?: RequestedOutputJson[];
}

/** The JSON part of an inference response. */
export interface InferResponseJson {
  model_name: string;
  model_version: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: JsonTensor[];
}

/** Options for {@link parseInferRequest}. */
export interface ParseInferRequestOptions extends DecodeBodyOptions {
  /**
   * The model's only input, for `Inference-Header-Content-Length: 0`, where the whole body is
   * that input's raw bytes (the caller fills in the batch-1 shape).
   */
  singleInput?: TensorSpec;
}

/**
 * Parses an inference request body. `headerLength` is the `Inference-Header-Content-Length`
 * header (absent: the body is all JSON; 0: the body is the raw bytes of `singleInput`). Binary
 * inputs are views into `body` where aligned. Every error is INVALID_ARGUMENT, naming the input
 * where there is one.
 */
export function parseInferRequest(
  body: Uint8Array,
  headerLength: string | number | undefined,
  options?: ParseInferRequestOptions,
): { request: InferRequestJson; inputs: Tensor[] } {
  const jsonLength = parseHeaderLength(headerLength, body.length);
  if (jsonLength === 0) return parseHeaderless(body, options?.singleInput, options);
  const { header, tensors } = decodeBody(body, jsonLength, "inputs", "input", options);
  checkRequestFields(header);
  return { request: header as unknown as InferRequestJson, inputs: tensors };
}

/**
 * Builds a response body. An output goes binary when its entry in `request.outputs` has
 * `parameters.binary_data: true`, or, lacking a choice there, when the request parameters say
 * `binary_data_output: true`; other outputs carry JSON `data`. Check `binary` on the result to
 * choose between `application/octet-stream` with the header length and plain JSON.
 */
export function buildInferResponse(
  response: Omit<InferResponseJson, "outputs">,
  outputs: readonly Tensor[],
  request?: Pick<InferRequestJson, "parameters" | "outputs">,
  bytesEncoding?: BytesEncoding,
): EncodedBody {
  const isBinary = (name: string) => wantsBinaryOutput(name, request);
  return encodeBody({ ...response }, "outputs", outputs, isBinary, "output", bytesEncoding);
}

/** Whether a client asked for output `name` as binary data (see {@link buildInferResponse}). */
export function wantsBinaryOutput(
  name: string,
  request: Pick<InferRequestJson, "parameters" | "outputs"> | undefined,
): boolean {
  const own = request?.outputs?.find((output) => output.name === name)?.parameters?.["binary_data"];
  if (typeof own === "boolean") return own;
  return request?.parameters?.["binary_data_output"] === true;
}

/**
 * Builds a request body for a KServe v2 server: every input binary unless `binaryInputs` is
 * false, in which case all go as JSON `data`.
 */
export function buildInferRequest(
  request: Omit<InferRequestJson, "inputs">,
  inputs: readonly Tensor[],
  options?: { binaryInputs?: boolean; bytesEncoding?: BytesEncoding },
): EncodedBody {
  const binary = options?.binaryInputs ?? true;
  return encodeBody(
    { ...request },
    "inputs",
    inputs,
    () => binary,
    "input",
    options?.bytesEncoding,
  );
}

/** Parses a response body built by {@link buildInferResponse} or a KServe v2 server. */
export function parseInferResponse(
  body: Uint8Array,
  headerLength: string | number | undefined,
  options?: DecodeBodyOptions,
): { response: InferResponseJson; outputs: Tensor[] } {
  const jsonLength = parseHeaderLength(headerLength, body.length);
  const { header, tensors } = decodeBody(body, jsonLength, "outputs", "output", options);
  return { response: header as unknown as InferResponseJson, outputs: tensors };
}

function parseHeaderless(
  body: Uint8Array,
  singleInput: TensorSpec | undefined,
  options: ParseInferRequestOptions | undefined,
): { request: InferRequestJson; inputs: Tensor[] } {
  if (singleInput === undefined) {
    throw invalidArgument(
      "Inference-Header-Content-Length 0 (a body of raw bytes only) needs a model with a single input",
    );
  }
  const { name, datatype, shape } = singleInput;
  const input = decodeRawTensor(singleInput, body, "input", options);
  const entry = { name, datatype, shape, parameters: { binary_data_size: body.length } };
  return { request: { inputs: [entry] }, inputs: [input] };
}

function checkRequestFields(header: Record<string, unknown>): void {
  const { id, parameters, outputs } = header;
  if (id !== undefined && typeof id !== "string") {
    throw invalidArgument("request 'id' must be a string");
  }
  if (parameters !== undefined && !isObject(parameters)) {
    throw invalidArgument("request 'parameters' must be a JSON object");
  }
  if (outputs === undefined) return;
  if (!Array.isArray(outputs)) throw invalidArgument("request 'outputs' must be an array");
  for (const output of outputs) {
    if (!isObject(output) || typeof output["name"] !== "string") {
      throw invalidArgument("each requested output must be an object with a string 'name'");
    }
    if (output["parameters"] !== undefined && !isObject(output["parameters"])) {
      throw invalidArgument(`output '${output["name"]}': parameters must be a JSON object`);
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
