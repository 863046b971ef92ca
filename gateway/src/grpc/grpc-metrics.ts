/**
 * The gRPC front end's Prometheus metrics. Labels are bounded: `method` is an RPC name from the
 * protos (never a model name or request id) and `code` a gRPC status code name.
 */
import { Code } from "../errors.js";
import type { MetricsRegistry } from "../metrics.js";

/** Latency buckets in seconds: sub-millisecond cache hits up to the 30 s default deadline. */
const DURATION_BUCKETS_S = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** What the gRPC front end records. */
export interface GrpcMetrics {
  /**
   * Marks one request as started: a unary RPC, or one request of a `ModelStreamInfer` stream.
   * Call the returned function once, with the status code it ended with.
   */
  started(method: string): (code: Code) => void;
  /** Counts a stream as open until the returned function is called. */
  streamOpened(method: string): () => void;
}

/** Registers the front end's metrics in `registry` (once per registry: names must be unique). */
export function createGrpcMetrics(registry: MetricsRegistry): GrpcMetrics {
  const requests = registry.counter({
    name: "infergate_grpc_requests_total",
    help: "gRPC requests answered by the gateway (one per unary RPC or streamed request), by method and status code",
    labelNames: ["method", "code"],
  });
  const duration = registry.histogram({
    name: "infergate_grpc_request_duration_seconds",
    help: "Time from a gRPC request's arrival to its answer, seconds",
    labelNames: ["method"],
    buckets: DURATION_BUCKETS_S,
  });
  const inFlight = registry.gauge({
    name: "infergate_grpc_in_flight_requests",
    help: "gRPC requests being handled now (unary RPCs and requests on streams)",
  });
  const streams = registry.gauge({
    name: "infergate_grpc_streams_open",
    help: "gRPC streams open now, by method",
    labelNames: ["method"],
  });
  return {
    started(method) {
      const startNs = process.hrtime.bigint();
      inFlight.inc();
      let done = false;
      return (code) => {
        if (done) return;
        done = true;
        inFlight.dec();
        requests.inc({ method, code: Code[code] ?? String(code) });
        duration.observe({ method }, Number(process.hrtime.bigint() - startNs) / 1e9);
      };
    },
    streamOpened(method) {
      streams.inc({ method });
      let done = false;
      return () => {
        if (done) return;
        done = true;
        streams.dec({ method });
      };
    },
  };
}
