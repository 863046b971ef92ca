/**
 * The preprocess stage: a plain TypeScript step before the models (validate and reshape the
 * client's input, build tensors' raw material). See also {@link createPostprocess}.
 */
import type { Stage, StageContext } from "./stage.js";
import { nameStage } from "./stage.js";

/** Options of {@link createPreprocess}. */
export interface PreprocessOptions<In, Out> {
  /** Stage name in timings, metrics and errors; default "preprocess". */
  name?: string;
  /** The step; throw an InferError (e.g. `invalidArgument`) to reject the client's input. */
  run(value: In, ctx: StageContext): Out | Promise<Out>;
}

/** A stage running a TypeScript function before the models. */
export function createPreprocess<In, Out>(options: PreprocessOptions<In, Out>): Stage<In, Out> {
  const { run } = options;
  return nameStage(options.name ?? "preprocess", async function preprocess(value: In, ctx) {
    return run(value, ctx);
  });
}
