/**
 * The map stage: runs a sub-chain over every item of a list (every detected box, every pair)
 * concurrently, and sends the items' infer calls to Triton as batched requests of up to the
 * model's `max_batch_size` (see `infer-gatherer.ts`), so Triton's batcher sees batches.
 */
import { Code, InferError } from "../errors.js";
import { runStage } from "./compose.js";
import { createInferGatherer } from "./infer-gatherer.js";
import type { Stage, StageContext } from "./stage.js";
import { nameStage, nestedContext } from "./stage.js";

/** Options of {@link createMap} over a value that is itself the list. */
export interface MapOptions<Item, R> {
  /** Stage name in timings, metrics and errors; default "map". Sub-chain timings read `name/stage`. */
  name?: string;
  /** What runs for each item; its stages' timings are summed over the items. */
  each: Stage<Item, R>;
}

/** Options of {@link createMap} that picks the list out of the value and folds the results back. */
export interface MapOverOptions<In, Item, R, Out> extends MapOptions<Item, R> {
  items(value: In): readonly Item[];
  collect(results: R[], value: In): Out;
}

/** A stage running `each` over `items(value)` and returning `collect(results, value)`. */
export function createMap<In, Item, R, Out>(
  options: MapOverOptions<In, Item, R, Out>,
): Stage<In, Out>;
/** A stage running `each` over every item of the list it is given; results in item order. */
export function createMap<Item, R>(options: MapOptions<Item, R>): Stage<readonly Item[], R[]>;
export function createMap<In, Item, R, Out>(
  options: MapOptions<Item, R> & Partial<MapOverOptions<In, Item, R, Out>>,
): Stage<In, Out> {
  const { each } = options;
  const name = options.name ?? "map";
  const items = options.items ?? ((value: In) => value as readonly Item[]);
  const collect = options.collect ?? ((results: R[]) => results as Out);
  return nameStage(name, async function map(value: In, ctx: StageContext) {
    const list = items(value);
    const gatherer = createInferGatherer({
      items: list.length,
      infer: ctx.infer,
      modelInfo: ctx.modelInfo,
    });
    const runs = list.map(async (item, index) => {
      try {
        return await runStage(each, item, nestedContext(ctx, name, gatherer.inferFor(index)));
      } finally {
        gatherer.itemDone(index);
      }
    });
    // Wait for every item, even after a failure, so no call of this request outlives it.
    const settled = await Promise.allSettled(runs);
    const results: R[] = [];
    for (const [index, outcome] of settled.entries()) {
      if (outcome.status === "rejected") throw itemError(index, outcome.reason);
      results.push(outcome.value);
    }
    return collect(results, value);
  });
}

/** Names the failing item; as in compose, only an InferError's message reaches the client. */
function itemError(index: number, reason: unknown): InferError {
  if (reason instanceof InferError) {
    return new InferError(reason.code, `item ${index}: ${reason.message}`, { cause: reason });
  }
  return new InferError(Code.INTERNAL, `item ${index} failed: internal error`, { cause: reason });
}
