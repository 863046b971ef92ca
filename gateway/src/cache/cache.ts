/**
 * The result cache's storage interface, with two implementations: Redis (`redis-cache.ts`, shared
 * by every gateway replica) and an in-process LRU bounded in bytes (`memory-cache.ts`, when no
 * Redis is configured). One contract test (`test/unit/cache-contract.test.ts`) runs against both.
 * Keys are strings (see `key.ts`), values opaque bytes (see `value-codec.ts`).
 */

/** A key-value store with expiry, prefix deletion and short leases. Methods may reject. */
export interface CacheStore {
  /** `redis` or `memory`: a metric label. */
  readonly kind: "redis" | "memory";
  /** The value under `key`, or undefined when absent or expired. */
  get(key: string): Promise<Buffer | undefined>;
  /** Stores `value` under `key` for `ttlMs` milliseconds, replacing any previous value. */
  set(key: string, value: Buffer, ttlMs: number): Promise<void>;
  /** Deletes every key that starts with `prefix` ("" = all of this store's keys); the count. */
  deleteByPrefix(prefix: string): Promise<number>;
  /**
   * Takes the lease `key` for `ttlMs` unless someone holds it: true when this caller got it.
   * Replicas use it so that one of them computes a missing entry while the others wait for it.
   */
  acquireLease(key: string, ttlMs: number): Promise<boolean>;
  /** Gives a lease back before it expires. */
  releaseLease(key: string): Promise<void>;
  /** Bytes held, where the store knows it cheaply (the memory store); undefined otherwise. */
  sizeBytes(): number | undefined;
  /** Closes connections; later calls reject. */
  close(): Promise<void>;
}
