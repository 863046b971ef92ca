/**
 * `InferTensorContents` (the typed, non-raw form of tensor data in a gRPC request or response)
 * <-> Tensor. Exactly one field carries a tensor's data, the one its datatype maps to; FP16 and
 * BF16 have none and travel only raw (spec: triton-wire-fields.md).
 */
import { invalidArgument } from "../errors.js";
import { type ContentsField, contentsFieldOf, type DataType, integerRange } from "./datatype.js";
import { INT64_MAX, INT64_MIN, type Int64Like, toBigInt, UINT64_MAX } from "./int64.js";
import { elementCount, formatShape, type ShapeOptions, validateShape } from "./shape.js";
import {
  allocateTensorData,
  checkedElementCount,
  makeTensor,
  type Tensor,
  type TensorData,
  type TensorRole,
  type TensorSpec,
  tensorLabel,
} from "./tensor.js";

/**
 * The `inference.InferTensorContents` message as protobufjs / proto-loader objects carry it
 * (snake_case keys). 64-bit fields may hold numbers, decimal strings, bigints or Longs depending
 * on the loader's `longs` option. Absent and empty fields both mean "not set".
 */
export interface InferTensorContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: Int64Like[];
  uint_contents?: number[];
  uint64_contents?: Int64Like[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Uint8Array[];
}

const FIELDS: readonly ContentsField[] = [
  "bool_contents",
  "int_contents",
  "int64_contents",
  "uint_contents",
  "uint64_contents",
  "fp32_contents",
  "fp64_contents",
  "bytes_contents",
];

/**
 * The fields of `contents` that hold at least one value. protobufjs with `defaults: true` fills
 * every repeated field with `[]`, so emptiness, not presence, is what counts.
 */
export function setContentsFields(
  contents: InferTensorContents | null | undefined,
): ContentsField[] {
  if (contents == null) return [];
  return FIELDS.filter((field) => {
    const values: unknown = contents[field];
    return values != null && (!Array.isArray(values) || values.length > 0);
  });
}

/**
 * Decodes typed contents for `spec`. A field other than the datatype's, two fields set, FP16 or
 * BF16 in typed form, a value count that does not match the shape, or a value of the wrong type
 * or out of the datatype's range are INVALID_ARGUMENT naming the tensor. Absent contents are
 * fine only for a tensor with no elements. BYTES elements are kept as given (no copy).
 */
export function decodeTypedContents(
  spec: TensorSpec,
  contents: InferTensorContents | null | undefined,
  role: TensorRole = "input",
  options?: ShapeOptions,
): Tensor {
  const label = tensorLabel(role, spec.name);
  const shape = validateShape(spec.shape, label, options);
  const count = elementCount(shape);
  const { datatype } = spec;
  const field = contentsFieldOf(datatype);
  const set = setContentsFields(contents);
  if (set.length > 1) {
    throw invalidArgument(
      `${label}: contents sets ${set.join(" and ")}; only one field may be set`,
    );
  }
  if (field === undefined && (set.length > 0 || count > 0)) {
    throw invalidArgument(
      `${label}: ${datatype} travels only in raw contents, never in typed contents${set.length ? ` (got ${set[0]})` : ""}`,
    );
  }
  // Only a zero-element FP16/BF16 tensor gets past the check above: it needs no values.
  if (field === undefined)
    return makeTensor({ name: spec.name, datatype, shape }, allocateTensorData(datatype, 0));
  if (set.length === 1 && set[0] !== field) {
    throw invalidArgument(`${label}: ${datatype} data belongs in ${field}, got ${set[0]}`);
  }
  const values: unknown = contents?.[field] ?? [];
  if (!Array.isArray(values)) throw invalidArgument(`${label}: ${field} must be an array`);
  if (values.length !== count) {
    throw invalidArgument(
      `${label}: expected ${count} values in ${field} for shape ${formatShape(shape)} of ${datatype}, got ${values.length}`,
    );
  }
  const data = convertValues(datatype, values, `${label}: ${field}`);
  return makeTensor({ name: spec.name, datatype, shape }, data);
}

