/**
 * The gateway process: the Triton client, the core, the pipelines, and four listeners — public
 * HTTP (default :8000), public gRPC (:8001), Prometheus metrics (:8002) and the admin HTTP
 * listener (127.0.0.1:8003) — composed from a validated configuration.
 */
import type { Server as HttpServer } from "node:http";
import { createCacheFromConfig } from "./cache/create-cache.js";
import { cacheFlushRoute } from "./cache/flush-route.js";
import { registerStageCacheMetrics } from "./cache/stage-cache.js";
import type { GatewayConfig } from "./config/schema.js";
import { createGatewayCore } from "./core/create-core.js";
import type { GatewayCore } from "./core/gateway-core.js";
import { createGrpcMetrics } from "./grpc/grpc-metrics.js";
import { closeGrpcServer, createGrpcServer, listenGrpc } from "./grpc/server.js";
import { createHttpMetrics } from "./http/http-metrics.js";
import {
  type AdminRoute,
  createAdminApp,
  createHttpApp,
  type Listening,
  listen,
} from "./http/server.js";
import type { Logger } from "./log.js";
import {
  createMetricsRegistry,
  listeningPort,
  type MetricsRegistry,
  serveMetrics,
} from "./metrics.js";
import { createPipelineHost } from "./pipeline/pipeline-host.js";
import { PIPELINES } from "./pipelines/registry.js";
import { createTritonClient, type TritonClient } from "./triton/triton-client.js";

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  config: GatewayConfig;
  log: Logger;
  /** Extra admin routes (cache flush, breaker reset, ...). */
  adminRoutes?: readonly AdminRoute[];
  version?: string;
}

/** A running gateway. */
export interface RunningGateway {
  readonly httpPort: number;
  readonly grpcPort: number;
  readonly metricsPort: number;
  readonly adminPort: number;
  readonly core: GatewayCore;
  readonly triton: TritonClient;
  readonly metrics: MetricsRegistry;
  /** Stops the listeners (letting open requests finish), then the Triton connections. */
  close(): Promise<void>;
}

/** Admin routes of the circuit breakers: list their states, close them all. */
function breakerRoutes(triton: TritonClient): AdminRoute[] {
  return [
    {
      method: "post",
      path: "/v1/breakers/reset",
      handler: async () => ({ reset: triton.resetBreakers() }),
    },
  ];
}

/** The registered pipelines with the settings they take from the configuration. */
function configuredPipelines(config: GatewayConfig) {
  return PIPELINES.map((p) =>
    p.name === "ocr"
      ? p.configure({
          maxImagePixels: config.limits.maxImagePixels,
          repository: config.embedded.repository,
          stageCacheBytes: config.cache.enabled ? config.cache.stageMaxBytes : 0,
        })
      : p,
  );
}

/** Starts every part; resolves once all listeners are bound. */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { config } = options;
  const log = options.log.child({ component: "gateway" });
  const metrics = createMetricsRegistry({ nodeDefaults: true });
  registerStageCacheMetrics(metrics);
  const triton = await createTritonClient({
    ...config.triton,
    log,
    metrics,
    resilience: config.resilience,
    models: config.models,
  });
  const cache = await createCacheFromConfig({
    settings: config.cache,
    registry: metrics,
    log,
    triton,
  });
  const core = createGatewayCore({
    config,
    triton,
    cache,
    pipelines: createPipelineHost(configuredPipelines(config), metrics),
    log,
    serverVersion: options.version,
  });
  const httpMetrics = createHttpMetrics(metrics);
  const started: { close(): Promise<void> }[] = [];
  try {
    const http = await listen(
      createHttpApp({ core, config, log, metrics: httpMetrics }),
      config.server.httpPort,
      config.server.host,
    );
    started.push(http);
    const admin: Listening = await listen(
      createAdminApp({
        core,
        config,
        log,
        metrics: httpMetrics,
        routes: [
          ...breakerRoutes(triton),
          ...(cache ? [cacheFlushRoute(cache)] : []),
          ...(options.adminRoutes ?? []),
        ],
      }),
      config.admin.port,
      config.admin.host,
    );
    started.push(admin);
    const grpcServer = createGrpcServer({ core, config, log, metrics: createGrpcMetrics(metrics) });
    const grpcPort = await listenGrpc(grpcServer, config.server.host, config.server.grpcPort);
    started.push({ close: () => closeGrpcServer(grpcServer) });
    const metricsServer: HttpServer = await serveMetrics(
      metrics,
      config.server.metricsPort,
      config.server.host,
    );
    started.push({
      close: () => new Promise<void>((resolve) => metricsServer.close(() => resolve())),
    });
    log.info(
      {
        http: `${config.server.host}:${http.port}`,
        grpc: `${config.server.host}:${grpcPort}`,
        metrics: `${config.server.host}:${listeningPort(metricsServer)}`,
        admin: `${config.admin.host}:${admin.port}`,
        triton: triton.endpoints.map((e) => `${e.name}=${e.url} (${e.health})`),
        pipelines: PIPELINES.map((p) => p.name),
      },
      "gateway ready",
    );
    return {
      httpPort: http.port,
      grpcPort,
      metricsPort: listeningPort(metricsServer),
      adminPort: admin.port,
      core,
      triton,
      metrics,
      async close() {
        await Promise.all(started.map((s) => s.close()));
        triton.close();
        await cache?.close();
        log.info({}, "gateway stopped");
      },
    };
  } catch (error: unknown) {
    await Promise.all(started.map((s) => s.close()));
    triton.close();
    await cache?.close();
    throw error;
  }
}
