/**
 * The rules a Triton server enforces on a `ModelConfig` when it loads a model (see
 * shared/spec/triton-http-and-config.md, "ModelConfig rules"), checked up front so that a bad
 * repository fails at start-up with every problem listed, not one at a time in Triton's log.
 * Syntax and field types are the parser's job (`pbtxt.ts`); this module sees parsed configs.
 */
import type {
  EnsembleStep,
  ModelConfig,
  ModelDynamicBatching,
  ModelInput,
  ModelOutput,
} from "./model-config.js";

/** One broken rule. `message` reads `model 'm': field.path: what is wrong`. */
export interface ConfigProblem {
  /** The model's folder name when known, else the config's `name`. */
  model: string;
  /** Path of the offending field, e.g. `dynamic_batching.preferred_batch_size[1]`. */
  field: string;
  /** A short kebab-case rule identifier, e.g. `preferred-batch-size`. */
  rule: string;
  message: string;
}

/** What the validator may know beyond the config itself. */
export interface ValidateContext {
  /** The model's folder name, which the config's `name` must equal. */
  modelName?: string;
  /** Finds another model's config in the repository, for ensemble steps. */
  lookup?: (name: string) => ModelConfig | undefined;
}

/** Backend of each known platform; `ensemble` runs on none. */
const PLATFORM_BACKENDS: Readonly<Record<string, string | undefined>> = {
  onnxruntime_onnx: "onnxruntime",
  tensorrt_plan: "tensorrt",
  pytorch_libtorch: "pytorch",
  tensorflow_savedmodel: "tensorflow",
  tensorflow_graphdef: "tensorflow",
  python: "python",
  ensemble: undefined,
};

const KNOWN_BACKENDS: ReadonlySet<string> = new Set([
  "onnxruntime",
  "tensorrt",
  "python",
  "pytorch",
  "tensorflow",
]);

type Report = (field: string, rule: string, detail: string) => void;

/**
 * Checks `config` against Triton's load-time rules and returns every problem found (empty when
 * the config is fine). Ensemble steps are checked against their composing models only when
 * `context.lookup` is given.
 */
export function validateModelConfig(
  config: ModelConfig,
  context: ValidateContext = {},
): ConfigProblem[] {
  // The folder name is how Triton and the repository know the model, even when `name` is wrong.
  const model = context.modelName || config.name || "(unnamed)";
  const problems: ConfigProblem[] = [];
  const report: Report = (field, rule, detail) =>
    problems.push({ model, field, rule, message: `model '${model}': ${field}: ${detail}` });
  checkIdentity(config, context, report);
  checkTensors("input", config.input ?? [], config, report);
  checkTensors("output", config.output ?? [], config, report);
  if (config.dynamic_batching) checkDynamicBatching(config.dynamic_batching, config, report);
  checkSequenceBatching(config, report);
  checkResponseCache(config, report);
  checkEnsemble(config, context, report);
  checkInstanceGroups(config, report);
  checkVersionPolicy(config, report);
  checkWarmup(config, report);
  return problems;
}

function checkIdentity(config: ModelConfig, context: ValidateContext, report: Report): void {
  if (!config.name) {
    report("name", "name-required", "name is missing");
  } else if (context.modelName !== undefined && config.name !== context.modelName) {
    report(
      "name",
      "name-mismatch",
      `name '${config.name}' differs from the model folder name '${context.modelName}'`,
    );
  }
  const { platform, backend } = config;
  if (!platform && !backend) {
    report("platform", "platform-required", "neither platform nor backend is set");
  }
  const platformKnown = !!platform && Object.hasOwn(PLATFORM_BACKENDS, platform);
  if (platform && !platformKnown) {
    const known = Object.keys(PLATFORM_BACKENDS).join(", ");
    report("platform", "platform-unknown", `unknown platform '${platform}' (known: ${known})`);
  }
  if (backend && !KNOWN_BACKENDS.has(backend)) {
    const known = [...KNOWN_BACKENDS].join(", ");
    report("backend", "backend-unknown", `unknown backend '${backend}' (known: ${known})`);
  }
  if (platformKnown && backend) {
    const expected = PLATFORM_BACKENDS[platform];
    if (expected === undefined) {
      report(
        "backend",
        "platform-backend",
        `platform '${platform}' takes no backend, got '${backend}'`,
      );
    } else if (backend !== expected) {
      report(
        "backend",
        "platform-backend",
        `backend '${backend}' disagrees with platform '${platform}', which runs on '${expected}'`,
      );
    }
  }
  if ((config.max_batch_size ?? 0) < 0) {
    report(
      "max_batch_size",
      "max-batch-size",
      `${config.max_batch_size} is negative: use 0 for no batching`,
    );
  }
}

