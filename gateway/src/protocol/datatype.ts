/**
 * The tensor datatypes of the KServe v2 / Triton wire protocol, and how each maps to a model
 * config enum name, an element size and an `InferTensorContents` field
 * (spec: triton-wire-fields.md, "Semantics that the tables do not show").
 */
import { invalidArgument } from "../errors.js";

/** Every wire datatype string, in the order the spec lists them. */
export const DATA_TYPES = [
  "BOOL",
  "UINT8",
  "UINT16",
  "UINT32",
  "UINT64",
  "INT8",
  "INT16",
  "INT32",
  "INT64",
  "FP16",
  "FP32",
  "FP64",
  "BYTES",
  "BF16",
] as const;

/** A wire datatype string such as `"FP32"`; `"BYTES"` is a tensor of byte strings. */
export type DataType = (typeof DATA_TYPES)[number];

/** The config enum name of a datatype: `TYPE_X` for `X`, except `TYPE_STRING` for `BYTES`. */
export type ConfigDataType = `TYPE_${Exclude<DataType, "BYTES">}` | "TYPE_STRING";

/** A typed field of `InferTensorContents`. */
export type ContentsField =
  | "bool_contents"
  | "int_contents"
  | "int64_contents"
  | "uint_contents"
  | "uint64_contents"
  | "fp32_contents"
  | "fp64_contents"
  | "bytes_contents";

const KNOWN: ReadonlySet<string> = new Set(DATA_TYPES);

// Bytes per element on the wire; BOOL is one byte. BYTES elements are length-prefixed, so none.
const ELEMENT_BYTES: Record<DataType, number | undefined> = {
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  FP32: 4,
  FP64: 8,
  BYTES: undefined,
  BF16: 2,
};

// FP16 and BF16 have no typed field: they travel only in raw contents.
const CONTENTS_FIELD: Record<DataType, ContentsField | undefined> = {
  BOOL: "bool_contents",
  UINT8: "uint_contents",
  UINT16: "uint_contents",
  UINT32: "uint_contents",
  UINT64: "uint64_contents",
  INT8: "int_contents",
  INT16: "int_contents",
  INT32: "int_contents",
  INT64: "int64_contents",
  FP16: undefined,
  FP32: "fp32_contents",
  FP64: "fp64_contents",
  BYTES: "bytes_contents",
  BF16: undefined,
};

// Inclusive value ranges of the integer datatypes narrower than 64 bits.
const INTEGER_RANGE: Partial<Record<DataType, readonly [number, number]>> = {
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
};

/** True when `value` is one of the wire datatype strings (case-sensitive, as on the wire). */
export function isDataType(value: unknown): value is DataType {
  return typeof value === "string" && KNOWN.has(value);
}

/**
 * Checks a datatype taken from a request. `label` names the tensor for the error message, e.g.
 * `input 'INPUT0'`; an unknown datatype is INVALID_ARGUMENT.
 */
export function parseDataType(value: unknown, label: string): DataType {
  if (isDataType(value)) return value;
  throw invalidArgument(`${label}: unknown datatype ${JSON.stringify(value) ?? String(value)}`);
}

/** Bytes per element on the wire, or undefined for BYTES, whose elements vary in length. */
export function elementByteSize(datatype: DataType): number | undefined {
  return ELEMENT_BYTES[datatype];
}

/** The config enum name for a datatype (`FP32` -> `TYPE_FP32`, `BYTES` -> `TYPE_STRING`). */
export function dataTypeToConfig(datatype: DataType): ConfigDataType {
  return datatype === "BYTES" ? "TYPE_STRING" : `TYPE_${datatype}`;
}

/**
 * The wire datatype for a config enum name (`TYPE_STRING` -> `BYTES`), or undefined for names
 * with no wire datatype such as `TYPE_INVALID`.
 */
export function dataTypeFromConfig(configName: string): DataType | undefined {
  if (configName === "TYPE_STRING") return "BYTES";
  if (!configName.startsWith("TYPE_")) return undefined;
  const name = configName.slice("TYPE_".length);
  return isDataType(name) && name !== "BYTES" ? name : undefined;
}

/** The `InferTensorContents` field a datatype travels in, or undefined for FP16 and BF16. */
export function contentsFieldOf(datatype: DataType): ContentsField | undefined {
  return CONTENTS_FIELD[datatype];
}

/**
 * The inclusive `[min, max]` of an 8, 16 or 32-bit integer datatype, or undefined for any other
 * (64-bit integers need bigint bounds: see `int64.ts`).
 */
export function integerRange(datatype: DataType): readonly [number, number] | undefined {
  return INTEGER_RANGE[datatype];
}
