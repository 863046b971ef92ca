/**
 * The gateway's Prometheus metrics after real traffic: the whole gateway (`startGateway`) in
 * front of the embedded model server serving `simple`, HTTP and gRPC requests that succeed and
 * fail, and `simple-math` pipeline runs over both front ends; then `GET /metrics` on the metrics
 * listener is parsed and checked for names, types, labels and bounded label values (route
 * patterns, never raw URLs; no request ids; no label value per client-chosen path segment).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { encodeInferRequestMessage } from "../../gateway/src/protocol/infer-message.js";
import { makeTensor } from "../../gateway/src/protocol/tensor.js";
import { type FullGateway, startFullGateway, sumOf, waitFor } from "./helpers/full-gateway.js";
import { simpleModel, writeRepository } from "./helpers/generated-repository.js";
import {
  type PrometheusSample,
  type PrometheusText,
  samplesOf,
  startTestModelServer,
  type TempRepository,
  type TestModelServer,
} from "./helpers/model-server.js";

/** The express route pattern of KServe v2 infer: one label value for every model and version. */
const INFER_ROUTE = "/v2/models/:model{/versions/:version}/infer";
const MODEL_ROUTE = "/v2/models/:model{/versions/:version}";
const PIPELINE_ROUTE = "/v1/pipelines/:name";

/** Every x-request-id and client `id` this file sends; none may appear in a label. */
const sentIds: string[] = [];
/** Model names and URL segments a client chose; none may become a label value. */
const UNKNOWN_MODELS = Array.from({ length: 5 }, (_, k) => `no_such_model_${k}`);
const UNKNOWN_VERSIONS = ["17", "4711", "31337", "65521", "9999"];

function newRequestId(): string {
  const id = `metrics-${randomUUID()}`;
  sentIds.push(id);
  return id;
}

const row = (f: (i: number) => number) => Array.from({ length: 16 }, (_, i) => f(i));

let requestCount = 0;

/** Input values new to every request, so that no result cache answers in Triton's place. */
const freshValues = (count: number) => {
  const base = 1000 * ++requestCount;
  return Array.from({ length: count }, (_, i) => base + i);
};

/** A JSON infer body for `simple`, `rows` x `width`. */
function simpleBody(rows = 1, width = 16): string {
  const id = newRequestId();
  const data = freshValues(rows * width);
  return JSON.stringify({
    id,
    inputs: ["INPUT0", "INPUT1"].map((name) => ({
      name,
      datatype: "INT32",
      shape: [rows, width],
      data,
    })),
  });
}

/** A `ModelInferRequest` for `model` with simple's inputs, `width` elements per row. */
function simpleMessage(model: string, width = 16) {
  return encodeInferRequestMessage({
    modelName: model,
    id: newRequestId(),
    inputs: ["INPUT0", "INPUT1"].map((name) =>
      makeTensor(
        { name, datatype: "INT32", shape: [1, width] },
        Int32Array.from(freshValues(width)),
      ),
    ),
  });
}

/**
 * Two pairs for `simple-math`: the first fits INT32, the second wraps around (so the cascade's
 * exact pass runs too). `k` makes each run's values its own.
 */
const pairs = (k: number) => [
  [row((i) => i + k), row((i) => 10 * i)],
  [row(() => 2147483647 - k), row(() => 1 + 2 * k)],
];

/** The distinct values of `label` over the samples of `name`. */
function labelValues(metrics: PrometheusText, name: string, label: string): Set<string> {
  return new Set(samplesOf(metrics, name).map((s) => s.labels[label] ?? ""));
}

/** Label names of a sample, sorted. */
const labelNames = (s: PrometheusSample) => Object.keys(s.labels).sort();

