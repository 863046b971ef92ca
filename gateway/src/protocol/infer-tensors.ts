/**
 * The tensors of a gRPC `ModelInferRequest` / `ModelInferResponse` <-> Tensor[]. Data travels
 * either in `raw_input_contents` (one entry per input, in order) or in each tensor's typed
 * `contents`, never both in one message (spec: triton-wire-fields.md). Encoding always uses raw
 * contents: it is the only form for FP16/BF16 and needs no per-element conversion.
 */
import { invalidArgument } from "../errors.js";
import { parseDataType } from "./datatype.js";
import type { Int64Like } from "./int64.js";
import { decodeRawTensor, encodeRawTensor } from "./raw-codec.js";
import { type ShapeOptions, validateShape } from "./shape.js";
import type { Tensor, TensorRole } from "./tensor.js";
import { tensorLabel } from "./tensor.js";
import {
  decodeTypedContents,
  type InferTensorContents,
  setContentsFields,
} from "./typed-contents.js";

/** `InferInputTensor` / `InferOutputTensor` as protobufjs objects carry them. */
export interface InferWireTensor {
  name: string;
  datatype: string;
  shape: Int64Like[];
  parameters?: Record<string, unknown>;
  contents?: InferTensorContents | null;
}

/** The tensor metadata of an encoded message; the data is in the matching raw contents entry. */
export interface InferTensorHeader {
  name: string;
  datatype: string;
  shape: number[];
}

/**
 * Decodes the inputs of a `ModelInferRequest`. When `rawInputContents` is non-empty it must hold
 * exactly one entry per input and no input may also set `contents`; otherwise each input's
 * `contents` carries its data. Unknown datatypes, bad shapes, duplicate names and every codec
 * error are INVALID_ARGUMENT naming the input.
 */
export function decodeInferInputs(
  inputs: readonly InferWireTensor[],
  rawInputContents: readonly Uint8Array[] | null | undefined,
  options?: ShapeOptions,
): Tensor[] {
  return decodeTensors(inputs, rawInputContents ?? [], "input", "raw_input_contents", options);
}

/** Decodes the outputs of a `ModelInferResponse`, with the same rules as {@link decodeInferInputs}. */
export function decodeInferOutputs(
  outputs: readonly InferWireTensor[],
  rawOutputContents: readonly Uint8Array[] | null | undefined,
  options?: ShapeOptions,
): Tensor[] {
  return decodeTensors(outputs, rawOutputContents ?? [], "output", "raw_output_contents", options);
}

/**
 * Encodes tensors for a `ModelInferRequest`: `inputs` metadata plus one raw entry per input.
 * Numeric entries are views of the tensors' memory (see `encodeRawTensor`).
 */
export function encodeInferInputs(tensors: readonly Tensor[]): {
  inputs: InferTensorHeader[];
  raw_input_contents: Buffer[];
} {
  return { inputs: tensors.map(headerOf), raw_input_contents: encodeAll(tensors, "input") };
}

/** Encodes tensors for a `ModelInferResponse`: `outputs` metadata plus one raw entry per output. */
export function encodeInferOutputs(tensors: readonly Tensor[]): {
  outputs: InferTensorHeader[];
  raw_output_contents: Buffer[];
} {
  return { outputs: tensors.map(headerOf), raw_output_contents: encodeAll(tensors, "output") };
}

function decodeTensors(
  wire: readonly InferWireTensor[],
  raw: readonly Uint8Array[],
  role: TensorRole,
  rawField: string,
  options: ShapeOptions | undefined,
): Tensor[] {
  if (raw.length > 0) checkRawLayout(wire, raw, role, rawField);
  const seen = new Set<string>();
  return wire.map((tensor, i) => {
    const label = tensorLabel(role, tensor.name);
    if (seen.has(tensor.name)) throw invalidArgument(`${label}: appears more than once`);
    seen.add(tensor.name);
    const datatype = parseDataType(tensor.datatype, label);
    const spec = {
      name: tensor.name,
      datatype,
      shape: validateShape(tensor.shape, label, options),
    };
    return raw.length > 0
      ? decodeRawTensor(spec, raw[i]!, role, options)
      : decodeTypedContents(spec, tensor.contents, role, options);
  });
}

function checkRawLayout(
  wire: readonly InferWireTensor[],
  raw: readonly Uint8Array[],
  role: TensorRole,
  rawField: string,
): void {
  const mixed = wire.find((tensor) => setContentsFields(tensor.contents).length > 0);
  if (mixed) {
    throw invalidArgument(
      `${tensorLabel(role, mixed.name)}: sets contents while the message uses ${rawField}; a message may use only one of them`,
    );
  }
  if (raw.length < wire.length) {
    throw invalidArgument(
      `${tensorLabel(role, wire[raw.length]!.name)}: has no ${rawField} entry (${raw.length} entries for ${wire.length} ${role}s)`,
    );
  }
  if (raw.length > wire.length) {
    throw invalidArgument(`${rawField} has ${raw.length} entries for ${wire.length} ${role}s`);
  }
}

function headerOf(tensor: Tensor): InferTensorHeader {
  return { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape };
}

function encodeAll(tensors: readonly Tensor[], role: TensorRole): Buffer[] {
  return tensors.map((tensor) => encodeRawTensor(tensor, role));
}
