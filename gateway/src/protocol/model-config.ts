/**
 * Triton's `inference.ModelConfig` (the message behind `config.pbtxt`) as plain JS objects, in the
 * shape the text format parser gives (see `pbtxt.ts`): snake_case keys, every field optional and
 * absent when unset, enums as their names, 64-bit integers as numbers, maps as objects keyed by
 * strings (`priority_queue_policy` is keyed `"1"`, `"2"`, ...). The same shape as `decodeMessage`
 * from `protos.ts`, so a config read from a file and one read off the wire compare equal.
 */
import type { ConfigDataType } from "./datatype.js";
import { parseTextFormat, printTextFormat } from "./pbtxt.js";
import { lookupMessage } from "./protos.js";

/** Fully qualified name of the message. */
export const MODEL_CONFIG_MESSAGE = "inference.ModelConfig";

/**
 * What a `data_type` field holds: a config enum name (`"TYPE_FP32"`; see `datatype.ts` for the
 * wire names), or `"TYPE_INVALID"`, the enum's zero, which the validator refuses.
 */
export type DataTypeField = ConfigDataType | "TYPE_INVALID";

/** `ModelRateLimiter`: resources an instance needs before it may run, and its priority. */
export interface ModelRateLimiter {
  resources?: { name?: string; global?: boolean; count?: number }[];
  priority?: number;
}

/** `ModelInstanceGroup.Kind`. */
export type InstanceGroupKind = "KIND_AUTO" | "KIND_GPU" | "KIND_CPU" | "KIND_MODEL";

/** `ModelInstanceGroup`: `count` instances on each of `gpus` (KIND_GPU) or on the CPU. */
export interface ModelInstanceGroup {
  name?: string;
  /** Instances per device; absent or 0 means 1. */
  count?: number;
  gpus?: number[];
  kind?: InstanceGroupKind;
  profile?: string[];
  rate_limiter?: ModelRateLimiter;
  passive?: boolean;
  secondary_devices?: { kind?: "KIND_NVDLA"; device_id?: number }[];
  host_policy?: string;
}

/** `ModelTensorReshape`: the shape the model sees instead of `dims`. */
export interface ModelTensorReshape {
  shape?: number[];
}

/** `ModelInput`. `dims` exclude the batch dimension when `max_batch_size > 0`; -1 is variable. */
export interface ModelInput {
  name?: string;
  data_type?: DataTypeField;
  format?: "FORMAT_NONE" | "FORMAT_NHWC" | "FORMAT_NCHW";
  dims?: number[];
  reshape?: ModelTensorReshape;
  is_shape_tensor?: boolean;
  allow_ragged_batch?: boolean;
  optional?: boolean;
  is_non_linear_format_io?: boolean;
}

/** `ModelOutput`. */
export interface ModelOutput {
  name?: string;
  data_type?: DataTypeField;
  dims?: number[];
  /** A file in the model folder, one class label per line. */
  label_filename?: string;
  reshape?: ModelTensorReshape;
  is_shape_tensor?: boolean;
  is_non_linear_format_io?: boolean;
}

/** `BatchInput`: an extra input the batcher computes from the batched requests. */
export interface BatchInput {
  kind?:
    | "BATCH_ELEMENT_COUNT"
    | "BATCH_ACCUMULATED_ELEMENT_COUNT"
    | "BATCH_ACCUMULATED_ELEMENT_COUNT_WITH_ZERO"
    | "BATCH_MAX_ELEMENT_COUNT_AS_SHAPE"
    | "BATCH_ITEM_SHAPE"
    | "BATCH_ITEM_SHAPE_FLATTEN";
  target_name?: string[];
  data_type?: DataTypeField;
  source_input?: string[];
}

/** `BatchOutput`. */
export interface BatchOutput {
  target_name?: string[];
  kind?: "BATCH_SCATTER_WITH_INPUT_SHAPE";
  source_input?: string[];
}

