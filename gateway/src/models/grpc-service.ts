/**
 * The embedded model server's `inference.GRPCInferenceService` and `grpc.health.v1.Health`
 * handlers: wire messages in, the model manager's answers out, errors as gRPC statuses with
 * Triton's codes. No model logic lives here.
 */
import type {
  handleBidiStreamingCall,
  handleUnaryCall,
  ServerDuplexStream,
  ServerUnaryCall,
  ServiceError,
  status as Status,
  sendUnaryData,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { Code, InferError, invalidArgument } from "../errors.js";
import type { Logger } from "../log.js";
import { dataTypeFromConfig } from "../protocol/datatype.js";
import {
  decodeInferRequestMessage,
  encodeInferResponseMessage,
  type ModelInferRequestMessage,
  type ModelInferResponseMessage,
  type ParameterValue,
} from "../protocol/infer-message.js";
import type { ShapeOptions } from "../protocol/shape.js";
import type { InferRequest } from "./infer-request.js";
import type { ModelManager } from "./model-manager.js";

/** What the handlers need. */
export interface ModelServiceDeps {
  manager: ModelManager;
  log: Logger;
  /** False until startup loading has finished and after shutdown begins. */
  isReady: () => boolean;
  serverName: string;
  serverVersion: string;
  limits?: ShapeOptions;
}

/** Extensions of Triton's protocol this server implements, for `ServerMetadata`. */
export const SERVER_EXTENSIONS = [
  "model_repository",
  "model_configuration",
  "schedule_policy",
  "statistics",
];

type Unary<Req, Res> = (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res;

/** Wraps an async handler: its result or error goes to the callback as a gRPC status. */
function unary<Req, Res>(
  log: Logger,
  rpc: string,
  handler: Unary<Req, Res>,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    Promise.resolve()
      .then(() => handler(call.request, call))
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(toServiceError(log, rpc, error)),
      );
  };
}

/** An InferError as a grpc-js status; unexpected errors are logged with their cause. */
export function toServiceError(log: Logger, rpc: string, reason: unknown): Partial<ServiceError> {
  const error = InferError.from(reason);
  if (error.code === Code.INTERNAL || error.code === Code.UNKNOWN) {
    log.error(
      {
        rpc,
        err:
          error.cause instanceof Error ? error.cause.stack : String(error.cause ?? error.message),
      },
      error.message,
    );
  }
  return { code: error.code as number as Status, details: error.message };
}

/** Maps a decoded wire request onto the core request, reading the reserved parameters. */
export function toInferRequest(
  message: ModelInferRequestMessage,
  signal: AbortSignal | undefined,
  limits?: ShapeOptions,
): InferRequest {
  const decoded = decodeInferRequestMessage(message, limits);
  return {
    modelName: decoded.modelName,
    modelVersion: decoded.modelVersion,
    id: decoded.id,
    inputs: decoded.inputs,
    outputs: decoded.outputs,
    priority: nonNegativeInteger(decoded.parameters, "priority"),
    timeoutUs: nonNegativeInteger(decoded.parameters, "timeout"),
    signal,
  };
}

