/**
 * The framing of the HTTP binary tensor data extension, shared by requests and responses: a
 * JSON header of `Inference-Header-Content-Length` bytes, then the raw bytes of every tensor
 * whose `parameters.binary_data_size` is set, in tensor order, with nothing left over
 * (spec: triton-http-and-config.md, "Binary tensor extension").
 */
import { invalidArgument } from "../errors.js";
import {
  decodeJsonData,
  encodeJsonTensor,
  type JsonTensor,
  parseJsonTensorParts,
} from "./json-codec.js";
import type { BytesEncoding } from "./json-values.js";
import { decodeRawTensor, encodeRawTensor } from "./raw-codec.js";
import type { ShapeOptions } from "./shape.js";
import { type Tensor, type TensorRole, type TensorSpec, tensorLabel } from "./tensor.js";

/** A body ready to send: write `body` in order; `headerLength` is the JSON part's byte length. */
export interface EncodedBody {
  /** The JSON header, then one raw chunk per binary tensor (views, not copies, where possible). */
  body: Buffer[];
  /** Value for `Inference-Header-Content-Length`. */
  headerLength: number;
  /** Total bytes, for `Content-Length`. */
  byteLength: number;
  /** False when no tensor went binary: send plain JSON without the extension header. */
  binary: boolean;
}

/** Options for reading a body. */
export interface DecodeBodyOptions extends ShapeOptions {
  /** How BYTES strings in JSON `data` are read; default "utf8". */
  bytesEncoding?: BytesEncoding;
}

/** A decoded body: its JSON header (tensor `data` left in place) and the tensors in order. */
export interface DecodedBody {
  header: Record<string, unknown>;
  tensors: Tensor[];
}

interface TensorSlot {
  spec: TensorSpec;
  data: unknown;
  binary?: Uint8Array;
}

/**
 * Parses an `Inference-Header-Content-Length` value. Undefined (header absent) means the whole
 * body is JSON. Anything but a decimal byte count within the body is INVALID_ARGUMENT.
 */
export function parseHeaderLength(value: string | number | undefined, bodyLength: number): number {
  if (value === undefined) return bodyLength;
  const text = String(value).trim();
  const length = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(length <= bodyLength)) {
    throw invalidArgument(
      `Inference-Header-Content-Length ${JSON.stringify(value)} is not a byte count within the ${bodyLength}-byte body`,
    );
  }
  return length;
}

/**
 * Reads a body whose JSON header is the first `headerLength` bytes and whose tensors are listed
 * under `key` ("inputs" or "outputs"). Binary sizes that are negative, run past the body or leave
 * bytes over, a tensor with both or neither of `data` and `binary_data_size`, and every codec
 * error are INVALID_ARGUMENT naming the tensor. Raw tensors view `body` where aligned.
 */
export function decodeBody(
  body: Uint8Array,
  headerLength: number,
  key: "inputs" | "outputs",
  role: TensorRole,
  options?: DecodeBodyOptions,
): DecodedBody {
  const buffer = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const header = parseJsonHeader(buffer.subarray(0, headerLength));
  const list = header[key];
  if (!Array.isArray(list)) throw invalidArgument(`the JSON header must have an '${key}' array`);
  const slots = sliceTensors(list, buffer, headerLength, role, options);
  const tensors = slots.map((slot) =>
    slot.binary
      ? decodeRawTensor(slot.spec, slot.binary, role, options)
      : decodeJsonData(slot.spec, slot.data, { ...options, role }),
  );
  return { header, tensors };
}

/**
 * Builds a body: `fields` plus `key` listing every tensor, binary (raw bytes after the header,
 * `parameters.binary_data_size` in the header) where `isBinary(name)` says so, JSON `data`
 * otherwise.
 */
export function encodeBody(
  fields: Record<string, unknown>,
  key: "inputs" | "outputs",
  tensors: readonly Tensor[],
  isBinary: (name: string) => boolean,
  role: TensorRole,
  bytesEncoding?: BytesEncoding,
): EncodedBody {
  const chunks: Buffer[] = [];
  const entries: JsonTensor[] = tensors.map((tensor) => {
    if (!isBinary(tensor.name)) return encodeJsonTensor(tensor, { role, bytesEncoding });
    const raw = encodeRawTensor(tensor, role);
    chunks.push(raw);
    const { name, datatype, shape } = tensor;
    return { name, datatype, shape, parameters: { binary_data_size: raw.length } };
  });
  const json = Buffer.from(JSON.stringify({ ...fields, [key]: entries }), "utf8");
  const byteLength = chunks.reduce((total, chunk) => total + chunk.length, json.length);
  return {
    body: [json, ...chunks],
    headerLength: json.length,
    byteLength,
    binary: chunks.length > 0,
  };
}

function parseJsonHeader(bytes: Buffer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw invalidArgument(`the JSON header of the body is not valid JSON: ${detail}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw invalidArgument("the JSON header of the body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}

/** Checks every tensor's name, datatype and shape and hands each binary one its bytes. */
function sliceTensors(
  list: readonly unknown[],
  body: Buffer,
  headerLength: number,
  role: TensorRole,
  options: ShapeOptions | undefined,
): TensorSlot[] {
  let offset = headerLength;
  let lastBinary: string | undefined;
  const slots = list.map((entry): TensorSlot => {
    const { spec, parameters, data } = parseJsonTensorParts(entry, role, options);
    const label = tensorLabel(role, spec.name);
    const size = parameters?.["binary_data_size"];
    if (size === undefined) {
      if (data === undefined) {
        throw invalidArgument(`${label}: has neither data nor parameters.binary_data_size`);
      }
      return { spec, data };
    }
    if (data !== undefined) {
      throw invalidArgument(`${label}: has both data and parameters.binary_data_size`);
    }
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
      throw invalidArgument(
        `${label}: binary_data_size ${JSON.stringify(size)} is not a non-negative integer`,
      );
    }
    if (offset + size > body.length) {
      throw invalidArgument(
        `${label}: binary_data_size ${size} runs past the end of the body (${body.length - offset} bytes left)`,
      );
    }
    lastBinary = spec.name;
    const binary = body.subarray(offset, offset + size);
    offset += size;
    return { spec, data, binary };
  });
  if (offset !== body.length) {
    const left = body.length - offset;
    throw invalidArgument(
      lastBinary === undefined
        ? `${left} bytes follow the JSON header but no ${role} has binary_data_size`
        : `${tensorLabel(role, lastBinary)}: ${left} bytes left over after the last binary ${role}; the binary_data_size values must add up to the body`,
    );
  }
  return slots;
}
