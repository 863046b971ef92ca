/**
 * The pipeline engine as the core sees it: the registered pipelines, listed and run by name,
 * with one set of stage metrics.
 */
import type { PipelineHost } from "../core/create-core.js";
import { Code, InferError } from "../errors.js";
import type { MetricsRegistry } from "../metrics.js";
import type { Pipeline } from "./pipeline.js";
import { createPipelineMetrics } from "./pipeline-metrics.js";
import { runPipeline } from "./run-pipeline.js";

/** Hosts `pipelines`; stage durations and request counts go to `registry` when given. */
export function createPipelineHost(
  pipelines: readonly Pipeline[],
  registry?: MetricsRegistry,
): PipelineHost {
  const metrics = registry ? createPipelineMetrics(registry) : undefined;
  const byName = new Map(pipelines.map((p) => [p.name, p]));
  return {
    list: () => pipelines.map((p) => p.description),
    run(name, input, deps) {
      const pipeline = byName.get(name);
      if (!pipeline) {
        const known = [...byName.keys()].join(", ");
        return Promise.reject(
          new InferError(Code.NOT_FOUND, `unknown pipeline '${name}' (known: ${known || "none"})`),
        );
      }
      return runPipeline(pipeline, input, { ...deps, metrics });
    },
  };
}
