/**
 * `ModelInferRequest` and `ModelInferResponse` messages (as grpc-js decodes them with the
 * project's loader options) to and from tensors, plus the reserved request parameters
 * (spec: triton-wire-fields.md, "Reserved request parameters").
 */
import { invalidArgument } from "../errors.js";
import {
  decodeInferInputs,
  decodeInferOutputs,
  encodeInferInputs,
  encodeInferOutputs,
  type InferWireTensor,
} from "./infer-tensors.js";
import type { ShapeOptions } from "./shape.js";
import type { Tensor } from "./tensor.js";

/** `InferParameter`: a oneof of bool, int64, string, double and uint64 values. */
export interface InferParameterMessage {
  bool_param?: boolean;
  int64_param?: number | string;
  string_param?: string;
  double_param?: number;
  uint64_param?: number | string;
  parameter_choice?: string;
}

/** A parameter value in plain JS. */
export type ParameterValue = boolean | number | string;

/** `ModelInferRequest` as decoded. */
export interface ModelInferRequestMessage {
  model_name?: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, InferParameterMessage>;
  inputs?: InferWireTensor[];
  outputs?: { name?: string; parameters?: Record<string, InferParameterMessage> }[];
  raw_input_contents?: Uint8Array[];
}

/** `ModelInferResponse` as decoded. */
export interface ModelInferResponseMessage {
  model_name?: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, InferParameterMessage>;
  outputs?: InferWireTensor[];
  raw_output_contents?: Uint8Array[];
}

/** A decoded request: tensors, requested outputs, and parameters as plain values. */
export interface DecodedInferRequest {
  modelName: string;
  modelVersion: string;
  id: string;
  parameters: Record<string, ParameterValue>;
  inputs: Tensor[];
  outputs: { name: string; parameters: Record<string, ParameterValue> }[];
}

/** The value of an `InferParameter`, whichever member is set. */
export function parameterValue(p: InferParameterMessage): ParameterValue | undefined {
  if (p.bool_param !== undefined) return p.bool_param;
  if (p.int64_param !== undefined) return Number(p.int64_param);
  if (p.uint64_param !== undefined) return Number(p.uint64_param);
  if (p.double_param !== undefined) return p.double_param;
  return p.string_param;
}

/** An `InferParameter` message for a plain value (integers as int64, others by type). */
export function parameterMessage(value: ParameterValue): InferParameterMessage {
  if (typeof value === "boolean") return { bool_param: value };
  if (typeof value === "string") return { string_param: value };
  return Number.isInteger(value) ? { int64_param: value } : { double_param: value };
}

/** Plain values of a parameters map. */
export function parameterValues(
  params: Record<string, InferParameterMessage> | undefined,
): Record<string, ParameterValue> {
  const out: Record<string, ParameterValue> = {};
  for (const [key, p] of Object.entries(params ?? {})) {
    const value = parameterValue(p);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** Decodes a `ModelInferRequest`; malformed tensors are INVALID_ARGUMENT naming the tensor. */
export function decodeInferRequestMessage(
  message: ModelInferRequestMessage,
  options?: ShapeOptions,
): DecodedInferRequest {
  if (!message.model_name) throw invalidArgument("ModelInferRequest: model_name is empty");
  return {
    modelName: message.model_name,
    modelVersion: message.model_version ?? "",
    id: message.id ?? "",
    parameters: parameterValues(message.parameters),
    inputs: decodeInferInputs(message.inputs ?? [], message.raw_input_contents, options),
    outputs: (message.outputs ?? []).map((o) => {
      if (!o.name) throw invalidArgument("requested output has an empty name");
      return { name: o.name, parameters: parameterValues(o.parameters) };
    }),
  };
}

/** Builds a `ModelInferRequest` with raw input contents. */
export function encodeInferRequestMessage(request: {
  modelName: string;
  modelVersion?: string;
  id?: string;
  parameters?: Record<string, ParameterValue>;
  inputs: readonly Tensor[];
  outputs?: readonly { name: string; parameters?: Record<string, ParameterValue> }[];
}): ModelInferRequestMessage {
  const { inputs, raw_input_contents } = encodeInferInputs(request.inputs);
  return {
    model_name: request.modelName,
    model_version: request.modelVersion ?? "",
    id: request.id ?? "",
    parameters: parameterMessages(request.parameters),
    inputs,
    outputs: (request.outputs ?? []).map((o) => ({
      name: o.name,
      parameters: parameterMessages(o.parameters),
    })),
    raw_input_contents,
  };
}

/** Builds a `ModelInferResponse` with raw output contents. */
export function encodeInferResponseMessage(result: {
  modelName: string;
  modelVersion: string;
  id: string;
  outputs: readonly Tensor[];
  parameters?: Record<string, ParameterValue>;
}): ModelInferResponseMessage {
  const { outputs, raw_output_contents } = encodeInferOutputs(result.outputs);
  return {
    model_name: result.modelName,
    model_version: result.modelVersion,
    id: result.id,
    parameters: parameterMessages(result.parameters),
    outputs,
    raw_output_contents,
  };
}

/** Decodes a `ModelInferResponse` into tensors. */
export function decodeInferResponseMessage(
  message: ModelInferResponseMessage,
  options?: ShapeOptions,
) {
  return {
    modelName: message.model_name ?? "",
    modelVersion: message.model_version ?? "",
    id: message.id ?? "",
    parameters: parameterValues(message.parameters),
    outputs: decodeInferOutputs(message.outputs ?? [], message.raw_output_contents, options),
  };
}

function parameterMessages(
  values: Record<string, ParameterValue> | undefined,
): Record<string, InferParameterMessage> {
  const out: Record<string, InferParameterMessage> = {};
  for (const [key, value] of Object.entries(values ?? {})) out[key] = parameterMessage(value);
  return out;
}
