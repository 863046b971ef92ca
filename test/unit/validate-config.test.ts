import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type ModelConfig, parseModelConfig } from "../../gateway/src/protocol/model-config.js";
import { validateModelConfig } from "../../gateway/src/protocol/validate-config.js";

/** An ONNX model `m` with one input `x` and one output `y`; `extra` adds fields. */
function onnx(extra = "", maxBatchSize = 8): string {
  return `name: "m"
platform: "onnxruntime_onnx"
max_batch_size: ${maxBatchSize}
input [ { name: "x", data_type: TYPE_FP32, dims: [ 4 ] } ]
output [ { name: "y", data_type: TYPE_FP32, dims: [ 2 ] } ]
${extra}`;
}

/** Composing models that ensemble cases look up by name. */
const REPOSITORY: Record<string, string> = {
  pre: `name: "pre" backend: "python" max_batch_size: 16
    input [ { name: "RAW", data_type: TYPE_UINT8, dims: [ -1 ] } ]
    output [ { name: "PIXELS", data_type: TYPE_FP32, dims: [ 3, 8, 8 ] } ]`,
  net: `name: "net" platform: "onnxruntime_onnx" max_batch_size: 8
    input [ { name: "data", data_type: TYPE_FP32, dims: [ 3, 8, 8 ] },
            { name: "hint", data_type: TYPE_FP32, dims: [ 1 ], optional: true } ]
    output [ { name: "scores", data_type: TYPE_FP32, dims: [ 10 ] } ]`,
  post: `name: "post" backend: "python" max_batch_size: 8
    input [ { name: "IN", data_type: TYPE_FP32, dims: [ 10 ] } ]
    output [ { name: "OUT", data_type: TYPE_FP32, dims: [ 10 ] } ]`,
};
const repository = new Map(Object.entries(REPOSITORY).map(([k, v]) => [k, parseModelConfig(v)]));
const lookup = (name: string): ModelConfig | undefined => repository.get(name);

/** An ensemble `ens` with input RAW_IN and output SCORES; `steps` are its step blocks. */
function ensemble(steps: string, extra = "", maxBatchSize = 8): string {
  return `name: "ens"
platform: "ensemble"
max_batch_size: ${maxBatchSize}
input [ { name: "RAW_IN", data_type: TYPE_UINT8, dims: [ -1 ] } ]
output [ { name: "SCORES", data_type: TYPE_FP32, dims: [ 10 ] } ]
${extra}
ensemble_scheduling { step [ ${steps} ] }`;
}
const PRE = `{ model_name: "pre" input_map { key: "RAW" value: "RAW_IN" } output_map { key: "PIXELS" value: "pixels" } }`;
const NET = `{ model_name: "net" input_map { key: "data" value: "pixels" } output_map { key: "scores" value: "SCORES" } }`;

interface Case {
  name: string;
  config: string;
  /** One regex per expected problem, matched against the problem messages in any order. */
  problems: RegExp[];
  /** The rule identifiers of those problems, in the same order. */
  rules?: string[];
  /** The model folder name; "m" for onnx(), "ens" for ensemble() unless given. */
  modelName?: string;
  withLookup?: boolean;
}