function checkTensors(
  kind: "input" | "output",
  tensors: (ModelInput | ModelOutput)[],
  config: ModelConfig,
  report: Report,
): void {
  const maxBatchSize = config.max_batch_size ?? 0;
  const seen = new Map<string, number>();
  tensors.forEach((tensor, i) => {
    const at = `${kind}[${i}]`;
    if (!tensor.name) {
      report(`${at}.name`, "tensor-name", `${kind} has no name`);
    } else if (seen.has(tensor.name)) {
      report(
        `${at}.name`,
        "tensor-name-unique",
        `${kind} name '${tensor.name}' is already used by ${kind}[${seen.get(tensor.name)}]`,
      );
    } else {
      seen.set(tensor.name, i);
    }
    const label = tensor.name ? `${kind} '${tensor.name}'` : kind;
    if (!tensor.data_type || tensor.data_type === "TYPE_INVALID") {
      report(`${at}.data_type`, "data-type", `${label} has no data_type`);
    }
    const dims = tensor.dims ?? [];
    if (dims.length === 0 && !tensor.reshape && maxBatchSize === 0) {
      report(
        `${at}.dims`,
        "dims-required",
        `${label} has empty dims: with max_batch_size 0 give the full shape, or a reshape`,
      );
    }
    dims.forEach((d, j) => {
      if (d < 1 && d !== -1) {
        report(
          `${at}.dims[${j}]`,
          "dims-value",
          `${d} is not a dimension: each must be >= 1, or -1 for variable`,
        );
      }
    });
    if (tensor.reshape) checkReshape(at, label, dims, tensor.reshape.shape ?? [], report);
  });
}

function checkReshape(
  at: string,
  label: string,
  dims: number[],
  shape: number[],
  report: Report,
): void {
  shape.forEach((d, j) => {
    if (d < 1 && d !== -1) {
      report(
        `${at}.reshape.shape[${j}]`,
        "reshape",
        `${d} is not a dimension: each must be >= 1, or -1`,
      );
    }
  });
  const fixed = (s: number[]) => s.every((d) => d >= 1);
  const count = (s: number[]) => s.reduce((a, b) => a * b, 1);
  if (fixed(dims) && fixed(shape) && count(dims) !== count(shape)) {
    report(
      `${at}.reshape.shape`,
      "reshape",
      `${label}: reshape [${shape.join(", ")}] holds ${count(shape)} elements, dims [${dims.join(", ")}] hold ${count(dims)}`,
    );
  }
}

function checkDynamicBatching(
  batching: ModelDynamicBatching,
  config: ModelConfig,
  report: Report,
): void {
  const maxBatchSize = config.max_batch_size ?? 0;
  if (maxBatchSize <= 0) {
    report(
      "dynamic_batching",
      "dynamic-batching",
      "dynamic batching needs max_batch_size > 0 (it is 0: the model cannot batch)",
    );
  }
  checkPreferredSizes(
    "dynamic_batching",
    batching.preferred_batch_size ?? [],
    maxBatchSize,
    report,
  );
  const levels = batching.priority_levels ?? 0;
  if (batching.preserve_ordering) {
    if (levels > 1) {
      report(
        "dynamic_batching.priority_levels",
        "preserve-ordering",
        `preserve_ordering allows only one priority level, got ${levels}`,
      );
    }
    const policies = [
      ["default_queue_policy", batching.default_queue_policy] as const,
      ...Object.entries(batching.priority_queue_policy ?? {}).map(
        ([key, policy]) => [`priority_queue_policy[${key}]`, policy] as const,
      ),
    ];
    for (const [name, policy] of policies) {
      if (policy?.timeout_action === "DELAY") {
        report(
          `dynamic_batching.${name}.timeout_action`,
          "preserve-ordering",
          "preserve_ordering forbids timeout_action DELAY",
        );
      }
    }
  }
  for (const key of Object.keys(batching.priority_queue_policy ?? {})) {
    const level = Number(key);
    if (!(level >= 1 && level <= levels)) {
      report(
        `dynamic_batching.priority_queue_policy[${key}]`,
        "priority-queue-policy",
        `priority level ${key} is outside [1, priority_levels ${levels}]`,
      );
    }
  }
  const defaultLevel = batching.default_priority_level ?? 0;
  if (levels > 0 && (defaultLevel < 1 || defaultLevel > levels)) {
    report(
      "dynamic_batching.default_priority_level",
      "default-priority-level",
      `${defaultLevel} is outside [1, priority_levels ${levels}]`,
    );
  }
}

