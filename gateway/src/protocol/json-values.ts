/**
 * The element values of KServe v2 JSON tensors <-> tensor storage, one datatype at a time
 * (the value forms are listed in `json-codec.ts`). Errors name the element by its row-major index.
 */
import { invalidArgument } from "../errors.js";
import { type DataType, integerRange } from "./datatype.js";
import { bf16ToFloat, floatToBf16, floatToFp16, fp16ToFloat } from "./half.js";
import { INT64_MAX, INT64_MIN, toBigInt, UINT64_MAX } from "./int64.js";
import { allocateTensorData, type Tensor, type TensorData } from "./tensor.js";

/** How BYTES elements are written as JSON strings. */
export type BytesEncoding = "utf8" | "base64";

const NON_FINITE: ReadonlyMap<string, number> = new Map([
  ["nan", Number.NaN],
  ["infinity", Number.POSITIVE_INFINITY],
  ["+infinity", Number.POSITIVE_INFINITY],
  ["inf", Number.POSITIVE_INFINITY],
  ["+inf", Number.POSITIVE_INFINITY],
  ["-infinity", Number.NEGATIVE_INFINITY],
  ["-inf", Number.NEGATIVE_INFINITY],
]);

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Storage for `datatype` filled from row-major JSON values; a value of the wrong type or out of
 * range is INVALID_ARGUMENT prefixed with `where` (e.g. `input 'X': data element`).
 */
export function jsonValuesToData(
  datatype: DataType,
  values: readonly unknown[],
  where: string,
  bytesEncoding: BytesEncoding,
): TensorData {
  const data = allocateTensorData(datatype, values.length);
  const n = values.length;
  switch (datatype) {
    case "BOOL": {
      const out = data as Uint8Array;
      for (let i = 0; i < n; i++) {
        const value = values[i];
        if (typeof value !== "boolean") throw badValue(where, i, value, "true or false");
        out[i] = value ? 1 : 0;
      }
      return out;
    }
    case "INT64":
    case "UINT64": {
      const out = data as BigInt64Array | BigUint64Array;
      const [min, max] = datatype === "INT64" ? [INT64_MIN, INT64_MAX] : [0n, UINT64_MAX];
      for (let i = 0; i < n; i++) out[i] = toInt64(values[i], min, max, where, i, datatype);
      return out;
    }
    case "FP32":
    case "FP64": {
      const out = data as Float32Array | Float64Array;
      for (let i = 0; i < n; i++) {
        const value = values[i];
        out[i] = typeof value === "number" ? value : toNonFinite(value, where, i);
      }
      return out;
    }
    case "FP16":
    case "BF16": {
      const out = data as Uint16Array;
      const narrow = datatype === "FP16" ? floatToFp16 : floatToBf16;
      for (let i = 0; i < n; i++) {
        const value = values[i];
        out[i] = narrow(typeof value === "number" ? value : toNonFinite(value, where, i));
      }
      return out;
    }
    case "BYTES": {
      const out = data as Uint8Array[];
      for (let i = 0; i < n; i++) out[i] = toBytes(values[i], bytesEncoding, where, i);
      return out;
    }
    default: {
      const out = data as Int32Array;
      const [min, max] = integerRange(datatype)!;
      for (let i = 0; i < n; i++) {
        const value = values[i];
        if (typeof value !== "number" || !Number.isInteger(value)) {
          throw badValue(where, i, value, "an integer");
        }
        if (value < min || value > max) throw outOfRange(where, i, value, datatype);
        out[i] = value;
      }
      return out;
    }
  }
}

function toInt64(
  value: unknown,
  min: bigint,
  max: bigint,
  where: string,
  index: number,
  datatype: DataType,
): bigint {
  if (typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value)) {
    throw invalidArgument(
      `${where} ${index} is ${value}, past 2^53 where JSON numbers lose precision; send it as a decimal string`,
    );
  }
  const exact = typeof value === "object" ? undefined : toBigInt(value);
  if (exact === undefined) throw badValue(where, index, value, "an integer or decimal string");
  if (exact < min || exact > max) throw outOfRange(where, index, value, datatype);
  return exact;
}

function toNonFinite(value: unknown, where: string, index: number): number {
  if (value === null) return Number.NaN;
  const parsed = typeof value === "string" ? NON_FINITE.get(value.toLowerCase()) : undefined;
  if (parsed === undefined) throw badValue(where, index, value, 'a number, "NaN" or "Infinity"');
  return parsed;
}

function toBytes(value: unknown, encoding: BytesEncoding, where: string, index: number): Buffer {
  if (typeof value !== "string") throw badValue(where, index, value, "a string");
  if (encoding === "utf8") return Buffer.from(value, "utf8");
  // Buffer's base64 decoder skips characters it does not know; check the text strictly first.
  if (!BASE64.test(value)) throw badValue(where, index, value, "a base64 string");
  return Buffer.from(value, "base64");
}

/**
 * The row-major JSON values of a tensor's data (see `json-codec.ts` for the forms); BYTES that
 * are not UTF-8 under "utf8" are INVALID_ARGUMENT naming `label`.
 */
export function dataToJsonValues(
  tensor: Tensor,
  label: string,
  bytesEncoding?: BytesEncoding,
): unknown[] {
  switch (tensor.datatype) {
    case "BOOL":
      return Array.from(tensor.data, (value) => value !== 0);
    case "INT64":
    case "UINT64":
      return Array.from(tensor.data, (value: bigint) =>
        value >= -9007199254740991n && value <= 9007199254740991n ? Number(value) : String(value),
      );
    case "FP32":
    case "FP64":
      return encodeFloats(tensor.data, (value) => value);
    case "FP16":
      return encodeFloats(tensor.data, fp16ToFloat);
    case "BF16":
      return encodeFloats(tensor.data, bf16ToFloat);
    case "BYTES":
      return tensor.data.map((element, i) => bytesToString(element, bytesEncoding, label, i));
    default:
      return Array.from(tensor.data);
  }
}

function encodeFloats(
  data: Float32Array | Float64Array | Uint16Array,
  widen: (value: number) => number,
): unknown[] {
  const out: unknown[] = new Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const value = widen(data[i]!);
    out[i] = Number.isFinite(value) ? value : String(value);
  }
  return out;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function bytesToString(
  element: Uint8Array,
  encoding: BytesEncoding | undefined,
  label: string,
  index: number,
): string {
  const buffer = Buffer.from(element.buffer, element.byteOffset, element.byteLength);
  if (encoding === "base64") return buffer.toString("base64");
  try {
    return UTF8.decode(buffer);
  } catch {
    throw invalidArgument(
      `${label}: BYTES element ${index} is not valid UTF-8; ask for binary data or base64`,
    );
  }
}

function badValue(where: string, index: number, value: unknown, expected: string): Error {
  return invalidArgument(`${where} ${index} is ${describe(value)}, expected ${expected}`);
}

function outOfRange(where: string, index: number, value: unknown, datatype: DataType): Error {
  return invalidArgument(`${where} ${index} = ${describe(value)} is out of range for ${datatype}`);
}

function describe(value: unknown): string {
  if (typeof value === "bigint" || typeof value === "number") return String(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
