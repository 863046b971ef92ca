/**
 * The postprocess stage: a plain TypeScript step after the models (decode output tensors,
 * assemble the answer). See also {@link createPreprocess}.
 */
import type { Stage, StageContext } from "./stage.js";
import { nameStage } from "./stage.js";

/** Options of {@link createPostprocess}. */
export interface PostprocessOptions<In, Out> {
  /** Stage name in timings, metrics and errors; default "postprocess". */
  name?: string;
  /** The step. */
  run(value: In, ctx: StageContext): Out | Promise<Out>;
}

/** A stage running a TypeScript function after the models. */
export function createPostprocess<In, Out>(options: PostprocessOptions<In, Out>): Stage<In, Out> {
  const { run } = options;
  return nameStage(options.name ?? "postprocess", async function postprocess(value: In, ctx) {
    return run(value, ctx);
  });
}
