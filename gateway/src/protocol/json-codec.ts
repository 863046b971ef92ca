/**
 * KServe v2 JSON tensors `{name, shape, datatype, parameters?, data}` <-> Tensor
 * (spec: triton-http-and-config.md). `data` is row-major, flat or nested exactly as the shape.
 *
 * Value forms:
 * - BOOL: true/false. Integers: JSON numbers in the datatype's range.
 * - INT64/UINT64: safe-integer numbers or decimal strings (or bigints from a bigint-aware
 *   parser); a number past 2^53 is refused because JSON.parse has already rounded it. Encoding
 *   gives numbers when safe and decimal strings otherwise, so no value is rounded.
 * - FP16/BF16/FP32/FP64: numbers. JSON has no NaN or Infinity, so they are written as the strings
 *   "NaN", "Infinity" and "-Infinity" (what JS `String()` and Python `float()` both understand).
 *   Decoding accepts those strings in any case, "inf"/"+inf"/"-inf", and `null` as NaN.
 * - BYTES: strings, UTF-8 by default or base64 when the caller says the client asked for it.
 */
import { invalidArgument } from "../errors.js";
import { parseDataType } from "./datatype.js";
import { type BytesEncoding, dataToJsonValues, jsonValuesToData } from "./json-values.js";
import { elementCount, formatShape, type ShapeOptions, validateShape } from "./shape.js";
import {
  checkedElementCount,
  makeTensor,
  type Tensor,
  type TensorRole,
  type TensorSpec,
  tensorLabel,
} from "./tensor.js";

/** A tensor in a KServe v2 JSON request or response. */
export interface JsonTensor {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, unknown>;
  data?: unknown[];
}

/** Options for {@link decodeJsonTensor}. */
export interface JsonDecodeOptions extends ShapeOptions {
  /** Which side the tensor is on, for error messages; default "input". */
  role?: TensorRole;
  /** How BYTES strings are read; default "utf8". */
  bytesEncoding?: BytesEncoding;
}

/** Options for {@link encodeJsonTensor}. */
export interface JsonEncodeOptions {
  /** Which side the tensor is on, for error messages; default "output". */
  role?: TensorRole;
  /** How BYTES elements are written; default "utf8" (invalid UTF-8 is then an error). */
  bytesEncoding?: BytesEncoding;
}

/** A JSON tensor's checked name, datatype and shape, with its parameters and raw `data`. */
export interface JsonTensorParts {
  spec: TensorSpec;
  parameters: Record<string, unknown> | undefined;
  data: unknown;
}

/** Checks the object form, name, datatype and shape of a JSON tensor; INVALID_ARGUMENT if wrong. */
export function parseJsonTensorParts(
  value: unknown,
  role: TensorRole,
  options?: ShapeOptions,
): JsonTensorParts {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalidArgument(`${role} tensors must be JSON objects`);
  }
  const { name, datatype, shape, parameters, data } = value as Record<string, unknown>;
  if (typeof name !== "string") throw invalidArgument(`${role} tensor without a string 'name'`);
  const label = tensorLabel(role, name);
  const spec = {
    name,
    datatype: parseDataType(datatype, label),
    shape: validateShape(shape, label, options),
  };
  if (parameters != null && (typeof parameters !== "object" || Array.isArray(parameters))) {
    throw invalidArgument(`${label}: parameters must be a JSON object`);
  }
  return { spec, parameters: (parameters ?? undefined) as JsonTensorParts["parameters"], data };
}

/**
 * Decodes a JSON tensor. Bad structure, nesting that does not match the shape, a wrong value
 * count and values of the wrong type or range are INVALID_ARGUMENT naming the tensor.
 */
export function decodeJsonTensor(value: unknown, options?: JsonDecodeOptions): Tensor {
  const role = options?.role ?? "input";
  const { spec, data } = parseJsonTensorParts(value, role, options);
  return decodeJsonData(spec, data, options);
}

/** Decodes the `data` of a JSON tensor whose spec is already checked. */
export function decodeJsonData(
  spec: TensorSpec,
  data: unknown,
  options?: JsonDecodeOptions,
): Tensor {
  const label = tensorLabel(options?.role ?? "input", spec.name);
  const values = flatten(data, spec.shape, label);
  const where = `${label}: data element`;
  const converted = jsonValuesToData(
    spec.datatype,
    values,
    where,
    options?.bytesEncoding ?? "utf8",
  );
  return makeTensor(spec, converted);
}

/**
 * Encodes a tensor as a JSON tensor with flat `data` (no `parameters`; the caller adds them).
 * BYTES elements that are not valid UTF-8 are INVALID_ARGUMENT under "utf8": ask for base64 or
 * binary data instead.
 */
export function encodeJsonTensor(
  tensor: Tensor,
  options?: JsonEncodeOptions,
): JsonTensor & { data: unknown[] } {
  const role = options?.role ?? "output";
  checkedElementCount(tensor, role);
  const data = dataToJsonValues(tensor, tensorLabel(role, tensor.name), options?.bytesEncoding);
  return { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape, data };
}

/** Returns the row-major values of flat or exactly-nested `data`. */
function flatten(data: unknown, shape: readonly number[], label: string): readonly unknown[] {
  if (!Array.isArray(data)) throw invalidArgument(`${label}: data must be an array`);
  const count = elementCount(shape);
  if (shape.length >= 2 && data.length > 0 && Array.isArray(data[0])) {
    const out: unknown[] = [];
    flattenNested(data, shape, 0, "", out, label);
    return out;
  }
  if (data.length !== count) {
    throw invalidArgument(
      `${label}: data has ${data.length} values, shape ${formatShape(shape)} needs ${count}`,
    );
  }
  return data;
}

function flattenNested(
  node: unknown,
  shape: readonly number[],
  depth: number,
  path: string,
  out: unknown[],
  label: string,
): void {
  const expected = shape[depth]!;
  if (!Array.isArray(node) || node.length !== expected) {
    const found = Array.isArray(node) ? `${node.length} entries` : "a scalar";
    throw invalidArgument(
      `${label}: data${path} must be an array of ${expected} to match shape ${formatShape(shape)}, got ${found}`,
    );
  }
  if (depth === shape.length - 1) {
    for (let i = 0; i < node.length; i++) {
      if (Array.isArray(node[i])) {
        throw invalidArgument(
          `${label}: data${path}[${i}] nests deeper than shape ${formatShape(shape)}`,
        );
      }
      out.push(node[i]);
    }
    return;
  }
  for (let i = 0; i < node.length; i++) {
    flattenNested(node[i], shape, depth + 1, `${path}[${i}]`, out, label);
  }
}