/** `ModelVersionPolicy`: a oneof of `latest`, `all`, `specific` (default: latest 1). */
export interface ModelVersionPolicy {
  latest?: { num_versions?: number };
  all?: Record<string, never>;
  specific?: { versions?: number[] };
}

/** `ModelOptimizationPolicy.ExecutionAccelerators.Accelerator`, e.g. `tensorrt` for ONNX Runtime. */
export interface ExecutionAccelerator {
  name?: string;
  /** e.g. `{ precision_mode: "FP16", max_workspace_size_bytes: "1073741824" }`. */
  parameters?: Record<string, string>;
}

/** `ModelOptimizationPolicy.Cuda.GraphSpec.Shape`. */
export interface GraphSpecShape {
  dim?: number[];
}

/** `ModelOptimizationPolicy.Cuda.GraphSpec`: a CUDA graph to capture for one batch size. */
export interface CudaGraphSpec {
  batch_size?: number;
  input?: Record<string, GraphSpecShape>;
  graph_lower_bound?: { batch_size?: number; input?: Record<string, GraphSpecShape> };
}

/** `ModelOptimizationPolicy`. */
export interface ModelOptimizationPolicy {
  graph?: { level?: number };
  priority?: "PRIORITY_DEFAULT" | "PRIORITY_MAX" | "PRIORITY_MIN";
  cuda?: {
    graphs?: boolean;
    busy_wait_events?: boolean;
    graph_spec?: CudaGraphSpec[];
    output_copy_stream?: boolean;
  };
  execution_accelerators?: {
    gpu_execution_accelerator?: ExecutionAccelerator[];
    cpu_execution_accelerator?: ExecutionAccelerator[];
  };
  input_pinned_memory?: { enable?: boolean };
  output_pinned_memory?: { enable?: boolean };
  gather_kernel_buffer_threshold?: number;
  eager_batching?: boolean;
}

/** `ModelQueuePolicy`: how a (priority) queue treats timeouts and its size. */
export interface ModelQueuePolicy {
  /** What a timed-out request gets: REJECT (default) or DELAY (run after the others). */
  timeout_action?: "REJECT" | "DELAY";
  default_timeout_microseconds?: number;
  allow_timeout_override?: boolean;
  /** 0 means unbounded; a full queue rejects with UNAVAILABLE. */
  max_queue_size?: number;
}

/** `ModelDynamicBatching`. */
export interface ModelDynamicBatching {
  preferred_batch_size?: number[];
  max_queue_delay_microseconds?: number;
  preserve_ordering?: boolean;
  priority_levels?: number;
  default_priority_level?: number;
  default_queue_policy?: ModelQueuePolicy;
  /** Keyed by priority level, `"1"` to `String(priority_levels)`. */
  priority_queue_policy?: Record<string, ModelQueuePolicy>;
}

/** `ModelSequenceBatching.Control.Kind`. */
export type SequenceControlKind =
  | "CONTROL_SEQUENCE_START"
  | "CONTROL_SEQUENCE_READY"
  | "CONTROL_SEQUENCE_END"
  | "CONTROL_SEQUENCE_CORRID";

/** `ModelSequenceBatching.Control`: the values a control input takes for false and true. */
export interface SequenceControl {
  kind?: SequenceControlKind;
  int32_false_true?: number[];
  fp32_false_true?: number[];
  data_type?: DataTypeField;
  bool_false_true?: boolean[];
}

/** `ModelSequenceBatching.InitialState`: a oneof of `zero_data` and `data_file`. */
export interface SequenceInitialState {
  data_type?: DataTypeField;
  dims?: number[];
  zero_data?: boolean;
  data_file?: string;
  name?: string;
}

/** `ModelSequenceBatching.State`: an implicit state tensor carried between requests. */
export interface SequenceState {
  input_name?: string;
  output_name?: string;
  data_type?: DataTypeField;
  dims?: number[];
  initial_state?: SequenceInitialState[];
  use_same_buffer_for_input_output?: boolean;
  use_growable_memory?: boolean;
}

