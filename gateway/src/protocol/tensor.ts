/**
 * The in-memory tensor used across infergate. Every codec (raw, typed contents, JSON, binary
 * extension) converts between its wire form and this one type.
 *
 * Representation, chosen so that raw wire bytes can be viewed without copying:
 * - numeric datatypes hold a typed array of the same width as the wire element, little-endian;
 * - BOOL holds a Uint8Array of 0 and 1 (the codecs reject any other byte);
 * - INT64 and UINT64 hold BigInt64Array and BigUint64Array, so no value is rounded;
 * - FP16 and BF16 hold a Uint16Array of the raw bit patterns (see `half.ts` to convert);
 * - BYTES holds one Uint8Array per element (often a Buffer viewing the request's memory).
 * `data` is row-major and holds exactly the element count of `shape`.
 */
import { Code, InferError } from "../errors.js";
import type { DataType } from "./datatype.js";
import { elementCount, formatShape } from "./shape.js";

/** The storage type of each datatype's elements. */
export interface TensorDataMap {
  BOOL: Uint8Array;
  UINT8: Uint8Array;
  UINT16: Uint16Array;
  UINT32: Uint32Array;
  UINT64: BigUint64Array;
  INT8: Int8Array;
  INT16: Int16Array;
  INT32: Int32Array;
  INT64: BigInt64Array;
  FP16: Uint16Array;
  FP32: Float32Array;
  FP64: Float64Array;
  BYTES: Uint8Array[];
  BF16: Uint16Array;
}

/** Storage for any datatype. */
export type TensorData = TensorDataMap[DataType];

/** Datatypes stored in a typed array (all but BYTES). */
export type NumericDataType = Exclude<DataType, "BYTES">;

/** Storage for any numeric datatype: a typed array. */
export type NumericTensorData = TensorDataMap[NumericDataType];

/** A tensor whose `data` type follows its `datatype`; switch on `datatype` to narrow `data`. */
export type Tensor<D extends DataType = DataType> = {
  [K in D]: { name: string; datatype: K; shape: number[]; data: TensorDataMap[K] };
}[D];

/** What a tensor is without its data: name, datatype and shape. */
export interface TensorSpec {
  name: string;
  datatype: DataType;
  shape: number[];
}

/** Which side of an inference a tensor is on; error messages start with it. */
export type TensorRole = "input" | "output";

interface NumericArrayConstructor {
  new (length: number): NumericTensorData;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): NumericTensorData;
}

const ARRAY_TYPES: Record<NumericDataType, NumericArrayConstructor> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
  BF16: Uint16Array,
};

/** How error messages name a tensor: `input 'INPUT0'`. */
export function tensorLabel(role: TensorRole, name: string): string {
  return `${role} '${name}'`;
}

/** The typed array class that stores a numeric datatype. */
export function numericArrayType(datatype: NumericDataType): NumericArrayConstructor {
  return ARRAY_TYPES[datatype];
}

/** Zero-filled storage for `count` elements (BYTES: `count` empty byte strings). */
export function allocateTensorData<D extends DataType>(
  datatype: D,
  count: number,
): TensorDataMap[D] {
  if (datatype === "BYTES") {
    return Array.from({ length: count }, () => new Uint8Array(0)) as TensorDataMap[D];
  }
  return new ARRAY_TYPES[datatype as NumericDataType](count) as TensorDataMap[D];
}

/**
 * Builds a tensor from a spec and storage. The caller guarantees `data` is the storage type of
 * `spec.datatype` (the union type cannot check that pairing by itself).
 */
export function makeTensor(spec: TensorSpec, data: TensorData): Tensor {
  return { name: spec.name, datatype: spec.datatype, shape: spec.shape, data } as Tensor;
}

/**
 * Checks, before encoding, that a tensor's data holds the element count of its shape and
 * returns that count. A mismatch is a bug in whatever built the tensor (every decoder checks
 * client data), so it is INTERNAL rather than the client's INVALID_ARGUMENT.
 */
export function checkedElementCount(tensor: Tensor, role: TensorRole): number {
  const count = elementCount(tensor.shape);
  if (tensor.data.length !== count) {
    throw new InferError(
      Code.INTERNAL,
      `${tensorLabel(role, tensor.name)}: data holds ${tensor.data.length} elements, shape ${formatShape(tensor.shape)} needs ${count}`,
    );
  }
  return count;
}