/** Checks a histogram family: type, label names, cumulative buckets ending at +Inf = _count. */
function assertHistogram(metrics: PrometheusText, name: string, labels: string[]): void {
  assert.equal(metrics.type.get(name), "histogram", `${name} is a histogram`);
  assert.ok(metrics.help.get(name), `${name} has HELP`);
  const buckets = samplesOf(metrics, `${name}_bucket`);
  assert.ok(buckets.length > 0, `${name} has buckets`);
  const series = new Map<string, PrometheusSample[]>();
  for (const b of buckets) {
    assert.deepEqual(labelNames(b), [...labels, "le"].sort(), `${name}_bucket labels`);
    const { le: _, ...rest } = b.labels;
    const key = JSON.stringify(rest);
    series.set(key, [...(series.get(key) ?? []), b]);
  }
  for (const [key, list] of series) {
    const les = list.map((b) => b.labels["le"]!);
    assert.equal(les.at(-1), "+Inf", `${name}${key} ends at +Inf`);
    const bounds = les.slice(0, -1).map(Number);
    assert.ok(bounds.length >= 5, `${name}${key} has ${bounds.length} finite buckets`);
    for (let i = 1; i < bounds.length; i++) assert.ok(bounds[i]! > bounds[i - 1]!, "bounds rise");
    for (let i = 1; i < list.length; i++)
      assert.ok(list[i]!.value >= list[i - 1]!.value, "cumulative");
    const labelsOf = JSON.parse(key) as Record<string, string>;
    const [count] = samplesOf(metrics, `${name}_count`, labelsOf);
    const [sum] = samplesOf(metrics, `${name}_sum`, labelsOf);
    assert.equal(count?.value, list.at(-1)!.value, `${name}${key}: +Inf bucket = _count`);
    assert.ok(sum !== undefined && sum.value >= 0, `${name}${key} has _sum`);
  }
}

/** Checks a counter or gauge family: type, HELP, and the exact label names of every sample. */
function assertFamily(
  metrics: PrometheusText,
  name: string,
  type: "counter" | "gauge",
  labels: string[],
): void {
  assert.equal(metrics.type.get(name), type, `${name} is a ${type}`);
  assert.ok(metrics.help.get(name), `${name} has HELP`);
  const samples = samplesOf(metrics, name);
  assert.ok(samples.length > 0, `${name} has samples`);
  for (const s of samples) assert.deepEqual(labelNames(s), [...labels].sort(), `${name} labels`);
}

