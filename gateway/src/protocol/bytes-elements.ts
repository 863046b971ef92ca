/**
 * The raw form of a BYTES tensor: its elements concatenated, each a 4-byte little-endian
 * unsigned length followed by that many bytes (spec: triton-wire-fields.md, and the same layout
 * in the HTTP binary data extension).
 */
import { invalidArgument } from "../errors.js";
import { formatShape } from "./shape.js";

const PREFIX_BYTES = 4;

/**
 * Splits raw BYTES contents into `shape`'s element count of elements. Each element is a Buffer
 * VIEW into `bytes` (no copy; holding one keeps the whole message alive). Every prefix is
 * checked: a length running past the end, too few elements, or trailing bytes are
 * INVALID_ARGUMENT naming `label`.
 */
export function decodeBytesElements(
  bytes: Uint8Array,
  shape: readonly number[],
  count: number,
  label: string,
): Buffer[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const elements: Buffer[] = new Array(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + PREFIX_BYTES > buffer.length) {
      throw invalidArgument(
        `${label}: BYTES data ends after ${i} of the ${count} elements of shape ${formatShape(shape)} (${buffer.length} bytes)`,
      );
    }
    const length = buffer.readUInt32LE(offset);
    const start = offset + PREFIX_BYTES;
    if (start + length > buffer.length) {
      throw invalidArgument(
        `${label}: BYTES element ${i} length prefix ${length} at byte ${offset} runs past the end of the ${buffer.length} bytes`,
      );
    }
    elements[i] = buffer.subarray(start, start + length);
    offset = start + length;
  }
  if (offset !== buffer.length) {
    throw invalidArgument(
      `${label}: ${buffer.length - offset} trailing bytes after the ${count} BYTES elements of shape ${formatShape(shape)}`,
    );
  }
  return elements;
}

/** The length-prefixed concatenation of `elements`, in one new Buffer. */
export function encodeBytesElements(elements: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const element of elements) total += PREFIX_BYTES + element.byteLength;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const element of elements) {
    offset = out.writeUInt32LE(element.byteLength, offset);
    out.set(element, offset);
    offset += element.byteLength;
  }
  return out;
}