/**
 * Encodes a tensor as typed contents: one field set. 64-bit integers become decimal strings,
 * which protobufjs encodes exactly (numbers would round past 2^53). FP16 and BF16 have no typed
 * form: INVALID_ARGUMENT, send them raw.
 */
export function encodeTypedContents(
  tensor: Tensor,
  role: TensorRole = "output",
): InferTensorContents {
  checkedElementCount(tensor, role);
  switch (tensor.datatype) {
    case "BOOL":
      return { bool_contents: Array.from(tensor.data, (value) => value !== 0) };
    case "INT8":
    case "INT16":
    case "INT32":
      return { int_contents: Array.from(tensor.data) };
    case "UINT8":
    case "UINT16":
    case "UINT32":
      return { uint_contents: Array.from(tensor.data) };
    case "INT64":
      return { int64_contents: Array.from(tensor.data, String) };
    case "UINT64":
      return { uint64_contents: Array.from(tensor.data, String) };
    case "FP32":
      return { fp32_contents: Array.from(tensor.data) };
    case "FP64":
      return { fp64_contents: Array.from(tensor.data) };
    case "BYTES":
      return { bytes_contents: tensor.data.slice() };
    case "FP16":
    case "BF16":
      throw invalidArgument(
        `${tensorLabel(role, tensor.name)}: ${tensor.datatype} travels only in raw contents, never in typed contents`,
      );
  }
}

/** Fills storage for `datatype` from wire values; `where` prefixes errors (`input 'X': int_contents`). */
function convertValues(datatype: DataType, values: readonly unknown[], where: string): TensorData {
  const data = allocateTensorData(datatype, values.length);
  switch (datatype) {
    case "BOOL":
      values.forEach((value, i) => {
        if (typeof value !== "boolean") throw badValue(where, i, value, "a boolean");
        (data as Uint8Array)[i] = value ? 1 : 0;
      });
      return data;
    case "INT64":
    case "UINT64": {
      const [min, max] = datatype === "INT64" ? [INT64_MIN, INT64_MAX] : [0n, UINT64_MAX];
      values.forEach((value, i) => {
        const exact = toBigInt(value);
        if (exact === undefined) throw badValue(where, i, value, "an integer");
        if (exact < min || exact > max) throw outOfRange(where, i, value, datatype);
        (data as BigInt64Array | BigUint64Array)[i] = exact;
      });
      return data;
    }
    case "FP32":
    case "FP64":
      values.forEach((value, i) => {
        if (typeof value !== "number") throw badValue(where, i, value, "a number");
        (data as Float32Array | Float64Array)[i] = value;
      });
      return data;
    case "BYTES":
      values.forEach((value, i) => {
        if (!(value instanceof Uint8Array)) throw badValue(where, i, value, "bytes");
        (data as Uint8Array[])[i] = value;
      });
      return data;
    default: {
      const [min, max] = integerRange(datatype)!;
      values.forEach((value, i) => {
        if (typeof value !== "number" || !Number.isInteger(value)) {
          throw badValue(where, i, value, "an integer");
        }
        if (value < min || value > max) throw outOfRange(where, i, value, datatype);
        (data as Int32Array)[i] = value;
      });
      return data;
    }
  }
}

function badValue(where: string, index: number, value: unknown, expected: string): Error {
  return invalidArgument(`${where}[${index}] is ${describe(value)}, expected ${expected}`);
}

function outOfRange(where: string, index: number, value: unknown, datatype: DataType): Error {
  return invalidArgument(`${where}[${index}] = ${describe(value)} is out of range for ${datatype}`);
}

function describe(value: unknown): string {
  if (typeof value === "bigint" || typeof value === "number") return String(value);
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    return String(toBigInt(value) ?? "an object");
  }
  return JSON.stringify(value) ?? String(value);
}
