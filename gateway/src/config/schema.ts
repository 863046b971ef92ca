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

/**
 * DNS discovery of Triton endpoints: every A/AAAA record of `dns` (a Kubernetes headless
 * Service, whose name resolves to the IPs of its ready pods) is one endpoint at `port`,
 * resolved again every `refreshMs`. New addresses join the balancer once their health check
 * passes; vanished ones are drained (no new calls, those in flight finish) and closed.
 */
const discoverySchema = z.strictObject({
  /** Name to resolve, e.g. `triton-headless.infergate.svc.cluster.local`. */
  dns: z
    .string()
    .regex(/^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/, "must be a DNS name (no port, no scheme)"),
  /** Triton's gRPC port on every resolved address. */
  port: port.min(1).default(8001),
  /** Interval between resolutions, ms. */
  refreshMs: positiveInt.default(10_000),
});

/** The default endpoint: the embedded model server of `infergate up`. */
const DEFAULT_ENDPOINTS = [{ name: "embedded", url: "127.0.0.1:9001" }];

/** Gateway-side batching of concurrent client requests to one model. */
const batchingSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Largest merged batch; capped by the model's own max_batch_size. */
  maxBatchSize: positiveInt.default(8),
  /** How long the first request waits for company, in microseconds. */
  windowUs: z.number().int().min(0).max(1_000_000).default(500),
});

/** A model's bulkhead in the gateway: beyond it requests are shed with 429. */
const bulkheadSchema = z.strictObject({
  maxInFlight: positiveInt.default(64),
  maxQueued: z.number().int().min(0).default(256),
});

const modelSchema = z.strictObject({
  batching: batchingSchema.prefault({}),
  /** Overrides `resilience.bulkhead` for this model. */
  bulkhead: bulkheadSchema.optional(),
  /** A model to answer with (marked degraded) when every endpoint's breaker for this one is open. */
  fallback: z.string().optional(),
  /** Safe to run twice: failed calls may be retried even when they may have executed. */
  idempotent: z.boolean().default(false),
});

/** Circuit breakers, bulkheads and retries between the gateway and Triton. */
const resilienceSchema = z.strictObject({
  breaker: z
    .strictObject({
      /** Failure percentage in the rolling window that opens a breaker. */
      errorThresholdPercentage: z.number().min(1).max(100).default(50),
      /** Calls in the window before a breaker may open. */
      volumeThreshold: positiveInt.default(10),
      /** How long an open breaker rejects before a trial call, ms. */
      resetTimeoutMs: positiveInt.default(5000),
      /** Rolling window of the failure statistics, ms. */
      rollingWindowMs: positiveInt.default(10_000),
    })
    .prefault({}),
  /** Default bulkhead of every model. */
  bulkhead: bulkheadSchema.prefault({}),
  retry: z
    .strictObject({
      /** Extra calls retries may add, as a share of requests (0.1 = 10%). */
      budgetRatio: z.number().min(0).max(1).default(0.1),
      /** Retries per request at most. */
      maxRetries: z.number().int().min(0).max(5).default(2),
      /** Base of the full-jitter exponential backoff, ms. */
      backoffMs: positiveInt.default(25),
    })
    .prefault({}),
  /** Retry-After sent with 429 and 503 answers, ms. */
  retryAfterMs: positiveInt.default(1000),
});

/** One model's or pipeline's result cache settings. */
const cacheEntrySchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** How long an entry lives, seconds. */
  ttlSeconds: positiveInt.default(300),
  /** Results larger than this (encoded: raw tensor bytes plus a small header) are not stored. */
  maxEntryBytes: positiveInt.max(512 * 1024 * 1024).default(1024 * 1024),
});

/**
 * The result cache (see `cache/`): Redis when `redisUrl` is set, shared by every replica,
 * else an in-process LRU bounded in bytes. Only the models and pipelines listed are cached.
 */
const cacheSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** `redis://[user:password@]host:port[/db]`; without it the memory store serves. */
  redisUrl: z
    .string()
    .regex(/^rediss?:\/\/\S+$/, "must be a redis:// or rediss:// URL")
    .optional(),
  /** Put before every Redis key, so that a flush touches the gateway's keys only. */
  namespace: z.string().default("ig:"),
  /** The memory store's bound, bytes. */
  memoryMaxBytes: positiveInt.default(64 * 1024 * 1024),
  /**
   * The stage caches' bound (decoded and resized images by content hash, in process, so a
   * repeated image skips decoding even when its result is not cached), bytes; 0 = off.
   */
  stageMaxBytes: z
    .number()
    .int()
    .min(0)
    .default(128 * 1024 * 1024),
  /** A Redis command not answered in this time fails (the request is served uncached), ms. */
  commandTimeoutMs: positiveInt.default(100),
  /** How long start-up waits for Redis before going on uncached, ms. */
  connectTimeoutMs: positiveInt.default(1000),
  /** With Redis, how long a replica waits for another computing the same entry, ms; 0 = off. */
  leaseMs: z.number().int().min(0).default(1000),
  /** The breaker around Redis: while open, requests skip the cache instead of timing out. */
  breaker: z
    .strictObject({
      errorThresholdPercentage: z.number().min(1).max(100).default(50),
      volumeThreshold: positiveInt.default(5),
      resetTimeoutMs: positiveInt.default(2000),
      rollingWindowMs: positiveInt.default(10_000),
    })
    .prefault({}),
  /** Cached models, by name. */
  models: z.record(z.string(), cacheEntrySchema).prefault({ simple: {} }),
  /** Cached pipelines, by name. */
  pipelines: z.record(z.string(), cacheEntrySchema).prefault({ ocr: {} }),
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
      /** Static endpoints; default the embedded model server, or none with `discovery`. */
      endpoints: z.array(endpointSchema).optional(),
      /** Endpoints found in DNS (beside any static ones); see `discoverySchema`. */
      discovery: discoverySchema.optional(),
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
    .refine((t) => t.discovery !== undefined || t.endpoints?.length !== 0, {
      path: ["endpoints"],
      message: "needs at least one endpoint (or triton.discovery)",
    })
    .transform(({ endpoints, ...triton }) => ({
      ...triton,
      endpoints: endpoints ?? (triton.discovery ? [] : DEFAULT_ENDPOINTS.map((e) => ({ ...e }))),
    }))
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
  resilience: resilienceSchema.prefault({}),
  cache: cacheSchema.prefault({}),
  /** Per-model settings, by model name. */
  models: z.record(z.string(), modelSchema).default({}),
  log: z
    .strictObject({
      level: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
      /**
       * Which finished requests get an info line: `all`, or `failures` (failed ones and those
       * slower than `slowRequestMs`; the rest at debug). Metrics count every request.
       */
      requests: z.enum(["all", "failures"]).default("failures"),
      slowRequestMs: positiveInt.default(1000),
    })
    .prefault({}),
});

/** The validated configuration, defaults filled in. */
export type GatewayConfig = z.infer<typeof configSchema>;

/** The resilience section after defaults. */
export type ResilienceSettings = z.infer<typeof resilienceSchema>;

/** The cache section after defaults. */
export type CacheSettings = z.infer<typeof cacheSchema>;

/** Per-model settings after defaults. */
export type ModelSettings = z.infer<typeof modelSchema>;
