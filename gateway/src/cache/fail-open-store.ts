/**
 * A cache store that never fails a client request: every failure of the store underneath (a
 * timeout, a lost connection) becomes a miss, a skipped write or a granted lease, and is counted.
 * With `breaker` settings a circuit breaker (`resilience/breaker.ts`) stops calling a store that
 * keeps failing, so that requests do not each pay a timeout, and lets one trial call through
 * after the reset time: caching resumes by itself when the store is back.
 */
import { Code, InferError } from "../errors.js";
import type { Logger } from "../log.js";
import { type Breaker, type BreakerSettings, createBreaker } from "../resilience/breaker.js";
import type { CacheStore } from "./cache.js";
import type { CacheMetrics, StoreOperation } from "./cache-metrics.js";

/** A store whose reads and writes never reject. */
export interface FailOpenStore {
  readonly kind: CacheStore["kind"];
  /** False while the breaker is open: a lookup now would only be skipped. */
  available(): boolean;
  /** The value, or undefined when absent or when the store failed. */
  get(key: string): Promise<Buffer | undefined>;
  /** Stores; a failure is counted and dropped. */
  set(key: string, value: Buffer, ttlMs: number): Promise<void>;
  /** True when this caller got the lease, or when the store failed (compute rather than wait). */
  acquireLease(key: string, ttlMs: number): Promise<boolean>;
  releaseLease(key: string): Promise<void>;
  /** Rejects UNAVAILABLE when the store fails: an operator flushing wants to know. */
  deleteByPrefix(prefix: string): Promise<number>;
  close(): Promise<void>;
}

/** Options of {@link createFailOpenStore}. */
export interface FailOpenOptions {
  metrics: CacheMetrics;
  log: Logger;
  /** Breaker thresholds; none for a store that cannot fail (the memory store). */
  breaker?: BreakerSettings;
}

const STATE_VALUES = { closed: 0, halfOpen: 1, open: 2 } as const;

/** Wraps `store`. */
export function createFailOpenStore(store: CacheStore, options: FailOpenOptions): FailOpenStore {
  const { metrics, log } = options;
  const breaker: Breaker | undefined = options.breaker
    ? createBreaker(`cache-${store.kind}`, options.breaker, (from, to) => {
        metrics.breakerState(STATE_VALUES[to]);
        const fields = { store: store.kind, from, to };
        if (to === "open") log.warn(fields, "cache store breaker opened: serving uncached");
        else log.info(fields, "cache store breaker state changed");
      })
    : undefined;

  // In-process operations take well under a microsecond: timing them would cost more.
  const timed = store.kind !== "memory";

  /** Runs one store call through the breaker, timed; failures are counted, then rethrown. */
  const call = async <T>(operation: StoreOperation, run: () => Promise<T>): Promise<T> => {
    const started = timed ? process.hrtime.bigint() : 0n;
    try {
      return await (breaker ? breaker.run(run) : run());
    } catch (error: unknown) {
      metrics.error(operation);
      log.debug({ store: store.kind, operation, err: String(error) }, "cache store call failed");
      throw error;
    } finally {
      if (timed) metrics.observe(operation, Number(process.hrtime.bigint() - started) / 1e9);
    }
  };

  return {
    kind: store.kind,
    available: () => breaker?.state !== "open",
    get: (key) => call("get", () => store.get(key)).catch(() => undefined),
    set: (key, value, ttlMs) => call("set", () => store.set(key, value, ttlMs)).catch(() => {}),
    acquireLease: (key, ttlMs) =>
      call("lease", () => store.acquireLease(key, ttlMs)).catch(() => true),
    releaseLease: (key) => call("lease", () => store.releaseLease(key)).catch(() => {}),
    async deleteByPrefix(prefix) {
      try {
        // Not through the breaker: an operator's flush should reach a store that is back.
        return await store.deleteByPrefix(prefix);
      } catch (error: unknown) {
        metrics.error("flush");
        throw new InferError(Code.UNAVAILABLE, `cache store (${store.kind}) unavailable`, {
          cause: error,
        });
      }
    },
    close: () => store.close(),
  };
}
