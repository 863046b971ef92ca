/**
 * `ModelStreamInfer`: many inference requests on one bidirectional stream, as Triton serves it
 * (spec: triton-wire-fields.md). Each request gets one `ModelStreamInferResponse`, in the order
 * the answers complete, its `id` echoing the request's: either the `infer_response` or an
 * `error_message`, which leaves the stream open. When the client ends its side, the requests
 * still running are answered and then the stream ends.
 */
import type { handleBidiStreamingCall, ServerDuplexStream } from "@grpc/grpc-js";
import { CACHE_STATUS_HEADER } from "../cache/cache-control.js";
import type { RequestContext } from "../core/gateway-core.js";
import { Code } from "../errors.js";
import {
  type ModelInferRequestMessage,
  type ModelInferResponseMessage,
  parameterMessage,
} from "../protocol/infer-message.js";
import { toGrpcStatus } from "./map-error.js";
import {
  cacheControlOf,
  cancelSignalOf,
  requestIdOf,
  responseMetadata,
  streamRequestContextOf,
  toCoreInferRequest,
  toModelInferResponse,
} from "./map-request.js";
import type { GrpcServerDeps } from "./server-deps.js";

/** `ModelStreamInferResponse` as grpc-js encodes it. */
export interface ModelStreamInferResponseMessage {
  error_message?: string;
  infer_response?: ModelInferResponseMessage;
}

type InferStream = ServerDuplexStream<ModelInferRequestMessage, ModelStreamInferResponseMessage>;

const METHOD = "ModelStreamInfer";

/** The `ModelStreamInfer` handler. */
export function streamInferHandler(
  deps: GrpcServerDeps,
): handleBidiStreamingCall<ModelInferRequestMessage, ModelStreamInferResponseMessage> {
  const { core, config } = deps;
  const options = { log: deps.log, defaultTimeoutMs: config.triton.defaultTimeoutMs };
  const maxElements = config.limits.maxTensorElements;

  /** Runs one request to its answer; never rejects. */
  const answer = async (
    message: ModelInferRequestMessage,
    ctx: RequestContext,
  ): Promise<{ reply: ModelStreamInferResponseMessage; code: Code }> => {
    try {
      const result = await core.infer(toCoreInferRequest(message, maxElements), ctx);
      const response = toModelInferResponse(result);
      // A stream has one set of trailers for all its answers, so each answer says how the
      // cache served it in its own parameters (ModelInfer sends the `x-cache` trailer).
      if (result.cache) {
        response.parameters = {
          ...response.parameters,
          [CACHE_STATUS_HEADER]: parameterMessage(result.cache),
        };
      }
      return { reply: { infer_response: response }, code: Code.OK };
    } catch (reason: unknown) {
      const status = toGrpcStatus(reason, ctx.log, ctx.requestId);
      const code = status.code as number as Code;
      ctx.log.info({ code: Code[code], model: message.model_name }, status.details);
      return {
        reply: {
          error_message: status.details,
          // Triton echoes the request's id and model with an error, so a client can match it.
          infer_response: {
            id: message.id ?? "",
            model_name: message.model_name ?? "",
            model_version: message.model_version ?? "",
          },
        },
        code,
      };
    }
  };

  return (call: InferStream) => {
    const startMs = performance.now();
    const scope = {
      requestId: requestIdOf(call.metadata),
      deadline: call.getDeadline(),
      signal: cancelSignalOf(call),
      cacheControl: cacheControlOf(call.metadata),
    };
    const log = deps.log.child({ request_id: scope.requestId, rpc: METHOD });
    const closeStream = deps.metrics.streamOpened(METHOD);
    call.sendMetadata(responseMetadata(scope.requestId));
    const counts = { requests: 0, failed: 0 };
    let inFlight = 0;
    let inputEnded = false;
    let finished = false;

    const finish = (code: Code) => {
      if (finished) return;
      finished = true;
      closeStream();
      const durationMs = Math.round((performance.now() - startMs) * 1000) / 1000;
      log.info({ code: Code[code], ...counts, duration_ms: durationMs }, "grpc stream");
    };
    const endIfDone = () => {
      if (inputEnded && inFlight === 0 && !call.cancelled) {
        call.end();
        finish(Code.OK);
      }
    };
    const write = (reply: ModelStreamInferResponseMessage) => {
      if (call.cancelled || finished) return;
      // A client that does not read its answers stops being read until it does (backpressure).
      if (!call.write(reply) && !call.isPaused()) {
        call.pause();
        call.once("drain", () => call.resume());
      }
    };

    call.on("data", (message: ModelInferRequestMessage) => {
      const ctx = streamRequestContextOf(scope, counts.requests++, options);
      const recorded = deps.metrics.started(METHOD);
      inFlight++;
      void answer(message, ctx).then(({ reply, code }) => {
        inFlight--;
        if (code !== Code.OK) counts.failed++;
        recorded(call.cancelled ? Code.CANCELLED : code);
        write(reply);
        endIfDone();
      });
    });
    call.on("end", () => {
      inputEnded = true;
      endIfDone();
    });
    call.on("cancelled", () => {
      finish(Date.now() >= Number(call.getDeadline()) ? Code.DEADLINE_EXCEEDED : Code.CANCELLED);
    });
    call.on("error", (error: Error) => {
      log.warn({ err: error.message }, "grpc stream failed");
      finish(Code.UNKNOWN);
    });
  };
}
