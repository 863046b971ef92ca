/**
 * Checks a request against its model's config as Triton does before scheduling: every input
 * known and present, datatypes and shapes as configured (the batch dimension first when the
 * model batches), requested outputs known. Messages follow Triton's wording where it has one.
 */
import { invalidArgument } from "../errors.js";
import { dataTypeFromConfig } from "../protocol/datatype.js";
import type { ModelConfig, ModelInput, ModelOutput } from "../protocol/model-config.js";
import { formatShape } from "../protocol/shape.js";
import type { Tensor } from "../protocol/tensor.js";
import type { InferRequest } from "./infer-request.js";

/** What scheduling needs from a checked request. */
export interface CheckedRequest {
  /** The request's batch size: dim 0 of its inputs when the model batches, else 1. */
  batchSize: number;
  /** Inputs in config order, shapes as the model sees them (reshape applied). */
  inputs: Tensor[];
  /** Names of the outputs to return, in config order when all were asked for. */
  outputNames: string[];
  /** Requests with equal keys may share a batch. */
  shapeKey: string;
}

/** Validates a request against a config; throws INVALID_ARGUMENT naming model and tensor. */
export function checkRequest(config: ModelConfig, request: InferRequest): CheckedRequest {
  const model = config.name ?? request.modelName;
  const maxBatchSize = config.max_batch_size ?? 0;
  const declared = new Map((config.input ?? []).map((i) => [i.name ?? "", i]));
  const given = new Map<string, Tensor>();
  for (const tensor of request.inputs) {
    if (!declared.has(tensor.name)) {
      throw invalidArgument(`unexpected inference input '${tensor.name}' for model '${model}'`);
    }
    if (given.has(tensor.name)) {
      throw invalidArgument(`input '${tensor.name}' given more than once for model '${model}'`);
    }
    given.set(tensor.name, tensor);
  }
  let batchSize: number | undefined;
  const inputs: Tensor[] = [];
  for (const input of config.input ?? []) {
    const tensor = given.get(input.name ?? "");
    if (!tensor) {
      if (input.optional) continue;
      throw invalidArgument(
        `expected ${declared.size} inputs but got ${given.size} inputs for model '${model}': input '${input.name}' is missing`,
      );
    }
    const rows = checkInput(model, input, tensor, maxBatchSize);
    if (batchSize !== undefined && rows !== batchSize) {
      throw invalidArgument(
        `input '${tensor.name}' has batch size ${rows}, other inputs of model '${model}' have ${batchSize}`,
      );
    }
    batchSize = rows;
    inputs.push(applyReshape(input, tensor, maxBatchSize));
  }
  const outputNames = checkOutputs(model, config.output ?? [], request);
  const shapeKey = [
    ...inputs.map(
      (t) => `${t.name}:${t.datatype}:${t.shape.slice(maxBatchSize > 0 ? 1 : 0).join("x")}`,
    ),
    `->${outputNames.join(",")}`,
  ].join("|");
  return { batchSize: batchSize ?? 1, inputs, outputNames, shapeKey };
}

function checkInput(
  model: string,
  input: ModelInput,
  tensor: Tensor,
  maxBatchSize: number,
): number {
  const expectedType = dataTypeFromConfig(input.data_type ?? "TYPE_INVALID");
  if (tensor.datatype !== expectedType) {
    throw invalidArgument(
      `inference input '${tensor.name}' data-type is '${tensor.datatype}', but model '${model}' expects '${expectedType}'`,
    );
  }
  const dims = input.dims ?? [];
  const expected = maxBatchSize > 0 ? [-1, ...dims] : dims;
  const shape = tensor.shape;
  const matches =
    shape.length === expected.length && expected.every((d, i) => d === -1 || d === shape[i]);
  if (!matches) {
    throw invalidArgument(
      `unexpected shape for input '${tensor.name}' for model '${model}'. Expected ${formatShape(expected)}, got ${formatShape(shape)}`,
    );
  }
  if (maxBatchSize === 0) return 1;
  const rows = shape[0]!;
  if (rows < 1 || rows > maxBatchSize) {
    throw invalidArgument(
      `inference request batch-size must be between 1 and ${maxBatchSize} for '${model}', got ${rows}`,
    );
  }
  return rows;
}

/** The model sees `reshape.shape` (after the batch dim) instead of `dims`; -1 takes the rest. */
function applyReshape(input: ModelInput, tensor: Tensor, maxBatchSize: number): Tensor {
  const target = input.reshape?.shape;
  if (!target) return tensor;
  const lead = maxBatchSize > 0 ? [tensor.shape[0]!] : [];
  const rowElements = tensor.data.length / Math.max(1, lead[0] ?? 1);
  const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const shape = [...lead, ...target.map((d) => (d === -1 ? rowElements / known : d))];
  return { ...tensor, shape } as Tensor;
}

function checkOutputs(
  model: string,
  outputs: readonly ModelOutput[],
  request: InferRequest,
): string[] {
  if (request.outputs.length === 0) return outputs.map((o) => o.name ?? "");
  const known = new Set(outputs.map((o) => o.name));
  const seen = new Set<string>();
  for (const output of request.outputs) {
    if (!known.has(output.name)) {
      throw invalidArgument(`unexpected inference output '${output.name}' for model '${model}'`);
    }
    if (seen.has(output.name)) {
      throw invalidArgument(
        `output '${output.name}' requested more than once for model '${model}'`,
      );
    }
    seen.add(output.name);
  }
  return request.outputs.map((o) => o.name);
}
