import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../gateway/src/config/load-config.js";
import { createGatewayCore } from "../../gateway/src/core/create-core.js";
import type { CoreInferRequest, RequestContext } from "../../gateway/src/core/gateway-core.js";
import { Code, type InferError } from "../../gateway/src/errors.js";
import { silentLogger } from "../../gateway/src/log.js";
import type { Tensor } from "../../gateway/src/protocol/tensor.js";
import { createTritonClient, type TritonClient } from "../../gateway/src/triton/triton-client.js";
import {
  makeTempRepository,
  startTestModelServer,
  type TempRepository,
  type TestModelServer,
} from "./helpers/model-server.js";
import { freePort } from "./helpers/redis-server.js";

const log = silentLogger();

function ctx(overrides: Partial<RequestContext> = {}): RequestContext {
  return {
    requestId: `t-${Math.random().toString(36).slice(2)}`,
    deadlineMs: Date.now() + 10_000,
    signal: new AbortController().signal,
    log,
    ...overrides,
  };
}

function simpleRequest(a: number, rows = 1): CoreInferRequest {
  const row = (f: (i: number) => number) => Int32Array.from({ length: 16 * rows }, (_, i) => f(i));
  const input = (name: string, data: Int32Array): Tensor => ({
    name,
    datatype: "INT32",
    shape: [rows, 16],
    data,
  });
  return {
    modelName: "simple",
    modelVersion: "",
    id: `client-${a}`,
    inputs: [
      input(
        "INPUT0",
        row((i) => a + i),
      ),
      input(
        "INPUT1",
        row(() => 1),
      ),
    ],
    outputs: [],
    parameters: {},
  };
}

function clientOptions(
  urls: { name: string; url: string }[],
  transport: "stream" | "unary" = "stream",
) {
  return {
    endpoints: urls,
    channelsPerEndpoint: 2,
    transport,
    maxMessageBytes: 64 << 20,
    healthIntervalMs: 200,
    keepaliveMs: 10_000,
    log,
  };
}

