/**
 * Integration-test helpers for the whole gateway process as `infergate serve` runs it
 * (`startGateway`: public HTTP, gRPC, metrics and admin listeners, the Triton client, the
 * pipelines) on 127.0.0.1 port 0, in front of given Triton endpoints, with a gRPC client of its
 * public port and readers for its `/metrics`.
 */
import * as grpc from "@grpc/grpc-js";
import { loadConfig } from "../../../gateway/src/config/load-config.js";
import type { GatewayConfig } from "../../../gateway/src/config/schema.js";
import { type RunningGateway, startGateway } from "../../../gateway/src/gateway.js";
import { type Logger, silentLogger } from "../../../gateway/src/log.js";
import { gatewayMethods } from "./grpc-gateway.js";
import {
  type Message,
  methodDefinition,
  type PrometheusText,
  parsePrometheusText,
  samplesOf,
} from "./model-server.js";

/** Options of {@link startFullGateway}. */
export interface FullGatewayOptions {
  /** Triton endpoints as `host:port`, named `e0`, `e1`, ... in metrics. */
  endpoints: string[];
  /** Changes the configuration after the test defaults are set. */
  configure?: (config: GatewayConfig) => void;
  /** The gateway's logger; default silent. */
  log?: Logger;
}

/** Per-call options of {@link FullGateway.unary}. */
export interface FullCallOptions {
  /** Deadline from now, ms. Default 10000, so that no test hangs on a lost call. */
  deadlineMs?: number;
  /** Request metadata, e.g. `x-request-id`. */
  metadata?: Record<string, string>;
  /** Called with the client call as soon as it starts (to cancel it). */
  onCall?: (call: grpc.ClientUnaryCall) => void;
}

/** What a unary call ended with: the response or the grpc-js error. */
export interface FullCallOutcome {
  response?: Message;
  error?: grpc.ServiceError;
}

/** A running gateway and clients of its listeners. */
export interface FullGateway {
  gateway: RunningGateway;
  config: GatewayConfig;
  /** `http://127.0.0.1:<public HTTP port><path>`. */
  url(path: string): string;
  /** `http://127.0.0.1:<admin port><path>`. */
  adminUrl(path: string): string;
  /**
   * A unary call on the public gRPC port: an inference RPC name (`"ModelInfer"`) or a full path
   * (`"/infergate.v1.Pipelines/Run"`). Never rejects: the outcome holds the error.
   */
  unary(method: string, request: object, options?: FullCallOptions): Promise<FullCallOutcome>;
  /** GETs and parses the gateway's `/metrics`. */
  scrape(): Promise<PrometheusText>;
  close(): Promise<void>;
}

/** The test configuration: defaults, every listener on 127.0.0.1:0, fast health checks. */
export function fullGatewayConfig(endpoints: string[]): GatewayConfig {
  const config = loadConfig(undefined, {});
  config.server = { host: "127.0.0.1", httpPort: 0, grpcPort: 0, metricsPort: 0 };
  config.admin = { host: "127.0.0.1", port: 0 };
  config.triton.endpoints = endpoints.map((url, i) => ({ name: `e${i}`, url }));
  config.triton.healthIntervalMs = 200;
  config.log.level = "silent";
  return config;
}

/** Starts the gateway in front of `options.endpoints` and connects a gRPC client to it. */
export async function startFullGateway(options: FullGatewayOptions): Promise<FullGateway> {
  const config = fullGatewayConfig(options.endpoints);
  options.configure?.(config);
  const gateway = await startGateway({ config, log: options.log ?? silentLogger() });
  const client = new grpc.Client(
    `127.0.0.1:${gateway.grpcPort}`,
    grpc.credentials.createInsecure(),
    { "grpc.max_receive_message_length": -1, "grpc.max_send_message_length": -1 },
  );
  const definitions = gatewayMethods();
  return {
    gateway,
    config,
    url: (path) => `http://127.0.0.1:${gateway.httpPort}${path}`,
    adminUrl: (path) => `http://127.0.0.1:${gateway.adminPort}${path}`,
    unary(method, request, callOptions = {}) {
      const definition = definitions.get(method);
      if (!definition) throw new Error(`no gRPC method '${method}'`);
      const metadata = new grpc.Metadata();
      for (const [key, value] of Object.entries(callOptions.metadata ?? {})) {
        metadata.set(key, value);
      }
      return new Promise((resolve) => {
        const call = client.makeUnaryRequest(
          definition.path,
          definition.requestSerialize,
          definition.responseDeserialize,
          request,
          metadata,
          { deadline: new Date(Date.now() + (callOptions.deadlineMs ?? 10_000)) },
          (error, response) => resolve(error ? { error } : { response: response! }),
        );
        callOptions.onCall?.(call);
      });
    },
    scrape: () => scrapeUrl(`http://127.0.0.1:${gateway.metricsPort}/metrics`),
    async close() {
      client.close();
      await gateway.close();
    },
  };
}

/** A `ModelStreamInfer` stream to the gRPC port `port` on 127.0.0.1, on a client of its own. */
export interface InferStream {
  stream: grpc.ClientDuplexStream<Message, Message>;
  /** Closes the client (and with it the stream). */
  close(): void;
}

/** Opens an {@link InferStream} with a deadline `deadlineMs` from now (default 10 s). */
export function openInferStream(port: number, deadlineMs = 10_000): InferStream {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const definition = methodDefinition("ModelStreamInfer");
  const stream = client.makeBidiStreamRequest(
    definition.path,
    definition.requestSerialize,
    definition.responseDeserialize,
    new grpc.Metadata(),
    { deadline: new Date(Date.now() + deadlineMs) },
  );
  return { stream, close: () => client.close() };
}

/** GETs a Prometheus text exposition and parses it. */
export async function scrapeUrl(url: string): Promise<PrometheusText> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}`);
  return parsePrometheusText(await response.text());
}

/** The sum of the values of metric `name` over the samples whose labels include `labels`. */
export function sumOf(
  metrics: PrometheusText,
  name: string,
  labels: Record<string, string> = {},
): number {
  return samplesOf(metrics, name, labels).reduce((sum, s) => sum + s.value, 0);
}

/**
 * Polls `probe` every 20 ms until it returns true; rejects with `what` after `timeoutMs`.
 * Resolves with the milliseconds it took.
 */
export async function waitFor(
  what: string,
  probe: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await probe()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
