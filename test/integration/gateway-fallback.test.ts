/**
 * A fallback model through the whole gateway: here `simple` fails every run inside the model
 * server (INTERNAL, a server fault the breaker counts); once its breaker opens,
 * `models.simple.fallback` (`backup`, the real `simple` graph) answers, and the client is told
 * so: the `infergate_degraded` response parameter, the `x-infergate-degraded` HTTP header and gRPC
 * trailer, `infergate_degraded_responses_total`; a pipeline calling `simple` (`simple-math`) says
 * so too. Before the breaker opens the client sees the failure. Degraded results are never
 * cached, for the model or the pipeline.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { encodeOnnxGraph } from "../../gateway/src/repository/onnx-model.js";
import { SIMPLE_ROW_ELEMENTS } from "../../gateway/src/repository/simple-model.js";
import { type FullGateway, startFullGateway, sumOf } from "./helpers/full-gateway.js";
import { simpleModel, writeRepository } from "./helpers/generated-repository.js";
import {
  type Message,
  methodDefinition,
  startTestModelServer,
  type TempRepository,
  type TestModelServer,
} from "./helpers/model-server.js";

/**
 * `simple`'s config and IO, but every run fails in ONNX Runtime: a Gather whose indices (99) lie
 * outside the 16 columns, which no load-time check sees.
 */
function brokenModel() {
  const { config } = simpleModel("simple");
  const tensor = (name: string) => ({ name, datatype: "INT32", dims: [-1, SIMPLE_ROW_ELEMENTS] });
  return {
    config,
    onnx: encodeOnnxGraph({
      name: "broken_simple",
      inputs: [tensor("INPUT0"), tensor("INPUT1")],
      outputs: [tensor("OUTPUT0"), tensor("OUTPUT1")],
      initializers: [
        {
          name: "outside",
          datatype: "INT64",
          dims: [SIMPLE_ROW_ELEMENTS],
          values: new Array(SIMPLE_ROW_ELEMENTS).fill(99),
        },
      ],
      nodes: [
        {
          opType: "Gather",
          inputs: ["INPUT0", "outside"],
          outputs: ["OUTPUT0"],
          attributes: { axis: 1 },
        },
        {
          opType: "Gather",
          inputs: ["INPUT1", "outside"],
          outputs: ["OUTPUT1"],
          attributes: { axis: 1 },
        },
      ],
    }),
  };
}

const INPUTS = [
  {
    name: "INPUT0",
    datatype: "INT32",
    shape: [1, 16],
    data: Array.from({ length: 16 }, (_, i) => i),
  },
  { name: "INPUT1", datatype: "INT32", shape: [1, 16], data: new Array(16).fill(1) },
];

