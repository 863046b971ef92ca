/**
 * One version of an ONNX model served by the embedded server: N ONNX Runtime sessions (the
 * instance group) behind the dynamic batcher, with Triton's statistics and warmup.
 */
import { join } from "node:path";
import { concatBatch, splitBatch } from "../batching/batch-tensors.js";
import { createDynamicBatcher } from "../batching/dynamic-batcher.js";
import type { QueuePolicy } from "../batching/priority-queue.js";
import { Code, InferError } from "../errors.js";
import type { ModelConfig, ModelOutput, ModelQueuePolicy } from "../protocol/model-config.js";
import type { Tensor } from "../protocol/tensor.js";
import { type CheckedRequest, checkRequest } from "./check-request.js";
import type { InferRequest, InferResult } from "./infer-request.js";
import { type ExecutionTimes, type FailureReason, ModelStatistics } from "./model-statistics.js";
import { createOrtSession, type OrtSession } from "./ort-session.js";
import type { ServedModel } from "./served-model.js";
import { warmupRequests } from "./warmup.js";

/** Options of {@link loadOnnxModel}. */
export interface OnnxModelOptions {
  config: ModelConfig;
  /** The model folder (holding `config.pbtxt` and the version folders). */
  modelDir: string;
  version: number;
  /** ONNX Runtime intra-op threads per instance. */
  intraOpThreads: number;
  /** Whether those threads spin between operators (see `OrtSessionOptions`); default false. */
  allowSpinning?: boolean;
}

interface BatchItem {
  checked: CheckedRequest;
  /** The request's `inputsTransferable`: its buffers may move to the instance uncopied. */
  transferable?: boolean;
}

interface ItemResult {
  outputs: Tensor[];
  times: ExecutionTimes;
}

/** Total instances of a config's instance groups (count defaults to 1, at least one group). */
export function instanceCountOf(config: ModelConfig): number {
  const groups = config.instance_group ?? [];
  if (groups.length === 0) return 1;
  return groups.reduce(
    (sum, g) => sum + Math.max(1, g.count ?? 1) * Math.max(1, g.gpus?.length ?? 1),
    0,
  );
}

