/**
 * `inference.GRPCInferenceService` on the public port: Triton's gRPC API in front of Triton, so
 * Triton's clients work against the gateway unchanged. Health, metadata, config, statistics and
 * inference go to the core; model control is refused here (it lives on the admin listener), and
 * shared memory, tracing and log settings are not offered by the gateway.
 */
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import { CACHE_STATUS_HEADER } from "../cache/cache-control.js";
import { Code } from "../errors.js";
import type { ModelInferRequestMessage } from "../protocol/infer-message.js";
import { DEGRADED_HEADER, degradedTo } from "../resilience/degraded.js";
import { toCoreInferRequest, toModelInferResponse } from "./map-request.js";
import type { GrpcServerDeps } from "./server-deps.js";
import { streamInferHandler } from "./stream-infer.js";
import { refusingHandler, unaryHandler } from "./unary-handler.js";

/** The details of PERMISSION_DENIED for the repository RPCs on the public port. */
export const MODEL_CONTROL_DENIED = "model control is available on the admin listener only";

/** RPCs the gateway does not offer, and what each is about (for the UNIMPLEMENTED details). */
const UNOFFERED: Readonly<Record<string, string>> = {
  SystemSharedMemoryStatus: "system shared memory",
  SystemSharedMemoryRegister: "system shared memory",
  SystemSharedMemoryUnregister: "system shared memory",
  CudaSharedMemoryStatus: "CUDA shared memory",
  CudaSharedMemoryRegister: "CUDA shared memory",
  CudaSharedMemoryUnregister: "CUDA shared memory",
  TraceSetting: "tracing (TraceSetting)",
  LogSettings: "runtime log settings (LogSettings)",
};

/** Model control RPCs, refused on the public port. */
const MODEL_CONTROL = ["RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload"];

/** `ModelReadyRequest`, `ModelMetadataRequest`, `ModelConfigRequest`, `ModelStatisticsRequest`. */
type ModelRef = { name?: string; version?: string };

/** Every method of the service. */
export function createInferenceService(deps: GrpcServerDeps): UntypedServiceImplementation {
  const { core } = deps;
  const maxElements = deps.config.limits.maxTensorElements;
  const model = { logFields: (request: ModelRef) => ({ model: request.name }) };
  const service: UntypedServiceImplementation = {
    ServerLive: unaryHandler(deps, "ServerLive", () => ({ live: core.isLive() }), { quiet: true }),
    ServerReady: unaryHandler(deps, "ServerReady", () => ({ ready: core.isReady() }), {
      quiet: true,
    }),
    ServerMetadata: unaryHandler(deps, "ServerMetadata", () => core.serverMetadata()),
    ModelReady: unaryHandler(
      deps,
      "ModelReady",
      async (request: ModelRef, ctx) => ({
        ready: await core.modelReady(request.name ?? "", request.version ?? "", ctx),
      }),
      model,
    ),
    ModelMetadata: unaryHandler(
      deps,
      "ModelMetadata",
      (request: ModelRef, ctx) =>
        core.modelMetadata(request.name ?? "", request.version ?? "", ctx),
      model,
    ),
    ModelConfig: unaryHandler(
      deps,
      "ModelConfig",
      async (request: ModelRef, ctx) => ({
        config: await core.modelConfig(request.name ?? "", request.version ?? "", ctx),
      }),
      model,
    ),
    ModelStatistics: unaryHandler(
      deps,
      "ModelStatistics",
      (request: ModelRef, ctx) =>
        core.modelStatistics(request.name ?? "", request.version ?? "", ctx),
      model,
    ),
    ModelInfer: unaryHandler(
      deps,
      "ModelInfer",
      async (request: ModelInferRequestMessage, ctx, trailers) => {
        const result = await core.infer(toCoreInferRequest(request, maxElements), ctx);
        if (result.cache) trailers.set(CACHE_STATUS_HEADER, result.cache);
        const fallback = degradedTo(result.parameters);
        if (fallback) trailers.set(DEGRADED_HEADER, fallback);
        return toModelInferResponse(result);
      },
      { logFields: (request) => ({ model: request.model_name }) },
    ),
    ModelStreamInfer: streamInferHandler(deps),
  };
  for (const method of MODEL_CONTROL) {
    service[method] = refusingHandler(deps, method, Code.PERMISSION_DENIED, MODEL_CONTROL_DENIED);
  }
  for (const [method, what] of Object.entries(UNOFFERED)) {
    service[method] = refusingHandler(
      deps,
      method,
      Code.UNIMPLEMENTED,
      `${what} is not supported by the infergate gateway`,
    );
  }
  return service;
}
