/**
 * The result cache's metrics: lookups by outcome per model and pipeline, store errors and
 * latencies, bytes stored, entries not stored, the Redis breaker's state and the memory
 * store's size.
 */
import type { CacheOutcome } from "../core/gateway-core.js";
import type { MetricsRegistry } from "../metrics.js";
import type { CacheStore } from "./cache.js";

/** What is cached: a model's infer results or a pipeline's results. */
export type CacheKind = "model" | "pipeline";

const STORE_OPERATIONS = ["get", "set", "lease", "flush"] as const;

/** Store operations, as metric labels. */
export type StoreOperation = (typeof STORE_OPERATIONS)[number];

/** Why a result was not stored. */
export type NotStoredReason = "too_large" | "no_store" | "version_changed" | "degraded";

/** The cache's metric updates. */
export interface CacheMetrics {
  /** One client request: how the cache answered it. */
  request(kind: CacheKind, name: string, result: CacheOutcome): void;
  /** A store operation failed (timeout, connection, breaker open). */
  error(operation: StoreOperation): void;
  /** How long a store operation took, seconds. */
  observe(operation: StoreOperation, seconds: number): void;
  /** An entry of `bytes` was stored. */
  stored(kind: CacheKind, name: string, bytes: number): void;
  /** A result was not stored, and why. */
  notStored(kind: CacheKind, name: string, reason: NotStoredReason): void;
  /** The store's breaker state: 0 closed, 1 half-open, 2 open. */
  breakerState(state: number): void;
}

/** Latency buckets, seconds: a local Redis answers in about 0.1 ms, a lost one times out. */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];

/** Registers the cache's metrics on `registry` for `store`. */
export function createCacheMetrics(registry: MetricsRegistry, store: CacheStore): CacheMetrics {
  const requests = registry.counter({
    name: "infergate_cache_requests_total",
    help: "Requests to cached models and pipelines, by how the cache answered (hit, miss, coalesced: shared an identical request in flight, bypass: lookup skipped).",
    labelNames: ["kind", "name", "result"],
  });
  const errors = registry.counter({
    name: "infergate_cache_errors_total",
    help: "Cache store operations that failed (the request was served uncached).",
    labelNames: ["store", "operation"],
  });
  const latency = registry.histogram({
    name: "infergate_cache_operation_duration_seconds",
    help: "Cache store operation latency, seconds (Redis; in-process operations are not timed).",
    labelNames: ["store", "operation"],
    buckets: LATENCY_BUCKETS,
  });
  const storedBytes = registry.counter({
    name: "infergate_cache_stored_bytes_total",
    help: "Bytes of cache entries written.",
    labelNames: ["kind", "name"],
  });
  const notStored = registry.counter({
    name: "infergate_cache_not_stored_total",
    help: "Results not stored, by reason (too_large: over maxEntryBytes; no_store: asked by the client; version_changed: another model version answered; degraded: a fallback model answered).",
    labelNames: ["kind", "name", "reason"],
  });
  const breaker = registry.gauge({
    name: "infergate_cache_breaker_state",
    help: "The cache store's circuit breaker: 0 closed, 1 half-open, 2 open (serving uncached).",
    labelNames: ["store"],
  });
  breaker.set({ store: store.kind }, 0);
  // Zero series from the start, so that rates and alerts see the first error.
  for (const operation of STORE_OPERATIONS) errors.inc({ store: store.kind, operation }, 0);
  if (store.sizeBytes() !== undefined) {
    registry.collectedGauge({
      name: "infergate_cache_memory_bytes",
      help: "Bytes held by the in-process cache store.",
      collect: () => [{ labels: {}, value: store.sizeBytes() ?? 0 }],
    });
  }
  const storeLabel = { store: store.kind };
  return {
    request: (kind, name, result) => requests.inc({ kind, name, result }),
    error: (operation) => errors.inc({ ...storeLabel, operation }),
    observe: (operation, seconds) => latency.observe({ ...storeLabel, operation }, seconds),
    stored: (kind, name, bytes) => storedBytes.inc({ kind, name }, bytes),
    notStored: (kind, name, reason) => notStored.inc({ kind, name, reason }),
    breakerState: (state) => breaker.set(storeLabel, state),
  };
}
