/**
 * Triton's dynamic batcher (and, with `dynamic` false, its default scheduler), generic over the
 * request payload and independent of ONNX Runtime: the embedded model server schedules each
 * model with it, and the gateway merges concurrent requests to one model with it
 * (`core/request-batcher.ts`). Requests queue per priority level, are combined into batches of
 * equal shape and run on a fixed number of instances.
 */
import { Code, InferError } from "../errors.js";
import { pickBatch } from "./batch-picker.js";
import {
  type BatcherOptions,
  type EnqueueOptions,
  requestLevel,
  resolveBatcherSettings,
} from "./batcher-options.js";
import { createPriorityQueue, type QueuePolicy, queueTimeoutUs } from "./priority-queue.js";

export type { BatcherOptions, EnqueueOptions } from "./batcher-options.js";
export type { QueuePolicy } from "./priority-queue.js";

/** One request's outcome. */
export interface BatchedResult<R> {
  result: R;
  /** Time from enqueue to dispatch, in nanoseconds. */
  queueNs: bigint;
  /** Size of the batch the request ran in (sum of its requests' batch sizes). */
  batchSize: number;
  /** The instance (0-based) that ran it. */
  instance: number;
}

/** A point-in-time view of the scheduler, for metrics. */
export interface BatcherStats {
  /** Requests queued. */
  pending: number;
  /** Requests in batches now executing. */
  executing: number;
  /** Requests queued per priority level, index 0 = level 1. */
  perPriority: number[];
}

/** A model's scheduler; see {@link createDynamicBatcher}. */
export interface DynamicBatcher<T, R> {
  /** Queues one request; settles when its batch ran (or it was rejected, timed out or cancelled). */
  enqueue(item: T, options: EnqueueOptions): Promise<BatchedResult<R>>;
  stats(): BatcherStats;
  /**
   * Stops accepting (UNAVAILABLE "model is unloading"), dispatches what is queued without waiting
   * for company, and resolves once queued and executing work has finished.
   */
  drain(): Promise<void>;
}

type Outcome<R> = { ok: true; value: BatchedResult<R> } | { ok: false; error: InferError };

interface Entry<T, R> {
  readonly item: T;
  readonly batchSize: number;
  readonly shapeKey: string;
  readonly level: number;
  readonly enqueuedNs: bigint;
  /** Queue timeout; cleared once the DELAY action has applied. */
  deadlineNs?: bigint;
  readonly timeoutAction: "REJECT" | "DELAY";
  /** held = finished but waiting for earlier requests (preserveOrdering). */
  state: "queued" | "executing" | "held" | "settled";
  outcome?: Outcome<R>;
  settle: (outcome: Outcome<R>) => void;
}

const nsPerUs = 1000n;

/**
 * Creates the scheduler. Triton's rules, with two deliberate choices: requests enqueued in the
 * same tick are considered together (a microtask coalesces scheduling), and when the head
 * group waits for company an instance may still take another shape's ready batch.
 */
