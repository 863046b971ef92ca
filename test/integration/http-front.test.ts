/**
 * The HTTP front end over real sockets on port 0, against `scriptedCore`: a test double of the
 * `GatewayCore` interface whose answers each test scripts. What is under test here is the HTTP
 * layer only (routing, mapping, status codes, limits, request ids, hang-ups, admin auth, logs and
 * metrics); `http-gateway.test.ts` runs the real core against the embedded model server.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, beforeEach, describe, it } from "node:test";
import { loadConfig } from "../../gateway/src/config/load-config.js";
import type { GatewayConfig } from "../../gateway/src/config/schema.js";
import type {
  CoreInferRequest,
  CoreInferResult,
  GatewayCore,
  ModelMetadata,
  PipelineInput,
  RequestContext,
} from "../../gateway/src/core/gateway-core.js";
import { Code, InferError } from "../../gateway/src/errors.js";
import { directInferRoute } from "../../gateway/src/http/direct-routes.js";
import { createHttpMetrics } from "../../gateway/src/http/http-metrics.js";
import {
  type AdminRoute,
  createAdminApp,
  createHttpApp,
  type Listening,
  listen,
} from "../../gateway/src/http/server.js";
import type { Logger } from "../../gateway/src/log.js";
import { createMetricsRegistry, type MetricsRegistry } from "../../gateway/src/metrics.js";
import {
  buildInferRequest,
  parseInferResponse,
} from "../../gateway/src/protocol/binary-extension.js";
import type { Tensor } from "../../gateway/src/protocol/tensor.js";
import { parsePrometheusText, samplesOf } from "./helpers/model-server.js";

/** One call the core received, with the context the front end built. */
interface CoreCall {
  method: string;
  args: unknown[];
  ctx?: RequestContext;
}

/** `GatewayCore` test double: records calls; each answer can be replaced per test. */
interface ScriptedCore extends GatewayCore {
  calls: CoreCall[];
  ready: boolean;
  script: {
    infer?: (request: CoreInferRequest, ctx: RequestContext) => Promise<CoreInferResult>;
    metadata?: (name: string) => Promise<ModelMetadata>;
  };
}

const SIMPLE_METADATA: ModelMetadata = {
  name: "simple",
  versions: ["1"],
  platform: "onnxruntime_onnx",
  inputs: [
    { name: "INPUT0", datatype: "INT32", shape: [-1, 16] },
    { name: "INPUT1", datatype: "INT32", shape: [-1, 16] },
  ],
  outputs: [{ name: "OUTPUT0", datatype: "INT32", shape: [-1, 16] }],
};

/** Adds one to every element of every INT32 input, named OUT_<input>. */
async function addOne(request: CoreInferRequest): Promise<CoreInferResult> {
  const outputs = request.inputs.map(
    (t): Tensor => ({
      name: `OUT_${t.name}`,
      datatype: "INT32",
      shape: t.shape,
      data: Int32Array.from(t.data as Int32Array, (v) => v + 1),
    }),
  );
  return { modelName: request.modelName, modelVersion: "1", id: request.id, outputs };
}

function scriptedCore(): ScriptedCore {
  const core: ScriptedCore = {
    calls: [],
    ready: true,
    script: {},
    serverMetadata: () => ({
      name: "infergate",
      version: "0.1.0",
      extensions: ["binary_tensor_data"],
    }),
    isLive: () => true,
    isReady: () => core.ready,
    async modelReady(name, version, ctx) {
      core.calls.push({ method: "modelReady", args: [name, version], ctx });
      return name === "simple";
    },
    async modelMetadata(name, version, ctx) {
      core.calls.push({ method: "modelMetadata", args: [name, version], ctx });
      if (core.script.metadata) return core.script.metadata(name);
      if (name !== "simple") throw new InferError(Code.NOT_FOUND, `unknown model '${name}'`);
      return SIMPLE_METADATA;
    },
    async modelConfig(name, version, ctx) {
      core.calls.push({ method: "modelConfig", args: [name, version], ctx });
      return {
        name,
        max_batch_size: 8,
        input: [{ name: "INPUT0", data_type: "TYPE_INT32", dims: [16] }],
      };
    },
    async modelStatistics(name, version, ctx) {
      core.calls.push({ method: "modelStatistics", args: [name, version], ctx });
      return { model_stats: [{ name: name || "all", version, inference_count: 3 }] };
    },
    async infer(request, ctx) {
      core.calls.push({ method: "infer", args: [request], ctx });
      return (core.script.infer ?? addOne)(request, ctx);
    },
    listPipelines: () => [
      { name: "echo", version: "1", description: "echoes", input: {}, output: {}, models: [] },
    ],
    async runPipeline(name, input, ctx) {
      core.calls.push({ method: "runPipeline", args: [name, input], ctx });
      if (name !== "echo") throw new InferError(Code.NOT_FOUND, `unknown pipeline '${name}'`);
      const files = Object.fromEntries(
        Object.entries(input.files).map(([k, f]) => [
          k,
          { size: f.bytes.length, type: f.contentType },
        ]),
      );
      return {
        pipeline: name,
        result: { fields: input.fields, files },
        ...(input.timings ? { timings: { stage: 1.5 } } : {}),
      };
    },
    admin: {
      async repositoryIndex(ready, ctx) {
        core.calls.push({ method: "repositoryIndex", args: [ready], ctx });
        return [{ name: "simple", version: "1", state: "READY", reason: "" }];
      },
      async loadModel(name, parameters, ctx) {
        core.calls.push({ method: "loadModel", args: [name, parameters], ctx });
      },
      async unloadModel(name, parameters, ctx) {
        core.calls.push({ method: "unloadModel", args: [name, parameters], ctx });
      },
    },
  };
  return core;
}

