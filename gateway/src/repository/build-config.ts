/**
 * One model's `config.pbtxt` for one target, made as a `ModelConfig` message from its build
 * description (`build-specs.ts`) and the inputs and outputs of its ONNX file, then printed with
 * the project's text format printer. Also what a TensorRT engine build of it needs.
 */
import { type DataType, dataTypeToConfig } from "../protocol/datatype.js";
import type {
  ModelConfig,
  ModelInput,
  ModelInstanceGroup,
  ModelOutput,
} from "../protocol/model-config.js";
import type { DimSpec, ModelBuildSpec } from "./build-specs.js";
import type { OnnxSignature, OnnxTensorInfo } from "./onnx-model.js";
import type { Target } from "./targets.js";

/** How a model runs on a target (its GPU placement, or `cpu` on the cpu target). */
export type Placement = ModelBuildSpec["gpu"]["placement"];

/** The placement of `spec` on `target`. */
export function placementOn(spec: ModelBuildSpec, target: Target): Placement {
  if (spec.ensemble) return "ensemble";
  return target.gpu ? spec.gpu.placement : "cpu";
}

/** The trtexec shapes of an engine: `name:1x3x48x128`, comma-separated per input. */
export interface EngineShapes {
  min: string;
  opt: string;
  max: string;
}

/** Generates the config of a model on a target. */
export interface ConfigInputs {
  spec: ModelBuildSpec;
  target: Target;
  /** The ONNX file's IO; absent for ensembles. */
  signature?: OnnxSignature;
  /** Configs already generated for this target, for the ensemble steps' models. */
  built: ReadonlyMap<string, ModelConfig>;
}

/** The `ModelConfig` message of a model on a target. Throws when spec and ONNX file disagree. */
export function generateModelConfig(inputs: ConfigInputs): ModelConfig {
  const { spec, target } = inputs;
  const placement = placementOn(spec, target);
  if (placement === "ensemble") return ensembleConfig(spec, inputs.built);
  const signature = inputs.signature;
  if (!signature) throw new Error(`${spec.name}: no ONNX signature to build its config from`);
  const fromOnnx = placement === "tensorrt";
  const config: ModelConfig = {
    name: spec.name,
    platform: fromOnnx ? "tensorrt_plan" : "onnxruntime_onnx",
    max_batch_size: spec.maxBatchSize,
    input: modelInputs(spec, signature, fromOnnx),
    output: modelOutputs(spec, signature),
    instance_group: [instanceGroup(spec, placement, target)],
  };
  if (fromOnnx) config.default_model_filename = "model.plan";
  const batching = dynamicBatching(spec, placement);
  if (batching) config.dynamic_batching = batching;
  if (fromOnnx && target.gpu) {
    config.parameters = { engine_precision: { string_value: target.gpu.precision } };
  }
  if (placement === "cpu" && spec.cpuIntraOpThreads !== undefined) {
    config.parameters = { intra_op_thread_count: { string_value: String(spec.cpuIntraOpThreads) } };
  }
  if (spec.warmup) config.model_warmup = spec.warmup;
  return config;
}

function instanceGroup(
  spec: ModelBuildSpec,
  placement: Placement,
  target: Target,
): ModelInstanceGroup {
  switch (placement) {
    case "tensorrt":
      return { count: target.gpu?.instancesPerGpu ?? 1, kind: "KIND_GPU", gpus: [0] };
    case "onnxruntime-gpu":
      return { count: 1, kind: "KIND_GPU", gpus: [0] };
    default:
      return { count: spec.cpuInstances ?? 1, kind: "KIND_CPU" };
  }
}

function dynamicBatching(spec: ModelBuildSpec, placement: Placement) {
  if (placement !== "tensorrt") return spec.dynamicBatching;
  const preferred = spec.gpu.preferredBatchSizes;
  return { ...spec.dynamicBatching, ...(preferred ? { preferred_batch_size: preferred } : {}) };
}

/**
 * Inputs in the spec's order with the ONNX file's datatypes. Dims: the ONNX file's (batch
 * dimension dropped) for a TensorRT engine, whose own dims are the ONNX file's; the pipeline's
 * fixed sizes filled in for ONNX Runtime, as the committed configs have them.
 */
function modelInputs(
  spec: ModelBuildSpec,
  signature: OnnxSignature,
  fromOnnx: boolean,
): ModelInput[] {
  const byName = new Map(signature.inputs.map((t) => [t.name, t]));
  for (const actual of signature.inputs) {
    if (!spec.inputs.some((i) => i.name === actual.name)) {
      throw new Error(`${spec.name}: ONNX input '${actual.name}' has no build description`);
    }
  }
  return spec.inputs.map((input) => {
    const actual = byName.get(input.name);
    if (!actual) throw new Error(`${spec.name}: input '${input.name}' is not in the ONNX file`);
    const onnxDims = dimsAfterBatch(spec, actual);
    checkShape(spec.name, input.name, input.shape, onnxDims);
    const dims = fromOnnx ? onnxDims : input.shape.map((d) => (typeof d === "number" ? d : -1));
    return {
      name: input.name,
      data_type: configType(spec.name, actual),
      ...(input.format ? { format: input.format } : {}),
      dims,
    };
  });
}