describe("a fallback model once every breaker of a failing model is open", () => {
  let repo: TempRepository;
  let server: TestModelServer;
  let gateway: FullGateway;

  before(async () => {
    repo = await writeRepository({ simple: brokenModel(), backup: simpleModel("backup") });
    server = await startTestModelServer(repo.path, { controlMode: "none" });
    gateway = await startFullGateway({
      endpoints: [`127.0.0.1:${server.server.grpcPort}`],
      configure: (config) => {
        // Cached: a fallback's answer must never be stored under the model's or pipeline's key.
        const cached = { enabled: true, ttlSeconds: 300, maxEntryBytes: 1 << 20 };
        config.cache.models = { simple: cached };
        config.cache.pipelines = { "simple-math": cached };
        config.resilience.breaker = {
          errorThresholdPercentage: 50,
          volumeThreshold: 3,
          resetTimeoutMs: 60_000,
          rollingWindowMs: 10_000,
        };
        config.resilience.retry.maxRetries = 0;
        config.models["simple"] = {
          batching: { enabled: false, maxBatchSize: 8, windowUs: 500 },
          idempotent: false,
          fallback: "backup",
        };
      },
    });
  });
  after(async () => {
    await gateway?.close();
    await server?.close();
    await repo?.remove();
  });

  const httpInfer = () =>
    fetch(gateway.url("/v2/models/simple/infer"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ inputs: INPUTS }),
    });

  it("the failures reach the client until the breaker opens, then the fallback answers, marked", async () => {
    const failures: string[] = [];
    let response = await httpInfer();
    for (let i = 0; i < 10 && response.status !== 200; i++) {
      assert.equal(response.status, 500, "a backend failure is INTERNAL: 500");
      failures.push(((await response.json()) as { error: string }).error);
      response = await httpInfer();
    }
    assert.ok(failures.length >= 2, `the breaker opened after ${failures.length} failures`);
    for (const error of failures) assert.match(error, /Gather.*out of data bounds/);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-infergate-degraded"), "backup");
    const body = (await response.json()) as {
      model_name: string;
      parameters?: Record<string, unknown>;
      outputs: Array<{ name: string; data: number[] }>;
    };
    assert.equal(body.parameters?.["infergate_degraded"], "backup");
    // The real simple graph's answer: INPUT0 + INPUT1.
    assert.deepEqual(
      body.outputs.find((o) => o.name === "OUTPUT0")!.data,
      Array.from({ length: 16 }, (_, i) => i + 1),
    );
    const metrics = await gateway.scrape();
    assert.ok(sumOf(metrics, "infergate_degraded_responses_total", { model: "simple" }) >= 1);
    // Not cached: the same request again is answered by the fallback again, never a hit.
    const again = await httpInfer();
    assert.equal(again.headers.get("x-infergate-degraded"), "backup");
    assert.equal(again.headers.get("x-cache"), "miss");
    const stored = sumOf(await gateway.scrape(), "infergate_cache_not_stored_total", {
      reason: "degraded",
    });
    assert.ok(stored >= 2, `not stored as degraded: ${stored}`);
  });

  it("over gRPC: the response parameter and the x-infergate-degraded trailer", async () => {
    const outcome = await new Promise<{ response?: Message; trailer?: string; error?: Error }>(
      (resolve) => {
        const definition = methodDefinition("ModelInfer");
        const client = new grpc.Client(
          `127.0.0.1:${gateway.gateway.grpcPort}`,
          grpc.credentials.createInsecure(),
        );
        let response: Message | undefined;
        const raw = (values: number[]) => Buffer.from(Int32Array.from(values).buffer);
        const call = client.makeUnaryRequest(
          definition.path,
          definition.requestSerialize,
          definition.responseDeserialize,
          {
            model_name: "simple",
            inputs: INPUTS.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
            raw_input_contents: INPUTS.map((i) => raw(i.data)),
          },
          new grpc.Metadata(),
          { deadline: new Date(Date.now() + 10_000) },
          (error, reply) => {
            if (error) {
              client.close();
              resolve({ error });
            } else response = reply;
          },
        );
        call.on("status", (status: grpc.StatusObject) => {
          if (status.code !== grpc.status.OK) return;
          const [trailer] = status.metadata.get("x-infergate-degraded");
          client.close();
          resolve({ response, trailer: String(trailer) });
        });
      },
    );
    assert.equal(outcome.error, undefined);
    assert.equal(outcome.trailer, "backup");
    assert.equal(
      outcome.response?.["parameters"]?.["infergate_degraded"]?.["string_param"],
      "backup",
    );
  });

  it("a pipeline whose calls a fallback answered says so, and is not cached", async () => {
    const run = () =>
      fetch(gateway.url("/v1/pipelines/simple-math"), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ pairs: [[INPUTS[0]!.data, INPUTS[1]!.data]] }),
      });
    for (const attempt of [1, 2]) {
      const response = await run();
      assert.equal(response.status, 200, `run ${attempt}`);
      assert.equal(response.headers.get("x-infergate-degraded"), "backup");
      assert.equal(response.headers.get("x-cache"), "miss", `run ${attempt}: never stored`);
      const body = (await response.json()) as {
        degraded?: string[];
        result: { results: Array<{ sum: number[] }> };
      };
      assert.deepEqual(body.degraded, ["backup"]);
      assert.deepEqual(
        body.result.results[0]!.sum,
        Array.from({ length: 16 }, (_, i) => i + 1),
      );
    }
  });
});