const cases: Case[] = [
  // Valid configs
  { name: "minimal onnx model", config: onnx(), problems: [] },
  {
    name: "dynamic batching, priorities, instance groups, warmup, version policy",
    config: onnx(`
      dynamic_batching {
        preferred_batch_size: [ 4, 8 ] preserve_ordering: true priority_levels: 1 default_priority_level: 1
        default_queue_policy { max_queue_size: 0 }
        priority_queue_policy { key: 1 value { timeout_action: REJECT } }
      }
      instance_group [ { name: "g", count: 2, kind: KIND_GPU, gpus: [ 0, 1 ] }, { kind: KIND_CPU } ]
      version_policy { specific { versions: [ 1, 2 ] } }
      model_warmup [ { name: "w", batch_size: 8, inputs { key: "x" value { data_type: TYPE_FP32, dims: [ 4 ], random_data: true } } } ]
      response_cache { enable: true }`),
    problems: [],
  },
  {
    name: "max_batch_size 0 with full dims and warmup batch 1",
    config: onnx(
      `model_warmup [ { name: "w", batch_size: 1, inputs { key: "x" value { zero_data: true } } } ]`,
      0,
    ),
    problems: [],
  },
  {
    name: "empty dims with batching",
    config: `name: "m" backend: "onnxruntime" max_batch_size: 2 input [ { name: "x", data_type: TYPE_FP32, dims: [] } ]`,
    problems: [],
  },
  {
    name: "reshape with equal element counts",
    config: `name: "m" backend: "onnxruntime" input [ { name: "x", data_type: TYPE_FP32, dims: [ 6 ], reshape { shape: [ 2, 3 ] } } ]`,
    problems: [],
  },
  {
    name: "ensemble of two steps",
    config: ensemble(`${PRE}, ${NET}`),
    problems: [],
    withLookup: true,
  },
  {
    name: "ensemble without lookup checks structure only",
    config: ensemble(`${PRE}, ${NET}`, "", 64),
    problems: [],
  },
  {
    name: "sequence batching with response cache off",
    config: onnx(`sequence_batching { } response_cache { enable: false }`),
    problems: [],
  },

  // Identity
  {
    name: "name missing",
    config: `platform: "onnxruntime_onnx"`,
    modelName: "m",
    problems: [/^model 'm': name: name is missing$/],
    rules: ["name-required"],
  },
  {
    name: "name differs from folder",
    config: onnx(),
    modelName: "other",
    problems: [/^model 'other': name: name 'm' differs from the model folder name 'other'$/],
    rules: ["name-mismatch"],
  },
  {
    name: "neither platform nor backend",
    config: `name: "m"`,
    problems: [/^model 'm': platform: neither platform nor backend is set$/],
    rules: ["platform-required"],
  },
  {
    name: "unknown platform",
    config: `name: "m" platform: "onnx"`,
    problems: [
      /^model 'm': platform: unknown platform 'onnx' \(known: onnxruntime_onnx, tensorrt_plan, .*\)$/,
    ],
    rules: ["platform-unknown"],
  },
  {
    name: "unknown backend",
    config: `name: "m" backend: "onnx"`,
    problems: [/^model 'm': backend: unknown backend 'onnx' \(known: onnxruntime, tensorrt, .*\)$/],
    rules: ["backend-unknown"],
  },
  {
    name: "platform and backend disagree",
    config: `name: "m" platform: "tensorrt_plan" backend: "onnxruntime"`,
    problems: [
      /^model 'm': backend: backend 'onnxruntime' disagrees with platform 'tensorrt_plan', which runs on 'tensorrt'$/,
    ],
    rules: ["platform-backend"],
  },
  {
    name: "ensemble platform with a backend",
    config: ensemble(`${PRE}, ${NET}`, `backend: "python"`),
    problems: [/^model 'ens': backend: platform 'ensemble' takes no backend, got 'python'$/],
    rules: ["platform-backend"],
  },
  {
    name: "negative max_batch_size",
    config: `name: "m" backend: "onnxruntime" max_batch_size: -1`,
    problems: [/^model 'm': max_batch_size: -1 is negative/],
    rules: ["max-batch-size"],
  },

  // Inputs and outputs
  {
    name: "input without name",
    config: `name: "m" backend: "onnxruntime" max_batch_size: 1 input [ { data_type: TYPE_FP32, dims: [ 1 ] } ]`,
    problems: [/^model 'm': input\[0\]\.name: input has no name$/],
    rules: ["tensor-name"],
  },
  {
    name: "duplicate output names",
    config: `name: "m" backend: "onnxruntime" max_batch_size: 1 output [ { name: "y", data_type: TYPE_FP32, dims: [ 1 ] }, { name: "y", data_type: TYPE_FP32, dims: [ 1 ] } ]`,
    problems: [/^model 'm': output\[1\]\.name: output name 'y' is already used by output\[0\]$/],
    rules: ["tensor-name-unique"],
  },
  {
    name: "data_type missing or TYPE_INVALID",
    config: `name: "m" backend: "onnxruntime" max_batch_size: 1 input [ { name: "a", dims: [ 1 ] }, { name: "b", data_type: TYPE_INVALID, dims: [ 1 ] } ]`,
    problems: [
      /^model 'm': input\[0\]\.data_type: input 'a' has no data_type$/,
      /^model 'm': input\[1\]\.data_type: input 'b' has no data_type$/,
    ],
    rules: ["data-type", "data-type"],
  },
  {
    name: "empty dims without batching or reshape",
    config: `name: "m" backend: "onnxruntime" output [ { name: "y", data_type: TYPE_FP32 } ]`,
    problems: [
      /^model 'm': output\[0\]\.dims: output 'y' has empty dims: with max_batch_size 0 give the full shape, or a reshape$/,
    ],
    rules: ["dims-required"],
  },
  {
    name: "dims of 0 and -2",
    config: `name: "m" backend: "onnxruntime" input [ { name: "x", data_type: TYPE_FP32, dims: [ 3, 0, -2 ] } ]`,
    problems: [
      /^model 'm': input\[0\]\.dims\[1\]: 0 is not a dimension/,
      /^model 'm': input\[0\]\.dims\[2\]: -2 is not a dimension/,
    ],
    rules: ["dims-value", "dims-value"],
  },
  {
    name: "reshape with a different element count",
    config: `name: "m" backend: "onnxruntime" input [ { name: "x", data_type: TYPE_FP32, dims: [ 6 ], reshape { shape: [ 2, 2 ] } } ]`,
    problems: [
      /^model 'm': input\[0\]\.reshape\.shape: input 'x': reshape \[2, 2\] holds 4 elements, dims \[6\] hold 6$/,
    ],
    rules: ["reshape"],
  },

  // Dynamic batching
  {
    name: "dynamic batching without batching",
    config: onnx("dynamic_batching { }", 0),
    problems: [/^model 'm': dynamic_batching: dynamic batching needs max_batch_size > 0/],
    rules: ["dynamic-batching"],
  },
  {
    name: "preferred batch size above max_batch_size",
    config: onnx("dynamic_batching { preferred_batch_size: [ 4, 64 ] }", 16).replace(
      '"m"',
      '"ocr_det"',
    ),
    problems: [
      /^model 'ocr_det': dynamic_batching\.preferred_batch_size\[1\]: 64 exceeds max_batch_size 16$/,
    ],
    rules: ["preferred-batch-size"],
  },
  {
    name: "preferred batch size 0",
    config: onnx("dynamic_batching { preferred_batch_size: [ 0 ] }"),
    problems: [
      /^model 'm': dynamic_batching\.preferred_batch_size\[0\]: 0 is not a batch size: must be > 0$/,
    ],
    rules: ["preferred-batch-size"],
  },
  {
    name: "oldest-strategy preferred batch size above max_batch_size",
    config: onnx("sequence_batching { oldest { preferred_batch_size: [ 32 ] } }"),
    problems: [
      /^model 'm': sequence_batching\.oldest\.preferred_batch_size\[0\]: 32 exceeds max_batch_size 8$/,
    ],
    rules: ["preferred-batch-size"],
  },
  {
    name: "preserve_ordering with several priority levels",
    config: onnx(
      "dynamic_batching { preserve_ordering: true priority_levels: 2 default_priority_level: 1 }",
    ),
    problems: [
      /^model 'm': dynamic_batching\.priority_levels: preserve_ordering allows only one priority level, got 2$/,
    ],
    rules: ["preserve-ordering"],
  },
  {
    name: "preserve_ordering with the DELAY timeout action",
    config:
      onnx(`dynamic_batching { preserve_ordering: true default_queue_policy { timeout_action: DELAY }
      priority_levels: 1 default_priority_level: 1 priority_queue_policy { key: 1 value { timeout_action: DELAY } } }`),
    problems: [
      /^model 'm': dynamic_batching\.default_queue_policy\.timeout_action: preserve_ordering forbids timeout_action DELAY$/,
      /^model 'm': dynamic_batching\.priority_queue_policy\[1\]\.timeout_action: preserve_ordering forbids timeout_action DELAY$/,
    ],
    rules: ["preserve-ordering", "preserve-ordering"],
  },
  {
    name: "priority queue policy key outside the levels",
    config: onnx(
      "dynamic_batching { priority_levels: 2 default_priority_level: 1 priority_queue_policy { key: 3 value { } } }",
    ),
    problems: [
      /^model 'm': dynamic_batching\.priority_queue_policy\[3\]: priority level 3 is outside \[1, priority_levels 2\]$/,
    ],
    rules: ["priority-queue-policy"],
  },
  {
    name: "priority queue policy without priority levels",
    config: onnx("dynamic_batching { priority_queue_policy { key: 1 value { } } }"),
    problems: [
      /^model 'm': dynamic_batching\.priority_queue_policy\[1\]: priority level 1 is outside \[1, priority_levels 0\]$/,
    ],
    rules: ["priority-queue-policy"],
  },
  {
    name: "default priority level outside the levels",
    config: onnx("dynamic_batching { priority_levels: 3 default_priority_level: 4 }"),
    problems: [
      /^model 'm': dynamic_batching\.default_priority_level: 4 is outside \[1, priority_levels 3\]$/,
    ],
    rules: ["default-priority-level"],
  },
  {
    name: "default priority level missing",
    config: onnx("dynamic_batching { priority_levels: 3 }"),
    problems: [
      /^model 'm': dynamic_batching\.default_priority_level: 0 is outside \[1, priority_levels 3\]$/,
    ],
    rules: ["default-priority-level"],
  },

  // Response cache
  {
    name: "response cache with sequence batching",
    config: onnx("sequence_batching { } response_cache { enable: true }"),
    problems: [
      /^model 'm': response_cache\.enable: the response cache cannot be enabled with sequence_batching$/,
    ],
    rules: ["response-cache"],
  },
  {
    name: "response cache with a decoupled model",
    config: onnx("model_transaction_policy { decoupled: true } response_cache { enable: true }"),
    problems: [
      /^model 'm': response_cache\.enable: the response cache cannot be enabled for a decoupled model/,
    ],
    rules: ["response-cache"],
  },

  // Ensembles
  {
    name: "ensemble with an instance group",
    config: ensemble(`${PRE}, ${NET}`, "instance_group [ { kind: KIND_CPU } ]"),
    problems: [/^model 'ens': instance_group: an ensemble takes no instance_group$/],
    rules: ["ensemble-instance-group"],
  },
  {
    name: "ensemble without scheduling",
    config: `name: "ens" platform: "ensemble"`,
    problems: [
      /^model 'ens': ensemble_scheduling\.step: an ensemble needs ensemble_scheduling with at least one step$/,
    ],
    rules: ["ensemble-scheduling"],
  },
  {
    name: "ensemble with no steps",
    config: `name: "ens" platform: "ensemble" ensemble_scheduling { }`,
    problems: [
      /^model 'ens': ensemble_scheduling\.step: an ensemble needs ensemble_scheduling with at least one step$/,
    ],
    rules: ["ensemble-scheduling"],
  },
  {
    name: "ensemble_scheduling on a non-ensemble",
    config: onnx("ensemble_scheduling { }"),
    problems: [/^model 'm': ensemble_scheduling: ensemble_scheduling needs platform 'ensemble'$/],
    rules: ["ensemble-scheduling"],
  },
  {
    name: "step model not in the repository",
    config: ensemble(`${PRE}, ${NET.replace('"net"', '"missing"')}`),
    withLookup: true,
    problems: [
      /^model 'ens': ensemble_scheduling\.step\[1\]\.model_name: model 'missing' is not in the repository$/,
    ],
    rules: ["ensemble-step-model"],
  },
  {
    name: "step without model name",
    config: ensemble(`${PRE}, { output_map { key: "scores" value: "SCORES" } }`),
    problems: [/^model 'ens': ensemble_scheduling\.step\[1\]\.model_name: step has no model_name$/],
    rules: ["ensemble-step-model"],
  },
  {
    name: "step input_map key is not an input of the step model",
    config: ensemble(`${PRE}, ${NET.replace('key: "data"', 'key: "DATA"')}`),
    withLookup: true,
    problems: [
      /^model 'ens': ensemble_scheduling\.step\[1\]\.input_map\['DATA'\]: 'DATA' is not an input of model 'net'$/,
      /^model 'ens': ensemble_scheduling\.step\[1\]\.input_map: input 'data' of model 'net' is not mapped$/,
    ],
    rules: ["ensemble-step-input", "ensemble-step-input"],
  },
  {
    name: "step input from a tensor nobody produces",
    config: ensemble(`${PRE}, ${NET.replace('value: "pixels"', 'value: "pixls"')}`),
    problems: [
      /^model 'ens': ensemble_scheduling\.step\[1\]\.input_map\['data'\]: tensor 'pixls' is neither an ensemble input nor produced by any step$/,
    ],
    rules: ["ensemble-step-input-source"],
  },
  {
    name: "step output_map key is not an output of the step model",
    config: ensemble(`${PRE}, ${NET.replace('key: "scores"', 'key: "logits"')}`),
    withLookup: true,
    problems: [
      /^model 'ens': ensemble_scheduling\.step\[1\]\.output_map\['logits'\]: 'logits' is not an output of model 'net'$/,
    ],
    rules: ["ensemble-step-output"],
  },
  {
    name: "ensemble output produced by no step",
    config: ensemble(`${PRE}, ${NET.replace('value: "SCORES"', 'value: "scores_tmp"')}`),
    problems: [
      /^model 'ens': output\[0\]: ensemble output 'SCORES' is produced by no step's output_map$/,
    ],
    rules: ["ensemble-output"],
  },
  {
    name: "tensor produced by two steps",
    config: ensemble(
      `${PRE}, ${NET}, { model_name: "post" input_map { key: "IN" value: "pixels" } output_map { key: "OUT" value: "SCORES" } }`,
    ),
    problems: [
      /^model 'ens': ensemble_scheduling\.step\[2\]\.output_map\['OUT'\]: tensor 'SCORES' is already produced by step\[1\]$/,
    ],
    rules: ["ensemble-tensor-producer"],
  },
  {
    name: "step writes an ensemble input",
    config: ensemble(
      `${PRE.replace('value: "pixels"', 'value: "RAW_IN"')}, ${NET.replace('value: "pixels"', 'value: "RAW_IN"')}`,
    ),
    problems: [
      /^model 'ens': ensemble_scheduling\.step\[0\]\.output_map\['PIXELS'\]: tensor 'RAW_IN' is an ensemble input and cannot be produced by a step$/,
    ],
    rules: ["ensemble-tensor-producer"],
  },
  {
    name: "steps forming a cycle",
    config: ensemble(`
      { model_name: "net" input_map { key: "data" value: "b" } output_map { key: "scores" value: "a" } },
      { model_name: "post" input_map { key: "IN" value: "a" } output_map { key: "OUT" value: "b" } },
      { model_name: "post" input_map { key: "IN" value: "a" } output_map { key: "OUT" value: "SCORES" } }`),
    problems: [
      /^model 'ens': ensemble_scheduling\.step: steps form a cycle: step\[0\] 'net' -\(a\)-> step\[1\] 'post' -\(b\)-> step\[0\] 'net'$/,
    ],
    rules: ["ensemble-cycle"],
  },
  {
    name: "step feeding itself",
    config: ensemble(
      `{ model_name: "post" input_map { key: "IN" value: "loop" } output_map { key: "OUT" value: "loop" } }, ${NET.replace('"pixels"', '"loop"')}`,
    ),
    problems: [
      /^model 'ens': ensemble_scheduling\.step: steps form a cycle: step\[0\] 'post' -\(loop\)-> step\[0\] 'post'$/,
    ],
    rules: ["ensemble-cycle"],
  },
  {
    name: "ensemble max_batch_size above a composing model's",
    config: ensemble(`${PRE}, ${NET}`, "", 16),
    withLookup: true,
    problems: [
      /^model 'ens': max_batch_size: 16 exceeds max_batch_size 8 of composing model 'net'$/,
    ],
    rules: ["ensemble-max-batch-size"],
  },

  // Instance groups
  {
    name: "negative instance count",
    config: onnx("instance_group [ { count: -1, kind: KIND_CPU } ]"),
    problems: [/^model 'm': instance_group\[0\]\.count: -1 is negative/],
    rules: ["instance-count"],
  },
  {
    name: "KIND_CPU with gpus",
    config: onnx("instance_group [ { kind: KIND_CPU, gpus: [ 0 ] } ]"),
    problems: [
      /^model 'm': instance_group\[0\]\.gpus: KIND_CPU places instances on the CPU and takes no gpus$/,
    ],
    rules: ["instance-gpus"],
  },
  {
    name: "negative and repeated gpus",
    config: onnx("instance_group [ { kind: KIND_GPU, gpus: [ 0, -1, 0 ] } ]"),
    problems: [
      /^model 'm': instance_group\[0\]\.gpus\[1\]: GPU -1 is negative$/,
      /^model 'm': instance_group\[0\]\.gpus\[2\]: GPU 0 is listed twice$/,
    ],
    rules: ["instance-gpus", "instance-gpus"],
  },
  {
    name: "instance group names repeated",
    config: onnx(`instance_group [ { name: "g" }, { name: "g" } ]`),
    problems: [
      /^model 'm': instance_group\[1\]\.name: name 'g' is already used by instance_group\[0\]$/,
    ],
    rules: ["instance-group-name"],
  },

  // Version policy
  {
    name: "latest with no versions",
    config: onnx("version_policy { latest { } }"),
    problems: [
      /^model 'm': version_policy\.latest\.num_versions: latest needs num_versions >= 1, got 0$/,
    ],
    rules: ["version-policy"],
  },
  {
    name: "specific with no versions",
    config: onnx("version_policy { specific { } }"),
    problems: [
      /^model 'm': version_policy\.specific\.versions: specific needs at least one version$/,
    ],
    rules: ["version-policy"],
  },
  {
    name: "specific with zero and repeated versions",
    config: onnx("version_policy { specific { versions: [ 1, 0, 1 ] } }"),
    problems: [
      /^model 'm': version_policy\.specific\.versions\[1\]: version 0 is not positive$/,
      /^model 'm': version_policy\.specific\.versions\[2\]: version 1 is listed twice$/,
    ],
    rules: ["version-policy", "version-policy"],
  },

  // Warmup
  {
    name: "warmup without name",
    config: onnx(
      `model_warmup [ { batch_size: 1, inputs { key: "x" value { zero_data: true } } } ]`,
    ),
    problems: [/^model 'm': model_warmup\[0\]\.name: warmup has no name$/],
    rules: ["warmup-name"],
  },
  {
    name: "warmup batch above max_batch_size",
    config: onnx(
      `model_warmup [ { name: "w", batch_size: 9, inputs { key: "x" value { zero_data: true } } } ]`,
    ),
    problems: [/^model 'm': model_warmup\[0\]\.batch_size: batch_size 9 exceeds max_batch_size 8$/],
    rules: ["warmup-batch-size"],
  },
  {
    name: "warmup batch 2 without batching",
    config: onnx(
      `model_warmup [ { name: "w", batch_size: 2, inputs { key: "x" value { zero_data: true } } } ]`,
      0,
    ),
    problems: [
      /^model 'm': model_warmup\[0\]\.batch_size: batch_size 2 exceeds 1 \(max_batch_size is 0\)$/,
    ],
    rules: ["warmup-batch-size"],
  },
  {
    name: "warmup batch 0",
    config: onnx(`model_warmup [ { name: "w", inputs { key: "x" value { zero_data: true } } } ]`),
    problems: [/^model 'm': model_warmup\[0\]\.batch_size: batch_size must be >= 1, got 0$/],
    rules: ["warmup-batch-size"],
  },
  {
    name: "warmup input that the model lacks",
    config: onnx(
      `model_warmup [ { name: "w", batch_size: 1, inputs { key: "x" value { zero_data: true } } inputs { key: "z" value { zero_data: true } } } ]`,
    ),
    problems: [/^model 'm': model_warmup\[0\]\.inputs\['z'\]: 'z' is not an input of the model$/],
    rules: ["warmup-input"],
  },
  {
    name: "warmup missing a model input",
    config: onnx(`model_warmup [ { name: "w", batch_size: 1 } ]`),
    problems: [/^model 'm': model_warmup\[0\]\.inputs: model input 'x' has no warmup data$/],
    rules: ["warmup-input"],
  },
  {
    name: "warmup input without data",
    config: onnx(
      `model_warmup [ { name: "w", batch_size: 1, inputs { key: "x" value { dims: [ 4 ] } } } ]`,
    ),
    problems: [
      /^model 'm': model_warmup\[0\]\.inputs\['x'\]: set one of zero_data, random_data, input_data_file$/,
    ],
    rules: ["warmup-input-data"],
  },

  // Several problems at once are all reported
  {
    name: "every problem is reported, not just the first",
    config: `name: "m" platform: "tensorrt_plan" max_batch_size: 4
      input [ { name: "x", dims: [ 0 ] } ]
      dynamic_batching { preferred_batch_size: [ 8 ] }
      instance_group [ { kind: KIND_CPU, gpus: [ 1 ] } ]`,
    problems: [
      /input\[0\]\.data_type/,
      /input\[0\]\.dims\[0\]/,
      /preferred_batch_size\[0\]: 8 exceeds max_batch_size 4/,
      /instance_group\[0\]\.gpus/,
    ],
    rules: ["data-type", "dims-value", "preferred-batch-size", "instance-gpus"],
  },
];

