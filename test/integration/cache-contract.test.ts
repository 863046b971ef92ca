/**
 * The cache store contract, one list of cases run against both implementations: the in-process
 * LRU and Redis (a real `redis-server` this test starts on a free port). Each case gets a fresh
 * store (for Redis: a fresh namespace). Then the result cache's size cap and per-model flush over
 * each store, and the memory store's own LRU bound.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { CacheStore } from "../../gateway/src/cache/cache.js";
import { createCacheMetrics } from "../../gateway/src/cache/cache-metrics.js";
import { createFailOpenStore } from "../../gateway/src/cache/fail-open-store.js";
import { createMemoryCache } from "../../gateway/src/cache/memory-cache.js";
import { createRedisCache } from "../../gateway/src/cache/redis-cache.js";
import { createResultCache } from "../../gateway/src/cache/result-cache.js";
import type {
  CoreInferRequest,
  CoreInferResult,
  PipelineDescription,
  RequestContext,
} from "../../gateway/src/core/gateway-core.js";
import { silentLogger } from "../../gateway/src/log.js";
import { createMetricsRegistry } from "../../gateway/src/metrics.js";
import { makeTensor } from "../../gateway/src/protocol/tensor.js";
import { startRedisServer, type TestRedis } from "./helpers/redis-server.js";

const log = silentLogger();

/** One implementation under test: a factory of fresh, empty stores. */
interface Implementation {
  name: string;
  create(namespace: string): Promise<CacheStore>;
}

let redis: TestRedis;
let namespaces = 0;
const opened: CacheStore[] = [];

const implementations: Implementation[] = [
  { name: "memory", create: async () => createMemoryCache({ maxBytes: 8 * 1024 * 1024 }) },
  {
    name: "redis",
    create: (namespace) =>
      createRedisCache({
        url: redis.url,
        namespace,
        commandTimeoutMs: 1000,
        connectTimeoutMs: 2000,
        log,
      }),
  },
];

async function fresh(impl: Implementation, namespace = `t${++namespaces}:`): Promise<CacheStore> {
  const store = await impl.create(namespace);
  opened.push(store);
  return store;
}

before(async () => {
  redis = await startRedisServer();
});
after(async () => {
  await Promise.all(opened.map((s) => s.close().catch(() => {})));
  await redis?.stop();
});

for (const impl of implementations) {
  describe(`cache store contract: ${impl.name}`, () => {
    it("misses a key never set", async () => {
      const store = await fresh(impl);
      assert.equal(await store.get("m:simple:nothing"), undefined);
    });

    it("gives back exactly the bytes set, binary-safe", async () => {
      const store = await fresh(impl);
      const value = Buffer.concat([Buffer.from([0, 255, 0, 10, 13]), randomBytes(100_000)]);
      await store.set("m:simple:a", value, 60_000);
      const got = await store.get("m:simple:a");
      assert.ok(got);
      assert.ok(Buffer.from(got).equals(value));
    });

    it("replaces a value set again", async () => {
      const store = await fresh(impl);
      await store.set("k", Buffer.from("one"), 60_000);
      await store.set("k", Buffer.from("two"), 60_000);
      assert.equal((await store.get("k"))?.toString(), "two");
    });

    it("forgets a value after its TTL", async () => {
      const store = await fresh(impl);
      await store.set("short", Buffer.from("x"), 80);
      await store.set("long", Buffer.from("y"), 60_000);
      assert.equal((await store.get("short"))?.toString(), "x");
      await sleep(200);
      assert.equal(await store.get("short"), undefined);
      assert.equal((await store.get("long"))?.toString(), "y");
    });

    it("deletes by prefix, literally (glob characters are not patterns)", async () => {
      const store = await fresh(impl);
      for (const key of ["m:a:1", "m:a:2", "m:ab:1", "m:a*:1", "p:a:1"]) {
        await store.set(key, Buffer.from(key), 60_000);
      }
      assert.equal(await store.deleteByPrefix("m:a*:"), 1);
      assert.equal(await store.get("m:a*:1"), undefined);
      assert.equal(await store.deleteByPrefix("m:a:"), 2);
      assert.equal(await store.get("m:a:1"), undefined);
      assert.equal((await store.get("m:ab:1"))?.toString(), "m:ab:1");
      assert.equal((await store.get("p:a:1"))?.toString(), "p:a:1");
    });

    it("deletes everything of its own, and nothing of another namespace", async () => {
      const mine = await fresh(impl);
      const theirs = await fresh(impl);
      await mine.set("m:x:1", Buffer.from("1"), 60_000);
      await mine.set("p:y:1", Buffer.from("2"), 60_000);
      await theirs.set("m:x:1", Buffer.from("3"), 60_000);
      assert.equal(await mine.deleteByPrefix(""), 2);
      assert.equal(await mine.get("p:y:1"), undefined);
      assert.equal((await theirs.get("m:x:1"))?.toString(), "3");
    });

    it("grants a lease to one holder at a time, until released or expired", async () => {
      const store = await fresh(impl);
      assert.equal(await store.acquireLease("m:s:k", 60_000), true);
      assert.equal(await store.acquireLease("m:s:k", 60_000), false);
      await store.releaseLease("m:s:k");
      assert.equal(await store.acquireLease("m:s:k", 80), true);
      await sleep(200);
      assert.equal(await store.acquireLease("m:s:k", 60_000), true);
    });

    it("result cache over it: results over maxEntryBytes are not stored", async () => {
      const store = await fresh(impl);
      const cache = resultCacheOver(store, 200);
      const calls = { n: 0 };
      const small = inferRequest(4);
      const large = inferRequest(100);
      for (let i = 0; i < 2; i++) {
        await cache.infer(small, context(), echo(calls));
        await cache.infer(large, context(), echo(calls));
      }
      // small: computed once then hit; large (400+ bytes of outputs): computed both times.
      assert.equal(calls.n, 3);
      assert.equal((await cache.infer(small, context(), echo(calls))).cache, "hit");
      assert.equal((await cache.infer(large, context(), echo(calls))).cache, "miss");
    });

    it("result cache over it: a model's flush leaves other models and pipelines", async () => {
      const store = await fresh(impl);
      const cache = resultCacheOver(store, 1 << 20);
      const calls = { n: 0 };
      const other = { ...inferRequest(4), modelName: "other" };
      await cache.infer(inferRequest(4), context(), echo(calls));
      await cache.infer(other, context(), echo(calls));
      const run = async () => ({ pipeline: "pipe", result: { ok: true } });
      await cache.runPipeline(
        PIPELINE,
        { fields: { a: 1 }, files: {}, timings: false },
        context(),
        run,
      );
      assert.equal(await cache.flush({ model: "m" }), 1);
      assert.equal((await cache.infer(inferRequest(4), context(), echo(calls))).cache, "miss");
      assert.equal((await cache.infer(other, context(), echo(calls))).cache, "hit");
      const piped = await cache.runPipeline(
        PIPELINE,
        { fields: { a: 1 }, files: {}, timings: false },
        context(),
        run,
      );
      assert.equal(piped.cache, "hit");
      assert.deepEqual(piped.result, { ok: true });
      assert.equal(await cache.flush({}), 3);
    });
  });
}

