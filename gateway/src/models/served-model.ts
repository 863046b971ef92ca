/**
 * The interface every loaded model version of the embedded server implements: ONNX models
 * (`onnx-model.ts`) and ensembles (`ensemble-model.ts`).
 */
import type { ModelConfig } from "../protocol/model-config.js";
import type { InferRequest, InferResult } from "./infer-request.js";
import type { ModelStatisticsSnapshot } from "./model-statistics.js";

/** One loaded, servable version of a model. */
export interface ServedModel {
  readonly name: string;
  readonly version: number;
  /** The config it was loaded with (also what `ModelConfig` answers). */
  readonly config: ModelConfig;
  /** Runs one request through the model's scheduler. */
  infer(request: InferRequest): Promise<InferResult>;
  /** Statistics in the wire shape of `ModelStatistics`. */
  statistics(): ModelStatisticsSnapshot;
  /** Failed requests per reason (`REJECTED`, `CANCELED`, `BACKEND`, `OTHER`), for metrics. */
  failuresByReason(): ReadonlyMap<string, number>;
  /** Requests queued or executing, for `nv_inference_pending_request_count`. */
  pendingCount(): number;
  /** Stops accepting work, lets queued and executing requests finish, frees resources. */
  unload(): Promise<void>;
}