/** A logger that keeps every line with the fields of its `child()` chain. */
function capturingLogger(lines: Array<Record<string, unknown>>, bound: object = {}): Logger {
  const write = (level: string) => (fields: object, msg: string) =>
    lines.push({ level, ...bound, ...fields, msg });
  return {
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    child: (fields) => capturingLogger(lines, { ...bound, ...fields }),
  };
}

interface Harness {
  core: ScriptedCore;
  registry: MetricsRegistry;
  lines: Array<Record<string, unknown>>;
  public: Listening;
  admin: Listening;
  url(path: string): string;
  adminUrl(path: string): string;
  close(): Promise<void>;
}

async function startHarness(
  overrides: Record<string, unknown> = {},
  routes: AdminRoute[] = [],
): Promise<Harness> {
  const core = scriptedCore();
  const registry = createMetricsRegistry();
  const metrics = createHttpMetrics(registry);
  const lines: Array<Record<string, unknown>> = [];
  const config: GatewayConfig = loadConfig(undefined, {});
  const merged: GatewayConfig = {
    ...config,
    limits: { ...config.limits, maxBodyBytes: 64 * 1024, maxTensorElements: 4096 },
    ...overrides,
  };
  const deps = { core, config: merged, log: capturingLogger(lines), metrics };
  const pub = await listen(createHttpApp(deps), 0, "127.0.0.1");
  const admin = await listen(createAdminApp({ ...deps, routes }), 0, "127.0.0.1");
  return {
    core,
    registry,
    lines,
    public: pub,
    admin,
    url: (path) => `http://127.0.0.1:${pub.port}${path}`,
    adminUrl: (path) => `http://127.0.0.1:${admin.port}${path}`,
    async close() {
      await Promise.all([pub.close(1000), admin.close(1000)]);
    },
  };
}

const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

const simpleJson = (extra: Record<string, unknown> = {}) => ({
  inputs: [
    {
      name: "INPUT0",
      datatype: "INT32",
      shape: [1, 16],
      data: Array.from({ length: 16 }, (_, i) => i),
    },
  ],
  ...extra,
});

async function errorOf(response: Response): Promise<string> {
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  const body = (await response.json()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ["error"]);
  return body["error"] as string;
}

