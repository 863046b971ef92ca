/**
 * The inference request and result of the embedded model server's core, between the gRPC
 * mapping (which decodes wire messages) and the served models (which run them).
 */
import type { Tensor } from "../protocol/tensor.js";

/** An output the client asked for, with its per-output parameters. */
export interface RequestedOutput {
  name: string;
  parameters?: Record<string, unknown>;
}

/** One inference request, decoded and ready to schedule. */
export interface InferRequest {
  modelName: string;
  /** "" = the version the model's version policy picks (the latest by default). */
  modelVersion: string;
  id: string;
  inputs: Tensor[];
  /** Empty = every output of the model. */
  outputs: RequestedOutput[];
  /** The `priority` request parameter: 0 = the model's default level, 1 = highest. */
  priority?: number;
  /** The `timeout` request parameter: queue timeout in microseconds. */
  timeoutUs?: number;
  /** Fires when the client cancels or its deadline passes. */
  signal?: AbortSignal;
  /**
   * The caller never reads `inputs` again (a request decoded from the wire, an ensemble's
   * intermediate tensor with one consumer), so their buffers may move to a model instance's
   * thread without a copy. Default false.
   */
  inputsTransferable?: boolean;
}

/** One inference result. */
export interface InferResult {
  modelName: string;
  modelVersion: string;
  id: string;
  outputs: Tensor[];
}