describe("validateModelConfig", () => {
  for (const c of cases) {
    it(c.name, () => {
      const config = parseModelConfig(c.config);
      const problems = validateModelConfig(config, {
        modelName: c.modelName ?? config.name,
        ...(c.withLookup ? { lookup } : {}),
      });
      const messages = problems.map((p) => p.message);
      assert.equal(
        problems.length,
        c.problems.length,
        `problems: ${JSON.stringify(messages, null, 2)}`,
      );
      for (const [i, re] of c.problems.entries()) assert.match(messages[i] ?? "", re);
      if (c.rules)
        assert.deepEqual(
          problems.map((p) => p.rule),
          c.rules,
        );
      for (const p of problems) {
        // Each message names the model and the field; the rule is carried alongside.
        assert.ok(p.message.startsWith(`model '${p.model}': ${p.field}: `), p.message);
        assert.match(p.rule, /^[a-z]+(-[a-z]+)*$/);
      }
    });
  }
});

describe("fixtures", () => {
  const dir = join(import.meta.dirname, "../fixtures/config/valid");
  const configs = new Map(
    readdirSync(dir)
      .filter((f) => f.endsWith(".pbtxt"))
      .map((f) => [
        f.replace(/\.pbtxt$/, ""),
        parseModelConfig(readFileSync(join(dir, f), "utf8"), f),
      ]),
  );
  for (const [name, config] of configs) {
    it(`valid/${name}.pbtxt has no problems`, () => {
      const problems = validateModelConfig(config, {
        modelName: name,
        lookup: (n) => configs.get(n),
      });
      assert.deepEqual(problems, []);
    });
  }

  // Each rules fixture lists the problems it expects on `# expect: <regex>` lines.
  const invalidDir = join(import.meta.dirname, "../fixtures/config/invalid");
  for (const file of readdirSync(invalidDir).filter((f) => f.startsWith("rules-"))) {
    it(`invalid/${file} breaks the rules it names`, () => {
      const text = readFileSync(join(invalidDir, file), "utf8");
      const expected = [...text.matchAll(/^# expect: (.*)$/gm)].map((m) => new RegExp(m[1]!));
      assert.ok(expected.length > 0, "fixture has no '# expect:' line");
      const problems = validateModelConfig(parseModelConfig(text, file), {
        lookup: (n) => configs.get(n),
      });
      assert.equal(problems.length, expected.length, JSON.stringify(problems, null, 2));
      for (const [i, re] of expected.entries()) {
        assert.match(`${problems[i]!.rule}: ${problems[i]!.message}`, re);
      }
    });
  }
});