describe("gateway metrics after HTTP, gRPC and pipeline traffic", () => {
  let repo: TempRepository;
  let models: TestModelServer;
  let gw: FullGateway;
  let metrics: PrometheusText;
  /** Stage names the pipeline reported in its `timings`. */
  const reportedStages = new Set<string>();

  before(async () => {
    repo = await writeRepository({ simple: simpleModel("simple") });
    models = await startTestModelServer(repo.path, { metricsPort: -1 });
    gw = await startFullGateway({
      endpoints: [`127.0.0.1:${models.server.grpcPort}`],
      configure: (config) => {
        config.triton.healthIntervalMs = 2000;
      },
    });
    await waitFor("the endpoint to be healthy", () => gw.gateway.triton.isReady(), 8000);

    const post = async (path: string, body: string, expected: number) => {
      const response = await fetch(gw.url(path), {
        method: "POST",
        headers: { "content-type": "application/json", "x-request-id": newRequestId() },
        body,
      });
      const text = await response.text();
      assert.equal(response.status, expected, `POST ${path}: ${text}`);
      return text;
    };
    const get = async (path: string, expected: number) => {
      const response = await fetch(gw.url(path), { headers: { "x-request-id": newRequestId() } });
      await response.arrayBuffer();
      assert.equal(response.status, expected, `GET ${path}`);
    };

    // HTTP: successes, each kind of client error, unmatched routes.
    await get("/v2/health/ready", 200);
    await get("/v2/models/simple", 200);
    for (let k = 0; k < 3; k++) await post("/v2/models/simple/infer", simpleBody(), 200);
    for (let k = 0; k < 2; k++) await post("/v2/models/simple/versions/1/infer", simpleBody(), 200);
    for (const v of UNKNOWN_VERSIONS) {
      await post(`/v2/models/simple/versions/${v}/infer`, simpleBody(), 404);
    }
    for (const m of UNKNOWN_MODELS) await post(`/v2/models/${m}/infer`, simpleBody(), 404);
    await post("/v2/models/simple/infer", simpleBody(1, 8), 400);
    for (const id of sentIds.slice(0, 3)) await get(`/v2/nothing/here/${id}`, 404);
    // The pipeline over HTTP, with timings.
    const run = JSON.parse(
      await post(
        "/v1/pipelines/simple-math?timings=true",
        JSON.stringify({ pairs: pairs(1) }),
        200,
      ),
    ) as { timings: Record<string, number>; result: { calls: number } };
    for (const stage of Object.keys(run.timings)) reportedStages.add(stage);
    await post("/v1/pipelines/no-such-pipeline", "{}", 404);

    // gRPC: successes and errors, and the pipeline.
    const metadata = () => ({ "x-request-id": newRequestId() });
    assert.equal((await gw.unary("ServerReady", {}, { metadata: metadata() })).error, undefined);
    for (let k = 0; k < 2; k++) {
      const { error } = await gw.unary("ModelInfer", simpleMessage("simple"), {
        metadata: metadata(),
      });
      assert.equal(error, undefined, error?.details);
    }
    for (const m of UNKNOWN_MODELS.slice(0, 2)) {
      const { error } = await gw.unary("ModelInfer", simpleMessage(m), { metadata: metadata() });
      assert.equal(error?.details.includes(m), true);
    }
    const bad = await gw.unary("ModelInfer", simpleMessage("simple", 8), { metadata: metadata() });
    assert.ok(bad.error);
    const piped = await gw.unary(
      "/infergate.v1.Pipelines/Run",
      { pipeline: "simple-math", options_json: JSON.stringify({ pairs: pairs(2) }), timings: true },
      { metadata: metadata() },
    );
    assert.equal(piped.error, undefined, piped.error?.details);

    metrics = await gw.scrape();
  });
  after(async () => {
    await gw?.close();
    await models?.close();
    await repo?.remove();
  });

  it("infergate_http_requests_total{route,method,code} is labelled by route pattern", () => {
    const name = "infergate_http_requests_total";
    assertFamily(metrics, name, "counter", ["route", "method", "code"]);
    const count = (labels: Record<string, string>) => sumOf(metrics, name, labels);
    assert.equal(count({ route: INFER_ROUTE, method: "POST", code: "200" }), 5);
    assert.equal(
      count({ route: INFER_ROUTE, method: "POST", code: "404" }),
      UNKNOWN_VERSIONS.length + UNKNOWN_MODELS.length,
    );
    assert.equal(count({ route: INFER_ROUTE, method: "POST", code: "400" }), 1);
    assert.equal(count({ route: MODEL_ROUTE, method: "GET", code: "200" }), 1);
    assert.equal(count({ route: "/v2/health/ready", method: "GET", code: "200" }), 1);
    assert.equal(count({ route: PIPELINE_ROUTE, method: "POST", code: "200" }), 1);
    assert.equal(count({ route: PIPELINE_ROUTE, method: "POST", code: "404" }), 1);
    assert.equal(count({ route: "unmatched", method: "GET", code: "404" }), 3);
    assert.deepEqual(
      [...labelValues(metrics, name, "route")].sort(),
      [INFER_ROUTE, MODEL_ROUTE, PIPELINE_ROUTE, "/v2/health/ready", "unmatched"].sort(),
    );
    // Ten model and version names in the URLs, one series per (method, code).
    const inferSeries = samplesOf(metrics, name, { route: INFER_ROUTE });
    assert.equal(inferSeries.length, 3, JSON.stringify(inferSeries));
  });

  it("infergate_http_request_duration_seconds is a histogram by route and method", () => {
    const name = "infergate_http_request_duration_seconds";
    assertHistogram(metrics, name, ["route", "method"]);
    const [count] = samplesOf(metrics, `${name}_count`, { route: INFER_ROUTE, method: "POST" });
    assert.equal(
      count?.value,
      sumOf(metrics, "infergate_http_requests_total", { route: INFER_ROUTE, method: "POST" }),
    );
    const les = samplesOf(metrics, `${name}_bucket`, { route: INFER_ROUTE, method: "POST" }).map(
      (s) => s.labels["le"],
    );
    assert.ok(les.includes("0.001") && les.includes("1"), `buckets ${les.join(" ")}`);
    assertFamily(metrics, "infergate_http_in_flight_requests", "gauge", []);
  });

  it("infergate_grpc_requests_total{method,code} counts by RPC name and code name", () => {
    const name = "infergate_grpc_requests_total";
    assertFamily(metrics, name, "counter", ["method", "code"]);
    const count = (labels: Record<string, string>) => sumOf(metrics, name, labels);
    assert.equal(count({ method: "ModelInfer", code: "OK" }), 2);
    assert.equal(count({ method: "ModelInfer", code: "NOT_FOUND" }), 2);
    assert.equal(count({ method: "ModelInfer", code: "INVALID_ARGUMENT" }), 1);
    assert.equal(count({ method: "ServerReady", code: "OK" }), 1);
    assert.equal(count({ method: "Run", code: "OK" }), 1);
    for (const method of labelValues(metrics, name, "method")) {
      assert.match(method, /^[A-Z][A-Za-z]+$/, `method label '${method}' is an RPC name`);
    }
    assertHistogram(metrics, "infergate_grpc_request_duration_seconds", ["method"]);
  });

  it("infergate_triton_request_duration_seconds{endpoint,model} and _requests_total{endpoint,model,code}", () => {
    assertHistogram(metrics, "infergate_triton_request_duration_seconds", ["endpoint", "model"]);
    const [calls] = samplesOf(metrics, "infergate_triton_request_duration_seconds_count", {
      endpoint: "e0",
      model: "simple",
    });
    // 5 + 2 infers, 1 + 1 bad shapes, 5 unknown versions, and each pipeline run's calls.
    assert.ok((calls?.value ?? 0) >= 14 + 2, `${calls?.value} Triton calls timed`);
    const name = "infergate_triton_requests_total";
    assertFamily(metrics, name, "counter", ["endpoint", "model", "code"]);
    assert.ok(sumOf(metrics, name, { endpoint: "e0", model: "simple", code: "OK" }) >= 9);
    assert.equal(
      sumOf(metrics, name, { endpoint: "e0", model: "simple", code: "INVALID_ARGUMENT" }),
      2,
    );
    assert.deepEqual([...labelValues(metrics, name, "endpoint")], ["e0"]);
  });

  it("infergate_triton_endpoint_healthy and the other endpoint gauges", () => {
    assertFamily(metrics, "infergate_triton_endpoint_healthy", "gauge", ["endpoint"]);
    assert.equal(sumOf(metrics, "infergate_triton_endpoint_healthy", { endpoint: "e0" }), 1);
    assertFamily(metrics, "infergate_triton_outstanding_requests", "gauge", ["endpoint"]);
    assertFamily(metrics, "infergate_triton_channels", "gauge", ["endpoint"]);
    assert.equal(sumOf(metrics, "infergate_triton_channels", { endpoint: "e0" }), 2);
  });

  it("infergate_pipeline_stage_duration_seconds{pipeline,stage} covers every stage the run reported", () => {
    const name = "infergate_pipeline_stage_duration_seconds";
    assertHistogram(metrics, name, ["pipeline", "stage"]);
    assert.deepEqual([...labelValues(metrics, `${name}_count`, "pipeline")], ["simple-math"]);
    const stages = labelValues(metrics, `${name}_count`, "stage");
    assert.ok(reportedStages.size >= 5, `stages reported: ${[...reportedStages].join(", ")}`);
    // Two runs, by HTTP and by gRPC, of different sizes of work: the same declared stage names,
    // those the response's timings report, with no item index or id in them.
    assert.deepEqual([...stages].sort(), [...reportedStages].sort());
    for (const stage of stages) assert.match(stage, /^[a-z0-9-]+(\/[a-z0-9-]+)*$/, stage);
    assert.equal(
      sumOf(metrics, "infergate_pipeline_requests_total", {
        pipeline: "simple-math",
        code: "OK",
      }),
      2,
    );
  });

  it("Node's default metrics carry the infergate_ prefix", () => {
    assertFamily(metrics, "infergate_process_cpu_seconds_total", "counter", []);
    assert.ok(sumOf(metrics, "infergate_process_cpu_seconds_total") > 0);
    assertFamily(metrics, "infergate_process_resident_memory_bytes", "gauge", []);
    assertFamily(metrics, "infergate_nodejs_eventloop_lag_seconds", "gauge", []);
    assert.ok(metrics.type.has("infergate_nodejs_gc_duration_seconds"));
  });

  it("every metric family has HELP and TYPE, and the gateway's own are all infergate_*", () => {
    const families = new Set([...metrics.type.keys()]);
    for (const family of families) {
      assert.ok(metrics.help.has(family), `${family} has HELP`);
      assert.match(family, /^infergate_/, `${family} is prefixed`);
    }
  });

  it("no label value holds a request id, a raw URL or a client-chosen version", () => {
    assert.ok(sentIds.length > 30);
    for (const sample of metrics.samples) {
      for (const [label, value] of Object.entries(sample.labels)) {
        const where = `${sample.name}{${label}="${value}"}`;
        for (const id of sentIds) assert.ok(!value.includes(id), `${where} holds a request id`);
        assert.doesNotMatch(value, /^\/v2\/models\/simple|\/v2\/nothing|\?/, `${where}: raw URL`);
        // Node's own metrics (e.g. nodejs_version_info{patch}) may hold small numbers.
        const own = !/^infergate_(nodejs|process)_/.test(sample.name) && label !== "le";
        assert.ok(!own || !UNKNOWN_VERSIONS.includes(value), `${where}: a URL's version`);
        assert.doesNotMatch(value, /^[0-9a-f]{8}-[0-9a-f]{4}-/, `${where}: a generated id`);
      }
    }
  });

  it("no label value holds a model name the client made up", () => {
    const offending = metrics.samples
      .filter((s) => Object.values(s.labels).some((v) => UNKNOWN_MODELS.includes(v)))
      .map((s) => s.name.replace(/_(bucket|sum|count)$/, ""));
    assert.deepEqual([...new Set(offending)], [], "families with one series per made-up name");
  });
});
