/**
 * The result cache around the core's `infer` and `runPipeline`, for the models and pipelines
 * the configuration enables. A request is answered, in order of preference:
 *
 * 1. `coalesced`: an identical request is already in flight in this gateway: wait for it;
 * 2. `hit`: the entry is in the store;
 * 3. `miss`: compute it (one Triton call or pipeline run for all identical requests arriving
 *    meanwhile; with Redis, a short lease makes replicas wait for each other's result too),
 *    answer, and store it unless it is over `maxEntryBytes`;
 * 4. `bypass`: compute without looking up, when the client sent `Cache-Control: no-cache`, the
 *    store's breaker is open, the version cannot be resolved, or the request is part of a
 *    sequence. `no-cache` results are still stored; `no-store` results never are.
 *
 * The store never fails a request (see `fail-open-store.ts`): a broken cache costs latency only.
 */
import type {
  CacheOutcome,
  CoreInferRequest,
  CoreInferResult,
  PipelineDescription,
  PipelineInput,
  PipelineResult,
  RequestContext,
} from "../core/gateway-core.js";
import { Code, InferError } from "../errors.js";
import type { Logger } from "../log.js";
import { degradedTo } from "../resilience/degraded.js";
import type { CacheKind, CacheMetrics } from "./cache-metrics.js";
import { type Coalescer, createCoalescer } from "./coalesce.js";
import type { FailOpenStore } from "./fail-open-store.js";
import {
  inferKey,
  isCacheableRequest,
  modelKeyPrefix,
  pipelineKey,
  pipelineKeyPrefix,
} from "./key.js";
import type { VersionResolver } from "./resolve-version.js";
import {
  type CachedInferResult,
  type CachedPipelineResult,
  decodeInferValue,
  decodePipelineValue,
  encodeInferValue,
  encodePipelineValue,
  inferValueBytes,
} from "./value-codec.js";

/** One model's or pipeline's cache settings. */
export interface CacheEntrySettings {
  enabled: boolean;
  /** How long an entry lives, seconds. */
  ttlSeconds: number;
  /** Larger results are not stored, bytes (encoded). */
  maxEntryBytes: number;
}

/** Options of {@link createResultCache}. */
export interface ResultCacheOptions {
  store: FailOpenStore;
  /** By model name; a model not listed (or not enabled) is not cached. */
  models: Readonly<Record<string, CacheEntrySettings>>;
  /** By pipeline name. */
  pipelines: Readonly<Record<string, CacheEntrySettings>>;
  /**
   * How long a replica waits for another replica computing the same entry (Redis only), ms;
   * 0 = no lease.
   */
  leaseMs: number;
  resolveVersion: VersionResolver;
  metrics: CacheMetrics;
  log: Logger;
}

/** What {@link ResultCache.flush} removes: one model's entries, one pipeline's, or all. */
export interface FlushTarget {
  model?: string;
  pipeline?: string;
}

/** The result cache. */
export interface ResultCache {
  /** `next` uncached, through the cache when `request.modelName` is cached. */
  infer(
    request: CoreInferRequest,
    ctx: RequestContext,
    next: (request: CoreInferRequest, ctx: RequestContext) => Promise<CoreInferResult>,
  ): Promise<CoreInferResult>;
  /** `next` uncached, through the cache when `pipeline` is cached. */
  runPipeline(
    pipeline: PipelineDescription,
    input: PipelineInput,
    ctx: RequestContext,
    next: (input: PipelineInput, ctx: RequestContext) => Promise<PipelineResult>,
  ): Promise<PipelineResult>;
  /** Deletes the target's entries; resolves with how many. UNAVAILABLE when Redis is down. */
  flush(target: FlushTarget): Promise<number>;
  close(): Promise<void>;
}

/** What one cached call needs: how to key, compute, size and encode its values. */
interface Spec<V> {
  kind: CacheKind;
  name: string;
  settings: CacheEntrySettings;
  ctx: RequestContext;
  /** Whether the lookup is skipped (beyond `no-cache` and the breaker). */
  skipLookup?: boolean;
  /** The key, or undefined when this request cannot be cached. */
  key(): Promise<string | undefined>;
  /** The uncached call, cancelled by `signal`. */
  compute(signal: AbortSignal): Promise<V>;
  /** Why a computed value must not be stored under `key`, if so. */
  refuse?(value: V): "version_changed" | "degraded" | undefined;
  /** The encoded size, when it can be known without encoding. */
  size?(value: V): number;
  encode(value: V): Buffer;
  decode(bytes: Buffer): V;
}

/** A value and how the cache answered. */
interface Answer<V> {
  value: V;
  outcome: CacheOutcome;
}

/** A computed value, and whether another replica computed it (lease). */
interface Filled<V> {
  value: V;
  fromPeer: boolean;
}

/**
 * Whether an entry of `bytes` is over the cap; sized before encoding where that is cheap, so
 * that an oversized result is never copied.
 */
