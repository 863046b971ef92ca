/**
 * The ioredis adapter: the one module that imports ioredis. A {@link CacheStore} on one Redis
 * (standalone; not Cluster) that every gateway replica shares. It fails fast rather than waits:
 * commands time out after `commandTimeoutMs`, nothing is queued while disconnected
 * (`enableOfflineQueue: false`), nothing is resent after a reconnect, and the connection comes
 * back on its own with jittered exponential backoff. Callers see rejections; `fail-open-store.ts`
 * turns them into misses.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { Logger } from "../log.js";
import type { CacheStore } from "./cache.js";

/** Options of {@link createRedisCache}. */
export interface RedisCacheOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://`). */
  url: string;
  /** Put before every key (`ig:`), so that a flush of everything touches only the gateway's. */
  namespace: string;
  /** A command not answered in this time fails, ms. */
  commandTimeoutMs: number;
  /** How long start-up waits for the first connection before going on without it, ms. */
  connectTimeoutMs: number;
  /** The longest pause between reconnection attempts, ms. Default 2000. */
  maxReconnectDelayMs?: number;
  log: Logger;
}

/** Keys per SCAN step and per UNLINK when deleting by prefix. */
const SCAN_COUNT = 1000;

/** Deletes a lease only if it still holds this holder's token (it may have expired and moved). */
const RELEASE_SCRIPT =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/**
 * Connects to Redis and resolves with the store. When Redis does not answer within
 * `connectTimeoutMs` the store is returned anyway, still reconnecting: the gateway starts and
 * serves uncached until Redis is there.
 */
export async function createRedisCache(options: RedisCacheOptions): Promise<CacheStore> {
  const log = options.log.child({ component: "redis-cache" });
  const maxDelayMs = options.maxReconnectDelayMs ?? 2000;
  const redis = new Redis(options.url, {
    lazyConnect: true,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // 50 ms doubling up to maxDelayMs, each pause between half and all of it (jitter), forever.
    retryStrategy: (times) =>
      Math.round(Math.min(maxDelayMs, 50 * 2 ** Math.min(times, 16)) * (0.5 + Math.random() / 2)),
  });
  let connected = false;
  redis.on("ready", () => {
    connected = true;
    log.info({ url: redactUrl(options.url) }, "redis connected");
  });
  redis.on("close", () => {
    if (connected) log.warn({ url: redactUrl(options.url) }, "redis connection lost");
    connected = false;
  });
  // Without a listener ioredis would print every failed reconnection; the close above suffices.
  redis.on("error", (error: Error) => log.debug({ err: error.message }, "redis error"));

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, options.connectTimeoutMs);
  });
  await Promise.race([redis.connect().catch(() => {}), timeout]);
  clearTimeout(timer);
  if (!connected) {
    log.warn({ url: redactUrl(options.url) }, "redis not reachable: serving uncached until it is");
  }

  const ns = options.namespace;
  const leaseKey = (key: string) => `${ns}lease:${key}`;
  // Tokens of the leases this process holds, so that it releases only its own.
  const held = new Map<string, string>();

  return {
    kind: "redis",
    async get(key) {
      return (await redis.getBuffer(ns + key)) ?? undefined;
    },
    async set(key, value, ttlMs) {
      await redis.set(ns + key, value, "PX", Math.max(1, Math.round(ttlMs)));
    },
    async deleteByPrefix(prefix) {
      const pattern = `${escapeGlob(ns + prefix)}*`;
      let cursor = "0";
      let deleted = 0;
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", SCAN_COUNT);
        // UNLINK frees memory in the background: no pause for large values.
        if (keys.length > 0) deleted += await redis.unlink(...keys);
        cursor = next;
      } while (cursor !== "0");
      return deleted;
    },
    async acquireLease(key, ttlMs) {
      const token = randomBytes(8).toString("hex");
      const got = await redis.set(leaseKey(key), token, "PX", Math.max(1, ttlMs), "NX");
      if (got !== "OK") return false;
      held.set(key, token);
      return true;
    },
    async releaseLease(key) {
      const token = held.get(key);
      if (token === undefined) return;
      held.delete(key);
      await redis.eval(RELEASE_SCRIPT, 1, leaseKey(key), token);
    },
    sizeBytes: () => undefined,
    async close() {
      try {
        if (redis.status === "ready") await redis.quit();
      } finally {
        redis.disconnect();
      }
    },
  };
}

/** A SCAN MATCH pattern that matches `text` literally (glob characters escaped). */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** The URL without its password, for logs. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:[redacted]@");
}
