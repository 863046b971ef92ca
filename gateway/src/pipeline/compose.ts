/**
 * Chains stages into one, the way hono's `compose` chains middleware: each stage's result is the
 * next one's value. Every stage run through here is timed under its name and has its errors
 * wrapped to name it, so a failure deep in a pipeline reads `stage 'recognize': item 3: ...`.
 */
import { Code, InferError } from "../errors.js";
import type { Stage, StageContext } from "./stage.js";
import { nameStage } from "./stage.js";

/** Stages made by {@link compose}. */
const chains = new WeakSet<Stage<never, unknown>>();

/**
 * Runs one stage: refuses to start once the client has gone or the deadline has passed, records
 * its wall time (ms) under `stage.name` when `ctx.timings` is set, and wraps what it throws.
 */
export async function runStage<In, Out>(
  stage: Stage<In, Out>,
  value: In,
  ctx: StageContext,
): Promise<Out> {
  checkStillWanted(stage.name, ctx);
  // A chain's stages time and name themselves; wrapping the chain as well would say it twice.
  if (chains.has(stage)) return stage(value, ctx);
  const startMs = performance.now();
  try {
    return await stage(value, ctx);
  } catch (error) {
    throw stageError(stage.name, error);
  } finally {
    ctx.timings?.record(stage.name, performance.now() - startMs);
  }
}

/**
 * Names the failing stage in an error. An InferError keeps its code (a client's bad input stays
 * INVALID_ARGUMENT); anything else is a bug and becomes INTERNAL, its message kept for the logs
 * as the `cause` only.
 */
export function stageError(stageName: string, error: unknown): InferError {
  if (error instanceof InferError) {
    return new InferError(error.code, `stage '${stageName}': ${error.message}`, { cause: error });
  }
  return new InferError(Code.INTERNAL, `stage '${stageName}' failed: internal error`, {
    cause: error,
  });
}

function checkStillWanted(stageName: string, ctx: StageContext): void {
  if (ctx.request.signal.aborted) {
    throw new InferError(Code.CANCELLED, `cancelled by the client before stage '${stageName}'`);
  }
  if (Date.now() >= ctx.request.deadlineMs) {
    throw new InferError(Code.DEADLINE_EXCEEDED, `deadline exceeded before stage '${stageName}'`);
  }
}

/** Chains stages left to right; the result is a stage named `a>b>c` after its parts. */
export function compose<A, B>(s1: Stage<A, B>): Stage<A, B>;
export function compose<A, B, C>(s1: Stage<A, B>, s2: Stage<B, C>): Stage<A, C>;
export function compose<A, B, C, D>(s1: Stage<A, B>, s2: Stage<B, C>, s3: Stage<C, D>): Stage<A, D>;
export function compose<A, B, C, D, E>(
  s1: Stage<A, B>,
  s2: Stage<B, C>,
  s3: Stage<C, D>,
  s4: Stage<D, E>,
): Stage<A, E>;
export function compose<A, B, C, D, E, F>(
  s1: Stage<A, B>,
  s2: Stage<B, C>,
  s3: Stage<C, D>,
  s4: Stage<D, E>,
  s5: Stage<E, F>,
): Stage<A, F>;
export function compose<A, B, C, D, E, F, G>(
  s1: Stage<A, B>,
  s2: Stage<B, C>,
  s3: Stage<C, D>,
  s4: Stage<D, E>,
  s5: Stage<E, F>,
  s6: Stage<F, G>,
): Stage<A, G>;
export function compose(...stages: Stage<unknown, unknown>[]): Stage<unknown, unknown>;
export function compose(...stages: Stage<unknown, unknown>[]): Stage<unknown, unknown> {
  if (stages.length === 0) throw new Error("compose needs at least one stage");
  const chain = nameStage(
    stages.map((s) => s.name).join(">"),
    async function composed(value: unknown, ctx: StageContext): Promise<unknown> {
      let current = value;
      for (const stage of stages) current = await runStage(stage, current, ctx);
      return current;
    },
  );
  chains.add(chain);
  return chain;
}
