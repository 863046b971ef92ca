/**
 * Triton's per-model-version statistics (the `ModelStatistics` message): request outcomes and
 * the time spent queued and computing, plus per-batch-size execution figures. Durations are
 * cumulative nanoseconds, as on the wire; the Prometheus metrics are read from the same numbers.
 */

/** A count and the total nanoseconds of what was counted (`StatisticDuration`). */
export interface StatisticDuration {
  count: number;
  ns: number;
}

/** Execution figures of one batch size (`InferBatchStatistics`). */
export interface BatchStatistics {
  batch_size: number;
  compute_input: StatisticDuration;
  compute_infer: StatisticDuration;
  compute_output: StatisticDuration;
}

/** Everything `ModelStatistics` reports for one version, in its wire shape. */
export interface ModelStatisticsSnapshot {
  name: string;
  version: string;
  /** Milliseconds since the epoch of the last inference, 0 if none. */
  last_inference: number;
  /** Inferences performed: the sum of request batch sizes. */
  inference_count: number;
  /** Model executions: batches run. inference_count / execution_count = average batch size. */
  execution_count: number;
  inference_stats: {
    success: StatisticDuration;
    fail: StatisticDuration;
    queue: StatisticDuration;
    compute_input: StatisticDuration;
    compute_infer: StatisticDuration;
    compute_output: StatisticDuration;
    cache_hit: StatisticDuration;
    cache_miss: StatisticDuration;
  };
  batch_stats: BatchStatistics[];
}

/** Durations of one execution, in nanoseconds. */
export interface ExecutionTimes {
  inputNs: number;
  inferNs: number;
  outputNs: number;
}

/** Failure reasons as Triton's `nv_inference_request_failure` labels them. */
export type FailureReason = "REJECTED" | "CANCELED" | "BACKEND" | "OTHER";

/** The statistics of one model version, updated as requests finish. */
export class ModelStatistics {
  private readonly snapshotBase: ModelStatisticsSnapshot;
  private readonly batches = new Map<number, BatchStatistics>();
  /** Failures per reason, for the Prometheus failure counter. */
  readonly failuresByReason = new Map<FailureReason, number>();

  constructor(name: string, version: string) {
    const zero = () => ({ count: 0, ns: 0 });
    this.snapshotBase = {
      name,
      version,
      last_inference: 0,
      inference_count: 0,
      execution_count: 0,
      inference_stats: {
        success: zero(),
        fail: zero(),
        queue: zero(),
        compute_input: zero(),
        compute_infer: zero(),
        compute_output: zero(),
        cache_hit: zero(),
        cache_miss: zero(),
      },
      batch_stats: [],
    };
  }

  /** One batch ran: `batchSize` inferences in one execution. */
  recordExecution(batchSize: number, times: ExecutionTimes): void {
    const s = this.snapshotBase;
    s.execution_count += 1;
    let batch = this.batches.get(batchSize);
    if (!batch) {
      const zero = () => ({ count: 0, ns: 0 });
      batch = {
        batch_size: batchSize,
        compute_input: zero(),
        compute_infer: zero(),
        compute_output: zero(),
      };
      this.batches.set(batchSize, batch);
    }
    add(batch.compute_input, times.inputNs);
    add(batch.compute_infer, times.inferNs);
    add(batch.compute_output, times.outputNs);
  }

  /** One request succeeded; its share of the execution's times are counted per request. */
  recordSuccess(rows: number, totalNs: number, queueNs: number, times: ExecutionTimes): void {
    const stats = this.snapshotBase.inference_stats;
    this.snapshotBase.inference_count += rows;
    this.snapshotBase.last_inference = Date.now();
    add(stats.success, totalNs);
    add(stats.queue, queueNs);
    add(stats.compute_input, times.inputNs);
    add(stats.compute_infer, times.inferNs);
    add(stats.compute_output, times.outputNs);
  }

  /** One request failed. */
  recordFailure(totalNs: number, reason: FailureReason): void {
    add(this.snapshotBase.inference_stats.fail, totalNs);
    this.snapshotBase.last_inference = Date.now();
    this.failuresByReason.set(reason, (this.failuresByReason.get(reason) ?? 0) + 1);
  }

  /** A deep copy in the wire shape of `ModelStatistics`. */
  snapshot(): ModelStatisticsSnapshot {
    const copy = structuredClone(this.snapshotBase);
    copy.batch_stats = [...this.batches.values()]
      .sort((a, b) => a.batch_size - b.batch_size)
      .map((b) => structuredClone(b));
    return copy;
  }
}

function add(d: StatisticDuration, ns: number): void {
  d.count += 1;
  d.ns += Math.max(0, Math.round(ns));
}
