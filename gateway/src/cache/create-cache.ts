/**
 * The result cache as the configuration describes it: the Redis store when `cache.redisUrl`
 * (or `REDIS_URL`) is set, behind a breaker, else the memory store; its metrics; the version
 * resolver over the Triton client.
 */
import type { CacheSettings } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { MetricsRegistry } from "../metrics.js";
import type { TritonClient } from "../triton/triton-client.js";
import type { CacheStore } from "./cache.js";
import { createCacheMetrics } from "./cache-metrics.js";
import { createFailOpenStore } from "./fail-open-store.js";
import { createMemoryCache } from "./memory-cache.js";
import { createRedisCache } from "./redis-cache.js";
import { createVersionResolver } from "./resolve-version.js";
import { createResultCache, type ResultCache } from "./result-cache.js";

/** What {@link createCacheFromConfig} needs. */
export interface CacheDeps {
  settings: CacheSettings;
  registry: MetricsRegistry;
  log: Logger;
  triton: Pick<TritonClient, "endpoints" | "modelMetadata">;
}

/** The result cache, or undefined when `cache.enabled` is false. */
export async function createCacheFromConfig(deps: CacheDeps): Promise<ResultCache | undefined> {
  const { settings, log } = deps;
  if (!settings.enabled) return undefined;
  const store: CacheStore = settings.redisUrl
    ? await createRedisCache({
        url: settings.redisUrl,
        namespace: settings.namespace,
        commandTimeoutMs: settings.commandTimeoutMs,
        connectTimeoutMs: settings.connectTimeoutMs,
        log,
      })
    : createMemoryCache({ maxBytes: settings.memoryMaxBytes });
  const metrics = createCacheMetrics(deps.registry, store);
  log.info(
    {
      store: store.kind,
      models: Object.keys(settings.models).filter((m) => settings.models[m]!.enabled),
      pipelines: Object.keys(settings.pipelines).filter((p) => settings.pipelines[p]!.enabled),
    },
    "result cache ready",
  );
  return createResultCache({
    store: createFailOpenStore(store, {
      metrics,
      log,
      // The memory store cannot fail: no breaker to pay for.
      breaker: store.kind === "redis" ? settings.breaker : undefined,
    }),
    models: settings.models,
    pipelines: settings.pipelines,
    leaseMs: settings.leaseMs,
    resolveVersion: createVersionResolver(deps.triton),
    metrics,
    log,
  });
}
