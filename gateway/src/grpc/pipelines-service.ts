/**
 * `infergate.v1.Pipelines` (protos/infergate.proto): `Run` and `List`, the gRPC twins of
 * `POST /v1/pipelines/{name}` and `GET /v1/pipelines`. JSON travels as strings, files as bytes.
 */
import type { ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { CACHE_STATUS_HEADER } from "../cache/cache-control.js";
import type { PipelineDescription, PipelineInput } from "../core/gateway-core.js";
import { invalidArgument } from "../errors.js";
import { loadServiceDefinitions } from "../protocol/protos.js";
import { DEGRADED_HEADER } from "../resilience/degraded.js";
import type { GrpcServerDeps } from "./server-deps.js";
import { unaryHandler } from "./unary-handler.js";

/** Fully qualified name of the pipelines service. */
export const PIPELINES_SERVICE = "infergate.v1.Pipelines";

/** The media type of a file whose request names none; the pipeline sniffs its bytes. */
const DEFAULT_CONTENT_TYPE = "application/octet-stream";

/** `RunPipelineRequest` as decoded. */
export interface RunPipelineRequestMessage {
  pipeline?: string;
  options_json?: string;
  files?: Record<string, Buffer>;
  timings?: boolean;
  content_types?: Record<string, string>;
}

/** `RunPipelineResponse` as encoded. */
export interface RunPipelineResponseMessage {
  pipeline: string;
  result_json: string;
  timings_ms: Record<string, number>;
}

/** `PipelineInfo` as encoded. */
export interface PipelineInfoMessage {
  name: string;
  version: string;
  description: string;
  input_schema_json: string;
  output_schema_json: string;
  models: string[];
}

/** The grpc-js definition of `infergate.v1.Pipelines`, from the shared proto loading. */
export function pipelinesServiceDefinition(): ServiceDefinition {
  const service = loadServiceDefinitions().packageDefinition[PIPELINES_SERVICE];
  if (service === undefined || "format" in service) {
    throw new Error(`${PIPELINES_SERVICE} is not a service: is infergate.proto in PROTO_FILES?`);
  }
  return service as ServiceDefinition;
}

/** The `Run` and `List` handlers. */
export function createPipelinesService(deps: GrpcServerDeps): UntypedServiceImplementation {
  const { core } = deps;
  return {
    Run: unaryHandler(
      deps,
      "Run",
      async (
        request: RunPipelineRequestMessage,
        ctx,
        trailers,
      ): Promise<RunPipelineResponseMessage> => {
        if (!request.pipeline) throw invalidArgument("RunPipelineRequest: pipeline is empty");
        const result = await core.runPipeline(request.pipeline, toPipelineInput(request), ctx);
        if (result.cache) trailers.set(CACHE_STATUS_HEADER, result.cache);
        if (result.degraded) trailers.set(DEGRADED_HEADER, result.degraded.join(","));
        return {
          pipeline: result.pipeline,
          result_json: JSON.stringify(result.result),
          timings_ms: result.timings ?? {},
        };
      },
      { logFields: (request) => ({ pipeline: request.pipeline }) },
    ),
    List: unaryHandler(deps, "List", () => ({
      pipelines: core.listPipelines().map(toPipelineInfo),
    })),
  };
}

/** A `RunPipelineRequest` as the core's input; `options_json` must hold a JSON object. */
export function toPipelineInput(request: RunPipelineRequestMessage): PipelineInput {
  const files: PipelineInput["files"] = {};
  for (const [name, bytes] of Object.entries(request.files ?? {})) {
    files[name] = { bytes, contentType: request.content_types?.[name] || DEFAULT_CONTENT_TYPE };
  }
  return { fields: parseOptions(request.options_json), files, timings: request.timings ?? false };
}

/** A pipeline description as a `PipelineInfo` message, schemas as JSON text. */
export function toPipelineInfo(pipeline: PipelineDescription): PipelineInfoMessage {
  return {
    name: pipeline.name,
    version: pipeline.version,
    description: pipeline.description,
    input_schema_json: JSON.stringify(pipeline.input),
    output_schema_json: JSON.stringify(pipeline.output),
    models: pipeline.models,
  };
}

function parseOptions(text: string | undefined): Record<string, unknown> {
  if (text === undefined || text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error: unknown) {
    throw invalidArgument(`options_json is not valid JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalidArgument("options_json must be a JSON object");
  }
  return value as Record<string, unknown>;
}
