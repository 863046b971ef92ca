/**
 * `POST /v1/cache/flush` on the admin listener: `{"model": "simple"}` deletes that model's
 * entries, `{"pipeline": "ocr"}` that pipeline's, `{}` every entry of the gateway's. Answers
 * `{"deleted": N}`. With Redis it reaches every replica's entries (they share the store).
 */
import { invalidArgument } from "../errors.js";
import type { AdminRoute } from "../http/server.js";
import type { FlushTarget, ResultCache } from "./result-cache.js";

/** The admin path. */
export const CACHE_FLUSH_PATH = "/v1/cache/flush";

/** The flush route over `cache`. */
export function cacheFlushRoute(cache: ResultCache): AdminRoute {
  return {
    method: "post",
    path: CACHE_FLUSH_PATH,
    handler: async ({ body }) => {
      const deleted = await cache.flush(flushTargetOf(body));
      return { deleted };
    },
  };
}

/** The target named by a flush body; INVALID_ARGUMENT for anything else. */
export function flushTargetOf(body: Record<string, unknown>): FlushTarget {
  const target: FlushTarget = {};
  for (const [field, value] of Object.entries(body)) {
    if (field !== "model" && field !== "pipeline") {
      throw invalidArgument(
        `cache flush: unknown field '${field}' (expected 'model' or 'pipeline')`,
      );
    }
    if (typeof value !== "string" || value === "") {
      throw invalidArgument(`cache flush: '${field}' must be a non-empty string`);
    }
    target[field] = value;
  }
  if (target.model !== undefined && target.pipeline !== undefined) {
    throw invalidArgument("cache flush: name a model or a pipeline, not both");
  }
  return target;
}
