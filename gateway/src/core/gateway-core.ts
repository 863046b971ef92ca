/**
 * The one core both front ends call. The HTTP (`http/`) and gRPC (`grpc/`) front ends map their
 * requests into these calls and map `InferError`s back; no business logic lives in them.
 * Messages passed through from Triton (metadata, config, statistics, index) keep the wire
 * shape of `protos/` (snake_case keys, int64 as numbers, enums as names).
 */
import type { Logger } from "../log.js";
import type { ParameterValue } from "../protocol/infer-message.js";
import type { ModelConfig } from "../protocol/model-config.js";
import type { Tensor } from "../protocol/tensor.js";

/** Per-request context, built by a front end from its transport. */
export interface RequestContext {
  /** `x-request-id` from the client, or generated; sent to Triton as the request id. */
  requestId: string;
  /** Absolute deadline in ms since the epoch (client deadline, header, or configured default). */
  deadlineMs: number;
  /** Fires when the client hangs up; the Triton call is cancelled. */
  signal: AbortSignal;
  /** A logger with `request_id` bound. */
  log: Logger;
  /** The client's `Cache-Control` directives (HTTP header or gRPC metadata); none when absent. */
  cacheControl?: CacheControl;
}

/** The `Cache-Control` request directives the result cache honours. */
export interface CacheControl {
  /** `no-cache`: skip the lookup (the fresh result is still stored). */
  noCache: boolean;
  /** `no-store`: do not store the result. */
  noStore: boolean;
}

/**
 * How the result cache answered (`X-Cache`): from the cache, from Triton, from another identical
 * request in flight, or from Triton with the lookup skipped (`no-cache`, cache unavailable).
 */
export type CacheOutcome = "hit" | "miss" | "coalesced" | "bypass";

/** A requested output and its parameters (e.g. `binary_data`, `classification`). */
export interface OutputRequest {
  name: string;
  parameters?: Record<string, ParameterValue>;
}

/** An inference request in front-end-neutral form. */
export interface CoreInferRequest {
  modelName: string;
  /** "" = latest. */
  modelVersion: string;
  /** The client's own `id` field, echoed in the response ("" if none). */
  id: string;
  inputs: Tensor[];
  /** Empty = all outputs. */
  outputs: OutputRequest[];
  /** Request parameters other than those the gateway consumes itself. */
  parameters: Record<string, ParameterValue>;
}

/** An inference result in front-end-neutral form. */
export interface CoreInferResult {
  modelName: string;
  modelVersion: string;
  id: string;
  outputs: Tensor[];
  parameters?: Record<string, ParameterValue>;
  /** Set when the model's results are cached (see `cache/`); the front ends send `x-cache`. */
  cache?: CacheOutcome;
}

/** `ModelMetadataResponse` in wire shape. */
export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: { name: string; datatype: string; shape: number[] }[];
  outputs: { name: string; datatype: string; shape: number[] }[];
}

/** One row of `RepositoryIndexResponse`. */
export interface RepositoryIndexEntry {
  name: string;
  version: string;
  state: string;
  reason: string;
}

/** A pipeline as `GET /v1/pipelines` lists it. */
export interface PipelineDescription {
  name: string;
  version: string;
  description: string;
  /** JSON-schema-like description of what `run` accepts and returns. */
  input: Record<string, unknown>;
  output: Record<string, unknown>;
  /** Triton models the pipeline calls. */
  models: string[];
}

/** What a pipeline run gets: JSON fields and/or uploaded binary parts (e.g. an image). */
export interface PipelineInput {
  /** JSON options and data (from a JSON body, multipart text fields, or query parameters). */
  fields: Record<string, unknown>;
  /** Binary parts by name: a raw body arrives as `"image"`, multipart files by field name. */
  files: Record<string, { bytes: Buffer; contentType: string }>;
  /** The client asked for per-stage timings (`?timings=true`, or the field `timings: true`). */
  timings: boolean;
}

/** A pipeline's result: JSON-serialisable, plus per-stage timings when asked. */
export interface PipelineResult {
  pipeline: string;
  result: Record<string, unknown>;
  /** Stage name -> milliseconds, when timings were asked for. */
  timings?: Record<string, number>;
  /** Set when the pipeline's results are cached; sent as `x-cache`, never in the body. */
  cache?: CacheOutcome;
  /**
   * Fallback models that answered some of this run's calls (their models' breakers were open):
   * sent as `x-infergate-degraded` and in the HTTP body; such a result is never cached.
   */
  degraded?: string[];
}

/** The gateway core. Every method throws `InferError` with a gRPC code on failure. */
export interface GatewayCore {
  serverMetadata(): { name: string; version: string; extensions: string[] };
  /** Live: the process runs. */
  isLive(): boolean;
  /** Ready: at least one healthy Triton endpoint. */
  isReady(): boolean;
  modelReady(name: string, version: string, ctx: RequestContext): Promise<boolean>;
  modelMetadata(name: string, version: string, ctx: RequestContext): Promise<ModelMetadata>;
  modelConfig(name: string, version: string, ctx: RequestContext): Promise<ModelConfig>;
  /** `ModelStatisticsResponse` of the endpoint serving the model, in wire shape. */
  modelStatistics(
    name: string,
    version: string,
    ctx: RequestContext,
  ): Promise<{ model_stats: unknown[] }>;
  infer(request: CoreInferRequest, ctx: RequestContext): Promise<CoreInferResult>;
  listPipelines(): PipelineDescription[];
  runPipeline(name: string, input: PipelineInput, ctx: RequestContext): Promise<PipelineResult>;
  /** Admin only: never reachable from the public listeners. */
  admin: {
    repositoryIndex(ready: boolean, ctx: RequestContext): Promise<RepositoryIndexEntry[]>;
    loadModel(
      name: string,
      parameters: Record<string, ParameterValue>,
      ctx: RequestContext,
    ): Promise<void>;
    unloadModel(
      name: string,
      parameters: Record<string, ParameterValue>,
      ctx: RequestContext,
    ): Promise<void>;
  };
}