describe("memory store: bounded in bytes", () => {
  it("evicts the least recently used entries to stay under maxBytes", async () => {
    // Each entry costs 1000 bytes of value plus its key and ~100 of bookkeeping.
    const store = createMemoryCache({ maxBytes: 3500 });
    const value = () => Buffer.alloc(1000, 7);
    await store.set("a", value(), 60_000);
    await store.set("b", value(), 60_000);
    await store.set("c", value(), 60_000);
    await store.get("a"); // a is now the most recently used: b goes first
    await store.set("d", value(), 60_000);
    assert.equal(await store.get("b"), undefined);
    for (const key of ["a", "c", "d"]) assert.ok(await store.get(key), key);
    assert.ok(store.sizeBytes()! <= 3500);
  });

  it("refuses a single entry larger than the whole bound", async () => {
    const store = createMemoryCache({ maxBytes: 1000 });
    await store.set("big", Buffer.alloc(2000), 60_000);
    assert.equal(await store.get("big"), undefined);
    assert.equal(store.sizeBytes(), 0);
  });
});

const PIPELINE: PipelineDescription = {
  name: "pipe",
  version: "1",
  description: "",
  input: {},
  output: {},
  models: [],
};

function resultCacheOver(store: CacheStore, maxEntryBytes: number) {
  const metrics = createCacheMetrics(createMetricsRegistry(), store);
  const settings = { enabled: true, ttlSeconds: 60, maxEntryBytes };
  return createResultCache({
    store: createFailOpenStore(store, { metrics, log }),
    models: { m: settings, other: settings },
    pipelines: { pipe: settings },
    leaseMs: 0,
    resolveVersion: async () => "1",
    metrics,
    log,
  });
}

function inferRequest(elements: number): CoreInferRequest {
  return {
    modelName: "m",
    modelVersion: "",
    id: "",
    inputs: [
      makeTensor(
        { name: "IN", datatype: "INT32", shape: [1, elements] },
        Int32Array.from({ length: elements }, (_, i) => i),
      ),
    ],
    outputs: [],
    parameters: {},
  };
}

/** A backend that returns the input as the output, version "1", counting its calls. */
function echo(calls: { n: number }) {
  return async (request: CoreInferRequest): Promise<CoreInferResult> => {
    calls.n++;
    const input = request.inputs[0]!;
    return {
      modelName: request.modelName,
      modelVersion: "1",
      id: request.id,
      outputs: [{ ...input, name: "OUT" }],
    };
  };
}

function context(): RequestContext {
  return {
    requestId: "r",
    deadlineMs: Date.now() + 10_000,
    signal: new AbortController().signal,
    log,
  };
}