function checkPreferredSizes(at: string, sizes: number[], maxBatchSize: number, report: Report) {
  sizes.forEach((size, i) => {
    const field = `${at}.preferred_batch_size[${i}]`;
    if (size <= 0) {
      report(field, "preferred-batch-size", `${size} is not a batch size: must be > 0`);
    } else if (maxBatchSize > 0 && size > maxBatchSize) {
      report(field, "preferred-batch-size", `${size} exceeds max_batch_size ${maxBatchSize}`);
    }
  });
}

function checkSequenceBatching(config: ModelConfig, report: Report): void {
  const oldest = config.sequence_batching?.oldest;
  if (oldest) {
    const sizes = oldest.preferred_batch_size ?? [];
    checkPreferredSizes("sequence_batching.oldest", sizes, config.max_batch_size ?? 0, report);
  }
}

function checkResponseCache(config: ModelConfig, report: Report): void {
  if (!config.response_cache?.enable) return;
  if (config.sequence_batching) {
    report(
      "response_cache.enable",
      "response-cache",
      "the response cache cannot be enabled with sequence_batching",
    );
  }
  if (config.model_transaction_policy?.decoupled) {
    report(
      "response_cache.enable",
      "response-cache",
      "the response cache cannot be enabled for a decoupled model (model_transaction_policy.decoupled)",
    );
  }
}

function checkEnsemble(config: ModelConfig, context: ValidateContext, report: Report): void {
  const isEnsemble = config.platform === "ensemble";
  const steps = config.ensemble_scheduling?.step ?? [];
  if (!isEnsemble) {
    if (config.ensemble_scheduling) {
      report(
        "ensemble_scheduling",
        "ensemble-scheduling",
        "ensemble_scheduling needs platform 'ensemble'",
      );
    }
    return;
  }
  if ((config.instance_group ?? []).length > 0) {
    report("instance_group", "ensemble-instance-group", "an ensemble takes no instance_group");
  }
  if (steps.length === 0) {
    report(
      "ensemble_scheduling.step",
      "ensemble-scheduling",
      "an ensemble needs ensemble_scheduling with at least one step",
    );
    return;
  }
  const inputs = new Set((config.input ?? []).flatMap((t) => (t.name ? [t.name] : [])));
  const producers = findProducers(steps, inputs, report);
  steps.forEach((step, i) => {
    checkStep(step, `ensemble_scheduling.step[${i}]`, inputs, producers, context, report);
  });
  (config.output ?? []).forEach((output, i) => {
    if (output.name && !producers.has(output.name)) {
      report(
        `output[${i}]`,
        "ensemble-output",
        `ensemble output '${output.name}' is produced by no step's output_map`,
      );
    }
  });
  checkAcyclic(steps, producers, report);
  if (context.lookup) checkEnsembleBatchSize(config, steps, context.lookup, report);
}

/** Tensor name -> index of the step whose output_map produces it; reports double producers. */
function findProducers(
  steps: EnsembleStep[],
  inputs: Set<string>,
  report: Report,
): Map<string, number> {
  const producers = new Map<string, number>();
  steps.forEach((step, i) => {
    for (const [output, tensor] of Object.entries(step.output_map ?? {})) {
      const field = `ensemble_scheduling.step[${i}].output_map['${output}']`;
      const first = producers.get(tensor);
      if (inputs.has(tensor)) {
        report(
          field,
          "ensemble-tensor-producer",
          `tensor '${tensor}' is an ensemble input and cannot be produced by a step`,
        );
      } else if (first !== undefined) {
        report(
          field,
          "ensemble-tensor-producer",
          `tensor '${tensor}' is already produced by step[${first}]`,
        );
      } else {
        producers.set(tensor, i);
      }
    }
  });
  return producers;
}

