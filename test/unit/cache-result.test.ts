/**
 * The result cache over the memory store, with a counting backend in place of Triton: how each
 * request is answered (hit, miss, coalesced, bypass), what is stored and what is not, and that a
 * failing store never fails a request (fail-open, breaker).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { CacheStore } from "../../gateway/src/cache/cache.js";
import { type CacheMetrics, createCacheMetrics } from "../../gateway/src/cache/cache-metrics.js";
import { createFailOpenStore } from "../../gateway/src/cache/fail-open-store.js";
import { createMemoryCache } from "../../gateway/src/cache/memory-cache.js";
import { createResultCache, type ResultCache } from "../../gateway/src/cache/result-cache.js";
import type {
  CacheControl,
  CoreInferRequest,
  CoreInferResult,
  PipelineDescription,
  RequestContext,
} from "../../gateway/src/core/gateway-core.js";
import { Code, InferError } from "../../gateway/src/errors.js";
import { silentLogger } from "../../gateway/src/log.js";
import { createMetricsRegistry, type MetricsRegistry } from "../../gateway/src/metrics.js";
import { makeTensor } from "../../gateway/src/protocol/tensor.js";
import type { BreakerSettings } from "../../gateway/src/resilience/breaker.js";
import { parsePrometheusText, samplesOf } from "../integration/helpers/model-server.js";

const log = silentLogger();
const SETTINGS = { enabled: true, ttlSeconds: 60, maxEntryBytes: 1 << 20 };

interface Setup {
  cache: ResultCache;
  registry: MetricsRegistry;
  backend: Backend;
}

/** A backend standing in for Triton: output = input, version `version`, calls counted. */
interface Backend {
  calls: number;
  version: string;
  delayMs: number;
  lastSignal?: AbortSignal;
  infer(request: CoreInferRequest, ctx: RequestContext): Promise<CoreInferResult>;
}

function createBackend(): Backend {
  const backend: Backend = {
    calls: 0,
    version: "1",
    delayMs: 0,
    async infer(request, ctx) {
      backend.calls++;
      backend.lastSignal = ctx.signal;
      if (backend.delayMs > 0) await sleep(backend.delayMs, undefined, { signal: ctx.signal });
      return {
        modelName: request.modelName,
        modelVersion: backend.version,
        id: request.id,
        outputs: request.inputs.map((t) => ({ ...t, name: `OUT_${t.name}` })),
      };
    },
  };
  return backend;
}

function setup(
  options: {
    store?: CacheStore;
    breaker?: BreakerSettings;
    resolve?: (model: string, requested: string) => string | undefined;
    leaseMs?: number;
    maxEntryBytes?: number;
  } = {},
): Setup {
  const registry = createMetricsRegistry();
  const store = options.store ?? createMemoryCache({ maxBytes: 1 << 20 });
  const metrics: CacheMetrics = createCacheMetrics(registry, store);
  const resolve = options.resolve ?? ((_m, requested) => requested || "1");
  const cache = createResultCache({
    store: createFailOpenStore(store, { metrics, log, breaker: options.breaker }),
    models: {
      m: { ...SETTINGS, maxEntryBytes: options.maxEntryBytes ?? SETTINGS.maxEntryBytes },
      off: { ...SETTINGS, enabled: false },
    },
    pipelines: { pipe: SETTINGS },
    leaseMs: options.leaseMs ?? 0,
    resolveVersion: async (model, requested) => resolve(model, requested),
    metrics,
    log,
  });
  return { cache, registry, backend: createBackend() };
}

function request(
  values: number[] = [1, 2, 3],
  patch: Partial<CoreInferRequest> = {},
): CoreInferRequest {
  return {
    modelName: "m",
    modelVersion: "",
    id: "",
    inputs: [
      makeTensor(
        { name: "IN", datatype: "INT32", shape: [1, values.length] },
        Int32Array.from(values),
      ),
    ],
    outputs: [],
    parameters: {},
    ...patch,
  };
}

function context(cacheControl?: CacheControl, signal?: AbortSignal): RequestContext {
  return {
    requestId: "r",
    deadlineMs: Date.now() + 10_000,
    signal: signal ?? new AbortController().signal,
    log,
    ...(cacheControl ? { cacheControl } : {}),
  };
}

async function outcomes(registry: MetricsRegistry): Promise<Record<string, number>> {
  const text = parsePrometheusText(await registry.text());
  const out: Record<string, number> = {};
  for (const s of samplesOf(text, "infergate_cache_requests_total")) {
    out[s.labels["result"]!] = (out[s.labels["result"]!] ?? 0) + s.value;
  }
  return out;
}

