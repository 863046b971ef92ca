/**
 * The stage interface of the pipeline engine. A stage is an async function
 * `(value, ctx) => Promise<next>` whose `name` is the stage's name: compose times it and names it
 * in errors under that name, and stack traces show it. Everything a stage may reach outside
 * itself arrives in its {@link StageContext}: the pipeline never talks to Triton itself.
 */
import type { CoreInferRequest, CoreInferResult, RequestContext } from "../core/gateway-core.js";

/** A model's input or output as model metadata lists it (`shape` -1 = variable). */
export interface ModelTensorSpec {
  name: string;
  datatype: string;
  shape: number[];
}

/** What the engine needs to know of a model: enough to batch calls to it. */
export interface ModelInfo {
  /** Triton's `max_batch_size`; 0 = the model has no batch dimension (one call per item). */
  maxBatchSize: number;
  inputs: ModelTensorSpec[];
  outputs: ModelTensorSpec[];
}

/** Where stages put their wall time; stage names are static, so they suit metric labels. */
export interface StageTimings {
  /** Records one run of `stage` that took `ms` milliseconds. */
  record(stage: string, ms: number): void;
}

/** What a stage gets besides its value. */
export interface StageContext {
  /** The client request this run serves (request id, deadline, cancellation, logger). */
  request: RequestContext;
  /** Runs one inference on Triton, injected by the core (inside `map`: gathered into batches). */
  infer(request: CoreInferRequest): Promise<CoreInferResult>;
  /** A model's batch limit and tensors, injected by the core (which caches it). */
  modelInfo(name: string): Promise<ModelInfo>;
  /** Absent when neither metrics nor the client want timings. */
  timings?: StageTimings;
}

/** A stage: an async function from one value to the next, named for what it does. */
export type Stage<In, Out> = (value: In, ctx: StageContext) => Promise<Out>;

/**
 * Gives `fn` the stage name `name`, which timings, metrics, error messages and stack traces
 * show (V8 takes a frame's name from the function's `name` property). Returns `fn`.
 */
export function nameStage<S extends Stage<never, unknown>>(name: string, fn: S): S {
  if (name === "") throw new Error("a stage needs a non-empty name");
  Object.defineProperty(fn, "name", { value: name, configurable: true });
  return fn;
}

/**
 * The context for stages nested in the stage `scope` (map's sub-chain, cascade's two steps):
 * their timings are recorded as `scope/stage`, and `infer` may be replaced (map gathers it).
 */
export function nestedContext(
  ctx: StageContext,
  scope: string,
  infer: StageContext["infer"] = ctx.infer,
): StageContext {
  const outer = ctx.timings;
  const timings = outer && {
    record: (stage: string, ms: number) => outer.record(`${scope}/${stage}`, ms),
  };
  return { request: ctx.request, infer, modelInfo: ctx.modelInfo, timings };
}