export function createDynamicBatcher<T, R>(options: BatcherOptions<T, R>): DynamicBatcher<T, R> {
  const settings = resolveBatcherSettings(options);
  const { modelName } = settings;
  const now = options.now ?? (() => process.hrtime.bigint());
  const queue = createPriorityQueue<Entry<T, R>>(settings.levelCount);
  const freeInstances = Array.from({ length: options.instanceCount }, (_, i) => i);
  // Entries in enqueue order until their result is released; only with preserveOrdering.
  const ordered = new Set<Entry<T, R>>();
  let executing = 0;
  let passQueued = false;
  let timer: NodeJS.Timeout | undefined;
  let timerAtNs: bigint | undefined;
  let draining = false;
  const drainWaiters: Array<() => void> = [];

  function admit(opts: EnqueueOptions): { level: number; timeoutUs: number; policy: QueuePolicy } {
    if (draining) throw new InferError(Code.UNAVAILABLE, `model is unloading: '${modelName}'`);
    const level = requestLevel(settings, opts);
    const policy = options.priorityQueuePolicy?.[level] ?? options.defaultQueuePolicy ?? {};
    const maxQueueSize = policy.maxQueueSize ?? 0;
    if (maxQueueSize > 0 && queue.sizeOf(level) >= maxQueueSize) {
      throw new InferError(
        Code.UNAVAILABLE,
        `inference request for model '${modelName}' exceeds maximum queue size ${maxQueueSize}`,
      );
    }
    return { level, timeoutUs: queueTimeoutUs(policy, opts.timeoutUs), policy };
  }

  function enqueue(item: T, opts: EnqueueOptions): Promise<BatchedResult<R>> {
    let admitted: ReturnType<typeof admit>;
    try {
      admitted = admit(opts);
      if (opts.signal?.aborted) throw cancelled();
    } catch (error) {
      return Promise.reject(InferError.from(error));
    }
    const { level, timeoutUs, policy } = admitted;
    const { signal } = opts;
    const enqueuedNs = now();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (entry.state === "queued") queue.remove(entry);
        entry.settle({ ok: false, error: cancelled() });
        requestPass();
      };
      const entry: Entry<T, R> = {
        item,
        batchSize: opts.batchSize,
        shapeKey: opts.shapeKey,
        level,
        enqueuedNs,
        deadlineNs: timeoutUs > 0 ? enqueuedNs + BigInt(Math.ceil(timeoutUs)) * nsPerUs : undefined,
        timeoutAction: policy.timeoutAction ?? "REJECT",
        state: "queued",
        settle(outcome) {
          if (entry.state === "settled") return;
          entry.state = "settled";
          entry.outcome = undefined;
          ordered.delete(entry);
          signal?.removeEventListener("abort", onAbort);
          if (outcome.ok) resolve(outcome.value);
          else reject(outcome.error);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      queue.push(entry);
      if (settings.preserveOrdering) ordered.add(entry);
      requestPass();
    });
  }

  function cancelled(): InferError {
    return new InferError(
      Code.CANCELLED,
      `inference request for model '${modelName}' was cancelled`,
    );
  }

  // Scheduling runs in a microtask so that requests arriving in the same tick batch together and
  // so that execute() is never called from inside enqueue().
  function requestPass(): void {
    if (passQueued) return;
    passQueued = true;
    queueMicrotask(pass);
  }

  function pass(): void {
    passQueued = false;
    const nowNs = now();
    expireTimeouts(nowNs);
    releaseOrdered();
    let waitUntilNs: bigint | undefined;
    while (freeInstances.length > 0 && queue.size > 0) {
      const pick = pickBatch(queue, { ...settings.rules, flush: draining }, nowNs);
      if (!pick.batch) {
        waitUntilNs = pick.waitUntilNs;
        break;
      }
      dispatch(pick.batch, nowNs);
    }
    armTimer(nowNs, waitUntilNs);
    if (draining && queue.size === 0 && executing === 0 && ordered.size === 0) {
      for (const resolve of drainWaiters.splice(0)) resolve();
    }
  }

  function expireTimeouts(nowNs: bigint): void {
    for (const entry of [...queue]) {
      if (entry.deadlineNs === undefined || entry.deadlineNs > nowNs) continue;
      entry.deadlineNs = undefined;
      if (entry.timeoutAction === "DELAY") {
        queue.delay(entry);
        continue;
      }
      queue.remove(entry);
      const message = `inference request for model '${modelName}': request timed out in queue`;
      entry.settle({ ok: false, error: new InferError(Code.DEADLINE_EXCEEDED, message) });
    }
  }

  function releaseOrdered(): void {
    for (const entry of ordered) {
      if (entry.state !== "held") break;
      entry.settle(entry.outcome!);
    }
  }

  // One timer for the earliest deadline of all: a batch's delay running out (only worth waking
  // for while an instance is free) or a queued request's timeout. It exists only while requests
  // are queued, so it keeps the process alive exactly as long as there is work to finish.
  function armTimer(nowNs: bigint, waitUntilNs: bigint | undefined): void {
    let targetNs = waitUntilNs;
    for (const entry of queue) {
      const d = entry.deadlineNs;
      if (d !== undefined && (targetNs === undefined || d < targetNs)) targetNs = d;
    }
    if (timer !== undefined && targetNs === timerAtNs) return;
    clearTimeout(timer);
    timer = timerAtNs = undefined;
    if (targetNs === undefined) return;
    const delayMs = Math.max(0, Math.ceil(Number(targetNs - nowNs) / 1e6));
    timerAtNs = targetNs;
    timer = setTimeout(() => {
      timer = timerAtNs = undefined;
      pass();
    }, delayMs);
  }

  function dispatch(batch: Entry<T, R>[], nowNs: bigint): void {
    const instance = freeInstances.shift()!;
    let batchSize = 0;
    for (const entry of batch) {
      queue.remove(entry);
      entry.state = "executing";
      batchSize += entry.batchSize;
    }
    executing += batch.length;
    void runBatch(batch, instance, batchSize, nowNs);
  }

  async function runBatch(
    batch: Entry<T, R>[],
    instance: number,
    batchSize: number,
    dispatchNs: bigint,
  ): Promise<void> {
    const ran = await executeBatch(options, batch, instance);
    executing -= batch.length;
    freeInstances.push(instance);
    freeInstances.sort((a, b) => a - b);
    for (const [i, entry] of batch.entries()) {
      // A request cancelled while executing is already settled: its result is dropped.
      if (entry.state !== "executing") continue;
      const queueNs = dispatchNs - entry.enqueuedNs;
      const outcome: Outcome<R> =
        "error" in ran
          ? { ok: false, error: ran.error }
          : { ok: true, value: { result: ran.results[i]!, queueNs, batchSize, instance } };
      if (settings.preserveOrdering) {
        entry.state = "held";
        entry.outcome = outcome;
      } else {
        entry.settle(outcome);
      }
    }
    requestPass();
  }

  return {
    enqueue,
    stats: () => ({ pending: queue.size, executing, perPriority: queue.perLevel() }),
    drain() {
      draining = true;
      const drained = new Promise<void>((resolve) => drainWaiters.push(resolve));
      requestPass();
      return drained;
    },
  };
}

/** Runs one batch; never rejects. A wrong number of results is an INTERNAL error. */
async function executeBatch<T, R>(
  options: BatcherOptions<T, R>,
  batch: ReadonlyArray<{ item: T }>,
  instance: number,
): Promise<{ results: R[] } | { error: InferError }> {
  try {
    const items = batch.map((e) => e.item);
    const results = await options.execute(items, instance);
    if (Array.isArray(results) && results.length === batch.length) return { results };
    const count = Array.isArray(results) ? results.length : typeof results;
    const message = `model '${options.modelName}' returned ${count} results for a batch of ${batch.length} requests`;
    return { error: new InferError(Code.INTERNAL, message) };
  } catch (reason) {
    return { error: InferError.from(reason) };
  }
}