/** `ModelSequenceBatching`: a oneof of `direct` and `oldest` strategies. */
export interface ModelSequenceBatching {
  max_sequence_idle_microseconds?: number;
  control_input?: { name?: string; control?: SequenceControl[] }[];
  direct?: { max_queue_delay_microseconds?: number; minimum_slot_utilization?: number };
  oldest?: {
    max_candidate_sequences?: number;
    preferred_batch_size?: number[];
    max_queue_delay_microseconds?: number;
    preserve_ordering?: boolean;
  };
  state?: SequenceState[];
  iterative_sequence?: boolean;
}

/** `ModelEnsembling.Step`: one composing model; maps are keyed by the step model's tensor names. */
export interface EnsembleStep {
  model_name?: string;
  /** -1 or absent: the latest version. */
  model_version?: number;
  /** Step model input name -> ensemble tensor name. */
  input_map?: Record<string, string>;
  /** Step model output name -> ensemble tensor name. */
  output_map?: Record<string, string>;
  model_namespace?: string;
}

/** `ModelEnsembling`. */
export interface ModelEnsembling {
  step?: EnsembleStep[];
  max_inflight_requests?: number;
}

/** `ModelWarmup.Input`: a oneof of `zero_data`, `random_data`, `input_data_file`. */
export interface ModelWarmupInput {
  data_type?: DataTypeField;
  dims?: number[];
  zero_data?: boolean;
  random_data?: boolean;
  input_data_file?: string;
}

/** `ModelWarmup`: a synthetic request sent to each instance before the model is ready. */
export interface ModelWarmup {
  name?: string;
  batch_size?: number;
  inputs?: Record<string, ModelWarmupInput>;
  count?: number;
}

/** `ModelConfig`: one model's configuration, the content of `config.pbtxt`. */
export interface ModelConfig {
  name?: string;
  platform?: string;
  version_policy?: ModelVersionPolicy;
  /** 0: no batching, `dims` are the full shape; > 0 adds an implicit leading batch dimension. */
  max_batch_size?: number;
  input?: ModelInput[];
  output?: ModelOutput[];
  instance_group?: ModelInstanceGroup[];
  default_model_filename?: string;
  cc_model_filenames?: Record<string, string>;
  metric_tags?: Record<string, string>;
  /** At most one of dynamic_batching, sequence_batching, ensemble_scheduling (a oneof). */
  dynamic_batching?: ModelDynamicBatching;
  optimization?: ModelOptimizationPolicy;
  sequence_batching?: ModelSequenceBatching;
  parameters?: Record<string, { string_value?: string }>;
  ensemble_scheduling?: ModelEnsembling;
  model_warmup?: ModelWarmup[];
  backend?: string;
  model_operations?: { op_library_filename?: string[] };
  model_transaction_policy?: { decoupled?: boolean };
  batch_input?: BatchInput[];
  batch_output?: BatchOutput[];
  model_repository_agents?: { agents?: { name?: string; parameters?: Record<string, string> }[] };
  response_cache?: { enable?: boolean };
  runtime?: string;
  model_metrics?: {
    metric_control?: {
      metric_identifier?: { family?: string };
      histogram_options?: { buckets?: number[] };
    }[];
  };
}

/**
 * Parses `config.pbtxt` text. Checks syntax and types only (see `validate-config.ts` for Triton's
 * rules); throws a `TextFormatError` naming `fileName:line:column`.
 */
export function parseModelConfig(text: string, fileName = "config.pbtxt"): ModelConfig {
  return parseTextFormat(lookupMessage(MODEL_CONFIG_MESSAGE), text, fileName) as ModelConfig;
}

/** Prints a config as canonical `config.pbtxt` text; {@link parseModelConfig} reads it back equal. */
export function printModelConfig(config: ModelConfig): string {
  return printTextFormat(
    lookupMessage(MODEL_CONFIG_MESSAGE),
    config as unknown as Record<string, unknown>,
  );
}