describe("result cache", () => {
  it("misses, then hits with the same outputs and the new request's id", async () => {
    const { cache, backend, registry } = setup();
    const first = await cache.infer(request(), context(), backend.infer);
    const second = await cache.infer(request([1, 2, 3], { id: "again" }), context(), backend.infer);
    assert.equal(first.cache, "miss");
    assert.equal(second.cache, "hit");
    assert.equal(second.id, "again");
    assert.equal(second.modelVersion, "1");
    assert.deepEqual([...(second.outputs[0]!.data as Int32Array)], [1, 2, 3]);
    assert.equal(second.outputs[0]!.name, "OUT_IN");
    assert.equal(backend.calls, 1);
    assert.deepEqual(await outcomes(registry), { miss: 1, hit: 1 });
  });

  it("coalesces identical concurrent requests into one backend call", async () => {
    const { cache, backend, registry } = setup();
    backend.delayMs = 30;
    const results = await Promise.all(
      Array.from({ length: 10 }, () => cache.infer(request(), context(), backend.infer)),
    );
    assert.equal(backend.calls, 1);
    assert.deepEqual(
      results.map((r) => r.cache).sort(),
      ["coalesced", ...Array(8).fill("coalesced"), "miss"].sort(),
    );
    assert.deepEqual(await outcomes(registry), { miss: 1, coalesced: 9 });
  });

  it("no-cache skips the lookup but stores the fresh result", async () => {
    const { cache, backend } = setup();
    await cache.infer(request(), context(), backend.infer);
    const fresh = await cache.infer(
      request(),
      context({ noCache: true, noStore: false }),
      backend.infer,
    );
    assert.equal(fresh.cache, "bypass");
    assert.equal(backend.calls, 2);
    backend.version = "1";
    assert.equal((await cache.infer(request(), context(), backend.infer)).cache, "hit");
  });

  it("no-store answers without storing", async () => {
    const { cache, backend } = setup();
    const first = await cache.infer(
      request(),
      context({ noCache: false, noStore: true }),
      backend.infer,
    );
    assert.equal(first.cache, "miss");
    assert.equal((await cache.infer(request(), context(), backend.infer)).cache, "miss");
    assert.equal(backend.calls, 2);
  });

  it("does not store a result another version answered", async () => {
    const { cache, backend } = setup();
    backend.version = "2"; // the resolver still says 1: a rollout in progress
    await cache.infer(request(), context(), backend.infer);
    assert.equal((await cache.infer(request(), context(), backend.infer)).cache, "miss");
  });

  it("keys by the resolved version: a new version misses, the old one is not served", async () => {
    let latest = "1";
    const { cache, backend } = setup({ resolve: (_m, requested) => requested || latest });
    await cache.infer(request(), context(), backend.infer);
    assert.equal((await cache.infer(request(), context(), backend.infer)).cache, "hit");
    latest = "2";
    backend.version = "2";
    assert.equal((await cache.infer(request(), context(), backend.infer)).cache, "miss");
    assert.equal((await cache.infer(request(), context(), backend.infer)).cache, "hit");
  });

  it("bypasses what it cannot key: unknown version, sequences", async () => {
    const { cache, backend } = setup({ resolve: () => undefined });
    assert.equal((await cache.infer(request(), context(), backend.infer)).cache, "bypass");
    const other = setup();
    const sequence = request([1], { parameters: { sequence_id: 4 } });
    assert.equal((await other.cache.infer(sequence, context(), backend.infer)).cache, "bypass");
    assert.equal((await other.cache.infer(sequence, context(), backend.infer)).cache, "bypass");
  });

  it("leaves models not enabled alone", async () => {
    const { cache, backend } = setup();
    for (const modelName of ["off", "unlisted"]) {
      const result = await cache.infer(request([1], { modelName }), context(), backend.infer);
      assert.equal(result.cache, undefined);
    }
  });

  it("does not store a result computed across a flush", async () => {
    const { cache, backend } = setup();
    backend.delayMs = 30;
    const pending = cache.infer(request(), context(), backend.infer);
    await sleep(5);
    await cache.flush({ model: "m" });
    await pending;
    backend.delayMs = 0;
    assert.equal((await cache.infer(request(), context(), backend.infer)).cache, "miss");
  });

  it("a leader hanging up does not fail its followers", async () => {
    const { cache, backend } = setup();
    backend.delayMs = 40;
    const hangUp = new AbortController();
    const leader = cache.infer(request(), context(undefined, hangUp.signal), backend.infer);
    const follower = cache.infer(request(), context(), backend.infer);
    await sleep(5);
    hangUp.abort(new InferError(Code.CANCELLED, "gone"));
    await assert.rejects(leader, /gone/);
    const result = await follower;
    assert.equal(result.cache, "coalesced");
    assert.equal(backend.calls, 1);
    assert.equal(backend.lastSignal?.aborted, false);
  });

  it("pipelines: timings run the pipeline, and the result is stored without them", async () => {
    const { cache } = setup();
    let runs = 0;
    const run = async () => {
      runs++;
      return { pipeline: "pipe", result: { n: 1 }, timings: { stage: 1.5 } };
    };
    const pipeline: PipelineDescription = {
      name: "pipe",
      version: "1",
      description: "",
      input: {},
      output: {},
      models: ["m"],
    };
    const input = (timings: boolean) => ({ fields: { x: 1 }, files: {}, timings });
    const timed = await cache.runPipeline(pipeline, input(true), context(), run);
    assert.equal(timed.cache, "bypass");
    assert.deepEqual(timed.timings, { stage: 1.5 });
    const hit = await cache.runPipeline(pipeline, input(false), context(), run);
    assert.equal(hit.cache, "hit");
    assert.equal(hit.timings, undefined);
    assert.deepEqual(hit.result, { n: 1 });
    assert.equal(runs, 1);
  });
});

