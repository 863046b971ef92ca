/**
 * The model version a request will be served by, for its cache key. A request for "" (latest)
 * is served by the highest ready version (Triton's rule), so that is what goes in the key: when
 * a new version becomes ready, the old entries are no longer looked up. The ready versions come
 * from the endpoints' health checks (RepositoryIndex, kept current by each endpoint and
 * refreshed at once after a load through the gateway), or, for a server without the repository
 * extension, from the model's metadata (cached by the Triton client).
 */
import type { RequestContext } from "../core/gateway-core.js";
import type { TritonClient } from "../triton/triton-client.js";

/** The version that serves `requested` ("" = latest) of `model`; undefined when unknown. */
export type VersionResolver = (
  model: string,
  requested: string,
  ctx: RequestContext,
) => Promise<string | undefined>;

/** A resolver reading `triton`'s endpoints and metadata. */
export function createVersionResolver(
  triton: Pick<TritonClient, "endpoints" | "modelMetadata">,
): VersionResolver {
  return async (model, requested, ctx) => {
    const ready = readyVersions(triton, model);
    if (ready !== undefined) {
      // A version no healthy endpoint serves is not served from the cache either.
      if (requested !== "") return ready.includes(requested) ? requested : undefined;
      return latest(ready);
    }
    if (requested !== "") return requested;
    try {
      const metadata = await triton.modelMetadata(model, "", {
        deadlineMs: ctx.deadlineMs,
        signal: ctx.signal,
      });
      return latest(metadata.versions);
    } catch {
      return undefined;
    }
  };
}

/**
 * The versions of `model` ready on any healthy endpoint; undefined when an endpoint cannot
 * say (no repository extension).
 */
function readyVersions(
  triton: Pick<TritonClient, "endpoints">,
  model: string,
): string[] | undefined {
  const versions: string[] = [];
  for (const endpoint of triton.endpoints) {
    if (endpoint.health !== "healthy") continue;
    if (endpoint.models === undefined) return undefined;
    versions.push(...(endpoint.models.get(model) ?? []));
  }
  return versions;
}

/** The highest numeric version; undefined for none. */
function latest(versions: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const v of versions) {
    if (/^\d+$/.test(v) && (best === undefined || Number(v) > Number(best))) best = v;
  }
  return best;
}