describe("HTTP front end (scriptedCore)", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());
  beforeEach(() => {
    h.core.calls.length = 0;
    h.core.script = {};
    h.core.ready = true;
  });

  describe("server and model routes", () => {
    it("GET /v2 answers server metadata", async () => {
      const response = await fetch(h.url("/v2"));
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), {
        name: "infergate",
        version: "0.1.0",
        extensions: ["binary_tensor_data"],
      });
    });
    it("health: 200 with an empty body; ready answers 400 when not ready, as Triton", async () => {
      const live = await fetch(h.url("/v2/health/live"));
      assert.equal(live.status, 200);
      assert.equal(await live.text(), "");
      assert.equal((await fetch(h.url("/v2/health/ready"))).status, 200);
      h.core.ready = false;
      const notReady = await fetch(h.url("/v2/health/ready"));
      assert.equal(notReady.status, 400);
      assert.equal(await notReady.text(), "");
    });
    it("model metadata with and without a version", async () => {
      const latest = await fetch(h.url("/v2/models/simple"));
      assert.deepEqual(await latest.json(), SIMPLE_METADATA);
      await (await fetch(h.url("/v2/models/simple/versions/3"))).arrayBuffer();
      assert.deepEqual(
        h.core.calls.map((c) => c.args),
        [
          ["simple", ""],
          ["simple", "3"],
        ],
      );
    });
    it("model readiness: 200 ready, 400 not", async () => {
      assert.equal((await fetch(h.url("/v2/models/simple/ready"))).status, 200);
      assert.equal((await fetch(h.url("/v2/models/other/versions/1/ready"))).status, 400);
    });
    it("model config as snake_case JSON", async () => {
      const response = await fetch(h.url("/v2/models/simple/config"));
      const config = (await response.json()) as Record<string, unknown>;
      assert.equal(config["max_batch_size"], 8);
      assert.deepEqual(config["input"], [{ name: "INPUT0", data_type: "TYPE_INT32", dims: [16] }]);
    });
    it("statistics for all models and for one", async () => {
      const all = await fetch(h.url("/v2/models/stats"));
      assert.deepEqual(await all.json(), {
        model_stats: [{ name: "all", version: "", inference_count: 3 }],
      });
      await (await fetch(h.url("/v2/models/simple/versions/1/stats"))).arrayBuffer();
      assert.deepEqual(h.core.calls.at(-1)!.args, ["simple", "1"]);
    });
    it("a core NOT_FOUND is 404 with {error}", async () => {
      const response = await fetch(h.url("/v2/models/nope"));
      assert.equal(response.status, 404);
      assert.equal(await errorOf(response), "unknown model 'nope'");
    });
    it("an unknown route or method is a JSON 404", async () => {
      const unknown = await fetch(h.url("/v3/whatever"));
      assert.equal(unknown.status, 404);
      assert.equal(await errorOf(unknown), "no route for GET /v3/whatever");
      const wrongMethod = await fetch(h.url("/v2/models/simple/infer"));
      assert.equal(wrongMethod.status, 404);
      await errorOf(wrongMethod);
    });
    it("a model name that is not valid percent-encoding is 400", async () => {
      const response = await fetch(h.url("/v2/models/%E0"));
      assert.equal(response.status, 400);
      assert.match(await errorOf(response), /Failed to decode param/);
    });
    it("model control is not on the public listener", async () => {
      for (const path of [
        "/v2/repository/index",
        "/v2/repository/models/simple/load",
        "/v2/repository/models/simple/unload",
      ]) {
        const response = await postJson(h.url(path), {});
        assert.equal(response.status, 403, path);
        assert.match(await errorOf(response), /admin listener only/);
      }
      assert.equal(h.core.calls.length, 0);
    });
  });

  describe("infer", () => {
    it("JSON in, JSON out, with the client id and parameters passed", async () => {
      const response = await postJson(
        h.url("/v2/models/simple/infer"),
        simpleJson({ id: "my-id", parameters: { priority: 1, binary_data_output: false } }),
      );
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type")!, /^application\/json/);
      const body = (await response.json()) as Record<string, unknown>;
      assert.deepEqual(body, {
        model_name: "simple",
        model_version: "1",
        id: "my-id",
        outputs: [
          {
            name: "OUT_INPUT0",
            datatype: "INT32",
            shape: [1, 16],
            data: Array.from({ length: 16 }, (_, i) => i + 1),
          },
        ],
      });
      const request = h.core.calls[0]!.args[0] as CoreInferRequest;
      assert.deepEqual(request.parameters, { priority: 1 });
      assert.equal(request.modelVersion, "");
    });
    it("binary extension in and out, by version", async () => {
      const input: Tensor = {
        name: "INPUT0",
        datatype: "INT32",
        shape: [1, 4],
        data: new Int32Array([1, 2, 3, 4]),
      };
      const encoded = buildInferRequest({ parameters: { binary_data_output: true } }, [input]);
      const response = await fetch(h.url("/v2/models/simple/versions/1/infer"), {
        method: "POST",
        headers: { "inference-header-content-length": String(encoded.headerLength) },
        body: Buffer.concat(encoded.body),
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "application/octet-stream");
      const headerLength = response.headers.get("inference-header-content-length")!;
      const bytes = new Uint8Array(await response.arrayBuffer());
      assert.equal(String(bytes.length), response.headers.get("content-length"));
      const parsed = parseInferResponse(bytes, headerLength);
      assert.deepEqual(Array.from(parsed.outputs[0]!.data as Int32Array), [2, 3, 4, 5]);
      assert.equal((h.core.calls[0]!.args[0] as CoreInferRequest).modelVersion, "1");
    });
    it("header length 0: a raw body for a single-input model, shape from metadata, batch 1", async () => {
      h.core.script.metadata = async () => ({
        ...SIMPLE_METADATA,
        inputs: [SIMPLE_METADATA.inputs[0]!],
      });
      const raw = Buffer.from(new Int32Array(16).fill(7).buffer);
      const response = await fetch(h.url("/v2/models/simple/infer"), {
        method: "POST",
        headers: {
          "inference-header-content-length": "0",
          "content-type": "application/octet-stream",
        },
        body: raw,
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "application/octet-stream");
      const request = h.core.calls.find((c) => c.method === "infer")!.args[0] as CoreInferRequest;
      assert.deepEqual(request.inputs[0]!.shape, [1, 16]);
      assert.equal(request.inputs[0]!.name, "INPUT0");
    });
    it("header length 0 for a two-input model is 400", async () => {
      const response = await fetch(h.url("/v2/models/simple/infer"), {
        method: "POST",
        headers: { "inference-header-content-length": "0" },
        body: Buffer.alloc(64),
      });
      assert.equal(response.status, 400);
      assert.match(await errorOf(response), /single input; 'simple' has 2/);
    });
    const statusCases: Array<{ name: string; thrown: unknown; status: number; error: RegExp }> = [
      {
        name: "INVALID_ARGUMENT",
        thrown: new InferError(Code.INVALID_ARGUMENT, "bad shape [2,8]"),
        status: 400,
        error: /^bad shape/,
      },
      {
        name: "NOT_FOUND",
        thrown: new InferError(Code.NOT_FOUND, "unknown model"),
        status: 404,
        error: /unknown model/,
      },
      {
        name: "UNAVAILABLE",
        thrown: new InferError(Code.UNAVAILABLE, "no healthy endpoint"),
        status: 503,
        error: /no healthy/,
      },
      {
        name: "DEADLINE_EXCEEDED",
        thrown: new InferError(Code.DEADLINE_EXCEEDED, "deadline"),
        status: 504,
        error: /deadline/,
      },
      {
        name: "RESOURCE_EXHAUSTED",
        thrown: new InferError(Code.RESOURCE_EXHAUSTED, "queue full"),
        status: 429,
        error: /queue full/,
      },
      {
        name: "a bug",
        thrown: new TypeError("cannot read x of undefined (secret)"),
        status: 500,
        error: /^internal error$/,
      },
    ];
    for (const c of statusCases) {
      it(`core error ${c.name} -> ${c.status}`, async () => {
        h.core.script.infer = async () => {
          throw c.thrown;
        };
        const response = await postJson(h.url("/v2/models/simple/infer"), simpleJson());
        assert.equal(response.status, c.status);
        assert.match(await errorOf(response), c.error);
      });
    }
    it("the cause is logged, never sent", async () => {
      const cause = new Error("connect ECONNREFUSED 10.0.0.7:8001");
      h.core.script.infer = async () => {
        throw new InferError(Code.UNAVAILABLE, "Triton is unavailable", { cause });
      };
      const response = await postJson(h.url("/v2/models/simple/infer"), simpleJson(), {
        "x-request-id": "cause-1",
      });
      const text = await response.text();
      assert.doesNotMatch(text, /ECONNREFUSED/);
      const line = h.lines.find(
        (l) => l["request_id"] === "cause-1" && l["msg"] === "http request",
      )!;
      assert.equal(line["err"], cause);
      assert.equal(line["error"], "Triton is unavailable");
      assert.equal(line["level"], "error");
    });
    const badBodies: Array<{
      name: string;
      body: string;
      headers?: Record<string, string>;
      error: RegExp;
    }> = [
      { name: "not JSON", body: "{oops", error: /not valid JSON/ },
      { name: "no inputs", body: "{}", error: /'inputs' array/ },
      {
        name: "data of the wrong count",
        body: JSON.stringify({
          inputs: [{ name: "INPUT0", datatype: "INT32", shape: [1, 16], data: [1] }],
        }),
        error: /input 'INPUT0': data has 1 values, shape \[1,16\] needs 16/,
      },
      {
        name: "more elements than limits.maxTensorElements",
        body: JSON.stringify({
          inputs: [{ name: "INPUT0", datatype: "INT8", shape: [100, 100], data: [] }],
        }),
        error: /10000 elements, more than the limit of 4096/,
      },
      {
        name: "a header length past the body",
        body: "{}",
        headers: { "inference-header-content-length": "50" },
        error: /Inference-Header-Content-Length "50"/,
      },
    ];
    for (const c of badBodies) {
      it(`a bad body (${c.name}) is 400 and never reaches the core`, async () => {
        const response = await fetch(h.url("/v2/models/simple/infer"), {
          method: "POST",
          headers: c.headers,
          body: c.body,
        });
        assert.equal(response.status, 400);
        assert.match(await errorOf(response), c.error);
        assert.equal(h.core.calls.length, 0);
      });
    }
    it("a body over limits.maxBodyBytes is 413, by Content-Length, before reading it", async () => {
      const response = await fetch(h.url("/v2/models/simple/infer"), {
        method: "POST",
        body: Buffer.alloc(1 << 20),
      });
      assert.equal(response.status, 413);
      assert.equal(
        await errorOf(response),
        "request body exceeds the limit of 65536 bytes (limits.maxBodyBytes)",
      );
      assert.equal(h.core.calls.length, 0);
    });
    it("a chunked body is cut off at the limit with 413", async () => {
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          // Up to 16 MiB, far past the limit: the server answers long before the end.
          if (sent >= 16 << 20) controller.close();
          else {
            sent += 64 * 1024;
            controller.enqueue(new Uint8Array(64 * 1024));
          }
        },
      });
      const response = await fetch(h.url("/v2/models/simple/infer"), {
        method: "POST",
        body: stream,
        duplex: "half",
      } as RequestInit);
      assert.equal(response.status, 413);
      await errorOf(response);
      assert.equal(h.core.calls.length, 0);
    });
  });

  describe("infer outside the direct route", () => {
    // The direct route takes `POST /v2/models/{m}[/versions/{v}]/infer` exactly as written;
    // express serves the forms it leaves (trailing slash, other case). Same answer either way.
    const forms = [
      ["direct", "/v2/models/simple/versions/1/infer"],
      ["express, trailing slash", "/v2/models/simple/versions/1/infer/"],
      ["express, upper case", "/V2/MODELS/simple/VERSIONS/1/INFER"],
    ] as const;

    it("every form is served alike, under the one route label", async () => {
      const answers: unknown[] = [];
      for (const [name, path] of forms) {
        h.core.calls.length = 0;
        const response = await postJson(h.url(`${path}?ignored=1`), simpleJson({ id: name }), {
          "x-request-id": `form-${answers.length}`,
        });
        assert.equal(response.status, 200, name);
        assert.equal(response.headers.get("x-request-id"), `form-${answers.length}`);
        const { id, ...body } = (await response.json()) as Record<string, unknown>;
        assert.equal(id, name);
        answers.push(body);
        const request = h.core.calls[0]!.args[0] as CoreInferRequest;
        assert.equal(request.modelName, "simple", name);
        assert.equal(request.modelVersion, "1", name);
      }
      assert.deepEqual(answers[1], answers[0]);
      assert.deepEqual(answers[2], answers[0]);
      await waitFor(() => h.lines.some((l) => l["request_id"] === "form-2"));
      for (const i of [0, 1, 2]) {
        const line = h.lines.find((l) => l["request_id"] === `form-${i}`)!;
        assert.equal(line["route"], "/v2/models/:model{/versions/:version}/infer", forms[i]![0]);
        assert.equal(line["model"], "simple");
      }
    });

    it("errors are answered alike: 400 JSON, 413 closing, a bad timeout header", async () => {
      for (const [name, path] of forms) {
        const bad = await postJson(h.url(path), { inputs: "nope" });
        assert.equal(bad.status, 400, name);
        assert.match(await errorOf(bad), /inputs/, name);
        const big = await fetch(h.url(path), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: Buffer.alloc(64 * 1024 + 1, 32),
        });
        assert.equal(big.status, 413, name);
        assert.equal(big.headers.get("connection"), "close", name);
        assert.match(await errorOf(big), /limits.maxBodyBytes/, name);
        const id = `bad-timeout-${forms.findIndex(([n]) => n === name)}`;
        const timeout = await postJson(h.url(path), simpleJson(), {
          "x-infergate-timeout-ms": "soon",
          "x-request-id": id,
        });
        assert.equal(timeout.status, 400, name);
        assert.match(await errorOf(timeout), /x-infergate-timeout-ms/, name);
        // Refused for its headers before any route took it: unmatched, whichever way it came.
        await waitFor(() => h.lines.some((l) => l["request_id"] === id));
        assert.equal(h.lines.find((l) => l["request_id"] === id)!["route"], "unmatched", name);
      }
    });

    it("the direct route serves infer by itself, without express behind it", async () => {
      const config = loadConfig(undefined, {});
      const route = directInferRoute({
        core: h.core,
        maxBodyBytes: 64 * 1024,
        maxTensorElements: 4096,
        log: capturingLogger([]),
        metrics: createHttpMetrics(createMetricsRegistry()),
        defaultTimeoutMs: config.triton.defaultTimeoutMs,
        requestLog: config.log,
      });
      const bare = await listen(
        (req, res) => {
          if (!route(req, res)) res.writeHead(418).end();
        },
        0,
        "127.0.0.1",
      );
      try {
        const url = (path: string) => `http://127.0.0.1:${bare.port}${path}`;
        const ok = await postJson(url("/v2/models/simple/infer"), simpleJson());
        assert.equal(ok.status, 200);
        assert.equal(((await ok.json()) as { model_name: string }).model_name, "simple");
        const bad = await postJson(url("/v2/models/simple/infer"), { inputs: 1 });
        assert.equal(bad.status, 400);
        await errorOf(bad);
        // Anything else is not its business: untouched, so the listener's own answer goes out.
        assert.equal((await fetch(url("/v2/models/simple"))).status, 418);
        assert.equal((await postJson(url("/v2/models/simple/infer/"), simpleJson())).status, 418);
      } finally {
        await bare.close(1000);
      }
    });

    it("percent-encoded names are decoded; malformed ones are 400 from express", async () => {
      const ok = await postJson(h.url("/v2/models/my%20model/infer"), simpleJson());
      assert.equal(ok.status, 200);
      assert.equal((h.core.calls[0]!.args[0] as CoreInferRequest).modelName, "my model");
      const bad = await postJson(h.url("/v2/models/%E0%A4%A/infer"), simpleJson());
      assert.equal(bad.status, 400);
      assert.match(await errorOf(bad), /decode/i);
    });

    it("core errors keep their status and Retry-After on the direct route", async () => {
      h.core.script.infer = () => {
        throw new InferError(Code.UNAVAILABLE, "shed", { retryAfterMs: 1500 });
      };
      const response = await postJson(h.url("/v2/models/simple/infer"), simpleJson());
      assert.equal(response.status, 503);
      assert.equal(response.headers.get("retry-after"), "2");
      assert.equal(await errorOf(response), "shed");
      const metrics = parsePrometheusText(await h.registry.text());
      assert.equal(samplesOf(metrics, "infergate_http_in_flight_requests")[0]!.value, 0);
    });
  });

  describe("request context", () => {
    it("keeps a sane x-request-id, echoes it and gives it to the core", async () => {
      const response = await postJson(h.url("/v2/models/simple/infer"), simpleJson(), {
        "x-request-id": "abc.123:x-y_z",
      });
      assert.equal(response.headers.get("x-request-id"), "abc.123:x-y_z");
      await response.arrayBuffer();
      assert.equal(h.core.calls[0]!.ctx!.requestId, "abc.123:x-y_z");
    });
    it("replaces an insane one with a UUID, also on errors and 404s", async () => {
      for (const path of ["/v2/models/simple", "/v2/models/nope", "/nowhere"]) {
        const response = await fetch(h.url(path), {
          headers: { "x-request-id": "bad id with spaces" },
        });
        await response.arrayBuffer();
        assert.match(response.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/, path);
      }
    });
    it("sets the deadline from x-infergate-timeout-ms, else triton.defaultTimeoutMs", async () => {
      const start = Date.now();
      await (
        await postJson(h.url("/v2/models/simple/infer"), simpleJson(), {
          "x-infergate-timeout-ms": "1500",
        })
      ).arrayBuffer();
      await (await postJson(h.url("/v2/models/simple/infer"), simpleJson())).arrayBuffer();
      const end = Date.now();
      const [withHeader, without] = h.core.calls.map((c) => c.ctx!.deadlineMs);
      assert.ok(withHeader! >= start + 1500 && withHeader! <= end + 1500);
      assert.ok(without! >= start + 30_000 && without! <= end + 30_000);
    });
    it("a malformed timeout header is 400 and still echoes the request id", async () => {
      const response = await postJson(h.url("/v2/models/simple/infer"), simpleJson(), {
        "x-infergate-timeout-ms": "soon",
        "x-request-id": "t-1",
      });
      assert.equal(response.status, 400);
      assert.equal(response.headers.get("x-request-id"), "t-1");
      assert.match(await errorOf(response), /x-infergate-timeout-ms/);
      assert.equal(h.core.calls.length, 0);
    });
    it("a client hang-up aborts ctx.signal", async () => {
      let entered!: () => void;
      const inCore = new Promise<void>((resolve) => {
        entered = resolve;
      });
      const aborted = new Promise<unknown>((resolve) => {
        h.core.script.infer = (_request, ctx) => {
          entered();
          return new Promise((_resolve, reject) => {
            ctx.signal.addEventListener("abort", () => {
              resolve(ctx.signal.reason);
              reject(ctx.signal.reason);
            });
          });
        };
      });
      const body = JSON.stringify(simpleJson());
      const request = httpRequest(h.url("/v2/models/simple/infer"), {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          "x-request-id": "gone-1",
        },
      });
      request.on("error", () => {});
      request.end(body);
      await inCore;
      request.destroy();
      const reason = await aborted;
      assert.ok(reason instanceof InferError && reason.code === Code.CANCELLED);
      // The log line and metrics count the hang-up as 499.
      await waitFor(() => h.lines.some((l) => l["request_id"] === "gone-1" && l["status"] === 499));
    });
    it("a request that completes never aborts its signal", async () => {
      await (await postJson(h.url("/v2/models/simple/infer"), simpleJson())).arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(h.core.calls[0]!.ctx!.signal.aborted, false);
    });
  });

  describe("pipelines", () => {
    it("GET /v1/pipelines lists them", async () => {
      const body = (await (await fetch(h.url("/v1/pipelines"))).json()) as {
        pipelines: Array<{ name: string }>;
      };
      assert.deepEqual(
        body.pipelines.map((p) => p.name),
        ["echo"],
      );
    });
    it("a JSON body is the fields; ?timings=true asks for timings", async () => {
      const response = await postJson(h.url("/v1/pipelines/echo?timings=true&lang=en"), {
        max_boxes: 2,
      });
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), {
        pipeline: "echo",
        result: { fields: { lang: "en", max_boxes: 2 }, files: {} },
        timings: { stage: 1.5 },
      });
    });
    it("multipart: files by field name and text fields", async () => {
      const form = new FormData();
      form.append("lang", "de");
      form.append(
        "image",
        new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], { type: "image/png" }),
        "a.png",
      );
      const response = await fetch(h.url("/v1/pipelines/echo"), { method: "POST", body: form });
      assert.equal(response.status, 200);
      const body = (await response.json()) as { result: unknown };
      assert.deepEqual(body.result, {
        fields: { lang: "de" },
        files: { image: { size: 4, type: "image/png" } },
      });
    });
    it("a raw image body is files.image", async () => {
      const response = await fetch(h.url("/v1/pipelines/echo"), {
        method: "POST",
        headers: { "content-type": "image/jpeg" },
        body: Buffer.alloc(1000, 1),
      });
      const body = (await response.json()) as { result: unknown };
      assert.deepEqual(body.result, {
        fields: {},
        files: { image: { size: 1000, type: "image/jpeg" } },
      });
      const input = h.core.calls[0]!.args[1] as PipelineInput;
      assert.equal(input.timings, false);
    });
    it("an unsupported content type is 415; an unknown pipeline 404", async () => {
      const csv = await fetch(h.url("/v1/pipelines/echo"), {
        method: "POST",
        headers: { "content-type": "text/csv" },
        body: "a,b",
      });
      assert.equal(csv.status, 415);
      assert.match(await errorOf(csv), /unsupported content type 'text\/csv'/);
      const unknown = await postJson(h.url("/v1/pipelines/nope"), {});
      assert.equal(unknown.status, 404);
      assert.match(await errorOf(unknown), /unknown pipeline 'nope'/);
    });
    it("a broken multipart body is 400", async () => {
      const response = await fetch(h.url("/v1/pipelines/echo"), {
        method: "POST",
        headers: { "content-type": "multipart/form-data; boundary=xx" },
        body: '--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\nno end',
      });
      assert.equal(response.status, 400);
      assert.match(await errorOf(response), /not closed by a boundary/);
    });
  });

  describe("logs and metrics", () => {
    it("one log line per request with method, route pattern, status, duration, id and model", async () => {
      await (
        await postJson(h.url("/v2/models/simple/versions/1/infer"), simpleJson(), {
          "x-request-id": "log-1",
        })
      ).arrayBuffer();
      await waitFor(() => h.lines.some((l) => l["request_id"] === "log-1"));
      const lines = h.lines.filter((l) => l["request_id"] === "log-1");
      assert.equal(lines.length, 1);
      const line = lines[0]!;
      assert.equal(line["method"], "POST");
      assert.equal(line["route"], "/v2/models/:model{/versions/:version}/infer");
      assert.equal(line["status"], 200);
      assert.equal(line["model"], "simple");
      assert.equal(typeof line["duration_ms"], "number");
      // log.requests defaults to `failures`: a fast success is a debug line, a failure info.
      assert.equal(line["level"], "debug");
      await (
        await fetch(h.url("/v2/models/nope"), { headers: { "x-request-id": "log-2" } })
      ).arrayBuffer();
      await waitFor(() => h.lines.some((l) => l["request_id"] === "log-2"));
      assert.equal(h.lines.find((l) => l["request_id"] === "log-2")!["level"], "info");
    });
    it("counts by route pattern, method and code; never by raw URL", async () => {
      await (await fetch(h.url("/v2/models/simple"))).arrayBuffer();
      await (await fetch(h.url("/v2/models/nope"))).arrayBuffer();
      await (await fetch(h.url("/a/b/c/123"))).arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const metrics = parsePrometheusText(await h.registry.text());
      const total = "infergate_http_requests_total";
      const route = "/v2/models/:model{/versions/:version}";
      assert.ok(samplesOf(metrics, total, { route, method: "GET", code: "200" })[0]!.value >= 1);
      assert.ok(samplesOf(metrics, total, { route, method: "GET", code: "404" })[0]!.value >= 1);
      assert.ok(
        samplesOf(metrics, total, { route: "unmatched", method: "GET", code: "404" })[0]!.value >=
          1,
      );
      for (const sample of samplesOf(metrics, total)) {
        assert.doesNotMatch(sample.labels["route"]!, /simple|nope|123/);
      }
      const count = samplesOf(metrics, "infergate_http_request_duration_seconds_count", {
        route,
        method: "GET",
      });
      assert.ok(count[0]!.value >= 2);
      assert.equal(samplesOf(metrics, "infergate_http_in_flight_requests")[0]!.value, 0);
    });
  });
});

