/**
 * The engine's Prometheus metrics, defined on the registry the core injects. Labels are the
 * pipeline's and stage's declared names and the status code's name: bounded, no ids.
 */
import { Code } from "../errors.js";
import type { MetricsRegistry } from "../metrics.js";

/** Buckets of the stage histogram, in seconds: 0.5 ms to 10 s. */
export const STAGE_SECONDS_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** What `runPipeline` reports. */
export interface PipelineMetrics {
  /** One run of a stage (nested stages as `map/stage`), in milliseconds. */
  observeStage(pipeline: string, stage: string, ms: number): void;
  /** One finished pipeline request: its outcome and wall time, in milliseconds. */
  finishRequest(pipeline: string, code: Code, ms: number): void;
}

/**
 * Registers `infergate_pipeline_stage_duration_seconds{pipeline,stage}`,
 * `infergate_pipeline_request_duration_seconds{pipeline}` (whole requests, every outcome) and
 * `infergate_pipeline_requests_total{pipeline,code}` (code as its name, e.g. "OK"). Call once
 * per registry: registering a name twice throws.
 */
export function createPipelineMetrics(registry: MetricsRegistry): PipelineMetrics {
  const stageSeconds = registry.histogram({
    name: "infergate_pipeline_stage_duration_seconds",
    help: "Wall time of one run of a pipeline stage, in seconds",
    labelNames: ["pipeline", "stage"],
    buckets: [...STAGE_SECONDS_BUCKETS],
  });
  const requestSeconds = registry.histogram({
    name: "infergate_pipeline_request_duration_seconds",
    help: "Wall time of one pipeline request, parse to response, in seconds",
    labelNames: ["pipeline"],
    buckets: [...STAGE_SECONDS_BUCKETS],
  });
  const requests = registry.counter({
    name: "infergate_pipeline_requests_total",
    help: "Pipeline requests finished, by pipeline and gRPC status code",
    labelNames: ["pipeline", "code"],
  });
  return {
    observeStage: (pipeline, stage, ms) => stageSeconds.observe({ pipeline, stage }, ms / 1000),
    finishRequest: (pipeline, code, ms) => {
      requests.inc({ pipeline, code: Code[code] });
      requestSeconds.observe({ pipeline }, ms / 1000);
    },
  };
}
