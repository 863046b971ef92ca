/** What the gRPC front end's handlers are built from. */
import type { GatewayConfig } from "../config/schema.js";
import type { GatewayCore } from "../core/gateway-core.js";
import type { Logger } from "../log.js";
import type { GrpcMetrics } from "./grpc-metrics.js";

/** The core every handler calls, the validated configuration, the logger and the metrics. */
export interface GrpcServerDeps {
  core: GatewayCore;
  config: GatewayConfig;
  log: Logger;
  metrics: GrpcMetrics;
}
