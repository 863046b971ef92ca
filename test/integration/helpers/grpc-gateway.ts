/**
 * Integration-test helpers for the gateway's gRPC front end: the real server on 127.0.0.1 port 0
 * around a given core, a plain grpc-js client, its metrics registry and a capturing logger.
 */
import * as grpc from "@grpc/grpc-js";
import { loadConfig } from "../../../gateway/src/config/load-config.js";
import type { GatewayConfig } from "../../../gateway/src/config/schema.js";
import type { GatewayCore } from "../../../gateway/src/core/gateway-core.js";
import { createGrpcMetrics } from "../../../gateway/src/grpc/grpc-metrics.js";
import { pipelinesServiceDefinition } from "../../../gateway/src/grpc/pipelines-service.js";
import { closeGrpcServer, createGrpcServer, listenGrpc } from "../../../gateway/src/grpc/server.js";
import { createMetricsRegistry, type MetricsRegistry } from "../../../gateway/src/metrics.js";
import { loadServiceDefinitions } from "../../../gateway/src/protocol/protos.js";
import { type CaptureLogger, captureLogger } from "../../fixtures/capture-logger.js";
import type { Message } from "./model-server.js";

/** Per-call options. */
export interface GatewayCallOptions {
  /** Deadline from now, ms; `null` sends none. Default 10000, so that no test hangs. */
  deadlineMs?: number | null;
  /** Request metadata, e.g. `x-request-id`. */
  metadata?: grpc.Metadata;
  /** Called with the client call as soon as it starts (to cancel it). */
  onCall?: (call: grpc.ClientUnaryCall) => void;
}

/** What a unary call ended with: a response or an error, and the initial metadata. */
export interface UnaryOutcome {
  response?: Message;
  error?: grpc.ServiceError;
  /** The response's initial metadata (empty if none came). */
  headers: grpc.Metadata;
}

/** A running gateway gRPC server and a client connected to it. */
export interface TestGateway {
  port: number;
  config: GatewayConfig;
  registry: MetricsRegistry;
  log: CaptureLogger;
  client: grpc.Client;
  /**
   * A unary call: `method` is an inference RPC name (`"ModelInfer"`) or a full path
   * (`"/infergate.v1.Pipelines/Run"`). Never rejects: the outcome holds the error.
   */
  unary(method: string, request: object, options?: GatewayCallOptions): Promise<UnaryOutcome>;
  /** Opens a `ModelStreamInfer` stream. */
  stream(options?: Omit<GatewayCallOptions, "onCall">): grpc.ClientDuplexStream<Message, Message>;
  close(): Promise<void>;
}

/** Every method of the gateway's three gRPC services, by inference RPC name and by full path. */
export function gatewayMethods(): Map<string, grpc.MethodDefinition<object, Message>> {
  const { inference, health } = loadServiceDefinitions();
  const byName = new Map<string, grpc.MethodDefinition<object, Message>>();
  for (const service of [inference, health, pipelinesServiceDefinition()]) {
    for (const [name, method] of Object.entries(service)) {
      const definition = method as grpc.MethodDefinition<object, Message>;
      byName.set(definition.path, definition);
      if (service === inference) byName.set(name, definition);
    }
  }
  return byName;
}

function callOptions(options: GatewayCallOptions): grpc.CallOptions {
  const deadlineMs = options.deadlineMs === undefined ? 10_000 : options.deadlineMs;
  return deadlineMs === null ? {} : { deadline: new Date(Date.now() + deadlineMs) };
}

/** The default configuration (no file, no environment), changed by `configure`. */
export function testConfig(configure: (config: GatewayConfig) => void = () => {}): GatewayConfig {
  const config = loadConfig(undefined, {});
  configure(config);
  return config;
}

/**
 * Starts the gRPC front end around `core` on 127.0.0.1:0, and connects a client with no message
 * size limits.
 */
export async function startTestGateway(
  core: GatewayCore,
  config: GatewayConfig = testConfig(),
): Promise<TestGateway> {
  const registry = createMetricsRegistry();
  const log = captureLogger();
  const server = createGrpcServer({ core, config, log, metrics: createGrpcMetrics(registry) });
  const port = await listenGrpc(server, "127.0.0.1", 0);
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
    "grpc.max_send_message_length": -1,
  });
  const definitions = gatewayMethods();
  const definition = (method: string) => {
    const found = definitions.get(method);
    if (!found) throw new Error(`no gRPC method '${method}'`);
    return found;
  };
  return {
    port,
    config,
    registry,
    log,
    client,
    unary(method, request, options = {}) {
      const { path, requestSerialize, responseDeserialize } = definition(method);
      return new Promise((resolve) => {
        let headers = new grpc.Metadata();
        const call = client.makeUnaryRequest(
          path,
          requestSerialize,
          responseDeserialize,
          request,
          options.metadata ?? new grpc.Metadata(),
          callOptions(options),
          (error, response) =>
            resolve(error ? { error, headers } : { response: response!, headers }),
        );
        call.on("metadata", (metadata: grpc.Metadata) => {
          headers = metadata;
        });
        options.onCall?.(call);
      });
    },
    stream(options = {}) {
      const { path, requestSerialize, responseDeserialize } = definition("ModelStreamInfer");
      return client.makeBidiStreamRequest(
        path,
        requestSerialize,
        responseDeserialize,
        options.metadata ?? new grpc.Metadata(),
        callOptions(options),
      );
    },
    async close() {
      client.close();
      await closeGrpcServer(server, 2000);
    },
  };
}

/** Metadata with one `x-request-id`. */
export function withRequestId(id: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("x-request-id", id);
  return metadata;
}