describe("admin listener (scriptedCore)", () => {
  const flushed: unknown[] = [];
  const extra: AdminRoute = {
    method: "post",
    path: "/v1/cache/flush",
    handler: async ({ body, ctx }) => {
      flushed.push(body);
      return { flushed: true, request_id: ctx.requestId };
    },
  };

  describe("without a token", () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({}, [extra]);
    });
    after(() => h.close());

    it("serves the repository index with {ready}", async () => {
      const response = await postJson(h.adminUrl("/v2/repository/index"), { ready: true });
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), [
        { name: "simple", version: "1", state: "READY", reason: "" },
      ]);
      assert.deepEqual(h.core.calls.at(-1)!.args, [true]);
      await (await fetch(h.adminUrl("/v2/repository/index"), { method: "POST" })).arrayBuffer();
      assert.deepEqual(h.core.calls.at(-1)!.args, [false]);
    });
    it("loads and unloads with parameters; 200 with an empty body", async () => {
      const load = await postJson(h.adminUrl("/v2/repository/models/simple/load"), {
        parameters: { config: '{"max_batch_size": 4}' },
      });
      assert.equal(load.status, 200);
      assert.equal(await load.text(), "");
      const unload = await postJson(h.adminUrl("/v2/repository/models/simple/unload"), {
        parameters: { unload_dependents: true },
      });
      assert.equal(unload.status, 200);
      assert.deepEqual(
        h.core.calls.slice(-2).map((c) => [c.method, ...c.args]),
        [
          ["loadModel", "simple", { config: '{"max_batch_size": 4}' }],
          ["unloadModel", "simple", { unload_dependents: true }],
        ],
      );
    });
    it("refuses bad admin bodies with 400", async () => {
      const notBool = await postJson(h.adminUrl("/v2/repository/index"), { ready: "yes" });
      assert.equal(notBool.status, 400);
      assert.match(await errorOf(notBool), /'ready' must be a boolean/);
      const badParams = await postJson(h.adminUrl("/v2/repository/models/m/load"), {
        parameters: [1],
      });
      assert.equal(badParams.status, 400);
      await errorOf(badParams);
    });
    it("serves extra routes", async () => {
      const response = await postJson(
        h.adminUrl("/v1/cache/flush"),
        { pattern: "*" },
        { "x-request-id": "adm-1" },
      );
      assert.deepEqual(await response.json(), { flushed: true, request_id: "adm-1" });
      assert.deepEqual(flushed.at(-1), { pattern: "*" });
    });
    it("does not serve the public routes", async () => {
      const response = await fetch(h.adminUrl("/v2/models/simple"));
      assert.equal(response.status, 404);
      await errorOf(response);
    });
  });

  describe("with a token", () => {
    let h: Harness;
    before(async () => {
      const config = loadConfig(undefined, {});
      h = await startHarness({ admin: { ...config.admin, token: "s3cret-token" } }, [extra]);
    });
    after(() => h.close());

    const cases: Array<{ name: string; authorization?: string; status: number }> = [
      { name: "no Authorization", status: 401 },
      { name: "a wrong token", authorization: "Bearer nope", status: 401 },
      { name: "a token prefix", authorization: "Bearer s3cret", status: 401 },
      { name: "basic auth", authorization: "Basic czNjcmV0LXRva2Vu", status: 401 },
      { name: "the right token", authorization: "Bearer s3cret-token", status: 200 },
      {
        name: "the right token, scheme in lower case",
        authorization: "bearer s3cret-token",
        status: 200,
      },
    ];
    for (const c of cases) {
      it(`${c.name} -> ${c.status}`, async () => {
        const headers: Record<string, string> = c.authorization
          ? { authorization: c.authorization }
          : {};
        for (const path of ["/v2/repository/index", "/v1/cache/flush"]) {
          const before = h.core.calls.length;
          const response = await postJson(h.adminUrl(path), {}, headers);
          assert.equal(response.status, c.status, path);
          if (c.status === 401) {
            assert.match(response.headers.get("www-authenticate")!, /^Bearer/);
            assert.match(await errorOf(response), /Authorization: Bearer/);
            assert.equal(h.core.calls.length, before);
          } else {
            await response.arrayBuffer();
          }
        }
      });
    }
  });
});

