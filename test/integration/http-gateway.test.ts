/**
 * The HTTP front end end to end: a real core and Triton client in front of the embedded model
 * server, all on 127.0.0.1 port 0, serving a temporary copy of `model_repository/simple`
 * (OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1, INT32 [-1, 16]).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../gateway/src/config/load-config.js";
import { createGatewayCore } from "../../gateway/src/core/create-core.js";
import { createHttpMetrics } from "../../gateway/src/http/http-metrics.js";
import { createHttpApp, type Listening, listen } from "../../gateway/src/http/server.js";
import { silentLogger } from "../../gateway/src/log.js";
import { createMetricsRegistry } from "../../gateway/src/metrics.js";
import { type ModelServer, startModelServer } from "../../gateway/src/models/model-server.js";
import {
  buildInferRequest,
  parseInferResponse,
} from "../../gateway/src/protocol/binary-extension.js";
import type { Tensor } from "../../gateway/src/protocol/tensor.js";
import { createTritonClient, type TritonClient } from "../../gateway/src/triton/triton-client.js";
import { makeTempRepository, type TempRepository } from "./helpers/model-server.js";

const log = silentLogger();
const range = (f: (i: number) => number) => Array.from({ length: 16 }, (_, i) => f(i));

describe("HTTP front end with the real core and the embedded model server", () => {
  let repo: TempRepository;
  let models: ModelServer;
  let triton: TritonClient;
  let gateway: Listening;
  const url = (path: string) => `http://127.0.0.1:${gateway.port}${path}`;

  before(async () => {
    repo = await makeTempRepository(["simple"]);
    models = await startModelServer({ repository: repo.path, grpcPort: 0, metricsPort: -1, log });
    const config = loadConfig(undefined, {});
    triton = await createTritonClient({
      ...config.triton,
      endpoints: [{ name: "embedded", url: `127.0.0.1:${models.grpcPort}` }],
      healthIntervalMs: 200,
      log,
    });
    const core = createGatewayCore({ config, triton, log });
    const metrics = createHttpMetrics(createMetricsRegistry());
    gateway = await listen(createHttpApp({ core, config, log, metrics }), 0, "127.0.0.1");
  });
  after(async () => {
    await gateway?.close(1000);
    triton?.close();
    await models?.close();
    await repo?.remove();
  });

  it("is ready and serves the model's metadata", async () => {
    assert.equal((await fetch(url("/v2/health/ready"))).status, 200);
    const metadata = (await (await fetch(url("/v2/models/simple"))).json()) as {
      inputs: Array<{ name: string; datatype: string; shape: number[] }>;
    };
    assert.deepEqual(metadata.inputs[0], { name: "INPUT0", datatype: "INT32", shape: [-1, 16] });
  });

  it("JSON infer on simple", async () => {
    const response = await fetch(url("/v2/models/simple/infer"), {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "e2e-json" },
      body: JSON.stringify({
        id: "client-7",
        inputs: [
          { name: "INPUT0", datatype: "INT32", shape: [1, 16], data: range((i) => i) },
          { name: "INPUT1", datatype: "INT32", shape: [1, 16], data: [range(() => 1)] },
        ],
      }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-request-id"), "e2e-json");
    const body = (await response.json()) as {
      model_name: string;
      id: string;
      outputs: Array<{ name: string; shape: number[]; data: number[] }>;
    };
    assert.equal(body.model_name, "simple");
    assert.equal(body.id, "client-7");
    const byName = Object.fromEntries(body.outputs.map((o) => [o.name, o]));
    assert.deepEqual(byName["OUTPUT0"]!.shape, [1, 16]);
    assert.deepEqual(
      byName["OUTPUT0"]!.data,
      range((i) => i + 1),
    );
    assert.deepEqual(
      byName["OUTPUT1"]!.data,
      range((i) => i - 1),
    );
  });

  it("binary infer on simple, batch of 2, one output binary and one JSON", async () => {
    const input = (name: string, f: (i: number) => number): Tensor => ({
      name,
      datatype: "INT32",
      shape: [2, 16],
      data: Int32Array.from({ length: 32 }, (_, i) => f(i)),
    });
    const encoded = buildInferRequest(
      { outputs: [{ name: "OUTPUT0", parameters: { binary_data: true } }, { name: "OUTPUT1" }] },
      [input("INPUT0", (i) => 10 * i), input("INPUT1", (i) => i)],
    );
    const response = await fetch(url("/v2/models/simple/versions/1/infer"), {
      method: "POST",
      headers: { "inference-header-content-length": String(encoded.headerLength) },
      body: Buffer.concat(encoded.body),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/octet-stream");
    const parsed = parseInferResponse(
      new Uint8Array(await response.arrayBuffer()),
      response.headers.get("inference-header-content-length")!,
    );
    const [out0, out1] = ["OUTPUT0", "OUTPUT1"].map(
      (n) => parsed.outputs.find((t) => t.name === n)!,
    );
    assert.deepEqual(parsed.response.outputs.find((o) => o.name === "OUTPUT0")!.parameters, {
      binary_data_size: 128,
    });
    assert.deepEqual(out0!.shape, [2, 16]);
    assert.deepEqual(
      Array.from(out0!.data as Int32Array),
      Array.from({ length: 32 }, (_, i) => 11 * i),
    );
    assert.deepEqual(
      Array.from(out1!.data as Int32Array),
      Array.from({ length: 32 }, (_, i) => 9 * i),
    );
  });

  it("404 {error} for an unknown model", async () => {
    const response = await fetch(url("/v2/models/nope/infer"), {
      method: "POST",
      body: JSON.stringify({
        inputs: [{ name: "INPUT0", datatype: "INT32", shape: [1, 16], data: range(() => 0) }],
      }),
    });
    assert.equal(response.status, 404);
    const body = (await response.json()) as { error: string };
    assert.match(body.error, /nope/);
  });

  it("400 {error} for a bad shape", async () => {
    const response = await fetch(url("/v2/models/simple/infer"), {
      method: "POST",
      body: JSON.stringify({
        inputs: [
          { name: "INPUT0", datatype: "INT32", shape: [2, 8], data: range(() => 0) },
          { name: "INPUT1", datatype: "INT32", shape: [2, 8], data: range(() => 0) },
        ],
      }),
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: string };
    assert.match(body.error, /shape/);
  });

  it("serves the model config and statistics from the model server", async () => {
    const config = (await (await fetch(url("/v2/models/simple/config"))).json()) as {
      max_batch_size: number;
    };
    assert.equal(config.max_batch_size, 8);
    const stats = (await (await fetch(url("/v2/models/simple/stats"))).json()) as {
      model_stats: Array<{ name: string }>;
    };
    assert.equal(stats.model_stats[0]!.name, "simple");
  });
});
