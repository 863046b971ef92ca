/**
 * `grpc.health.v1.Health` on the public gRPC port, so that load balancers, Kubernetes probes and
 * `grpc_health_probe` can ask the gateway whether it serves: SERVING while the core is ready
 * (at least one healthy Triton endpoint), NOT_SERVING otherwise.
 */
import type {
  handleServerStreamingCall,
  ServerWritableStream,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { Code, InferError } from "../errors.js";
import { HEALTH_SERVICE, INFERENCE_SERVICE } from "../protocol/protos.js";
import { PIPELINES_SERVICE } from "./pipelines-service.js";
import type { GrpcServerDeps } from "./server-deps.js";
import { unaryHandler } from "./unary-handler.js";

/** How often `Watch` looks at readiness, ms. */
const WATCH_INTERVAL_MS = 1000;

type ServingStatus = "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";
type HealthRequest = { service?: string };

/** Services a health check may name; `""` is the server as a whole. */
const KNOWN_SERVICES: ReadonlySet<string> = new Set([
  "",
  INFERENCE_SERVICE,
  PIPELINES_SERVICE,
  HEALTH_SERVICE,
]);

/** The `Check` and `Watch` handlers. */
export function createHealthService(deps: GrpcServerDeps): UntypedServiceImplementation {
  const status = (): ServingStatus => (deps.core.isReady() ? "SERVING" : "NOT_SERVING");
  return {
    Check: unaryHandler(
      deps,
      "Check",
      (request: HealthRequest) => {
        const service = request.service ?? "";
        if (!KNOWN_SERVICES.has(service)) {
          throw new InferError(Code.NOT_FOUND, `unknown service '${service}'`);
        }
        return { status: status() };
      },
      { quiet: true },
    ),
    Watch: watchHandler(deps, status),
  };
}

/** `Watch`: the status now and at every change after, until the client goes away. */
function watchHandler(
  deps: GrpcServerDeps,
  status: () => ServingStatus,
): handleServerStreamingCall<HealthRequest, { status: ServingStatus }> {
  return (call: ServerWritableStream<HealthRequest, { status: ServingStatus }>) => {
    const closeStream = deps.metrics.streamOpened("Watch");
    if (!KNOWN_SERVICES.has(call.request.service ?? "")) {
      // The health protocol answers an unknown service on Watch with a status, not an error.
      call.write({ status: "SERVICE_UNKNOWN" });
      call.once("cancelled", closeStream);
      return;
    }
    let last = status();
    call.write({ status: last });
    const timer = setInterval(() => {
      const now = status();
      if (now !== last) call.write({ status: now });
      last = now;
    }, WATCH_INTERVAL_MS);
    timer.unref();
    call.once("cancelled", () => {
      clearInterval(timer);
      closeStream();
    });
  };
}