function checkStep(
  step: EnsembleStep,
  at: string,
  inputs: Set<string>,
  producers: Map<string, number>,
  context: ValidateContext,
  report: Report,
): void {
  for (const [input, tensor] of Object.entries(step.input_map ?? {})) {
    if (!inputs.has(tensor) && !producers.has(tensor)) {
      report(
        `${at}.input_map['${input}']`,
        "ensemble-step-input-source",
        `tensor '${tensor}' is neither an ensemble input nor produced by any step`,
      );
    }
  }
  if (!step.model_name) {
    report(`${at}.model_name`, "ensemble-step-model", "step has no model_name");
    return;
  }
  if (!context.lookup) return;
  const composing = context.lookup(step.model_name);
  if (composing === undefined) {
    report(
      `${at}.model_name`,
      "ensemble-step-model",
      `model '${step.model_name}' is not in the repository`,
    );
    return;
  }
  const modelInputs = composing.input ?? [];
  const inputNames = new Set(modelInputs.map((t) => t.name));
  const outputNames = new Set((composing.output ?? []).map((t) => t.name));
  for (const input of Object.keys(step.input_map ?? {})) {
    if (!inputNames.has(input)) {
      report(
        `${at}.input_map['${input}']`,
        "ensemble-step-input",
        `'${input}' is not an input of model '${step.model_name}'`,
      );
    }
  }
  for (const input of modelInputs) {
    if (input.name && !input.optional && !Object.hasOwn(step.input_map ?? {}, input.name)) {
      report(
        `${at}.input_map`,
        "ensemble-step-input",
        `input '${input.name}' of model '${step.model_name}' is not mapped`,
      );
    }
  }
  for (const output of Object.keys(step.output_map ?? {})) {
    if (!outputNames.has(output)) {
      report(
        `${at}.output_map['${output}']`,
        "ensemble-step-output",
        `'${output}' is not an output of model '${step.model_name}'`,
      );
    }
  }
}

/** Steps must form a DAG: reports the first cycle found as a path of steps and tensors. */
function checkAcyclic(steps: EnsembleStep[], producers: Map<string, number>, report: Report): void {
  const state = new Array<"new" | "open" | "done">(steps.length).fill("new");
  // path[k] is a step on the current DFS path, via[k] the tensor that led from path[k-1] to it.
  const path: number[] = [];
  const via: string[] = [];
  const label = (i: number) => `step[${i}] '${steps[i]?.model_name ?? ""}'`;
  const visit = (i: number, tensor: string): boolean => {
    if (state[i] === "open") {
      const from = path.indexOf(i);
      const hops = path
        .slice(from)
        .map((s, k) => `${k === 0 ? "" : ` -(${via[from + k]})-> `}${label(s)}`);
      report(
        "ensemble_scheduling.step",
        "ensemble-cycle",
        `steps form a cycle: ${hops.join("")} -(${tensor})-> ${label(i)}`,
      );
      return true;
    }
    if (state[i] === "done") return false;
    state[i] = "open";
    path.push(i);
    via.push(tensor);
    // Edges go from a step to the steps that consume its outputs.
    for (const produced of Object.values(steps[i]?.output_map ?? {})) {
      for (let j = 0; j < steps.length; j++) {
        const consumes = Object.values(steps[j]?.input_map ?? {}).includes(produced);
        if (consumes && producers.get(produced) === i && visit(j, produced)) return true;
      }
    }
    path.pop();
    via.pop();
    state[i] = "done";
    return false;
  };
  for (let i = 0; i < steps.length; i++) if (visit(i, "")) return;
}

function checkEnsembleBatchSize(
  config: ModelConfig,
  steps: EnsembleStep[],
  lookup: (name: string) => ModelConfig | undefined,
  report: Report,
): void {
  let smallest: { size: number; model: string } | undefined;
  for (const step of steps) {
    const composing = step.model_name ? lookup(step.model_name) : undefined;
    if (composing === undefined) continue;
    const size = composing.max_batch_size ?? 0;
    if (smallest === undefined || size < smallest.size)
      smallest = { size, model: step.model_name! };
  }
  const maxBatchSize = config.max_batch_size ?? 0;
  if (smallest !== undefined && maxBatchSize > smallest.size) {
    report(
      "max_batch_size",
      "ensemble-max-batch-size",
      `${maxBatchSize} exceeds max_batch_size ${smallest.size} of composing model '${smallest.model}'`,
    );
  }
}

