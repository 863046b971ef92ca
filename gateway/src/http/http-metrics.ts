/**
 * The HTTP front end's metrics. Labels are bounded: `route` is the express route pattern
 * (`/v2/models/:model{/versions/:version}/infer`), never the raw URL, and unmatched requests
 * share the one route label {@link UNMATCHED_ROUTE}.
 */
import type { Counter, Gauge, Histogram, MetricsRegistry } from "../metrics.js";

/** The route label of a request that matched no route. */
export const UNMATCHED_ROUTE = "unmatched";

/** Latency buckets in seconds: 0.5 ms (the gateway's own overhead) up to 60 s (big images). */
const DURATION_BUCKETS_S = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** The metrics every HTTP listener (public and admin) updates, one set per registry. */
export interface HttpMetrics {
  /** `infergate_http_requests_total{route,method,code}`. */
  requests: Counter;
  /** `infergate_http_request_duration_seconds{route,method}`. */
  durationSeconds: Histogram;
  /** `infergate_http_in_flight_requests`: requests received and not yet answered. */
  inFlight: Gauge;
}

/** Registers the HTTP metrics on `registry`; call once per registry. */
export function createHttpMetrics(registry: MetricsRegistry): HttpMetrics {
  return {
    requests: registry.counter({
      name: "infergate_http_requests_total",
      help: "HTTP requests answered, by route pattern, method and status code.",
      labelNames: ["route", "method", "code"],
    }),
    durationSeconds: registry.histogram({
      name: "infergate_http_request_duration_seconds",
      help: "HTTP request latency from arrival to the last byte written, in seconds.",
      labelNames: ["route", "method"],
      buckets: DURATION_BUCKETS_S,
    }),
    inFlight: registry.gauge({
      name: "infergate_http_in_flight_requests",
      help: "HTTP requests received and not yet answered.",
    }),
  };
}
