/**
 * Gateway-side batching: concurrent client requests to one model, with equal non-batch shapes,
 * arriving within a short window, become one batched Triton request whose outputs are split
 * back. It saves Triton round trips when many small clients call a model that batches. Off by
 * default; a model without a batch dimension (max_batch_size 0) is never merged.
 */
import { concatBatch, splitBatch } from "../batching/batch-tensors.js";
import { createDynamicBatcher, type DynamicBatcher } from "../batching/dynamic-batcher.js";
import type { ParameterValue } from "../protocol/infer-message.js";
import type { Tensor } from "../protocol/tensor.js";

/** What Triton answered a (merged) request: outputs, the version served, response parameters. */
export interface SentResult {
  outputs: Tensor[];
  modelVersion: string;
  parameters: Record<string, ParameterValue>;
}

/** One client request waiting to be merged; `T` carries what the sender needs of it. */
export interface BatchMember<T> {
  /** The original request; members of one batch share outputs and parameters. */
  request: T;
  inputs: Tensor[];
  /** Rows of this request (dim 0 of its inputs). */
  rows: number;
  /** Absolute deadline, ms since the epoch. */
  deadlineMs: number;
}

/** Sends one merged request; returns its outputs (batch dim first), version and parameters. */
export type SendBatch<T> = (first: T, inputs: Tensor[], deadlineMs: number) => Promise<SentResult>;

/** Settings of one model's gateway-side batcher. */
export interface RequestBatcherOptions<T> {
  model: string;
  /** The smaller of the configured cap and the model's own max_batch_size. */
  maxBatchSize: number;
  windowUs: number;
  send: SendBatch<T>;
}

/** A model's gateway-side batcher. */
export interface RequestBatcher<T> {
  submit(member: BatchMember<T>, shapeKey: string, signal?: AbortSignal): Promise<SentResult>;
}

/** Creates a batcher that merges requests into calls of at most `maxBatchSize` rows. */
export function createRequestBatcher<T>(options: RequestBatcherOptions<T>): RequestBatcher<T> {
  const batcher: DynamicBatcher<BatchMember<T>, SentResult> = createDynamicBatcher({
    modelName: options.model,
    maxBatchSize: options.maxBatchSize,
    dynamic: true,
    maxQueueDelayUs: options.windowUs,
    // Merged calls go out concurrently: the window bounds waiting, not parallelism.
    instanceCount: 64,
    async execute(members) {
      const inputs =
        members.length === 1
          ? members[0]!.inputs
          : members[0]!.inputs.map((_, i) => concatBatch(members.map((m) => m.inputs[i]!)));
      const deadlineMs = Math.min(...members.map((m) => m.deadlineMs));
      const sent = await options.send(members[0]!.request, inputs, deadlineMs);
      const rows = members.map((m) => m.rows);
      const pieces = sent.outputs.map((t) => splitBatch(t, rows));
      // Response parameters (e.g. a fallback's `infergate_degraded`) hold for every member.
      return members.map((_, k) => ({ ...sent, outputs: pieces.map((p) => p[k]!) }));
    },
  });
  return {
    async submit(member, shapeKey, signal) {
      const done = await batcher.enqueue(member, { batchSize: member.rows, shapeKey, signal });
      return done.result;
    },
  };
}
