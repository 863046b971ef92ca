/**
 * The gateway's configuration: one YAML file plus environment overrides, validated at start-up
 * (see `load-config.ts`). This zod schema is the single source of every option, its default
 * and its rule; the README's configuration reference lists the same.
 */
import { z } from "zod";

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();

/** One Triton (or embedded model server) gRPC endpoint. */
const endpointSchema = z.strictObject({
  /** Short name used in metrics labels and logs. */
  name: z.string().regex(/^[a-zA-Z0-9_.-]+$/, "must be letters, digits, '_', '.' or '-'"),
  /** `host:port` of Triton's gRPC listener. */
  url: z.string().regex(/^[^\s:]+:\d+$/, "must be host:port"),
});

/** Gateway-side batching of concurrent client requests to one model. */
const batchingSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Largest merged batch; capped by the model's own max_batch_size. */
  maxBatchSize: positiveInt.default(8),
  /** How long the first request waits for company, in microseconds. */
  windowUs: z.number().int().min(0).max(1_000_000).default(500),
});

const modelSchema = z.strictObject({
  batching: batchingSchema.prefault({}),
});

export const configSchema = z.strictObject({
  /** Public listeners; Triton's ports so that Triton users change nothing. */
  server: z
    .strictObject({
      host: z.string().default("0.0.0.0"),
      httpPort: port.default(8000),
      grpcPort: port.default(8001),
      metricsPort: port.default(8002),
    })
    .prefault({}),
  /** The admin listener: model control, cache flush, breaker reset. */
  admin: z
    .strictObject({
      host: z.string().default("127.0.0.1"),
      port: port.default(8003),
      /** Bearer token; required when `host` is not a loopback address. */
      token: z.string().optional(),
    })
    .prefault({}),
  triton: z
    .strictObject({
      endpoints: z
        .array(endpointSchema)
        .min(1, "needs at least one endpoint")
        .default([{ name: "embedded", url: "127.0.0.1:9001" }]),
      /** HTTP/2 connections per endpoint. */
      channelsPerEndpoint: z.number().int().min(1).max(16).default(2),
      /** `stream` multiplexes requests over ModelStreamInfer; `unary` uses ModelInfer. */
      transport: z.enum(["stream", "unary"]).default("stream"),
      /** Largest gRPC message either way, bytes (grpc-js defaults to 4 MiB; images exceed it). */
      maxMessageBytes: positiveInt.default(256 * 1024 * 1024),
      /** ServerReady/RepositoryIndex polling interval, ms. */
      healthIntervalMs: positiveInt.default(2000),
      /** Deadline when the client sets none, ms. */
      defaultTimeoutMs: positiveInt.default(30_000),
      /** HTTP/2 keepalive ping interval, ms. */
      keepaliveMs: positiveInt.default(10_000),
    })
    .prefault({}),
  /** The embedded model server that `infergate up` starts beside the gateway. */
  embedded: z
    .strictObject({
      enabled: z.boolean().default(true),
      repository: z.string().default("model_repository"),
      host: z.string().default("127.0.0.1"),
      grpcPort: port.default(9001),
      metricsPort: port.default(9002),
      controlMode: z.enum(["none", "explicit", "poll"]).default("explicit"),
      pollIntervalMs: positiveInt.default(5000),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Largest request body, bytes (Triton's HTTP default is 64 MB). */
      maxBodyBytes: positiveInt.default(64 * 1024 * 1024),
      /** Largest element count of one tensor. */
      maxTensorElements: positiveInt.default(64 * 1024 * 1024),
      /** Largest decoded image, pixels (decompression-bomb guard). */
      maxImagePixels: positiveInt.default(40_000_000),
    })
    .prefault({}),
  /** Per-model settings, by model name. */
  models: z.record(z.string(), modelSchema).default({}),
  log: z
    .strictObject({
      level: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
    })
    .prefault({}),
});

/** The validated configuration, defaults filled in. */
export type GatewayConfig = z.infer<typeof configSchema>;

/** Per-model settings after defaults. */
export type ModelSettings = z.infer<typeof modelSchema>;
