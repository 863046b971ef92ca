/**
 * The gateway's client of Triton: one or more endpoints, health-aware least-outstanding
 * balancing, multiplexed infer streams with unary fallback, deadlines carried to Triton (as the
 * call deadline and as the queue `timeout` parameter), and model metadata and config cached
 * until an endpoint's set of ready models changes.
 */

import type { ModelSettings, ResilienceSettings } from "../config/schema.js";
import type { ModelMetadata, RepositoryIndexEntry } from "../core/gateway-core.js";
import { Code, InferError } from "../errors.js";
import type { Logger } from "../log.js";
import type { MetricsRegistry } from "../metrics.js";
import type {
  ModelInferRequestMessage,
  ModelInferResponseMessage,
} from "../protocol/infer-message.js";
import type { ModelConfig } from "../protocol/model-config.js";
import { createCallGuard } from "../resilience/call-guard.js";
import { DEGRADED_PARAMETER } from "../resilience/degraded.js";
import { pickEndpoint } from "./balancer.js";
import type { CallOptions } from "./channel.js";
import {
  createDnsDiscovery,
  type DiscoveredEndpoint,
  type ResolveAddresses,
} from "./dns-discovery.js";
import { Endpoint } from "./endpoint.js";
import { createTritonMetrics } from "./triton-metrics.js";

/** The metrics label and guard key of every model no endpoint serves. */
export const UNKNOWN_MODEL = "_unknown";

/** Options of {@link createTritonClient}: the `triton` section of the configuration. */
export interface TritonClientOptions {
  endpoints: { name: string; url: string }[];
  /** More endpoints, found in DNS and kept current (see `dns-discovery.ts`). */
  discovery?: { dns: string; port: number; refreshMs: number };
  /** The discovery resolver; default getaddrinfo. For tests of records that change. */
  resolveAddresses?: ResolveAddresses;
  channelsPerEndpoint: number;
  transport: "stream" | "unary";
  maxMessageBytes: number;
  healthIntervalMs: number;
  keepaliveMs: number;
  log: Logger;
  metrics?: MetricsRegistry;
  /** Breakers, bulkheads, retries and fallbacks; without it calls go straight to an endpoint. */
  resilience?: ResilienceSettings;
  /** Per-model settings (bulkhead, fallback, idempotent). */
  models?: Record<string, ModelSettings>;
}

/** The Triton client. Every method throws InferError with Triton's gRPC code. */
export interface TritonClient {
  /** The endpoints in service now: static ones, then discovered ones (a new array on change). */
  readonly endpoints: readonly Endpoint[];
  /** At least one endpoint healthy. */
  isReady(): boolean;
  infer(
    message: ModelInferRequestMessage,
    options: CallOptions,
  ): Promise<ModelInferResponseMessage>;
  modelReady(name: string, version: string, options: CallOptions): Promise<boolean>;
  modelMetadata(name: string, version: string, options: CallOptions): Promise<ModelMetadata>;
  modelConfig(name: string, version: string, options: CallOptions): Promise<ModelConfig>;
  modelStatistics(
    name: string,
    version: string,
    options: CallOptions,
  ): Promise<{ model_stats: unknown[] }>;
  /** Index of every endpoint, merged by model and version (first endpoint wins). */
  repositoryIndex(ready: boolean, options: CallOptions): Promise<RepositoryIndexEntry[]>;
  /** Loads on every healthy endpoint. */
  loadModel(name: string, parameters: Record<string, object>, options: CallOptions): Promise<void>;
  unloadModel(
    name: string,
    parameters: Record<string, object>,
    options: CallOptions,
  ): Promise<void>;
  /** Closes every circuit breaker; returns how many were not closed. */
  resetBreakers(): number;
  close(): void;
}