describe("Triton client and core against the embedded model server", () => {
  let repo: TempRepository;
  let models: TestModelServer;
  let url: string;

  before(async () => {
    repo = await makeTempRepository([
      {
        name: "simple",
        config: (text) =>
          text.replace("max_queue_delay_microseconds: 500", "max_queue_delay_microseconds: 20000"),
      },
    ]);
    models = await startTestModelServer(repo.path);
    url = `127.0.0.1:${models.server.grpcPort}`;
  });
  after(async () => {
    await models.close();
    await repo.remove();
  });

  for (const transport of ["stream", "unary"] as const) {
    it(`infers over ${transport} transport with the request id sent and the client id echoed`, async () => {
      const triton = await createTritonClient(clientOptions([{ name: "a", url }], transport));
      try {
        const core = createGatewayCore({ config: loadConfig(undefined, {}), triton, log });
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, k) => core.infer(simpleRequest(k), ctx())),
        );
        results.forEach((r, k) => {
          assert.equal(r.id, `client-${k}`);
          assert.equal(r.modelVersion, "1");
          assert.deepEqual(Array.from(r.outputs[0]!.data as Int32Array).slice(0, 3), [
            k + 1,
            k + 2,
            k + 3,
          ]);
        });
        if (transport === "stream") assert.ok(triton.endpoints[0]!.openStreams >= 1);
      } finally {
        triton.close();
      }
    });
  }

  it("maps Triton's errors to codes: unknown model NOT_FOUND, bad shape INVALID_ARGUMENT", async () => {
    const triton = await createTritonClient(clientOptions([{ name: "a", url }]));
    try {
      const core = createGatewayCore({ config: loadConfig(undefined, {}), triton, log });
      await assert.rejects(
        core.infer({ ...simpleRequest(1), modelName: "nope" }, ctx()),
        (e: InferError) => e.code === Code.NOT_FOUND,
      );
      const bad = simpleRequest(1);
      bad.inputs[0] = { ...bad.inputs[0]!, shape: [2, 8] } as Tensor;
      await assert.rejects(
        core.infer(bad, ctx()),
        (e: InferError) => e.code === Code.INVALID_ARGUMENT && /shape/.test(e.message),
      );
    } finally {
      triton.close();
    }
  });

  it("routes around an unhealthy endpoint and reports it", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const triton = await createTritonClient(
      clientOptions([
        { name: "dead", url: dead },
        { name: "live", url },
      ]),
    );
    try {
      assert.equal(triton.endpoints[0]!.health, "unhealthy");
      assert.equal(triton.endpoints[1]!.health, "healthy");
      assert.ok(triton.isReady());
      const core = createGatewayCore({ config: loadConfig(undefined, {}), triton, log });
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, k) => core.infer(simpleRequest(k), ctx())),
      );
      assert.equal(results.length, 10);
    } finally {
      triton.close();
    }
  });

  it("fails fast with UNAVAILABLE when no endpoint is healthy", async () => {
    const triton = await createTritonClient(
      clientOptions([{ name: "dead", url: `127.0.0.1:${await freePort()}` }]),
    );
    try {
      assert.equal(triton.isReady(), false);
      const core = createGatewayCore({ config: loadConfig(undefined, {}), triton, log });
      await assert.rejects(
        core.infer(simpleRequest(1), ctx()),
        (e: InferError) => e.code === Code.UNAVAILABLE,
      );
    } finally {
      triton.close();
    }
  });

  it("turns an expired deadline into DEADLINE_EXCEEDED and a hang-up into CANCELLED", async () => {
    const triton = await createTritonClient(clientOptions([{ name: "a", url }]));
    try {
      const core = createGatewayCore({ config: loadConfig(undefined, {}), triton, log });
      // simple waits up to 20 ms for company here; a 5 ms deadline expires in the queue.
      await assert.rejects(
        core.infer(simpleRequest(1), ctx({ deadlineMs: Date.now() + 5 })),
        (e: InferError) => e.code === Code.DEADLINE_EXCEEDED,
      );
      const controller = new AbortController();
      const pending = core.infer(simpleRequest(2), ctx({ signal: controller.signal }));
      controller.abort();
      await assert.rejects(pending, (e: InferError) => e.code === Code.CANCELLED);
      // The transport is still usable afterwards.
      const ok = await core.infer(simpleRequest(3), ctx());
      assert.equal(ok.id, "client-3");
    } finally {
      triton.close();
    }
  });

  it("merges concurrent requests into batched Triton calls when gateway batching is on", async () => {
    const triton = await createTritonClient(clientOptions([{ name: "a", url }]));
    try {
      const config = loadConfig(undefined, {});
      config.models["simple"] = {
        batching: { enabled: true, maxBatchSize: 8, windowUs: 5000 },
        idempotent: false,
      };
      const core = createGatewayCore({ config, triton, log });
      const before = (await models.call("ModelStatistics", { name: "simple" })).model_stats[0];
      const results = await Promise.all(
        Array.from({ length: 16 }, (_, k) => core.infer(simpleRequest(k), ctx())),
      );
      for (const [k, r] of results.entries())
        assert.equal((r.outputs[1]!.data as Int32Array)[0], k - 1);
      const after = (await models.call("ModelStatistics", { name: "simple" })).model_stats[0];
      const inferences = (after.inference_count ?? 0) - (before.inference_count ?? 0);
      const executions = (after.execution_count ?? 0) - (before.execution_count ?? 0);
      assert.equal(inferences, 16);
      assert.ok(executions <= 4, `16 requests ran in ${executions} executions`);
      const requests =
        (after.inference_stats.success.count ?? 0) - (before.inference_stats?.success?.count ?? 0);
      assert.ok(requests < 16, `the server saw ${requests} requests for 16 client requests`);
    } finally {
      triton.close();
    }
  });
});

describe("Triton client when the server goes away", () => {
  it("settles every in-flight stream request when the stream breaks; none hangs", async () => {
    const repo = await makeTempRepository([
      {
        name: "simple",
        config: (text) =>
          text.replace(
            "max_queue_delay_microseconds: 500",
            "max_queue_delay_microseconds: 300000\n  preferred_batch_size: [ 8 ]",
          ),
      },
    ]);
    const models = await startTestModelServer(repo.path, { shutdownGraceMs: 50 });
    let triton: TritonClient | undefined;
    try {
      triton = await createTritonClient(
        clientOptions([{ name: "a", url: `127.0.0.1:${models.server.grpcPort}` }]),
      );
      const core = createGatewayCore({ config: loadConfig(undefined, {}), triton, log });
      const pending = Array.from({ length: 5 }, (_, k) =>
        core.infer(simpleRequest(k), ctx({ deadlineMs: Date.now() + 5000 })).then(
          () => Code.OK,
          (e: InferError) => e.code,
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = Date.now();
      await models.close();
      const codes = await Promise.all(pending);
      assert.ok(Date.now() - started < 4000, "requests settled before their deadline");
      for (const code of codes)
        assert.ok([Code.OK, Code.UNAVAILABLE, Code.CANCELLED].includes(code), `code ${Code[code]}`);
    } finally {
      triton?.close();
      await repo.remove();
    }
  });
});
