import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../gateway/src/config/load-config.js";
import { createGatewayCore } from "../../gateway/src/core/create-core.js";
import type { CoreInferRequest, RequestContext } from "../../gateway/src/core/gateway-core.js";
import { silentLogger } from "../../gateway/src/log.js";
import { createMetricsRegistry } from "../../gateway/src/metrics.js";
import { type ModelServer, startModelServer } from "../../gateway/src/models/model-server.js";
import type { Tensor } from "../../gateway/src/protocol/tensor.js";
import {
  createTritonClient,
  type TritonClient,
  type TritonClientOptions,
} from "../../gateway/src/triton/triton-client.js";
import { holdingScheduling, simpleModel, writeRepository } from "./helpers/generated-repository.js";
import type { TempRepository } from "./helpers/model-server.js";

const log = silentLogger();
const HOLD_SECONDS = 1;

function ctx(): RequestContext {
  return {
    requestId: `t-${Math.random().toString(36).slice(2)}`,
    deadlineMs: Date.now() + 10_000,
    signal: new AbortController().signal,
    log,
  };
}

function request(model: string, a: number): CoreInferRequest {
  const tensor = (name: string, f: (i: number) => number): Tensor => ({
    name,
    datatype: "INT32",
    shape: [1, 16],
    data: Int32Array.from({ length: 16 }, (_, i) => f(i)),
  });
  return {
    modelName: model,
    modelVersion: "",
    id: `client-${a}`,
    inputs: [tensor("INPUT0", (i) => a + i), tensor("INPUT1", () => 1)],
    outputs: [],
    parameters: {},
  };
}

function options(overrides: Partial<TritonClientOptions>): TritonClientOptions {
  return {
    endpoints: [],
    channelsPerEndpoint: 1,
    transport: "stream",
    maxMessageBytes: 64 << 20,
    healthIntervalMs: 200,
    keepaliveMs: 10_000,
    log,
    ...overrides,
  };
}

/** Polls `condition` every 20 ms until it holds; fails after `timeoutMs`. */
async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const inService = (triton: TritonClient) =>
  triton.endpoints.map((e) => `${e.name}:${e.health}`).join(",");

/** Inferences of `model` the server behind the endpoint named `name` has executed. */
async function inferenceCount(triton: TritonClient, name: string, model: string) {
  const endpoint = triton.endpoints.find((e) => e.name === name);
  assert.ok(endpoint, `endpoint ${name} in service`);
  const stats = await endpoint.unary<{ model_stats?: { inference_count?: number | string }[] }>(
    "ModelStatistics",
    { name: model, version: "" },
    { deadlineMs: Date.now() + 5000 },
  );
  return Number(stats.model_stats?.[0]?.inference_count ?? 0);
}