describe("listen", () => {
  it("close() waits for a request in flight, then ends idle keep-alive connections", async () => {
    const h = await startHarness();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    h.core.script.infer = async (request) => {
      await gate;
      return addOne(request);
    };
    // A keep-alive connection left idle, then one request in flight.
    await (await fetch(h.url("/v2/health/live"))).arrayBuffer();
    const inFlight = postJson(h.url("/v2/models/simple/infer"), simpleJson());
    await waitFor(() => h.core.calls.some((c) => c.method === "infer"));
    let closed = false;
    const closing = h.public.close(5000).then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(closed, false);
    release();
    const response = await inFlight;
    assert.equal(response.status, 200);
    await response.arrayBuffer();
    const start = Date.now();
    await closing;
    assert.ok(Date.now() - start < 2000, "close() ended soon after the last response");
    await h.admin.close(1000);
  });
  it("close() cuts connections still open after the grace period", async () => {
    const h = await startHarness();
    h.core.script.infer = () => new Promise(() => {});
    const stuck = postJson(h.url("/v2/models/simple/infer"), simpleJson()).catch((e: unknown) => e);
    await waitFor(() => h.core.calls.some((c) => c.method === "infer"));
    const start = Date.now();
    await h.public.close(200);
    assert.ok(Date.now() - start < 2000);
    assert.ok((await stuck) instanceof Error);
    await h.admin.close(1000);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
