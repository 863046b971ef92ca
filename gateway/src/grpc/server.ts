/**
 * The gateway's public gRPC listener (default :8001, Triton's port): Triton's
 * `inference.GRPCInferenceService`, `grpc.health.v1.Health` and infergate's own
 * `infergate.v1.Pipelines`, all mapping into one `GatewayCore` (see `core/gateway-core.ts`).
 */
import * as grpc from "@grpc/grpc-js";
import { loadServiceDefinitions } from "../protocol/protos.js";
import { raiseServerReceiveWindow } from "../protocol/server-receive-window.js";
import { createHealthService } from "./health-service.js";
import { createInferenceService } from "./inference-service.js";
import { createPipelinesService, pipelinesServiceDefinition } from "./pipelines-service.js";
import type { GrpcServerDeps } from "./server-deps.js";

export type { GrpcServerDeps } from "./server-deps.js";

/** How often the server pings an idle connection to find clients that vanished, ms. */
const KEEPALIVE_TIME_MS = 30_000;

/** How long a keepalive ping may go unanswered before the connection is dropped, ms. */
const KEEPALIVE_TIMEOUT_MS = 10_000;

/**
 * The shortest interval between client pings the server tolerates, ms. Triton's clients send
 * none by default; clients that keep connections warm may ping every 10 s or so.
 */
const MIN_CLIENT_PING_INTERVAL_MS = 5_000;

/** How long {@link closeGrpcServer} lets open calls finish by default, ms. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;

/**
 * A grpc-js server with the three services, not yet listening (see {@link listenGrpc}). Message
 * limits both ways are `config.triton.maxMessageBytes` (grpc-js's 4 MiB receive default is too
 * small for images); keepalive pings detect dead clients so that their calls get cancelled.
 */
export function createGrpcServer(deps: GrpcServerDeps): grpc.Server {
  const maxBytes = deps.config.triton.maxMessageBytes;
  const server = new grpc.Server({
    "grpc.max_receive_message_length": maxBytes,
    "grpc.max_send_message_length": maxBytes,
    "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
    "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": MIN_CLIENT_PING_INTERVAL_MS,
  });
  const services = loadServiceDefinitions();
  const log = deps.log.child({ component: "grpc" });
  raiseServerReceiveWindow(server, log);
  const handlerDeps = { ...deps, log };
  server.addService(services.inference, createInferenceService(handlerDeps));
  server.addService(services.health, createHealthService(handlerDeps));
  server.addService(pipelinesServiceDefinition(), createPipelinesService(handlerDeps));
  return server;
}

/** Binds `server` to `host:port` without TLS; resolves with the bound port (for port 0). */
export function listenGrpc(server: grpc.Server, host: string, port: number): Promise<number> {
  // IPv6 literals need brackets in a gRPC target.
  const target =
    host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
}

/**
 * Stops accepting calls and waits up to `graceMs` for open ones (streams included) to finish,
 * then cancels whatever is left. Resolves when the server is down.
 */
export function closeGrpcServer(
  server: grpc.Server,
  graceMs: number = DEFAULT_SHUTDOWN_GRACE_MS,
): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
