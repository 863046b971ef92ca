/**
 * Cache values: compact bytes, not JSON arrays of numbers. A model result is a small header and
 * each output's raw little-endian tensor bytes (the `raw_output_contents` form); a pipeline
 * result, which is JSON by nature, is its JSON text.
 *
 *   magic "IGC" + format 1 (4 bytes) | kind u8 (1 model, 2 pipeline)
 *   model:    version (u16 length + UTF-8) | output count u16 | per output:
 *             name (u16 length + UTF-8) | datatype u8 (index in DATA_TYPES) | rank u8 |
 *             rank x u64 dims | data length u64 | zero padding to a multiple of 8 | data
 *   pipeline: pipeline name (u16 length + UTF-8) | the result as JSON (UTF-8, to the end)
 *
 * Integers are little-endian. Data starts 8-byte aligned within the value, so decoded numeric
 * outputs are views over the value's memory rather than copies.
 */
import { Code, InferError } from "../errors.js";
import { DATA_TYPES, type DataType } from "../protocol/datatype.js";
import type { ParameterValue } from "../protocol/infer-message.js";
import { decodeRawTensor, encodeRawTensor } from "../protocol/raw-codec.js";
import type { Tensor } from "../protocol/tensor.js";

/**
 * A model result as cached: the version that served it and its outputs. `parameters` (Triton's
 * response parameters) ride along on a miss only: they are not encoded, and a result they mark
 * as a fallback's is never stored.
 */
export interface CachedInferResult {
  modelVersion: string;
  outputs: Tensor[];
  parameters?: Record<string, ParameterValue>;
}

/** A pipeline result as cached (timings are never cached). */
export interface CachedPipelineResult {
  pipeline: string;
  result: Record<string, unknown>;
}

const MAGIC = [0x49, 0x47, 0x43, 0x01]; // "IGC", format 1
const KIND_MODEL = 1;
const KIND_PIPELINE = 2;
const HEADER_BYTES = MAGIC.length + 1;

/** The encoded size of a model result, bytes, computed without encoding it. */
export function inferValueBytes(value: CachedInferResult): number {
  let size = HEADER_BYTES + 2 + Buffer.byteLength(value.modelVersion) + 2;
  for (const tensor of value.outputs) {
    size += 2 + Buffer.byteLength(tensor.name) + 2 + 8 * tensor.shape.length + 8;
    size = align8(size) + dataBytes(tensor);
  }
  return size;
}

/** Encodes a model result. */
export function encodeInferValue(value: CachedInferResult): Buffer {
  const out = Buffer.alloc(inferValueBytes(value));
  let at = writeHeader(out, KIND_MODEL);
  at = writeShortText(out, at, value.modelVersion);
  at = out.writeUInt16LE(value.outputs.length, at);
  for (const tensor of value.outputs) {
    at = writeShortText(out, at, tensor.name);
    at = out.writeUInt8(DATA_TYPES.indexOf(tensor.datatype), at);
    at = out.writeUInt8(tensor.shape.length, at);
    for (const dim of tensor.shape) at = out.writeBigUInt64LE(BigInt(dim), at);
    const data = encodeRawTensor(tensor);
    at = out.writeBigUInt64LE(BigInt(data.byteLength), at);
    at = align8(at);
    at += data.copy(out, at);
  }
  return out;
}

/** Decodes a model result; a malformed value is DATA_LOSS. */
export function decodeInferValue(value: Buffer): CachedInferResult {
  let at = readHeader(value, KIND_MODEL);
  const version = readShortText(value, at);
  at = version.next;
  const count = value.readUInt16LE(at);
  at += 2;
  const outputs: Tensor[] = [];
  for (let i = 0; i < count; i++) {
    const name = readShortText(value, at);
    at = name.next;
    const datatype: DataType | undefined = DATA_TYPES[value.readUInt8(at)];
    const rank = value.readUInt8(at + 1);
    at += 2;
    const shape: number[] = [];
    for (let d = 0; d < rank; d++, at += 8) shape.push(Number(value.readBigUInt64LE(at)));
    const length = Number(value.readBigUInt64LE(at));
    at = align8(at + 8);
    if (datatype === undefined || at + length > value.byteLength) throw corrupt();
    const bytes = value.subarray(at, at + length);
    outputs.push(decodeRawTensor({ name: name.text, datatype, shape }, bytes, "output"));
    at += length;
  }
  return { modelVersion: version.text, outputs };
}

/** Encodes a pipeline result. */
export function encodePipelineValue(value: CachedPipelineResult): Buffer {
  const json = Buffer.from(JSON.stringify(value.result), "utf8");
  const name = Buffer.from(value.pipeline, "utf8");
  const out = Buffer.alloc(HEADER_BYTES + 2 + name.byteLength + json.byteLength);
  let at = writeHeader(out, KIND_PIPELINE);
  at = out.writeUInt16LE(name.byteLength, at);
  at += name.copy(out, at);
  json.copy(out, at);
  return out;
}

/** Decodes a pipeline result; a malformed value is DATA_LOSS. */
export function decodePipelineValue(value: Buffer): CachedPipelineResult {
  const name = readShortText(value, readHeader(value, KIND_PIPELINE));
  const result = JSON.parse(value.toString("utf8", name.next)) as unknown;
  if (result === null || typeof result !== "object" || Array.isArray(result)) throw corrupt();
  return { pipeline: name.text, result: result as Record<string, unknown> };
}

function dataBytes(tensor: Tensor): number {
  if (tensor.datatype !== "BYTES") return tensor.data.byteLength;
  // BYTES raw form: a 4-byte length before each element.
  let size = 0;
  for (const element of tensor.data) size += 4 + element.byteLength;
  return size;
}

function align8(at: number): number {
  return Math.ceil(at / 8) * 8;
}

function writeHeader(out: Buffer, kind: number): number {
  out.set(MAGIC, 0);
  return out.writeUInt8(kind, MAGIC.length);
}

function readHeader(value: Buffer, kind: number): number {
  const ok =
    value.byteLength >= HEADER_BYTES &&
    MAGIC.every((b, i) => value[i] === b) &&
    value[MAGIC.length] === kind;
  if (!ok) throw corrupt();
  return HEADER_BYTES;
}

function writeShortText(out: Buffer, at: number, text: string): number {
  const length = out.write(text, at + 2, "utf8");
  out.writeUInt16LE(length, at);
  return at + 2 + length;
}

function readShortText(value: Buffer, at: number): { text: string; next: number } {
  const length = value.readUInt16LE(at);
  if (at + 2 + length > value.byteLength) throw corrupt();
  return { text: value.toString("utf8", at + 2, at + 2 + length), next: at + 2 + length };
}

function corrupt(): InferError {
  return new InferError(Code.DATA_LOSS, "malformed cache entry");
}
