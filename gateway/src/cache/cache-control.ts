/**
 * The request's `Cache-Control` directives (RFC 9111 section 5.2.1), as the HTTP header or the
 * gRPC metadata `cache-control` carries them: `no-cache` skips the lookup, `no-store` skips
 * storing. Other directives are ignored.
 */
import type { CacheControl } from "../core/gateway-core.js";

/** The header or metadata name. */
export const CACHE_CONTROL_HEADER = "cache-control";

/** The response header and gRPC trailing metadata that say how the cache answered. */
export const CACHE_STATUS_HEADER = "x-cache";

/** The directives of one or more header values; undefined when none applies. */
export function parseCacheControl(
  values: string | readonly string[] | undefined,
): CacheControl | undefined {
  if (values === undefined) return undefined;
  let noCache = false;
  let noStore = false;
  for (const value of typeof values === "string" ? [values] : values) {
    for (const part of value.split(",")) {
      // Directive names are case-insensitive; `no-cache="field"` limits it to fields of a
      // response, which a request has none of: read it as plain `no-cache`.
      const name = part.split("=", 1)[0]!.trim().toLowerCase();
      if (name === "no-cache") noCache = true;
      else if (name === "no-store") noStore = true;
    }
  }
  return noCache || noStore ? { noCache, noStore } : undefined;
}