/** Creates the client and runs each endpoint's first health check before resolving. */
export async function createTritonClient(options: TritonClientOptions): Promise<TritonClient> {
  const log = options.log.child({ component: "triton" });
  const cache = new Map<string, Promise<unknown>>();
  const metrics = options.metrics ? createTritonMetrics(options.metrics) : undefined;
  const newEndpoint = (e: { name: string; url: string }) =>
    new Endpoint({
      name: e.name,
      url: e.url,
      channels: options.channelsPerEndpoint,
      transport: options.transport,
      maxMessageBytes: options.maxMessageBytes,
      keepaliveMs: options.keepaliveMs,
      healthIntervalMs: options.healthIntervalMs,
      log,
      // A new model version may change metadata and config: forget them.
      onChange: () => cache.clear(),
    });
  const fixed = options.endpoints.map(newEndpoint);
  // Replaced, never mutated, when discovery changes the set: a loop over it stays consistent.
  let endpoints: readonly Endpoint[] = fixed;
  const draining = new Set<Endpoint>();
  // Drained and dropped from metrics: a call answered after that is not recorded again.
  const forgotten = new WeakSet<Endpoint>();
  metrics?.observeEndpoints(() => endpoints);
  await Promise.all(endpoints.map((e) => e.start()));

  /** Makes the discovered endpoints `found`: new ones start, vanished ones drain. */
  const reconcile = async (found: DiscoveredEndpoint[]) => {
    const current = new Map(endpoints.filter((e) => !fixed.includes(e)).map((e) => [e.url, e]));
    const next = found.map((f) => current.get(f.url) ?? newEndpoint(f));
    const added = next.filter((e) => !current.has(e.url));
    // New endpoints count once their first health check passes (the balancer skips "unknown").
    endpoints = [...fixed, ...next];
    cache.clear();
    for (const gone of current.values()) {
      if (next.includes(gone)) continue;
      log.info({ endpoint: gone.name, in_flight: gone.outstanding }, "triton endpoint draining");
      draining.add(gone);
      void gone.drain().then(() => {
        draining.delete(gone);
        // Gone for good unless DNS lists it again (then it starts afresh): drop its state.
        if (!endpoints.some((e) => e.name === gone.name)) {
          forgotten.add(gone);
          guard?.forgetEndpoint(gone.name);
          void metrics?.forgetEndpoint(gone.name);
        }
      });
    }
    await Promise.all(added.map((e) => e.start()));
  };
  const discovery = options.discovery
    ? createDnsDiscovery({
        ...options.discovery,
        log,
        onChange: reconcile,
        resolve: options.resolveAddresses,
      })
    : undefined;
  await discovery?.start();

  const route = (model: string): Endpoint => {
    const endpoint = pickEndpoint(endpoints, model);
    if (!endpoint) {
      throw new InferError(
        Code.UNAVAILABLE,
        `no healthy Triton endpoint for model '${model}' (${endpoints.map((e) => `${e.name}: ${e.health}`).join(", ")})`,
      );
    }
    return endpoint;
  };

  /**
   * Metrics labels and per-model state exist only for models some endpoint serves: a client
   * inventing model names must not grow series or memory without bound.
   */
  const known = (model: string) => endpoints.some((e) => e.models?.has(model) ?? true);
  const labelOf = (model: string) => (known(model) ? model : UNKNOWN_MODEL);

  const guard = options.resilience
    ? createCallGuard<Endpoint>({
        keyOf: labelOf,
        settings: options.resilience,
        models: options.models ?? {},
        targets: () => endpoints,
        route: (model, avoid) =>
          pickEndpoint(
            endpoints.filter((e) => !avoid(e)),
            model,
          ),
        log,
        metrics: options.metrics,
      })
    : undefined;

  /** One call to one endpoint, timed and counted. */
  const sendTo = async (
    endpoint: Endpoint,
    message: ModelInferRequestMessage,
    call: CallOptions,
  ) => {
    const model = message.model_name ?? "";
    const started = process.hrtime.bigint();
    let code = Code.OK;
    try {
      return await endpoint.infer(message, call);
    } catch (error: unknown) {
      code = InferError.from(error).code;
      throw error;
    } finally {
      if (!forgotten.has(endpoint))
        metrics?.recordCall(
          endpoint.name,
          labelOf(model),
          code,
          Number(process.hrtime.bigint() - started) / 1e9,
        );
    }
  };

  /** Caches a per-model lookup until the endpoints' ready models change; failures are not kept. */
  const cached = <T>(key: string, load: () => Promise<T>): Promise<T> => {
    const hit = cache.get(key) as Promise<T> | undefined;
    if (hit) return hit;
    const value = load();
    cache.set(key, value);
    value.catch(() => cache.delete(key));
    return value;
  };

  return {
    get endpoints() {
      return endpoints;
    },
    isReady: () => endpoints.some((e) => e.health === "healthy"),
    async infer(message, call) {
      const model = message.model_name ?? "";
      if (!guard) return sendTo(route(model), message, call);
      const { response, degradedTo } = await guard.run(model, call, (endpoint, target) =>
        sendTo(
          endpoint,
          target === model ? message : { ...message, model_name: target, model_version: "" },
          call,
        ),
      );
      if (!degradedTo) return response;
      // The client learns it got the fallback's answer: a response parameter, kept by both front ends.
      return {
        ...response,
        parameters: { ...response.parameters, [DEGRADED_PARAMETER]: { string_param: degradedTo } },
      };
    },
    resetBreakers: () => guard?.resetBreakers() ?? 0,
    async modelReady(name, version, call) {
      const reply = await route(name).unary<{ ready?: boolean }>(
        "ModelReady",
        { name, version },
        call,
      );
      return reply.ready ?? false;
    },
    modelMetadata: (name, version, call) =>
      cached(`metadata:${name}:${version}`, async () => {
        const reply = await route(name).unary<Partial<ModelMetadata>>(
          "ModelMetadata",
          { name, version },
          call,
        );
        return {
          name: reply.name ?? name,
          versions: reply.versions ?? [],
          platform: reply.platform ?? "",
          inputs: (reply.inputs ?? []).map((t) => ({ ...t, shape: (t.shape ?? []).map(Number) })),
          outputs: (reply.outputs ?? []).map((t) => ({ ...t, shape: (t.shape ?? []).map(Number) })),
        };
      }),
    modelConfig: (name, version, call) =>
      cached(`config:${name}:${version}`, async () => {
        const reply = await route(name).unary<{ config?: ModelConfig }>(
          "ModelConfig",
          { name, version },
          call,
        );
        return reply.config ?? {};
      }),
    async modelStatistics(name, version, call) {
      const reply = await route(name).unary<{ model_stats?: unknown[] }>(
        "ModelStatistics",
        { name, version },
        call,
      );
      return { model_stats: reply.model_stats ?? [] };
    },
    async repositoryIndex(ready, call) {
      const rows = new Map<string, RepositoryIndexEntry>();
      const healthy = endpoints.filter((e) => e.health === "healthy");
      if (healthy.length === 0)
        throw new InferError(Code.UNAVAILABLE, "no healthy Triton endpoint");
      const replies = await Promise.all(
        healthy.map((e) =>
          e.unary<{ models?: Partial<RepositoryIndexEntry>[] }>("RepositoryIndex", { ready }, call),
        ),
      );
      for (const reply of replies) {
        for (const m of reply.models ?? []) {
          const row = {
            name: m.name ?? "",
            version: m.version ?? "",
            state: m.state ?? "",
            reason: m.reason ?? "",
          };
          const key = `${row.name}:${row.version}`;
          if (!rows.has(key)) rows.set(key, row);
        }
      }
      return [...rows.values()].sort(
        (a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version),
      );
    },
    async loadModel(name, parameters, call) {
      await forEachHealthy(endpoints, (e) =>
        e.unary("RepositoryModelLoad", { model_name: name, parameters }, call),
      );
      cache.clear();
      await Promise.all(endpoints.map((e) => e.checkHealth()));
    },
    async unloadModel(name, parameters, call) {
      await forEachHealthy(endpoints, (e) =>
        e.unary("RepositoryModelUnload", { model_name: name, parameters }, call),
      );
      cache.clear();
      await Promise.all(endpoints.map((e) => e.checkHealth()));
    },
    close() {
      discovery?.close();
      for (const e of [...endpoints, ...draining]) e.close();
    },
  };
}

async function forEachHealthy(
  endpoints: readonly Endpoint[],
  task: (e: Endpoint) => Promise<unknown>,
): Promise<void> {
  const healthy = endpoints.filter((e) => e.health === "healthy");
  if (healthy.length === 0) throw new InferError(Code.UNAVAILABLE, "no healthy Triton endpoint");
  await Promise.all(healthy.map(task));
}
