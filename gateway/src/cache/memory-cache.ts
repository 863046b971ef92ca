/**
 * The in-process cache store used when no Redis is configured: least recently used entries are
 * evicted to keep the total under `maxBytes`, and entries expire after their TTL. One process
 * only: replicas do not share it.
 */
import type { CacheStore } from "./cache.js";

/** Options of {@link createMemoryCache}. */
export interface MemoryCacheOptions {
  /** The bound on what entries cost (value bytes + key + bookkeeping), bytes. */
  maxBytes: number;
  /** The clock, ms; tests move it. Default `Date.now`. */
  now?: () => number;
}

/** What one entry costs beyond its value and key: the Map slot and the record, roughly. */
const ENTRY_OVERHEAD_BYTES = 96;

/** Leases held at once before expired ones are swept out. */
const LEASE_SWEEP_SIZE = 1024;

interface Entry {
  value: Buffer;
  expiresAtMs: number;
  costBytes: number;
}

/** Creates an empty store. */
export function createMemoryCache(options: MemoryCacheOptions): CacheStore {
  const now = options.now ?? Date.now;
  // A Map iterates in insertion order: re-inserting on every read keeps the least recently
  // used entry first, which is the one evicted.
  const entries = new Map<string, Entry>();
  const leases = new Map<string, number>();
  let totalBytes = 0;

  const remove = (key: string, entry: Entry) => {
    entries.delete(key);
    totalBytes -= entry.costBytes;
  };
  const evictOver = (limit: number) => {
    for (const [key, entry] of entries) {
      if (totalBytes <= limit) return;
      remove(key, entry);
    }
  };

  return {
    kind: "memory",
    async get(key) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.expiresAtMs <= now()) {
        remove(key, entry);
        return undefined;
      }
      entries.delete(key);
      entries.set(key, entry);
      return entry.value;
    },
    async set(key, value, ttlMs) {
      const previous = entries.get(key);
      if (previous !== undefined) remove(key, previous);
      // JS strings are UTF-16: two bytes a character.
      const costBytes = value.byteLength + key.length * 2 + ENTRY_OVERHEAD_BYTES;
      if (costBytes > options.maxBytes || ttlMs <= 0) return;
      evictOver(options.maxBytes - costBytes);
      entries.set(key, { value, expiresAtMs: now() + ttlMs, costBytes });
      totalBytes += costBytes;
    },
    async deleteByPrefix(prefix) {
      let deleted = 0;
      for (const [key, entry] of entries) {
        if (!key.startsWith(prefix)) continue;
        remove(key, entry);
        deleted++;
      }
      return deleted;
    },
    async acquireLease(key, ttlMs) {
      const heldUntil = leases.get(key);
      if (heldUntil !== undefined && heldUntil > now()) return false;
      if (leases.size >= LEASE_SWEEP_SIZE) {
        for (const [held, until] of leases) if (until <= now()) leases.delete(held);
      }
      leases.set(key, now() + ttlMs);
      return true;
    },
    async releaseLease(key) {
      leases.delete(key);
    },
    sizeBytes: () => totalBytes,
    async close() {
      entries.clear();
      leases.clear();
      totalBytes = 0;
    },
  };
}
