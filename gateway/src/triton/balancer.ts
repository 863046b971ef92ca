/**
 * Endpoint selection: among healthy endpoints that serve the model, the one with the fewest
 * outstanding requests. Unhealthy endpoints are drained (no new requests; those in flight
 * finish) and rejoin when their health check passes again.
 */
import type { Endpoint } from "./endpoint.js";

/** The endpoint to send a request for `model` to, or undefined when none is healthy. */
export function pickEndpoint(endpoints: readonly Endpoint[], model: string): Endpoint | undefined {
  let best: Endpoint | undefined;
  let fallback: Endpoint | undefined;
  for (const endpoint of endpoints) {
    if (endpoint.health !== "healthy") continue;
    if (!fallback || endpoint.outstanding < fallback.outstanding) fallback = endpoint;
    if (!endpoint.serves(model)) continue;
    if (!best || endpoint.outstanding < best.outstanding) best = endpoint;
  }
  // No healthy endpoint lists the model: ask one anyway, so Triton's own NOT_FOUND (or a
  // model loaded since the last health check) answers rather than a guess of ours.
  return best ?? fallback;
}
