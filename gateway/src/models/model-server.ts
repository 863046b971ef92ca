/**
 * The embedded model server: a Triton model repository served on the CPU by ONNX Runtime,
 * speaking Triton's `GRPCInferenceService` (default :8001) and exporting Triton's Prometheus
 * metrics (default :8002). The gateway, Triton's official clients and Triton tooling talk to it
 * exactly as to Triton.
 */
import type { Server as HttpServer } from "node:http";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "../log.js";
import { createMetricsRegistry, listeningPort, serveMetrics } from "../metrics.js";
import { loadServiceDefinitions } from "../protocol/protos.js";
import { raiseServerReceiveWindow } from "../protocol/server-receive-window.js";
import { createHealthService, createInferenceService } from "./grpc-service.js";
import { type ModelControlMode, ModelManager } from "./model-manager.js";
import { registerTritonMetrics } from "./triton-metrics.js";

/** Options of {@link startModelServer}. */
export interface ModelServerOptions {
  repository: string;
  /** Host to bind; default 127.0.0.1. */
  host?: string;
  /** gRPC port; default 8001, 0 = any free port. */
  grpcPort?: number;
  /** Metrics port; default 8002, 0 = any free port, -1 = no metrics listener. */
  metricsPort?: number;
  controlMode?: ModelControlMode;
  /** `explicit` mode: models to load at start (`*` = all). */
  startupModels?: string[];
  /** `poll` mode: rescan interval in milliseconds (default 5000). */
  pollIntervalMs?: number;
  /** ONNX Runtime intra-op threads per instance (default: cores / instances). */
  intraOpThreads?: number;
  /** Largest gRPC message in bytes, both ways; default 256 MiB (images exceed grpc-js's 4 MiB). */
  maxMessageBytes?: number;
  /** How long `close()` waits for open calls before cutting them, in ms. Default 5000. */
  shutdownGraceMs?: number;
  log: Logger;
}

/** A running model server. */
export interface ModelServer {
  readonly grpcPort: number;
  readonly metricsPort: number | undefined;
  readonly manager: ModelManager;
  /** Stops listening, lets in-flight requests finish, unloads every model. */
  close(): Promise<void>;
}

/** The name and version `ServerMetadata` reports. */
export const MODEL_SERVER_NAME = "infergate-models";

/** Loads the repository and starts listening. Resolves when ready to serve. */
export async function startModelServer(options: ModelServerOptions): Promise<ModelServer> {
  const host = options.host ?? "127.0.0.1";
  const log = options.log.child({ component: "models" });
  const manager = new ModelManager({
    repository: options.repository,
    controlMode: options.controlMode ?? "none",
    startupModels: options.startupModels,
    pollIntervalMs: options.pollIntervalMs,
    intraOpThreads: options.intraOpThreads,
    log,
  });
  let ready = false;
  const maxBytes = options.maxMessageBytes ?? 256 * 1024 * 1024;
  const server = new grpc.Server({
    "grpc.max_receive_message_length": maxBytes,
    "grpc.max_send_message_length": maxBytes,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5000,
  });
  raiseServerReceiveWindow(server, log);
  const services = loadServiceDefinitions();
  const deps = {
    manager,
    log,
    isReady: () => ready,
    serverName: MODEL_SERVER_NAME,
    serverVersion: process.env["npm_package_version"] ?? "0.1.0",
  };
  server.addService(services.inference, createInferenceService(deps));
  server.addService(services.health, createHealthService(deps));

  await manager.start();
  let grpcPort: number;
  let metricsServer: HttpServer | undefined;
  try {
    grpcPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(
        `${host}:${options.grpcPort ?? 8001}`,
        grpc.ServerCredentials.createInsecure(),
        (error, port) => (error ? reject(error) : resolve(port)),
      );
    });
    if ((options.metricsPort ?? 8002) >= 0) {
      const registry = createMetricsRegistry();
      registerTritonMetrics(registry, () => manager.allServed());
      metricsServer = await serveMetrics(registry, options.metricsPort ?? 8002, host);
    }
  } catch (error: unknown) {
    server.forceShutdown();
    await manager.close();
    throw error;
  }
  ready = true;
  log.info(
    {
      grpc: `${host}:${grpcPort}`,
      metrics: metricsServer ? `${host}:${listeningPort(metricsServer)}` : null,
      models: manager.allServed().map((m) => `${m.name}:${m.version}`),
    },
    "model server ready",
  );

  return {
    grpcPort,
    metricsPort: metricsServer ? listeningPort(metricsServer) : undefined,
    manager,
    async close() {
      ready = false;
      // Graceful first; a client holding a stream open must not keep the process alive forever.
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, options.shutdownGraceMs ?? 5000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      metricsServer?.closeAllConnections();
      await new Promise<void>((resolve) =>
        metricsServer ? metricsServer.close(() => resolve()) : resolve(),
      );
      await manager.close();
      log.info({}, "model server stopped");
    },
  };
}
