/**
 * The options of the dynamic batcher and their validation: what a model config's
 * `max_batch_size`, `dynamic_batching` and instance count become, checked once at creation.
 */
import { Code, InferError } from "../errors.js";
import type { QueuePolicy } from "./priority-queue.js";

/** Settings of one model's scheduler, mostly `max_batch_size` and `dynamic_batching` of its config. */
export interface BatcherOptions<T, R> {
  /** Named in error messages. */
  modelName: string;
  /** Largest batch (sum of request batch sizes); 0 = the model cannot batch, each request runs alone. */
  maxBatchSize: number;
  /** false = Triton's default scheduler: no batching across requests, FIFO. */
  dynamic: boolean;
  /** Batch sizes to dispatch at as soon as one is reachable; each <= maxBatchSize. Default none. */
  preferredBatchSizes?: number[];
  /** How long the oldest request of a batch may wait for company, in microseconds. Default 0. */
  maxQueueDelayUs?: number;
  /** Priority levels 1..N, 1 highest; 0 (default) = one level, request priorities ignored. */
  priorityLevels?: number;
  /** Level of requests without a priority. Default: the lowest level, `priorityLevels`. */
  defaultPriorityLevel?: number;
  /** Queue policy of every level without its own entry in `priorityQueuePolicy`. */
  defaultQueuePolicy?: QueuePolicy;
  /** Queue policy per priority level. */
  priorityQueuePolicy?: Record<number, QueuePolicy>;
  /** Release results in enqueue order, holding those that finish early. Default false. */
  preserveOrdering?: boolean;
  /** Batches executing concurrently (one per ORT session), >= 1. */
  instanceCount: number;
  /** Runs one batch on instance `instance` (0-based); returns one result per item, in order. */
  execute: (items: T[], instance: number) => Promise<R[]>;
  /** Monotonic clock in nanoseconds, injectable for tests. Default `process.hrtime.bigint`. */
  now?: () => bigint;
}

/** Per-request scheduling inputs. */
export interface EnqueueOptions {
  /** The request's own batch (first dimension), >= 1. */
  batchSize: number;
  /** Requests batch only with equal keys (non-batch dims, datatypes, requested outputs). */
  shapeKey: string;
  /** The request's `priority` parameter: 0 or absent = default level, 1 = highest. */
  priority?: number;
  /** The request's `timeout` parameter: queue timeout in microseconds, see {@link QueuePolicy}. */
  timeoutUs?: number;
  /** Aborting it removes a queued request, or abandons an executing one, with CANCELLED. */
  signal?: AbortSignal;
}

/** What scheduling reads on every pass, derived once from {@link BatcherOptions}. */
export type BatcherSettings = ReturnType<typeof resolveBatcherSettings>;

/**
 * Validates the options (throws INVALID_ARGUMENT naming the model and the rule) and derives the
 * settings: one level when `priorityLevels` is 0, delays in nanoseconds.
 */
export function resolveBatcherSettings<T, R>(options: BatcherOptions<T, R>) {
  const { modelName, maxBatchSize, instanceCount } = options;
  const fail = (detail: string) =>
    new InferError(Code.INVALID_ARGUMENT, `scheduler of model '${modelName}': ${detail}`);
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 0) {
    throw fail(`max_batch_size must be a non-negative integer, got ${maxBatchSize}`);
  }
  if (!Number.isInteger(instanceCount) || instanceCount < 1) {
    throw fail(`instance count must be a positive integer, got ${instanceCount}`);
  }
  const preferred = options.preferredBatchSizes ?? [];
  for (const size of preferred) {
    if (!Number.isInteger(size) || size < 1 || size > maxBatchSize) {
      throw fail(`preferred batch size ${size} must lie in [1, max_batch_size ${maxBatchSize}]`);
    }
  }
  const priorityLevels = options.priorityLevels ?? 0;
  const levelCount = Math.max(1, priorityLevels);
  const defaultLevel = options.defaultPriorityLevel || levelCount;
  if (!Number.isInteger(defaultLevel) || defaultLevel < 1 || defaultLevel > levelCount) {
    throw fail(`default priority level ${defaultLevel} must lie in [1, ${levelCount}]`);
  }
  const delayUs = options.maxQueueDelayUs ?? 0;
  if (!Number.isFinite(delayUs) || delayUs < 0) throw fail(`invalid max queue delay ${delayUs}`);
  return {
    modelName,
    maxBatchSize,
    levelCount,
    defaultLevel,
    prioritized: priorityLevels > 0,
    preserveOrdering: options.preserveOrdering ?? false,
    rules: {
      batching: options.dynamic && maxBatchSize > 0,
      maxBatchSize,
      preferredBatchSizes: new Set(preferred),
      maxQueueDelayNs: BigInt(Math.ceil(delayUs)) * 1000n,
    },
  };
}

/**
 * Checks a request's batch size and priority against the settings (INVALID_ARGUMENT naming the
 * model) and returns its priority level, 1-based.
 */
export function requestLevel(
  settings: BatcherSettings,
  request: { batchSize: number; priority?: number; timeoutUs?: number },
): number {
  const { modelName, maxBatchSize, levelCount } = settings;
  const invalid = (detail: string) =>
    new InferError(Code.INVALID_ARGUMENT, `inference request for model '${modelName}': ${detail}`);
  const { batchSize, priority, timeoutUs } = request;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw invalid(`batch size must be a positive integer, got ${batchSize}`);
  }
  if (maxBatchSize > 0 && batchSize > maxBatchSize) {
    throw invalid(`batch size ${batchSize} exceeds max_batch_size ${maxBatchSize}`);
  }
  if (timeoutUs !== undefined && !(Number.isFinite(timeoutUs) && timeoutUs >= 0)) {
    throw invalid(`timeout must be a non-negative number of microseconds, got ${timeoutUs}`);
  }
  // Without priority levels Triton ignores the request's priority.
  if (!settings.prioritized || priority === undefined || priority === 0)
    return settings.defaultLevel;
  if (!Number.isInteger(priority) || priority < 0 || priority > levelCount) {
    throw invalid(`priority ${priority} is outside the priority levels 1..${levelCount}`);
  }
  return priority;
}
