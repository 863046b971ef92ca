/**
 * The stage cache: bounded in bytes with least-recently-used eviction, identical computations in
 * flight run once, failures and oversized values are not kept, content keys cover the settings.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  contentKey,
  createStageCache,
  stageCacheStats,
} from "../../gateway/src/cache/stage-cache.js";

/** A computation of `bytes` bytes that counts its runs. */
function counted(bytes: number) {
  let runs = 0;
  return {
    compute: async () => {
      runs++;
      return { value: new Uint8Array(bytes), costBytes: bytes };
    },
    runs: () => runs,
  };
}

describe("stage cache", () => {
  it("computes once per key and answers repeats from memory", async () => {
    const cache = createStageCache<Uint8Array>("test.repeat", 1 << 20);
    const work = counted(1000);
    const first = await cache.getOrCompute("a", work.compute);
    const second = await cache.getOrCompute("a", work.compute);
    assert.equal(work.runs(), 1);
    assert.equal(second, first, "the very same value");
    assert.deepEqual(
      { hits: cache.stats.hits, misses: cache.stats.misses, entries: cache.stats.entries },
      { hits: 1, misses: 1, entries: 1 },
    );
  });

  it("evicts the least recently used entries to stay within its bound", async () => {
    // Room for two 1000-byte entries with their overhead, not three.
    const cache = createStageCache<Uint8Array>("test.lru", 2600);
    const works = { a: counted(1000), b: counted(1000), c: counted(1000) };
    await cache.getOrCompute("a", works.a.compute);
    await cache.getOrCompute("b", works.b.compute);
    await cache.getOrCompute("a", works.a.compute); // a is now the most recently used
    await cache.getOrCompute("c", works.c.compute); // evicts b
    assert.equal(cache.stats.evictions, 1);
    assert.ok(cache.stats.bytes <= 2600, `${cache.stats.bytes} bytes`);
    await cache.getOrCompute("a", works.a.compute);
    await cache.getOrCompute("b", works.b.compute);
    assert.deepEqual([works.a.runs(), works.b.runs(), works.c.runs()], [1, 2, 1]);
  });

  it("runs identical computations in flight once", async () => {
    const cache = createStageCache<Uint8Array>("test.coalesce", 1 << 20);
    const work = counted(10);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => cache.getOrCompute("k", work.compute)),
    );
    assert.equal(work.runs(), 1);
    assert.ok(results.every((r) => r === results[0]));
    assert.equal(cache.stats.coalesced, 4);
  });

  it("keeps neither failures nor values larger than the whole bound", async () => {
    const cache = createStageCache<Uint8Array>("test.refuse", 5000);
    await assert.rejects(
      cache.getOrCompute("bad", async () => {
        throw new Error("corrupt image");
      }),
      /corrupt image/,
    );
    const big = counted(10_000);
    assert.equal((await cache.getOrCompute("big", big.compute)).length, 10_000);
    await cache.getOrCompute("big", big.compute);
    assert.equal(big.runs(), 2);
    assert.deepEqual([cache.stats.entries, cache.stats.bytes], [0, 0]);
    const good = counted(10);
    await cache.getOrCompute("bad", good.compute);
    assert.equal(good.runs(), 1, "a failed key computes again");
  });

  it("a zero bound keeps nothing", async () => {
    const cache = createStageCache<Uint8Array>("test.off", 0);
    const work = counted(1);
    await cache.getOrCompute("a", work.compute);
    await cache.getOrCompute("a", work.compute);
    assert.equal(work.runs(), 2);
  });

  it("registers under its name for metrics, a new cache replacing an old one", () => {
    const old = createStageCache("test.named", 1);
    const replacement = createStageCache("test.named", 2);
    const named = stageCacheStats().filter(([name]) => name === "test.named");
    assert.equal(named.length, 1);
    assert.equal(named[0]![1], replacement.stats);
    assert.notEqual(named[0]![1], old.stats);
  });

  it("content keys differ with the bytes and with every setting", () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const keys = [
      contentKey(bytes),
      contentKey(new Uint8Array([1, 2, 4])),
      contentKey(bytes, 960),
      contentKey(bytes, 9, 60),
      contentKey(bytes, "96", 0),
    ];
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(contentKey(bytes, 960), contentKey(new Uint8Array([1, 2, 3]), 960));
  });
});
