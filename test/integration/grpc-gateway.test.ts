/**
 * The gRPC front end end to end: a plain grpc-js client, the gateway's gRPC server, the real
 * core and Triton client, and the embedded model server, all on 127.0.0.1 port 0, serving a
 * temporary copy of `model_repository/simple` (OUTPUT0 = INPUT0 + INPUT1,
 * OUTPUT1 = INPUT0 - INPUT1, INT32 [-1, 16]).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { createGatewayCore } from "../../gateway/src/core/create-core.js";
import { silentLogger } from "../../gateway/src/log.js";
import { type ModelServer, startModelServer } from "../../gateway/src/models/model-server.js";
import {
  decodeInferResponseMessage,
  encodeInferRequestMessage,
} from "../../gateway/src/protocol/infer-message.js";
import { createTritonClient, type TritonClient } from "../../gateway/src/triton/triton-client.js";
import {
  startTestGateway,
  type TestGateway,
  testConfig,
  withRequestId,
} from "./helpers/grpc-gateway.js";
import { type Message, makeTempRepository, type TempRepository } from "./helpers/model-server.js";

const log = silentLogger();

/** A `ModelInferRequest` for `simple`: INPUT0 = base + i, INPUT1 = 1, `rows` x 16. */
function simpleRequest(
  base: number,
  options: { id?: string; model?: string; dims?: number[] } = {},
) {
  const dims = options.dims ?? [1, 16];
  const count = dims.reduce((a, b) => a * b, 1);
  return encodeInferRequestMessage({
    modelName: options.model ?? "simple",
    id: options.id ?? "",
    inputs: [
      {
        name: "INPUT0",
        datatype: "INT32",
        shape: dims,
        data: Int32Array.from({ length: count }, (_, i) => base + i),
      },
      { name: "INPUT1", datatype: "INT32", shape: dims, data: new Int32Array(count).fill(1) },
    ],
  });
}

/** OUTPUT0 and OUTPUT1 of a response, by name. */
function outputs(response: Message): Record<string, number[]> {
  const decoded = decodeInferResponseMessage(response);
  return Object.fromEntries(decoded.outputs.map((t) => [t.name, Array.from(t.data as Int32Array)]));
}

const expectedSum = (base: number) => Array.from({ length: 16 }, (_, i) => base + i + 1);
const expectedDiff = (base: number) => Array.from({ length: 16 }, (_, i) => base + i - 1);

describe("gRPC front end with the real core and the embedded model server", () => {
  let repo: TempRepository;
  let models: ModelServer;
  let triton: TritonClient;
  let gateway: TestGateway;

  before(async () => {
    repo = await makeTempRepository(["simple"]);
    models = await startModelServer({ repository: repo.path, grpcPort: 0, metricsPort: -1, log });
    const config = testConfig();
    triton = await createTritonClient({
      ...config.triton,
      endpoints: [{ name: "embedded", url: `127.0.0.1:${models.grpcPort}` }],
      healthIntervalMs: 200,
      log,
    });
    gateway = await startTestGateway(createGatewayCore({ config, triton, log }), config);
  });
  after(async () => {
    await gateway?.close();
    triton?.close();
    await models?.close();
    await repo?.remove();
  });

  it("is ready, and serves the model's metadata and config", async () => {
    assert.equal((await gateway.unary("ServerReady", {})).response!["ready"], true);
    const health = await gateway.unary("/grpc.health.v1.Health/Check", { service: "" });
    assert.equal(health.response!["status"], "SERVING");
    const metadata = (await gateway.unary("ModelMetadata", { name: "simple" })).response!;
    assert.deepEqual(metadata["inputs"][0], { name: "INPUT0", datatype: "INT32", shape: [-1, 16] });
    const config = (await gateway.unary("ModelConfig", { name: "simple" })).response!;
    assert.equal(config["config"].max_batch_size, 8);
  });

  it("unary ModelInfer on simple, id echoed and request id returned", async () => {
    const { response, error, headers } = await gateway.unary(
      "ModelInfer",
      simpleRequest(10, { id: "client-1" }),
      { metadata: withRequestId("e2e-unary") },
    );
    assert.equal(error, undefined);
    assert.deepEqual(headers.get("x-request-id"), ["e2e-unary"]);
    assert.equal(response!["id"], "client-1");
    assert.equal(response!["model_name"], "simple");
    assert.equal(response!["model_version"], "1");
    const out = outputs(response!);
    assert.deepEqual(out["OUTPUT0"], expectedSum(10));
    assert.deepEqual(out["OUTPUT1"], expectedDiff(10));
  });

  it("streaming ModelStreamInfer on simple: each answer matches its request; errors stay in-band", async () => {
    const stream = gateway.stream({ metadata: withRequestId("e2e-stream") });
    const replies: Message[] = [];
    stream.on("data", (reply: Message) => replies.push(reply));
    const status = new Promise<grpc.StatusObject>((resolve) => stream.on("status", resolve));
    stream.on("error", () => {});
    for (let k = 0; k < 20; k++) {
      const model = k === 7 ? "nope" : "simple";
      stream.write(simpleRequest(k * 100, { id: `s-${k}`, model }));
    }
    stream.end();
    assert.equal((await status).code, grpc.status.OK);
    assert.equal(replies.length, 20);
    for (const reply of replies) {
      const id: string = reply["infer_response"].id;
      const k = Number(id.slice(2));
      if (k === 7) {
        assert.match(reply["error_message"], /nope/);
        continue;
      }
      assert.equal(reply["error_message"] ?? "", "", id);
      assert.deepEqual(outputs(reply["infer_response"])["OUTPUT0"], expectedSum(k * 100), id);
    }
  });

  it("NOT_FOUND for an unknown model", async () => {
    const { error } = await gateway.unary(
      "ModelInfer",
      simpleRequest(0, { model: "no_such_model" }),
    );
    assert.equal(error?.code, grpc.status.NOT_FOUND);
    assert.match(error!.details, /no_such_model/);
  });

  it("INVALID_ARGUMENT for a bad shape", async () => {
    const { error } = await gateway.unary("ModelInfer", simpleRequest(0, { dims: [1, 8] }));
    assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(error!.details, /shape/i);
  });

  it("statistics of the model server reflect the requests that went through", async () => {
    const { response } = await gateway.unary("ModelStatistics", { name: "simple" });
    const [stats] = response!["model_stats"];
    assert.equal(stats.name, "simple");
    assert.ok(stats.inference_count >= 20, String(stats.inference_count));
  });

  it("model control stays off the public port", async () => {
    const { error } = await gateway.unary("RepositoryModelUnload", { model_name: "simple" });
    assert.equal(error?.code, grpc.status.PERMISSION_DENIED);
    assert.equal((await gateway.unary("ModelReady", { name: "simple" })).response!["ready"], true);
  });
});
