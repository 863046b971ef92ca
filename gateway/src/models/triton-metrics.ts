/**
 * Triton's Prometheus metrics for the embedded model server, with Triton's names and the
 * `model` and `version` labels, so dashboards built for Triton work on it. Values are read from
 * each served version's statistics at scrape time: one source of truth for the
 * `ModelStatistics` RPC and for `/metrics`.
 */
import type { MetricsRegistry, Sample } from "../metrics.js";
import type { ModelStatisticsSnapshot } from "./model-statistics.js";
import type { ServedModel } from "./served-model.js";

const LABELS = ["model", "version"];
const NS_PER_US = 1000;

/** Registers every Triton metric; `served` lists the versions to report at each scrape. */
export function registerTritonMetrics(
  registry: MetricsRegistry,
  served: () => ServedModel[],
): void {
  const each = function* (
    pick: (s: ModelStatisticsSnapshot, model: ServedModel) => number,
  ): Iterable<Sample> {
    for (const model of served()) {
      const stats = model.statistics();
      yield {
        labels: { model: model.name, version: String(model.version) },
        value: pick(stats, model),
      };
    }
  };
  const counter = (name: string, help: string, pick: (s: ModelStatisticsSnapshot) => number) =>
    registry.collectedCounter({ name, help, labelNames: LABELS, collect: () => each(pick) });

  counter(
    "nv_inference_request_success",
    "Number of successful inference requests, all batch sizes",
    (s) => s.inference_stats.success.count,
  );
  registry.collectedCounter({
    name: "nv_inference_request_failure",
    help: "Number of failed inference requests, all batch sizes",
    labelNames: [...LABELS, "reason"],
    *collect() {
      for (const model of served()) {
        for (const [reason, value] of model.failuresByReason()) {
          yield { labels: { model: model.name, version: String(model.version), reason }, value };
        }
      }
    },
  });
  counter(
    "nv_inference_count",
    "Number of inferences performed (does not include cached requests)",
    (s) => s.inference_count,
  );
  counter(
    "nv_inference_exec_count",
    "Number of model executions performed (does not include cached requests)",
    (s) => s.execution_count,
  );
  counter(
    "nv_inference_request_duration_us",
    "Cumulative inference request duration in microseconds (includes cached requests)",
    (s) => (s.inference_stats.success.ns + s.inference_stats.fail.ns) / NS_PER_US,
  );
  counter(
    "nv_inference_queue_duration_us",
    "Cumulative inference queuing duration in microseconds (includes cached requests)",
    (s) => s.inference_stats.queue.ns / NS_PER_US,
  );
  counter(
    "nv_inference_compute_input_duration_us",
    "Cumulative compute input duration in microseconds (does not include cached requests)",
    (s) => s.inference_stats.compute_input.ns / NS_PER_US,
  );
  counter(
    "nv_inference_compute_infer_duration_us",
    "Cumulative compute inference duration in microseconds (does not include cached requests)",
    (s) => s.inference_stats.compute_infer.ns / NS_PER_US,
  );
  counter(
    "nv_inference_compute_output_duration_us",
    "Cumulative inference compute output duration in microseconds (does not include cached requests)",
    (s) => s.inference_stats.compute_output.ns / NS_PER_US,
  );
  counter(
    "nv_cache_num_hits_per_model",
    "Number of cache hits per model",
    (s) => s.inference_stats.cache_hit.count,
  );
  counter(
    "nv_cache_num_misses_per_model",
    "Number of cache misses per model",
    (s) => s.inference_stats.cache_miss.count,
  );
  registry.collectedGauge({
    name: "nv_inference_pending_request_count",
    help: "Instantaneous number of pending requests awaiting execution per-model.",
    labelNames: LABELS,
    collect: () => each((_, model) => model.pendingCount()),
  });
}