function checkInstanceGroups(config: ModelConfig, report: Report): void {
  const names = new Map<string, number>();
  (config.instance_group ?? []).forEach((group, i) => {
    const at = `instance_group[${i}]`;
    if (group.name) {
      const first = names.get(group.name);
      if (first !== undefined) {
        report(
          `${at}.name`,
          "instance-group-name",
          `name '${group.name}' is already used by instance_group[${first}]`,
        );
      } else {
        names.set(group.name, i);
      }
    }
    if ((group.count ?? 0) < 0) {
      report(
        `${at}.count`,
        "instance-count",
        `${group.count} is negative: count must be >= 1 (absent means 1)`,
      );
    }
    const gpus = group.gpus ?? [];
    if (group.kind === "KIND_CPU" && gpus.length > 0) {
      report(
        `${at}.gpus`,
        "instance-gpus",
        "KIND_CPU places instances on the CPU and takes no gpus",
      );
      return;
    }
    const seen = new Set<number>();
    gpus.forEach((gpu, j) => {
      if (gpu < 0) report(`${at}.gpus[${j}]`, "instance-gpus", `GPU ${gpu} is negative`);
      else if (seen.has(gpu))
        report(`${at}.gpus[${j}]`, "instance-gpus", `GPU ${gpu} is listed twice`);
      seen.add(gpu);
    });
  });
}

function checkVersionPolicy(config: ModelConfig, report: Report): void {
  const policy = config.version_policy;
  if (policy?.latest && (policy.latest.num_versions ?? 0) < 1) {
    report(
      "version_policy.latest.num_versions",
      "version-policy",
      `latest needs num_versions >= 1, got ${policy.latest.num_versions ?? 0}`,
    );
  }
  if (policy?.specific) {
    const versions = policy.specific.versions ?? [];
    if (versions.length === 0) {
      report(
        "version_policy.specific.versions",
        "version-policy",
        "specific needs at least one version",
      );
    }
    const seen = new Set<number>();
    versions.forEach((version, i) => {
      const at = `version_policy.specific.versions[${i}]`;
      if (version < 1) report(at, "version-policy", `version ${version} is not positive`);
      else if (seen.has(version))
        report(at, "version-policy", `version ${version} is listed twice`);
      seen.add(version);
    });
  }
}

function checkWarmup(config: ModelConfig, report: Report): void {
  const maxBatchSize = config.max_batch_size ?? 0;
  const modelInputs = config.input ?? [];
  const inputNames = new Set(modelInputs.map((t) => t.name));
  (config.model_warmup ?? []).forEach((warmup, i) => {
    const at = `model_warmup[${i}]`;
    if (!warmup.name) report(`${at}.name`, "warmup-name", "warmup has no name");
    const batchSize = warmup.batch_size ?? 0;
    if (batchSize < 1) {
      report(`${at}.batch_size`, "warmup-batch-size", `batch_size must be >= 1, got ${batchSize}`);
    } else if (batchSize > Math.max(maxBatchSize, 1)) {
      const limit =
        maxBatchSize === 0 ? "1 (max_batch_size is 0)" : `max_batch_size ${maxBatchSize}`;
      report(`${at}.batch_size`, "warmup-batch-size", `batch_size ${batchSize} exceeds ${limit}`);
    }
    const inputs = warmup.inputs ?? {};
    for (const [name, input] of Object.entries(inputs)) {
      const field = `${at}.inputs['${name}']`;
      if (!inputNames.has(name)) {
        report(field, "warmup-input", `'${name}' is not an input of the model`);
      }
      const sources = [input.zero_data, input.random_data, input.input_data_file];
      if (sources.every((s) => s === undefined)) {
        report(field, "warmup-input-data", "set one of zero_data, random_data, input_data_file");
      }
    }
    for (const input of modelInputs) {
      if (input.name && !input.optional && !Object.hasOwn(inputs, input.name)) {
        report(`${at}.inputs`, "warmup-input", `model input '${input.name}' has no warmup data`);
      }
    }
  });
}