function nonNegativeInteger(
  params: Record<string, ParameterValue>,
  name: string,
): number | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw invalidArgument(
      `request parameter '${name}' must be a non-negative integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

const CLIENT_CANCELLED = new InferError(Code.CANCELLED, "the client cancelled the request");

/** An AbortSignal that fires when the call is cancelled or its deadline passes. */
function signalOf(call: {
  on(event: "cancelled", listener: () => void): unknown;
  getDeadline(): Date | number;
}): {
  signal: AbortSignal;
  dispose: () => void;
} {
  const controller = new AbortController();
  // grpc-js also emits 'cancelled' after an answered call closes: one shared reason keeps that cheap.
  call.on("cancelled", () => controller.abort(CLIENT_CANCELLED));
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  let timer: NodeJS.Timeout | undefined;
  if (Number.isFinite(ms)) {
    timer = setTimeout(
      () => controller.abort(new InferError(Code.DEADLINE_EXCEEDED, "deadline exceeded")),
      Math.max(0, ms - Date.now()),
    );
  }
  return { signal: controller.signal, dispose: () => clearTimeout(timer) };
}

const unimplemented = (what: string) =>
  ((_call: unknown, callback: sendUnaryData<unknown>) =>
    callback({
      code: Code.UNIMPLEMENTED as number as Status,
      details: `${what} is not supported by the infergate embedded model server`,
    })) as handleUnaryCall<unknown, unknown>;

/** The `GRPCInferenceService` implementation. */
export function createInferenceService(deps: ModelServiceDeps): UntypedServiceImplementation {
  const { manager, log } = deps;
  type Named = { name?: string; version?: string };

  const infer = async (
    message: ModelInferRequestMessage,
    signal: AbortSignal,
  ): Promise<ModelInferResponseMessage> => {
    const request = toInferRequest(message, signal, deps.limits);
    const model = manager.get(request.modelName, request.modelVersion);
    // Decoded from this message and answered from the outputs: nothing reads the inputs after.
    const result = await model.infer({ ...request, inputsTransferable: true });
    return encodeInferResponseMessage(result);
  };

  const modelStreamInfer: handleBidiStreamingCall<ModelInferRequestMessage, unknown> = (
    call: ServerDuplexStream<ModelInferRequestMessage, unknown>,
  ) => {
    const { signal, dispose } = signalOf(call);
    let inFlight = 0;
    let ended = false;
    const finish = () => {
      if (ended && inFlight === 0) {
        dispose();
        call.end();
      }
    };
    call.on("data", (message: ModelInferRequestMessage) => {
      inFlight++;
      infer(message, signal)
        .then(
          (response) => {
            if (!call.cancelled) call.write({ infer_response: response });
          },
          (error: unknown) => {
            // One failed request answers with error_message and leaves the stream open.
            const failure = InferError.from(error);
            if (!call.cancelled) {
              call.write({
                error_message: failure.message,
                infer_response: {
                  id: message.id ?? "",
                  model_name: message.model_name ?? "",
                  model_version: message.model_version ?? "",
                },
              });
            }
          },
        )
        .finally(() => {
          inFlight--;
          finish();
        });
    });
    call.on("end", () => {
      ended = true;
      finish();
    });
    call.on("error", () => {
      ended = true;
      dispose();
    });
  };

  return {
    ServerLive: unary(log, "ServerLive", () => ({ live: true })),
    ServerReady: unary(log, "ServerReady", () => ({ ready: deps.isReady() })),
    ServerMetadata: unary(log, "ServerMetadata", () => ({
      name: deps.serverName,
      version: deps.serverVersion,
      extensions: SERVER_EXTENSIONS,
    })),
    ModelReady: unary(log, "ModelReady", (req: Named) => ({
      ready: manager.isReady(req.name ?? "", req.version ?? ""),
    })),
    ModelMetadata: unary(log, "ModelMetadata", (req: Named) => {
      const model = manager.get(req.name ?? "", req.version ?? "");
      const config = model.config;
      const batch = (config.max_batch_size ?? 0) > 0 ? [-1] : [];
      const tensors = (
        list: { name?: string; data_type?: string; dims?: number[] }[] | undefined,
      ) =>
        (list ?? []).map((t) => ({
          name: t.name ?? "",
          datatype: dataTypeFromConfig(t.data_type ?? "") ?? "",
          shape: [...batch, ...(t.dims ?? [])],
        }));
      return {
        name: model.name,
        versions: manager.servedVersions(model.name).map(String),
        platform: config.platform || config.backend || "",
        inputs: tensors(config.input),
        outputs: tensors(config.output),
      };
    }),
    ModelConfig: unary(log, "ModelConfig", (req: Named) => ({
      config: manager.get(req.name ?? "", req.version ?? "").config,
    })),
    ModelInfer: unary(log, "ModelInfer", async (req: ModelInferRequestMessage, call) => {
      const { signal, dispose } = signalOf(call);
      try {
        return await infer(req, signal);
      } finally {
        dispose();
      }
    }),
    ModelStreamInfer: modelStreamInfer,
    ModelStatistics: unary(log, "ModelStatistics", (req: Named) => {
      const name = req.name ?? "";
      const models = name === "" ? manager.allServed() : [manager.get(name, req.version ?? "")];
      return { model_stats: models.map((m) => m.statistics()) };
    }),
    RepositoryIndex: unary(log, "RepositoryIndex", async (req: { ready?: boolean }) => ({
      models: await manager.index(req.ready ?? false),
    })),
    RepositoryModelLoad: unary(
      log,
      "RepositoryModelLoad",
      async (req: {
        model_name?: string;
        parameters?: Record<string, { string_param?: string }>;
      }) => {
        if (!req.model_name) throw invalidArgument("RepositoryModelLoad: model_name is empty");
        await manager.requestLoad(req.model_name, req.parameters?.["config"]?.string_param);
        return {};
      },
    ),
    RepositoryModelUnload: unary(
      log,
      "RepositoryModelUnload",
      async (req: { model_name?: string }) => {
        if (!req.model_name) throw invalidArgument("RepositoryModelUnload: model_name is empty");
        await manager.requestUnload(req.model_name);
        return {};
      },
    ),
    SystemSharedMemoryStatus: unimplemented("system shared memory"),
    SystemSharedMemoryRegister: unimplemented("system shared memory"),
    SystemSharedMemoryUnregister: unimplemented("system shared memory"),
    CudaSharedMemoryStatus: unimplemented("CUDA shared memory"),
    CudaSharedMemoryRegister: unimplemented("CUDA shared memory"),
    CudaSharedMemoryUnregister: unimplemented("CUDA shared memory"),
    TraceSetting: unimplemented("tracing (TraceSetting)"),
    LogSettings: unimplemented("runtime log settings (LogSettings)"),
  };
}

/** The `grpc.health.v1.Health` implementation: SERVING once ready, for the server and its service. */
export function createHealthService(
  deps: Pick<ModelServiceDeps, "isReady" | "log">,
): UntypedServiceImplementation {
  const known = new Set(["", "inference.GRPCInferenceService"]);
  return {
    Check: unary(deps.log, "Health/Check", (req: { service?: string }) => {
      if (!known.has(req.service ?? "")) {
        throw new InferError(Code.NOT_FOUND, `unknown service '${req.service}'`);
      }
      return { status: deps.isReady() ? "SERVING" : "NOT_SERVING" };
    }),
    Watch: (call: { write(m: unknown): void; end(): void }) => {
      call.write({ status: deps.isReady() ? "SERVING" : "NOT_SERVING" });
      call.end();
    },
  };
}
