/**
 * Runs one pipeline request: the request's input through `parse`, the stage chain and
 * `respond`, with the core's `infer` and `modelInfo` as the only way out, per-stage timings to
 * the metrics and (when asked) the response, and one request count by outcome.
 */
import type { PipelineInput, PipelineResult, RequestContext } from "../core/gateway-core.js";
import { Code, InferError } from "../errors.js";
import { degradedTo } from "../resilience/degraded.js";
import { runStage } from "./compose.js";
import type { Pipeline } from "./pipeline.js";
import type { PipelineMetrics } from "./pipeline-metrics.js";
import type { StageContext, StageTimings } from "./stage.js";
import { nameStage } from "./stage.js";

/** What a run needs from the core. */
export interface RunPipelineDeps {
  /** One Triton inference (the core's, with its deadline, endpoint choice and retries). */
  infer: StageContext["infer"];
  modelInfo: StageContext["modelInfo"];
  ctx: RequestContext;
  /** Stage durations and request counts; none recorded when absent. */
  metrics?: PipelineMetrics;
}

/**
 * Runs `pipeline` on `input`. Resolves with the result, plus `timings` (stage -> ms, rounded
 * to µs; a map's sub-stages as `map/stage`, summed over items) when `input.timings`. Rejects
 * with an InferError naming the failing stage.
 */
export async function runPipeline(
  pipeline: Pipeline,
  input: PipelineInput,
  deps: RunPipelineDeps,
): Promise<PipelineResult> {
  const { metrics } = deps;
  const startMs = performance.now();
  const timings: Record<string, number> | undefined = input.timings ? {} : undefined;
  let inferCalls = 0;
  const degraded = new Set<string>();
  const ctx: StageContext = {
    request: deps.ctx,
    async infer(request) {
      inferCalls += 1;
      const result = await deps.infer(request);
      const fallback = degradedTo(result.parameters);
      if (fallback) degraded.add(fallback);
      return result;
    },
    modelInfo: deps.modelInfo,
    timings: timingsRecorder(pipeline.name, metrics, timings),
  };
  try {
    const parse = nameStage("parse", async (value: PipelineInput) => pipeline.parse(value));
    const respond = nameStage("respond", async (final: unknown) =>
      pipeline.respond(final, { inferCalls }),
    );
    const initial = await runStage(parse, input, ctx);
    const final = await runStage(pipeline.chain, initial, ctx);
    const result = await runStage(respond, final, ctx);
    metrics?.finishRequest(pipeline.name, Code.OK, performance.now() - startMs);
    return {
      pipeline: pipeline.name,
      result,
      ...(timings ? { timings: rounded(timings) } : {}),
      ...(degraded.size > 0 ? { degraded: [...degraded].sort() } : {}),
    };
  } catch (error) {
    const failure = InferError.from(error);
    metrics?.finishRequest(pipeline.name, failure.code, performance.now() - startMs);
    throw failure;
  }
}

function timingsRecorder(
  pipeline: string,
  metrics: PipelineMetrics | undefined,
  timings: Record<string, number> | undefined,
): StageTimings | undefined {
  if (metrics === undefined && timings === undefined) return undefined;
  return {
    record(stage, ms) {
      metrics?.observeStage(pipeline, stage, ms);
      if (timings) timings[stage] = (timings[stage] ?? 0) + ms;
    },
  };
}

function rounded(timings: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [stage, ms] of Object.entries(timings)) out[stage] = Math.round(ms * 1000) / 1000;
  return out;
}