describe("DNS discovery of Triton endpoints", () => {
  let repo: TempRepository;
  let first: ModelServer;
  let second: ModelServer;
  let port: number;

  before(async () => {
    repo = await writeRepository({
      simple: simpleModel("simple"),
      held: simpleModel("held", holdingScheduling(HOLD_SECONDS)),
    });
    const serve = (host: string, grpcPort: number) =>
      startModelServer({
        repository: repo.path,
        host,
        grpcPort,
        metricsPort: -1,
        shutdownGraceMs: 2000,
        log,
      });
    first = await serve("127.0.0.1", 0);
    port = first.grpcPort;
    // Same port, another loopback address: two "pods" behind one name and one port.
    second = await serve("127.0.0.2", port);
  });
  after(async () => {
    await Promise.all([first?.close(), second?.close()]);
    await repo?.remove();
  });

  it("resolves localhost with the real resolver and infers through the address found", async () => {
    const triton = await createTritonClient(
      options({ discovery: { dns: "localhost", port, refreshMs: 10_000 } }),
    );
    try {
      // Every address of localhost is an endpoint; 127.0.0.1 answers (an ::1 one would not).
      assert.ok(
        triton.endpoints.some((e) => e.name === "127.0.0.1" && e.url === `127.0.0.1:${port}`),
        inService(triton),
      );
      assert.equal(triton.isReady(), true);
      const core = createGatewayCore({ config: loadConfig(undefined, {}), triton, log });
      const result = await core.infer(request("simple", 5), ctx());
      assert.deepEqual(Array.from(result.outputs[0]!.data as Int32Array).slice(0, 3), [6, 7, 8]);
    } finally {
      triton.close();
    }
  });

  it("adds pods as records appear, balances across them, and drains a vanished one", async () => {
    // Real DNS cannot change its answers during a test: the records come from this variable.
    let records = ["127.0.0.1"];
    const registry = createMetricsRegistry();
    const triton = await createTritonClient(
      options({
        discovery: { dns: "triton-headless.test", port, refreshMs: 30 },
        resolveAddresses: async () => records,
        metrics: registry,
        resilience: loadConfig(undefined, {}).resilience,
        models: {},
      }),
    );
    try {
      const core = createGatewayCore({ config: loadConfig(undefined, {}), triton, log });
      assert.equal(inService(triton), "127.0.0.1:healthy");

      records = ["127.0.0.2", "127.0.0.1"];
      await waitFor("both pods in service", () =>
        /^127\.0\.0\.1:healthy,127\.0\.0\.2:healthy$/.test(inService(triton)),
      );
      const before = await inferenceCount(triton, "127.0.0.2", "simple");
      await Promise.all(
        Array.from({ length: 24 }, (_, k) => core.infer(request("simple", k), ctx())),
      );
      const onSecond = (await inferenceCount(triton, "127.0.0.2", "simple")) - before;
      assert.ok(onSecond > 0 && onSecond < 24, `least-outstanding spread: ${onSecond} of 24 on .2`);

      // A call held in 127.0.0.1's queue while DNS stops listing it must still be answered.
      // (Least outstanding breaks ties by order: the idle 127.0.0.1 takes it.)
      const firstEndpoint = triton.endpoints.find((e) => e.name === "127.0.0.1")!;
      const heldStarted = Date.now();
      const held = core.infer(request("held", 100), ctx());
      await waitFor("the held call in flight", () => firstEndpoint.outstanding === 1);
      records = ["127.0.0.2"];
      await waitFor("127.0.0.1 out of service", () => inService(triton) === "127.0.0.2:healthy");
      assert.equal(firstEndpoint.outstanding, 1, "still in flight while draining");

      const secondBefore = await inferenceCount(triton, "127.0.0.2", "simple");
      await core.infer(request("simple", 7), ctx());
      assert.equal(await inferenceCount(triton, "127.0.0.2", "simple"), secondBefore + 1);

      const result = await held;
      assert.deepEqual(Array.from(result.outputs[0]!.data as Int32Array).slice(0, 2), [101, 102]);
      assert.ok(Date.now() - heldStarted < HOLD_SECONDS * 1000 + 2000);
      await waitFor("the drained endpoint closed", () => firstEndpoint.openStreams === 0);

      // Its breakers and call series leave with it (pods come and go: state must not grow).
      const seriesOf = async (endpoint: string) =>
        (await registry.text())
          .split("\n")
          .filter((l) => !l.startsWith("#") && l.includes(`endpoint="${endpoint}"`))
          .filter((l) => /^infergate_(triton_requests_total|breaker_)/.test(l));
      const until = Date.now() + 5000;
      while ((await seriesOf("127.0.0.1")).length > 0 && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.deepEqual(await seriesOf("127.0.0.1"), []);
      assert.ok((await seriesOf("127.0.0.2")).length > 0, "the live endpoint keeps its series");
    } finally {
      triton.close();
    }
  });

  it("keeps the endpoints through a failed lookup and empties them when the name is gone", async () => {
    let answer: () => Promise<string[]> = async () => ["127.0.0.1"];
    const triton = await createTritonClient(
      options({
        discovery: { dns: "triton-headless.test", port, refreshMs: 30 },
        resolveAddresses: () => answer(),
      }),
    );
    try {
      answer = () => Promise.reject(Object.assign(new Error("timeout"), { code: "EAI_AGAIN" }));
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(inService(triton), "127.0.0.1:healthy");
      assert.equal(triton.isReady(), true);

      // A headless Service without ready pods answers NXDOMAIN: nothing left to call.
      answer = () =>
        Promise.reject(Object.assign(new Error("no such name"), { code: "ENOTFOUND" }));
      await waitFor("no endpoints", () => triton.endpoints.length === 0);
      assert.equal(triton.isReady(), false);
    } finally {
      triton.close();
    }
  });
});
