/**
 * The prom-client adapter: the one module that imports prom-client. A registry per server
 * (the gateway's and the embedded model server's are separate, as they listen on separate
 * ports), plain metrics updated as events happen, and "collected" metrics whose values are read
 * from their source of truth (such as Triton's statistics) at scrape time.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import client from "prom-client";

/** Label names to values. */
export type Labels = Record<string, string>;

/** A sample of a collected metric. */
export interface Sample {
  labels: Labels;
  value: number;
}

/** A counter updated as events happen. */
export interface Counter {
  inc(labels?: Labels, value?: number): void;
  /**
   * Drops every series whose labels include `match` (a label value that will not come back),
   * read from the metric at that moment: nothing is tracked on the way.
   */
  removeWhere(match: Labels): Promise<void>;
}

/** A gauge updated as state changes. */
export interface Gauge {
  set(labels: Labels, value: number): void;
  inc(labels?: Labels, value?: number): void;
  dec(labels?: Labels, value?: number): void;
}

/** A histogram of observations, e.g. latencies in seconds. */
export interface Histogram {
  observe(labels: Labels, value: number): void;
  /** Drops every series whose labels include `match`. */
  removeWhere(match: Labels): Promise<void>;
}

interface MetricOptions {
  name: string;
  help: string;
  labelNames?: string[];
}

/** One registry and its metric factories. */
export interface MetricsRegistry {
  counter(options: MetricOptions): Counter;
  gauge(options: MetricOptions): Gauge;
  histogram(options: MetricOptions & { buckets: number[] }): Histogram;
  /** A counter whose samples `collect` returns, as absolute values, at every scrape. */
  collectedCounter(options: MetricOptions & { collect: () => Iterable<Sample> }): void;
  /** A gauge whose samples `collect` returns at every scrape. */
  collectedGauge(options: MetricOptions & { collect: () => Iterable<Sample> }): void;
  /** The Prometheus text exposition of every metric. */
  text(): Promise<string>;
  readonly contentType: string;
}

/**
 * Creates a registry. `nodeDefaults` adds Node's process metrics (CPU, memory, event loop
 * lag, GC) under the `infergate_` prefix.
 */
export function createMetricsRegistry(options: { nodeDefaults?: boolean } = {}): MetricsRegistry {
  const registry = new client.Registry();
  if (options.nodeDefaults)
    client.collectDefaultMetrics({ register: registry, prefix: "infergate_" });
  const registers = [registry];
  return {
    counter(o) {
      const metric = new client.Counter({ ...o, labelNames: o.labelNames ?? [], registers });
      return {
        inc: (labels = {}, value = 1) => metric.inc(labels, value),
        removeWhere: (match) => removeWhere(metric, match),
      };
    },
    gauge(o) {
      const metric = new client.Gauge({ ...o, labelNames: o.labelNames ?? [], registers });
      return {
        set: (labels, value) => metric.set(labels, value),
        inc: (labels = {}, value = 1) => metric.inc(labels, value),
        dec: (labels = {}, value = 1) => metric.dec(labels, value),
      };
    },
    histogram(o) {
      const metric = new client.Histogram({ ...o, labelNames: o.labelNames ?? [], registers });
      return {
        observe: (labels, value) => metric.observe(labels, value),
        removeWhere: (match) => removeWhere(metric, match),
      };
    },
    collectedCounter(o) {
      new client.Counter({
        name: o.name,
        help: o.help,
        labelNames: o.labelNames ?? [],
        registers,
        collect() {
          // Counters cannot be set; the source holds absolute totals, so start from zero.
          this.reset();
          for (const s of o.collect()) this.inc(s.labels, s.value);
        },
      });
    },
    collectedGauge(o) {
      new client.Gauge({
        name: o.name,
        help: o.help,
        labelNames: o.labelNames ?? [],
        registers,
        collect() {
          this.reset();
          for (const s of o.collect()) this.set(s.labels, s.value);
        },
      });
    },
    text: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

/**
 * Removes every series of `metric` whose labels include `match`. A histogram's bucket samples
 * carry an extra `le` label, which is not part of the series' own labels.
 */
async function removeWhere(
  metric: client.Counter<string> | client.Histogram<string>,
  match: Labels,
): Promise<void> {
  const { values } = await metric.get();
  const done = new Set<string>();
  for (const { labels } of values) {
    const { le: _bucket, ...own } = labels;
    if (!Object.entries(match).every(([name, value]) => own[name] === value)) continue;
    const key = JSON.stringify(own);
    if (done.has(key)) continue;
    done.add(key);
    metric.remove(own as Labels);
  }
}

/** Serves `GET /metrics` from a registry on its own HTTP listener. Resolves once listening. */
export async function serveMetrics(
  registry: MetricsRegistry,
  port: number,
  host: string,
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res
        .writeHead(404, { "content-type": "application/json" })
        .end(JSON.stringify({ error: "not found: GET /metrics" }));
      return;
    }
    registry.text().then(
      (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
      (error: unknown) =>
        res
          .writeHead(500, { "content-type": "application/json" })
          .end(JSON.stringify({ error: String(error) })),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** The port a server actually listens on (for port 0). */
export function listeningPort(server: Server): number {
  return (server.address() as AddressInfo).port;
}