/** Loads one version: opens its sessions, runs its warmup, returns it ready to serve. */
export async function loadOnnxModel(options: OnnxModelOptions): Promise<ServedModel> {
  const { config, version } = options;
  const name = config.name ?? "";
  const file = config.default_model_filename || "model.onnx";
  const path = join(options.modelDir, String(version), file);
  const sessions: OrtSession[] = [];
  try {
    for (let i = 0; i < instanceCountOf(config); i++) {
      sessions.push(
        await createOrtSession(path, {
          intraOpThreads: options.intraOpThreads,
          allowSpinning: options.allowSpinning ?? false,
        }),
      );
    }
  } catch (error: unknown) {
    await Promise.all(sessions.map((s) => s.release()));
    throw InferError.from(error);
  }
  const stats = new ModelStatistics(name, String(version));
  const maxBatchSize = config.max_batch_size ?? 0;
  const outputsByName = new Map((config.output ?? []).map((o) => [o.name ?? "", o]));

  const execute = async (items: BatchItem[], instance: number): Promise<ItemResult[]> => {
    const t0 = process.hrtime.bigint();
    const rows = items.map((i) => i.checked.batchSize);
    const first = items[0]!.checked;
    const inputs =
      items.length === 1
        ? first.inputs
        : first.inputs.map((_, k) => concatBatch(items.map((i) => i.checked.inputs[k]!)));
    const t1 = process.hrtime.bigint();
    // A joined batch is a fresh buffer nobody else holds; a lone request's may be given up.
    const inputsOwned = items.length > 1 || items[0]!.transferable === true;
    const outputs = await sessions[instance]!.run(inputs, first.outputNames, { inputsOwned });
    const t2 = process.hrtime.bigint();
    const shaped = outputs.map((t) => toConfigShape(t, outputsByName.get(t.name), maxBatchSize));
    const pieces =
      maxBatchSize > 0 ? shaped.map((t) => splitBatch(t, rows)) : shaped.map((t) => [t]);
    const t3 = process.hrtime.bigint();
    const times = { inputNs: Number(t1 - t0), inferNs: Number(t2 - t1), outputNs: Number(t3 - t2) };
    stats.recordExecution(
      rows.reduce((a, b) => a + b, 0),
      times,
    );
    return items.map((_, i) => ({ outputs: pieces.map((p) => p[i]!), times }));
  };

  const batching = config.dynamic_batching;
  const createBatcher = () =>
    createDynamicBatcher<BatchItem, ItemResult>({
      modelName: name,
      maxBatchSize,
      dynamic: batching !== undefined && maxBatchSize > 0,
      preferredBatchSizes: batching?.preferred_batch_size ?? [],
      maxQueueDelayUs: batching?.max_queue_delay_microseconds ?? 0,
      priorityLevels: batching?.priority_levels ?? 0,
      defaultPriorityLevel: batching?.default_priority_level ?? 0,
      defaultQueuePolicy: queuePolicyOf(batching?.default_queue_policy),
      priorityQueuePolicy: Object.fromEntries(
        Object.entries(batching?.priority_queue_policy ?? {}).map(([k, v]) => [
          Number(k),
          queuePolicyOf(v),
        ]),
      ),
      preserveOrdering: batching?.preserve_ordering ?? false,
      instanceCount: sessions.length,
      execute,
    });
  let batcher: ReturnType<typeof createBatcher>;
  try {
    batcher = createBatcher();
  } catch (error: unknown) {
    // The scheduler refused the config: the instances opened above must not outlive the load.
    await Promise.all(sessions.map((s) => s.release()));
    throw error;
  }

  // Warmup runs each sample on every instance before the model reports ready. A failed warmup
  // fails the load, so the sessions opened above are released before the error goes up.
  let sampleName = "";
  try {
    for (const sample of warmupRequests(config, options.modelDir)) {
      sampleName = sample.name;
      for (let instance = 0; instance < sessions.length; instance++) {
        for (let n = 0; n < sample.count; n++) {
          await execute([{ checked: checkRequest(config, sample.request) }], instance);
        }
      }
    }
  } catch (error: unknown) {
    await batcher.drain();
    await Promise.all(sessions.map((s) => s.release()));
    const failure = InferError.from(error);
    const which = sampleName ? `warmup '${sampleName}'` : "warmup";
    throw new InferError(failure.code, `${which}: ${failure.message}`, { cause: error });
  }

  return {
    name,
    version,
    config,
    async infer(request: InferRequest): Promise<InferResult> {
      const start = process.hrtime.bigint();
      try {
        const checked = checkRequest(config, request);
        const done = await batcher.enqueue(
          { checked, transferable: request.inputsTransferable ?? false },
          {
            batchSize: checked.batchSize,
            shapeKey: checked.shapeKey,
            priority: request.priority,
            timeoutUs: request.timeoutUs,
            signal: request.signal,
          },
        );
        const totalNs = Number(process.hrtime.bigint() - start);
        stats.recordSuccess(checked.batchSize, totalNs, Number(done.queueNs), done.result.times);
        return {
          modelName: name,
          modelVersion: String(version),
          id: request.id,
          outputs: done.result.outputs,
        };
      } catch (error: unknown) {
        const failure = InferError.from(error);
        stats.recordFailure(Number(process.hrtime.bigint() - start), failureReason(failure.code));
        throw failure;
      }
    },
    statistics: () => stats.snapshot(),
    failuresByReason: () => stats.failuresByReason,
    pendingCount: () => {
      const s = batcher.stats();
      return s.pending + s.executing;
    },
    async unload() {
      await batcher.drain();
      await Promise.all(sessions.map((s) => s.release()));
    },
  };
}

function queuePolicyOf(policy: ModelQueuePolicy | undefined): QueuePolicy {
  return {
    timeoutAction: policy?.timeout_action ?? "REJECT",
    defaultTimeoutUs: policy?.default_timeout_microseconds ?? 0,
    allowTimeoutOverride: policy?.allow_timeout_override ?? false,
    maxQueueSize: policy?.max_queue_size ?? 0,
  };
}

/** The model's output shape as the config declares it (`dims` when a `reshape` is set). */
function toConfigShape(
  tensor: Tensor,
  output: ModelOutput | undefined,
  maxBatchSize: number,
): Tensor {
  if (!output?.reshape || !output.dims) return tensor;
  const lead = maxBatchSize > 0 ? [tensor.shape[0]!] : [];
  const rows = Math.max(1, lead[0] ?? 1);
  const known = output.dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const rest = tensor.data.length / rows / known;
  return {
    ...tensor,
    shape: [...lead, ...output.dims.map((d) => (d === -1 ? rest : d))],
  } as Tensor;
}

function failureReason(code: Code): FailureReason {
  switch (code) {
    case Code.UNAVAILABLE:
    case Code.DEADLINE_EXCEEDED:
      return "REJECTED";
    case Code.CANCELLED:
      return "CANCELED";
    case Code.INTERNAL:
      return "BACKEND";
    default:
      return "OTHER";
  }
}
