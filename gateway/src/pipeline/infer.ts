/**
 * The infer stage: one call to a Triton model (which may itself be a Triton ensemble). The
 * stage maps the pipeline's value to named input tensors and the named output tensors back to a
 * value; the call goes through `ctx.infer`, so inside `map` it joins a batch.
 */
import type { CoreInferResult } from "../core/gateway-core.js";
import { Code, InferError } from "../errors.js";
import type { ParameterValue } from "../protocol/infer-message.js";
import type { Tensor } from "../protocol/tensor.js";
import type { Stage, StageContext } from "./stage.js";
import { nameStage } from "./stage.js";

/** Output tensors by name. */
export type NamedTensors = Record<string, Tensor>;

/** Options of {@link createInfer}. */
export interface InferOptions<In, Out> {
  /** Stage name in timings, metrics and errors; default the model's name. */
  name?: string;
  /** Triton model (or ensemble) name. */
  model: string;
  /** Model version; default "" (the latest). */
  version?: string;
  /** The request's input tensors, named as the model's inputs, from the pipeline's value. */
  inputs(value: In): Tensor[];
  /**
   * Outputs to request and require, by name; default all the model has (none is checked).
   * A named output missing from the answer is an INTERNAL error naming it.
   */
  outputNames?: string[];
  /** Request parameters passed to Triton (e.g. `{ priority: 1 }`); default none. */
  parameters?: Record<string, ParameterValue>;
  /** The next value, from the output tensors by name and the value the stage was given. */
  outputs(tensors: NamedTensors, value: In): Out;
}

/** A stage calling one Triton model. */
export function createInfer<In, Out>(options: InferOptions<In, Out>): Stage<In, Out> {
  const { model, inputs, outputs } = options;
  const outputNames = options.outputNames ?? [];
  return nameStage(options.name ?? model, async function infer(value: In, ctx: StageContext) {
    const result = await ctx.infer({
      modelName: model,
      modelVersion: options.version ?? "",
      id: "",
      inputs: inputs(value),
      outputs: outputNames.map((name) => ({ name })),
      parameters: options.parameters ?? {},
    });
    return outputs(namedOutputs(result, outputNames), value);
  });
}

function namedOutputs(result: CoreInferResult, required: readonly string[]): NamedTensors {
  const byName: NamedTensors = {};
  for (const tensor of result.outputs) byName[tensor.name] = tensor;
  for (const name of required) {
    if (byName[name] === undefined) {
      throw new InferError(
        Code.INTERNAL,
        `model '${result.modelName}' returned no output '${name}'`,
      );
    }
  }
  return byName;
}