function tooLarge(spec: Spec<unknown>, bytes: number | undefined): boolean {
  return bytes !== undefined && bytes > spec.settings.maxEntryBytes;
}

/** Pauses between lookups while another replica holds the lease, ms. */
const LEASE_POLL_MS = [2, 5, 10, 20, 40];

const NO_DIRECTIVES = { noCache: false, noStore: false };

/** Creates the result cache. */
export function createResultCache(options: ResultCacheOptions): ResultCache {
  const { store, metrics } = options;
  const log = options.log.child({ component: "cache" });
  // Values are `unknown` here: each spec's key prefix keeps kinds apart.
  const flights: Coalescer<Filled<unknown>> = createCoalescer();
  // Bumped by every flush: a call that started before a flush does not store its result.
  let flushEpoch = 0;

  const enabled = (settings: CacheEntrySettings | undefined): settings is CacheEntrySettings =>
    settings?.enabled === true;

  /** Stores `value` unless refused, oversized, or a flush happened since `epoch`. */
  const put = <V>(spec: Spec<V>, key: string, value: V, epoch: number): void => {
    const refused = spec.refuse?.(value) ?? (tooLarge(spec, spec.size?.(value)) && "too_large");
    if (refused) {
      metrics.notStored(spec.kind, spec.name, refused);
      return;
    }
    if (epoch !== flushEpoch || !store.available()) return;
    const bytes = spec.encode(value);
    if (tooLarge(spec, bytes.byteLength)) {
      metrics.notStored(spec.kind, spec.name, "too_large");
      return;
    }
    metrics.stored(spec.kind, spec.name, bytes.byteLength);
    void store.set(key, bytes, spec.settings.ttlSeconds * 1000);
  };

  /** The stored value, or undefined; a value that does not decode counts as absent. */
  const lookup = async <V>(spec: Spec<V>, key: string): Promise<V | undefined> => {
    const bytes = await store.get(key);
    if (bytes === undefined) return undefined;
    try {
      return spec.decode(bytes);
    } catch (error: unknown) {
      log.warn({ key, err: String(error) }, "cache entry does not decode: recomputing");
      return undefined;
    }
  };

  /**
   * While another replica holds the lease: polls for its result, and takes the lease over when
   * it is given back without a result (too large to store, failed) or expires.
   */
  const awaitPeer = async <V>(
    spec: Spec<V>,
    key: string,
    signal: AbortSignal,
  ): Promise<{ value?: V; leased: boolean }> => {
    const until = Math.min(Date.now() + options.leaseMs, spec.ctx.deadlineMs);
    for (let i = 0; Date.now() < until && !signal.aborted; i++) {
      const pauseMs = LEASE_POLL_MS[Math.min(i, LEASE_POLL_MS.length - 1)]!;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      const value = await lookup(spec, key);
      if (value !== undefined) return { value, leased: false };
      if (await store.acquireLease(key, options.leaseMs)) {
        // The holder may have stored and given the lease back since the lookup above.
        const stored = await lookup(spec, key);
        if (stored === undefined) return { leased: true };
        void store.releaseLease(key);
        return { value: stored, leased: false };
      }
    }
    return { leased: false };
  };

  /** The leader's work on a miss: (lease,) compute, store. */
  const fill = async <V>(spec: Spec<V>, key: string, signal: AbortSignal): Promise<Filled<V>> => {
    const epoch = flushEpoch;
    const noStore = (spec.ctx.cacheControl ?? NO_DIRECTIVES).noStore;
    let leased = false;
    if (options.leaseMs > 0 && store.kind === "redis" && !noStore) {
      leased = await store.acquireLease(key, options.leaseMs);
      if (!leased) {
        const peer = await awaitPeer(spec, key, signal);
        if (peer.value !== undefined) return { value: peer.value, fromPeer: true };
        leased = peer.leased;
      }
    }
    try {
      const value = await spec.compute(signal);
      if (noStore) metrics.notStored(spec.kind, spec.name, "no_store");
      else put(spec, key, value, epoch);
      return { value, fromPeer: false };
    } finally {
      if (leased) void store.releaseLease(key);
    }
  };

  /** Computes without lookup or coalescing; stores unless `no-store`. */
  const bypass = async <V>(spec: Spec<V>, key: string | undefined): Promise<Answer<V>> => {
    const epoch = flushEpoch;
    const value = await spec.compute(spec.ctx.signal);
    if (key !== undefined && !spec.ctx.cacheControl?.noStore) put(spec, key, value, epoch);
    return { value, outcome: "bypass" };
  };

  const answer = async <V>(spec: Spec<V>): Promise<Answer<V>> => {
    const { ctx } = spec;
    const key = await spec.key();
    if (key === undefined) return bypass(spec, undefined);
    if (ctx.cacheControl?.noCache || spec.skipLookup || !store.available()) {
      return bypass(spec, key);
    }
    const waiter = { signal: ctx.signal, deadlineMs: ctx.deadlineMs };
    if (!flights.has(key)) {
      const cached = await lookup(spec, key);
      if (cached !== undefined) return { value: cached, outcome: "hit" };
    }
    const flight = flights.run(key, waiter, (signal) => fill(spec, key, signal));
    try {
      const filled = (await flight.promise) as Filled<V>;
      const coalesced = !flight.leader || filled.fromPeer;
      return { value: filled.value, outcome: coalesced ? "coalesced" : "miss" };
    } catch (error: unknown) {
      // The request we joined ran out of time or was cancelled by its own client: when this one
      // still has time, it makes its own call.
      const code = InferError.from(error).code;
      const retry =
        !flight.leader &&
        (code === Code.CANCELLED || code === Code.DEADLINE_EXCEEDED) &&
        !ctx.signal.aborted &&
        Date.now() < ctx.deadlineMs;
      if (!retry) throw error;
      return { value: await spec.compute(ctx.signal), outcome: "miss" };
    }
  };

  const counted = async <V>(spec: Spec<V>): Promise<Answer<V>> => {
    const result = await answer(spec);
    metrics.request(spec.kind, spec.name, result.outcome);
    return result;
  };

  return {
    async infer(request, ctx, next) {
      const settings = options.models[request.modelName];
      if (!enabled(settings)) return next(request, ctx);
      let resolved: string | undefined;
      const spec: Spec<CachedInferResult> = {
        kind: "model",
        name: request.modelName,
        settings,
        ctx,
        async key() {
          if (!isCacheableRequest(request)) return undefined;
          resolved = await options.resolveVersion(request.modelName, request.modelVersion, ctx);
          return resolved === undefined ? undefined : inferKey(request, resolved);
        },
        async compute(signal) {
          const result = await next(request, signal === ctx.signal ? ctx : { ...ctx, signal });
          const { modelVersion, outputs, parameters } = result;
          return { modelVersion, outputs, ...(parameters ? { parameters } : {}) };
        },
        // A fallback model answered (the model's breakers are open): not this key's result.
        // Another version answered (a rollout in progress): not this key's either.
        refuse(value) {
          if (degradedTo(value.parameters) !== undefined) return "degraded";
          return value.modelVersion === resolved ? undefined : "version_changed";
        },
        size: inferValueBytes,
        encode: encodeInferValue,
        decode: decodeInferValue,
      };
      const { value, outcome } = await counted(spec);
      return {
        modelName: request.modelName,
        modelVersion: value.modelVersion,
        id: request.id,
        outputs: value.outputs,
        ...(value.parameters ? { parameters: value.parameters } : {}),
        cache: outcome,
      };
    },

    async runPipeline(pipeline, input, ctx, next) {
      const settings = options.pipelines[pipeline.name];
      if (!enabled(settings)) return next(input, ctx);
      let timings: Record<string, number> | undefined;
      let degraded: string[] | undefined;
      const spec: Spec<CachedPipelineResult> = {
        kind: "pipeline",
        name: pipeline.name,
        settings,
        ctx,
        // Timings describe a run: a request for them runs the pipeline.
        skipLookup: input.timings,
        async key() {
          const versions = await Promise.all(
            pipeline.models.map((m) => options.resolveVersion(m, "", ctx)),
          );
          if (versions.some((v) => v === undefined)) return undefined;
          const models = pipeline.models.map((m, i) => [m, versions[i]!] as const);
          return pipelineKey({ name: pipeline.name, version: pipeline.version, models }, input);
        },
        async compute(signal) {
          const result = await next(input, signal === ctx.signal ? ctx : { ...ctx, signal });
          timings = result.timings;
          degraded = result.degraded;
          return { pipeline: result.pipeline, result: result.result };
        },
        // Fallback models answered some calls: the result is not this key's.
        refuse: () => (degraded ? "degraded" : undefined),
        encode: encodePipelineValue,
        decode: decodePipelineValue,
      };
      const { value, outcome } = await counted(spec);
      return {
        pipeline: value.pipeline,
        result: value.result,
        ...(timings && input.timings ? { timings } : {}),
        ...(degraded ? { degraded } : {}),
        cache: outcome,
      };
    },

    async flush(target) {
      if (target.model !== undefined && target.pipeline !== undefined) {
        throw new InferError(Code.INVALID_ARGUMENT, "flush one model or one pipeline, not both");
      }
      flushEpoch++;
      const prefix =
        target.model !== undefined
          ? modelKeyPrefix(target.model)
          : target.pipeline !== undefined
            ? pipelineKeyPrefix(target.pipeline)
            : "";
      const deleted = await store.deleteByPrefix(prefix);
      log.info({ ...target, deleted }, "cache flushed");
      return deleted;
    },

    close: () => store.close(),
  };
}