describe("result cache: replicas sharing a store (lease)", () => {
  /** One memory store seen as a shared one, as Redis is by every replica. */
  const sharedStore = (): CacheStore => ({
    ...createMemoryCache({ maxBytes: 1 << 20 }),
    kind: "redis",
  });

  it("a replica waits for the one computing the same entry instead of computing it too", async () => {
    const store = sharedStore();
    const a = setup({ store, leaseMs: 2000 });
    const b = setup({ store, leaseMs: 2000 });
    a.backend.delayMs = 40;
    const [first, second] = await Promise.all([
      a.cache.infer(request(), context(), a.backend.infer),
      sleep(5).then(() => b.cache.infer(request(), context(), b.backend.infer)),
    ]);
    assert.equal(first.cache, "miss");
    assert.equal(second.cache, "coalesced");
    assert.equal(a.backend.calls + b.backend.calls, 1);
  });

  it("takes the lease over, without waiting it out, when the holder stores nothing", async () => {
    const store = sharedStore();
    // Results over 10 bytes are never stored: the waiting replica must compute its own.
    const a = setup({ store, leaseMs: 5000, maxEntryBytes: 10 });
    const b = setup({ store, leaseMs: 5000, maxEntryBytes: 10 });
    a.backend.delayMs = 40;
    const started = Date.now();
    const [, second] = await Promise.all([
      a.cache.infer(request(), context(), a.backend.infer),
      sleep(5).then(() => b.cache.infer(request(), context(), b.backend.infer)),
    ]);
    assert.equal(second.cache, "miss");
    assert.equal(b.backend.calls, 1);
    assert.ok(Date.now() - started < 1000, `${Date.now() - started} ms`);
  });
});

describe("result cache over a failing store", () => {
  /** A store whose every call fails (as Redis does while down), until `healthy`. */
  function flakyStore() {
    const memory = createMemoryCache({ maxBytes: 1 << 20 });
    const state = { healthy: false, calls: 0 };
    const guard =
      <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        state.calls++;
        if (!state.healthy) throw new Error("connection refused");
        return f(...args);
      };
    const store: CacheStore = {
      kind: "redis",
      get: guard(memory.get),
      set: guard(memory.set),
      deleteByPrefix: guard(memory.deleteByPrefix),
      acquireLease: guard(memory.acquireLease),
      releaseLease: guard(memory.releaseLease),
      sizeBytes: () => undefined,
      close: memory.close,
    };
    return { store, state };
  }

  it("serves every request, opens its breaker, and resumes caching once the store is back", async () => {
    const { store, state } = flakyStore();
    const breaker = {
      errorThresholdPercentage: 50,
      volumeThreshold: 3,
      resetTimeoutMs: 100,
      rollingWindowMs: 1000,
    };
    const { cache, backend, registry } = setup({ store, breaker });
    const answers = [];
    for (let i = 0; i < 20; i++)
      answers.push((await cache.infer(request(), context(), backend.infer)).cache);
    assert.equal(backend.calls, 20);
    assert.ok(
      answers.slice(-10).every((a) => a === "bypass"),
      answers.join(","),
    );
    // The breaker stopped the calls to the store early on.
    assert.ok(state.calls < 10, `${state.calls} store calls`);
    await assert.rejects(
      cache.flush({}),
      (e: unknown) => e instanceof InferError && e.code === Code.UNAVAILABLE,
    );
    state.healthy = true;
    await sleep(150);
    const resumed: string[] = [];
    for (let i = 0; i < 3; i++)
      resumed.push((await cache.infer(request(), context(), backend.infer)).cache!);
    assert.ok(resumed.includes("hit"), resumed.join(","));
    const text = parsePrometheusText(await registry.text());
    assert.ok(samplesOf(text, "infergate_cache_errors_total", { operation: "get" })[0]!.value > 0);
  });
});
