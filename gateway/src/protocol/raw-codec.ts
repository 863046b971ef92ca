/**
 * Raw tensor contents <-> Tensor: the bytes of `raw_input_contents` / `raw_output_contents` and
 * of the HTTP binary data extension, flattened row-major, little-endian, no padding
 * (spec: triton-wire-fields.md). Numeric tensors are typed-array VIEWS over the wire bytes in
 * both directions; a copy is made only when the bytes start at an offset the element type
 * cannot be aligned to.
 */
import { invalidArgument } from "../errors.js";
import { decodeBytesElements, encodeBytesElements } from "./bytes-elements.js";
import { elementByteSize } from "./datatype.js";
import { elementCount, formatShape, type ShapeOptions, validateShape } from "./shape.js";
import {
  checkedElementCount,
  makeTensor,
  type NumericDataType,
  numericArrayType,
  type Tensor,
  type TensorRole,
  type TensorSpec,
  tensorLabel,
} from "./tensor.js";

// Typed arrays use the host's byte order and the wire is little-endian. Every host Node runs on
// in practice is little-endian; refuse to load rather than misread tensors on one that is not.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("infergate's tensor codec needs a little-endian host");
}

/**
 * Decodes raw contents for `spec`. Numeric data is a view sharing `bytes`' memory when
 * `bytes.byteOffset` is a multiple of the element size (gRPC often hands over unaligned slices
 * of a pooled buffer: those are copied). BYTES elements are views too. A byte length that does
 * not match the shape, a BOOL byte other than 0 or 1, or malformed BYTES prefixes are
 * INVALID_ARGUMENT naming the tensor.
 */
export function decodeRawTensor(
  spec: TensorSpec,
  bytes: Uint8Array,
  role: TensorRole = "input",
  options?: ShapeOptions,
): Tensor {
  const label = tensorLabel(role, spec.name);
  const shape = validateShape(spec.shape, label, options);
  const count = elementCount(shape);
  const tensorSpec = { name: spec.name, datatype: spec.datatype, shape };
  if (spec.datatype === "BYTES") {
    return makeTensor(tensorSpec, decodeBytesElements(bytes, shape, count, label));
  }
  const size = elementByteSize(spec.datatype)!;
  if (bytes.byteLength !== count * size) {
    throw invalidArgument(
      `${label}: expected ${count * size} bytes for shape ${formatShape(shape)} of ${spec.datatype}, got ${bytes.byteLength}`,
    );
  }
  if (spec.datatype === "BOOL") checkBoolBytes(bytes, label);
  // A typed array must start at a multiple of its element size; `new Uint8Array(bytes)` copies
  // into a fresh ArrayBuffer at offset 0, which is always aligned.
  const source = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes);
  const ArrayType = numericArrayType(spec.datatype as NumericDataType);
  return makeTensor(tensorSpec, new ArrayType(source.buffer, source.byteOffset, count));
}

/**
 * Encodes a tensor as raw contents. Numeric data comes back as a Buffer VIEW of the tensor's own
 * memory (no copy: do not mutate the tensor while the Buffer is in use); BYTES is serialised
 * into a new Buffer. Data that does not fit the shape is INTERNAL (see `checkedElementCount`).
 */
export function encodeRawTensor(tensor: Tensor, role: TensorRole = "output"): Buffer {
  checkedElementCount(tensor, role);
  if (tensor.datatype === "BYTES") return encodeBytesElements(tensor.data);
  const { data } = tensor;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function checkBoolBytes(bytes: Uint8Array, label: string): void {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] > 1) {
      throw invalidArgument(`${label}: BOOL element ${i} is byte ${bytes[i]}, expected 0 or 1`);
    }
  }
}