function modelOutputs(spec: ModelBuildSpec, signature: OnnxSignature): ModelOutput[] {
  const byName = new Map(signature.outputs.map((t) => [t.name, t]));
  return spec.outputs.map((output) => {
    const actual = byName.get(output.name);
    if (!actual) throw new Error(`${spec.name}: output '${output.name}' is not in the ONNX file`);
    return {
      name: output.name,
      data_type: configType(spec.name, actual),
      dims: dimsAfterBatch(spec, actual),
      ...(output.labelFilename ? { label_filename: output.labelFilename } : {}),
    };
  });
}

function configType(model: string, tensor: OnnxTensorInfo) {
  if (tensor.datatype.startsWith("UNSUPPORTED")) {
    throw new Error(
      `${model}: '${tensor.name}' has ONNX type ${tensor.datatype}, which a config cannot name`,
    );
  }
  return dataTypeToConfig(tensor.datatype as DataType);
}

/** The ONNX dims without the batch dimension, which must be variable when batching. */
function dimsAfterBatch(spec: ModelBuildSpec, tensor: OnnxTensorInfo): number[] {
  if (spec.maxBatchSize === 0) return tensor.dims;
  if (tensor.dims[0] !== -1) {
    throw new Error(
      `${spec.name}: '${tensor.name}' has a fixed first dimension ${tensor.dims[0]}, so max_batch_size must be 0`,
    );
  }
  return tensor.dims.slice(1);
}

/** The spec's shape must have the ONNX rank and agree with every dim the ONNX file fixes. */
function checkShape(model: string, name: string, shape: DimSpec[], onnxDims: number[]): void {
  const shown = `[${onnxDims.join(", ")}]`;
  if (shape.length !== onnxDims.length) {
    throw new Error(
      `${model}: input '${name}' has rank ${onnxDims.length} ${shown} in the ONNX file, ${shape.length} in its build description`,
    );
  }
  shape.forEach((dim, i) => {
    const fixed = onnxDims[i]!;
    if (fixed === -1) return;
    if (typeof dim !== "number" || dim !== fixed) {
      throw new Error(
        `${model}: input '${name}' dimension ${i + 1} is ${fixed} in the ONNX file ${shown}, not ${JSON.stringify(dim)}`,
      );
    }
  });
}

/**
 * An ensemble's config: its inputs are the step inputs no earlier step produces, its outputs
 * the step outputs no step consumes, each typed and shaped as the step model declares it.
 */
function ensembleConfig(
  spec: ModelBuildSpec,
  built: ReadonlyMap<string, ModelConfig>,
): ModelConfig {
  const steps = spec.ensemble?.step ?? [];
  const produced = new Set(steps.flatMap((s) => Object.values(s.output_map ?? {})));
  const consumed = new Set(steps.flatMap((s) => Object.values(s.input_map ?? {})));
  const input: ModelInput[] = [];
  const output: ModelOutput[] = [];
  for (const step of steps) {
    const model = built.get(step.model_name ?? "");
    if (!model)
      throw new Error(`${spec.name}: step model '${step.model_name}' is not built before it`);
    for (const [key, tensor] of Object.entries(step.input_map ?? {})) {
      if (produced.has(tensor) || input.some((i) => i.name === tensor)) continue;
      const declared = model.input?.find((i) => i.name === key);
      if (!declared) throw new Error(`${spec.name}: '${step.model_name}' has no input '${key}'`);
      input.push({ ...declared, name: tensor });
    }
    for (const [key, tensor] of Object.entries(step.output_map ?? {})) {
      if (consumed.has(tensor)) continue;
      const declared = model.output?.find((o) => o.name === key);
      if (!declared) throw new Error(`${spec.name}: '${step.model_name}' has no output '${key}'`);
      const { label_filename: _label, ...rest } = declared;
      output.push({ ...rest, name: tensor });
    }
  }
  return {
    name: spec.name,
    platform: "ensemble",
    max_batch_size: spec.maxBatchSize,
    input,
    output,
    ensemble_scheduling: spec.ensemble,
  };
}

/** trtexec's min/opt/max shapes for an engine of `spec`, from its batch sizes and shapes. */
export function engineShapes(spec: ModelBuildSpec): EngineShapes {
  const preferred = spec.gpu.preferredBatchSizes ?? [spec.maxBatchSize];
  const batch = {
    min: 1,
    opt: spec.gpu.optBatchSize ?? Math.max(...preferred),
    max: spec.maxBatchSize,
  };
  const pick = (which: "min" | "opt" | "max") =>
    spec.inputs
      .map((input) => {
        const dims = input.shape.map((d) => (typeof d === "number" ? d : d[which]));
        return `${input.name}:${[batch[which], ...dims].join("x")}`;
      })
      .join(",");
  return { min: pick("min"), opt: pick("opt"), max: pick("max") };
}
