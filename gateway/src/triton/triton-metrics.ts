/**
 * Metrics of the Triton client: call latency and outcomes by endpoint and model, outstanding
 * requests, endpoint health, open streams and channels.
 */
import { Code } from "../errors.js";
import type { MetricsRegistry } from "../metrics.js";
import type { Endpoint } from "./endpoint.js";

/** Latency buckets for Triton calls, seconds: 0.5 ms to 10 s. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The Triton client's metrics. */
export interface TritonMetrics {
  recordCall(endpoint: string, model: string, code: Code, seconds: number): void;
  /** Registers gauges read from the endpoints at scrape time. */
  observeEndpoints(endpoints: () => readonly Endpoint[]): void;
  /** Drops the call series of an endpoint that is gone for good. */
  forgetEndpoint(endpoint: string): Promise<void>;
}

/** Registers the Triton client's metrics. */
export function createTritonMetrics(registry: MetricsRegistry): TritonMetrics {
  const duration = registry.histogram({
    name: "infergate_triton_request_duration_seconds",
    help: "Inference calls to Triton, from send to answer, by endpoint and model",
    labelNames: ["endpoint", "model"],
    buckets: BUCKETS,
  });
  const calls = registry.counter({
    name: "infergate_triton_requests_total",
    help: "Inference calls to Triton by endpoint, model and gRPC code",
    labelNames: ["endpoint", "model", "code"],
  });
  return {
    recordCall(endpoint, model, code, seconds) {
      duration.observe({ endpoint, model }, seconds);
      calls.inc({ endpoint, model, code: Code[code] ?? String(code) });
    },
    async forgetEndpoint(endpoint) {
      await Promise.all([calls.removeWhere({ endpoint }), duration.removeWhere({ endpoint })]);
    },
    observeEndpoints(endpoints) {
      const gauge = (name: string, help: string, value: (e: Endpoint) => number) =>
        registry.collectedGauge({
          name,
          help,
          labelNames: ["endpoint"],
          collect: () =>
            endpoints().map((e) => ({ labels: { endpoint: e.name }, value: value(e) })),
        });
      gauge(
        "infergate_triton_endpoint_healthy",
        "1 when the endpoint passes its health check",
        (e) => (e.health === "healthy" ? 1 : 0),
      );
      gauge(
        "infergate_triton_outstanding_requests",
        "Inference calls sent to the endpoint and not yet answered",
        (e) => e.outstanding,
      );
      gauge(
        "infergate_triton_streams_open",
        "Open ModelStreamInfer streams to the endpoint",
        (e) => e.openStreams,
      );
      gauge("infergate_triton_channels", "HTTP/2 channels to the endpoint", (e) => e.channelCount);
    },
  };
}
