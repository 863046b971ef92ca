/**
 * The gateway core: what both front ends call. It turns client requests into Triton calls
 * (carrying the request id and the deadline), batches where configured, runs pipelines, and
 * answers metadata from Triton's cached replies.
 */
import type { ResultCache } from "../cache/result-cache.js";
import type { GatewayConfig } from "../config/schema.js";
import { Code, InferError } from "../errors.js";
import type { Logger } from "../log.js";
import {
  decodeInferResponseMessage,
  encodeInferRequestMessage,
  type ParameterValue,
} from "../protocol/infer-message.js";
import type { Tensor } from "../protocol/tensor.js";
import type { TritonClient } from "../triton/triton-client.js";
import type {
  CoreInferRequest,
  CoreInferResult,
  GatewayCore,
  PipelineDescription,
  PipelineInput,
  PipelineResult,
  RequestContext,
} from "./gateway-core.js";
import { createRequestBatcher, type RequestBatcher, type SentResult } from "./request-batcher.js";

/** What a pipeline engine offers the core (see `pipeline/`). */
export interface PipelineHost {
  list(): PipelineDescription[];
  run(name: string, input: PipelineInput, deps: PipelineDeps): Promise<PipelineResult>;
}

/** What the core gives a pipeline run: inference and model facts, bound to the request. */
export interface PipelineDeps {
  ctx: RequestContext;
  infer(request: CoreInferRequest): Promise<CoreInferResult>;
  modelInfo(name: string): Promise<ModelInfo>;
}

/** What pipelines and batching need to know of a model. */
export interface ModelInfo {
  name: string;
  maxBatchSize: number;
  inputs: { name: string; datatype: string; shape: number[] }[];
  outputs: { name: string; datatype: string; shape: number[] }[];
}

/** Options of {@link createGatewayCore}. */
export interface CoreOptions {
  config: GatewayConfig;
  triton: TritonClient;
  pipelines?: PipelineHost;
  log: Logger;
  serverVersion?: string;
  /** The result cache (see `cache/`); none = nothing cached. */
  cache?: ResultCache;
}

/** Extensions of Triton's protocol the gateway serves, for server metadata. */
export const GATEWAY_EXTENSIONS = [
  "binary_tensor_data",
  "model_configuration",
  "statistics",
  "schedule_policy",
];

/** What a merged call needs of its first member. */
interface Merged {
  request: CoreInferRequest;
  requestId: string;
}

