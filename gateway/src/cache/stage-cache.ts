/**
 * Stage caches: the intermediate results of pipeline stages (decoded and resized images) kept in
 * process memory by content hash, bounded in bytes, least recently used evicted first. They sit
 * below the result cache: a repeated image whose result is not cached (other options, or
 * caching off) still skips decoding. Identical computations in flight at once run once.
 *
 * Cached values are shared between requests: stages must treat them as read-only.
 *
 * Each cache registers under its name so that `/metrics` can report every one of them
 * ({@link stageCacheStats}); creating a cache under a name already in use replaces it.
 */
import { createHash } from "node:crypto";
import type { MetricsRegistry } from "../metrics.js";

/** What a stage cache has done since it was created. */
export interface StageCacheStats {
  hits: number;
  misses: number;
  /** Lookups that joined a computation already in flight. */
  coalesced: number;
  evictions: number;
  /** What the entries cost now, bytes. */
  bytes: number;
  entries: number;
  maxBytes: number;
}

/** A computed value and what keeping it costs, bytes. */
export interface Costed<V> {
  value: V;
  costBytes: number;
}

/** One stage's cache. */
export interface StageCache<V> {
  readonly name: string;
  /**
   * The value under `key`, computing it with `compute` on a miss. A value costing more than
   * the whole bound is returned but not kept; a failed computation is not kept either.
   */
  getOrCompute(key: string, compute: () => Promise<Costed<V>>): Promise<V>;
  readonly stats: Readonly<StageCacheStats>;
}

/** What an entry costs beyond its value: the key, the Map slot and the record, roughly. */
const ENTRY_OVERHEAD_BYTES = 160;

const registry = new Map<string, { readonly stats: Readonly<StageCacheStats> }>();

/** Creates (and registers) a cache bounded to `maxBytes`; 0 keeps nothing. */
export function createStageCache<V>(name: string, maxBytes: number): StageCache<V> {
  // Map iteration order is insertion order: re-inserting on a hit keeps the least recently
  // used entry first, the one evicted.
  const entries = new Map<string, Costed<V>>();
  const inFlight = new Map<string, Promise<V>>();
  const stats: StageCacheStats = {
    hits: 0,
    misses: 0,
    coalesced: 0,
    evictions: 0,
    bytes: 0,
    entries: 0,
    maxBytes,
  };

  const keep = (key: string, costed: Costed<V>) => {
    const cost = costed.costBytes + ENTRY_OVERHEAD_BYTES;
    if (cost > maxBytes) return;
    for (const [oldKey, old] of entries) {
      if (stats.bytes + cost <= maxBytes) break;
      entries.delete(oldKey);
      stats.bytes -= old.costBytes + ENTRY_OVERHEAD_BYTES;
      stats.evictions++;
    }
    entries.set(key, costed);
    stats.bytes += cost;
    stats.entries = entries.size;
  };

  const cache: StageCache<V> = {
    name,
    stats,
    async getOrCompute(key, compute) {
      const found = entries.get(key);
      if (found !== undefined) {
        stats.hits++;
        entries.delete(key);
        entries.set(key, found);
        return found.value;
      }
      const running = inFlight.get(key);
      if (running !== undefined) {
        stats.coalesced++;
        return running;
      }
      stats.misses++;
      const computing = compute().then((costed) => {
        keep(key, costed);
        stats.entries = entries.size;
        return costed.value;
      });
      inFlight.set(key, computing);
      try {
        return await computing;
      } finally {
        inFlight.delete(key);
      }
    },
  };
  registry.set(name, cache);
  return cache;
}

/** Every registered stage cache's statistics, by name. */
export function stageCacheStats(): Array<[name: string, stats: Readonly<StageCacheStats>]> {
  return [...registry].map(([name, cache]) => [name, cache.stats]);
}

/** A SHA-256 key over content bytes and the settings that shape a stage's result. */
export function contentKey(bytes: Uint8Array, ...settings: Array<string | number>): string {
  const hash = createHash("sha256").update(bytes);
  for (const s of settings) hash.update(`\u0000${s}`);
  return hash.digest("base64url");
}

/** Exports every stage cache's lookups, evictions and bytes at scrape time. */
export function registerStageCacheMetrics(registry: MetricsRegistry): void {
  registry.collectedCounter({
    name: "infergate_stage_cache_requests_total",
    help: "Stage cache lookups (decoded and resized images) by cache and result (hit, miss, coalesced).",
    labelNames: ["cache", "result"],
    collect: () =>
      stageCacheStats().flatMap(([cache, s]) => [
        { labels: { cache, result: "hit" }, value: s.hits },
        { labels: { cache, result: "miss" }, value: s.misses },
        { labels: { cache, result: "coalesced" }, value: s.coalesced },
      ]),
  });
  registry.collectedCounter({
    name: "infergate_stage_cache_evictions_total",
    help: "Stage cache entries evicted to stay within the byte bound.",
    labelNames: ["cache"],
    collect: () =>
      stageCacheStats().map(([cache, s]) => ({ labels: { cache }, value: s.evictions })),
  });
  registry.collectedGauge({
    name: "infergate_stage_cache_bytes",
    help: "What a stage cache's entries cost now, bytes.",
    labelNames: ["cache"],
    collect: () => stageCacheStats().map(([cache, s]) => ({ labels: { cache }, value: s.bytes })),
  });
}
