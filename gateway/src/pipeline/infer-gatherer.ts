/**
 * Gathers the infer calls of `map`'s items into batched Triton requests. Each item gets its own
 * `infer`; a call waits until every unfinished item is either waiting on a call here too or done
 * (the barrier), or until enough calls wait to fill the model's `max_batch_size`. Calls to the
 * same model with equal non-batch shapes, outputs and parameters are then joined along dim 0,
 * sent as one request of at most `max_batch_size` rows, and the outputs cut back per call.
 */

import { concatBatch, splitBatch } from "../batching/batch-tensors.js";
import type { CoreInferRequest, CoreInferResult } from "../core/gateway-core.js";
import type { Tensor } from "../protocol/tensor.js";
import type { ModelInfo, StageContext } from "./stage.js";

/** Options of {@link createInferGatherer}. */
export interface InferGathererOptions {
  /** How many items will call; each must end with {@link InferGatherer.itemDone}. */
  items: number;
  /** Where batched requests go (the enclosing context's `infer`). */
  infer: StageContext["infer"];
  modelInfo: StageContext["modelInfo"];
}

/** The per-item `infer` functions of one map run. */
export interface InferGatherer {
  /** The `infer` for item `index` (0-based). */
  inferFor(index: number): StageContext["infer"];
  /** Item `index` has finished (either way); it will call no more. */
  itemDone(index: number): void;
}

interface PendingCall {
  item: number;
  request: CoreInferRequest;
  /** Rows along dim 0. */
  rows: number;
  resolve(result: CoreInferResult): void;
  reject(reason: unknown): void;
}

/** Creates the gatherer for `options.items` items. */
export function createInferGatherer(options: InferGathererOptions): InferGatherer {
  let unfinished = options.items;
  /** Items with at least one call waiting in `groups`. */
  let parked = 0;
  const waitingPerItem = new Array<number>(options.items).fill(0);
  const groups = new Map<string, PendingCall[]>();
  const infoPromises = new Map<string, Promise<ModelInfo>>();
  const infoKnown = new Map<string, ModelInfo>();
  let checkScheduled = false;

  function modelInfo(model: string): Promise<ModelInfo> {
    let promise = infoPromises.get(model);
    if (promise === undefined) {
      promise = options.modelInfo(model);
      promise.then(
        (info) => infoKnown.set(model, info),
        () => {}, // reported to the calls by `send`
      );
      infoPromises.set(model, promise);
    }
    return promise;
  }

  // A microtask, so that calls an item makes in one go (Promise.all) all join before the check.
  function scheduleBarrierCheck(): void {
    if (checkScheduled) return;
    checkScheduled = true;
    queueMicrotask(() => {
      checkScheduled = false;
      if (parked < unfinished) return;
      for (const [key, calls] of groups) {
        groups.delete(key);
        dispatch(calls);
      }
    });
  }

  function dispatch(calls: PendingCall[]): void {
    for (const call of calls) {
      waitingPerItem[call.item] -= 1;
      if (waitingPerItem[call.item] === 0) parked -= 1;
    }
    send(calls).catch((error: unknown) => {
      for (const call of calls) call.reject(error);
    });
  }

  async function send(calls: PendingCall[]): Promise<void> {
    const info = await modelInfo(calls[0]!.request.modelName);
    for (const chunk of chunkByRows(calls, info.maxBatchSize)) {
      sendChunk(chunk).catch((error: unknown) => {
        for (const call of chunk) call.reject(error);
      });
    }
  }

  async function sendChunk(chunk: PendingCall[]): Promise<void> {
    if (chunk.length === 1) {
      chunk[0]!.resolve(await options.infer(chunk[0]!.request));
      return;
    }
    const first = chunk[0]!.request;
    const inputs = first.inputs.map((input) =>
      concatBatch(chunk.map((call) => tensorNamed(call.request.inputs, input.name))),
    );
    const result = await options.infer({ ...first, inputs });
    const rows = chunk.map((call) => call.rows);
    const pieces = result.outputs.map((output) => splitBatch(output, rows));
    for (const [k, call] of chunk.entries()) {
      call.resolve({ ...result, outputs: pieces.map((piece) => piece[k]!) });
    }
  }

  // Sends at once every run of calls that fills a batch, when the model's limit is known.
  function dispatchFullBatches(key: string, calls: PendingCall[]): void {
    const info = infoKnown.get(calls[0]!.request.modelName);
    if (info === undefined || info.maxBatchSize <= 0) return;
    const chunks = chunkByRows(calls, info.maxBatchSize);
    const last = chunks.at(-1)!;
    const lastRows = last.reduce((sum, call) => sum + call.rows, 0);
    const full = lastRows >= info.maxBatchSize ? chunks : chunks.slice(0, -1);
    if (full.length === 0) return;
    if (full.length === chunks.length) groups.delete(key);
    else groups.set(key, last);
    for (const chunk of full) dispatch(chunk);
  }

  return {
    inferFor(item) {
      return function gatheredInfer(request: CoreInferRequest): Promise<CoreInferResult> {
        const rows = batchRows(request.inputs);
        const known = infoKnown.get(request.modelName);
        if (rows === undefined || known?.maxBatchSize === 0) return options.infer(request);
        modelInfo(request.modelName);
        return new Promise((resolve, reject) => {
          const key = groupKey(request);
          const calls = groups.get(key) ?? [];
          calls.push({ item, request, rows, resolve, reject });
          groups.set(key, calls);
          waitingPerItem[item] += 1;
          if (waitingPerItem[item] === 1) parked += 1;
          dispatchFullBatches(key, calls);
          scheduleBarrierCheck();
        });
      };
    },
    itemDone() {
      unfinished -= 1;
      scheduleBarrierCheck();
    },
  };
}

/**
 * Splits calls, in order, into runs of at most `maxBatchSize` rows; 0 (no batch dimension)
 * gives one run per call, and a call larger than the limit goes alone (Triton will say why).
 */
function chunkByRows(calls: PendingCall[], maxBatchSize: number): PendingCall[][] {
  const chunks: PendingCall[][] = [];
  let current: PendingCall[] = [];
  let rows = 0;
  for (const call of calls) {
    if (current.length > 0 && (maxBatchSize <= 0 || rows + call.rows > maxBatchSize)) {
      chunks.push(current);
      current = [];
      rows = 0;
    }
    current.push(call);
    rows += call.rows;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** The rows every input has along dim 0, or undefined where they disagree (not batchable). */
function batchRows(inputs: readonly Tensor[]): number | undefined {
  const rows = inputs[0]?.shape[0];
  if (rows === undefined || rows < 1) return undefined;
  return inputs.every((t) => t.shape[0] === rows) ? rows : undefined;
}

/** Calls with equal keys can share a request: same model, tensors but for dim 0, outputs. */
function groupKey(request: CoreInferRequest): string {
  return JSON.stringify([
    request.modelName,
    request.modelVersion,
    request.inputs.map((t) => [t.name, t.datatype, t.shape.slice(1)]),
    request.outputs,
    request.parameters,
  ]);
}

function tensorNamed(tensors: readonly Tensor[], name: string): Tensor {
  const tensor = tensors.find((t) => t.name === name);
  // groupKey guarantees every call of a group has the same input names.
  if (tensor === undefined) throw new Error(`gathered call lacks input '${name}'`);
  return tensor;
}