/** Creates the core. */
export function createGatewayCore(options: CoreOptions): GatewayCore {
  const { config, triton } = options;
  const batchers = new Map<string, Promise<RequestBatcher<Merged> | undefined>>();

  const callOptions = (ctx: RequestContext) => ({ deadlineMs: ctx.deadlineMs, signal: ctx.signal });

  const modelInfo = async (name: string, ctx: RequestContext): Promise<ModelInfo> => {
    const [metadata, modelConfig] = await Promise.all([
      triton.modelMetadata(name, "", callOptions(ctx)),
      triton.modelConfig(name, "", callOptions(ctx)),
    ]);
    return {
      name,
      maxBatchSize: modelConfig.max_batch_size ?? 0,
      inputs: metadata.inputs,
      outputs: metadata.outputs,
    };
  };

  /**
   * One Triton call: request id, deadline and queue timeout carried along. `signal` cancels it;
   * merged calls have none, since one client hanging up must not fail the others.
   */
  const send = async (
    request: CoreInferRequest,
    inputs: Tensor[],
    deadlineMs: number,
    requestId: string,
    signal: AbortSignal | undefined,
  ): Promise<SentResult> => {
    const remainingUs = Math.max(1, Math.floor((deadlineMs - Date.now()) * 1000));
    const parameters: Record<string, ParameterValue> = { ...request.parameters };
    // Triton drops a request still queued past `timeout` (µs), so it never runs for nobody.
    parameters["timeout"] ??= remainingUs;
    const message = encodeInferRequestMessage({
      modelName: request.modelName,
      modelVersion: request.modelVersion,
      id: requestId,
      parameters,
      inputs,
      outputs: request.outputs,
    });
    const reply = await triton.infer(message, { deadlineMs, signal });
    const decoded = decodeInferResponseMessage(reply, {
      maxElements: config.limits.maxTensorElements,
    });
    const { outputs, modelVersion, parameters: replyParameters } = decoded;
    return { outputs, modelVersion, parameters: replyParameters };
  };

  const batcherFor = (
    request: CoreInferRequest,
    ctx: RequestContext,
  ): Promise<RequestBatcher<Merged> | undefined> => {
    const settings = config.models[request.modelName]?.batching;
    if (!settings?.enabled || request.modelVersion !== "") return Promise.resolve(undefined);
    let pending = batchers.get(request.modelName);
    if (!pending) {
      pending = modelInfo(request.modelName, ctx).then((info) =>
        info.maxBatchSize > 0
          ? createRequestBatcher({
              model: request.modelName,
              maxBatchSize: Math.min(settings.maxBatchSize, info.maxBatchSize),
              windowUs: settings.windowUs,
              // A merged call carries the first member's id; outputs and parameters are shared
              // by construction (they are part of the shape key).
              send: (first, inputs, deadlineMs) =>
                send(first.request, inputs, deadlineMs, first.requestId, undefined),
            })
          : undefined,
      );
      pending.catch(() => batchers.delete(request.modelName));
      batchers.set(request.modelName, pending);
    }
    return pending;
  };

  const uncachedInfer = async (
    request: CoreInferRequest,
    ctx: RequestContext,
  ): Promise<CoreInferResult> => {
    if (Date.now() >= ctx.deadlineMs)
      throw new InferError(Code.DEADLINE_EXCEEDED, "deadline exceeded before the request was sent");
    const batcher = await batcherFor(request, ctx);
    const rows = request.inputs[0]?.shape[0];
    const mergeable =
      batcher && rows !== undefined && request.inputs.every((t) => t.shape[0] === rows);
    const { outputs, modelVersion, parameters } = mergeable
      ? await batcher.submit(
          {
            request: { request, requestId: ctx.requestId },
            inputs: request.inputs,
            rows,
            deadlineMs: ctx.deadlineMs,
          },
          shapeKeyOf(request),
          ctx.signal,
        )
      : await send(request, request.inputs, ctx.deadlineMs, ctx.requestId, ctx.signal);
    // Triton's response parameters reach the client (e.g. `infergate_degraded`, set by the
    // Triton client when a fallback model answered).
    return {
      modelName: request.modelName,
      modelVersion,
      id: request.id,
      outputs,
      ...(Object.keys(parameters).length > 0 ? { parameters } : {}),
    };
  };

  const { cache } = options;
  const infer = (request: CoreInferRequest, ctx: RequestContext): Promise<CoreInferResult> =>
    cache ? cache.infer(request, ctx, uncachedInfer) : uncachedInfer(request, ctx);

  return {
    serverMetadata: () => ({
      name: "infergate",
      version: options.serverVersion ?? "0.1.0",
      extensions: GATEWAY_EXTENSIONS,
    }),
    isLive: () => true,
    isReady: () => triton.isReady(),
    modelReady: (name, version, ctx) => triton.modelReady(name, version, callOptions(ctx)),
    modelMetadata: (name, version, ctx) => triton.modelMetadata(name, version, callOptions(ctx)),
    modelConfig: (name, version, ctx) => triton.modelConfig(name, version, callOptions(ctx)),
    modelStatistics: (name, version, ctx) =>
      triton.modelStatistics(name, version, callOptions(ctx)),
    infer,
    listPipelines: () => options.pipelines?.list() ?? [],
    async runPipeline(name, input, ctx) {
      const host = options.pipelines;
      if (!host) throw new InferError(Code.NOT_FOUND, `unknown pipeline '${name}'`);
      const run = (runInput: PipelineInput, runCtx: RequestContext) =>
        host.run(name, runInput, {
          ctx: runCtx,
          infer: (request) => infer(request, runCtx),
          modelInfo: (model) => modelInfo(model, runCtx),
        });
      const description = cache && host.list().find((p) => p.name === name);
      return description ? cache.runPipeline(description, input, ctx, run) : run(input, ctx);
    },
    admin: {
      repositoryIndex: (ready, ctx) => triton.repositoryIndex(ready, callOptions(ctx)),
      loadModel: (name, parameters, ctx) =>
        triton.loadModel(name, repositoryParameters(parameters), callOptions(ctx)),
      unloadModel: (name, parameters, ctx) =>
        triton.unloadModel(name, repositoryParameters(parameters), callOptions(ctx)),
    },
  };
}

/** Requests merge only with equal non-batch shapes, datatypes, outputs and parameters. */
function shapeKeyOf(request: CoreInferRequest): string {
  const inputs = request.inputs
    .map((t) => `${t.name}:${t.datatype}:${t.shape.slice(1).join("x")}`)
    .join("|");
  const outputs = request.outputs
    .map((o) => `${o.name}${JSON.stringify(o.parameters ?? {})}`)
    .join(",");
  return `${inputs}->${outputs}#${JSON.stringify(request.parameters)}`;
}

/** Repository RPC parameters (`ModelRepositoryParameter` oneof) from plain values. */
function repositoryParameters(values: Record<string, ParameterValue>): Record<string, object> {
  const out: Record<string, object> = {};
  for (const [key, value] of Object.entries(values)) {
    if (typeof value === "boolean") out[key] = { bool_param: value };
    else if (typeof value === "number") out[key] = { int64_param: value };
    else out[key] = { string_param: value };
  }
  return out;
}
