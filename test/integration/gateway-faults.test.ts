/**
 * Faults through the whole gateway (`startGateway`) in front of embedded model servers, all on
 * 127.0.0.1 port 0: errors mapped to HTTP statuses and gRPC codes over both Triton transports,
 * a model server that is down or goes away (fast 503 / UNAVAILABLE, not after the timeout),
 * deadlines that expire while the model queue holds the request, a client hang-up reaching the
 * model server as a cancel, and two endpoints of which one is down and later rejoins.
 *
 * `held` is `simple` with a dynamic batcher that waits 10 s for a preferred batch of 8 rows, so
 * a lone 1-row request sits in the model server's queue, where deadlines and cancels reach it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { encodeInferRequestMessage } from "../../gateway/src/protocol/infer-message.js";
import { makeTensor } from "../../gateway/src/protocol/tensor.js";
import { type FullGateway, startFullGateway, sumOf, waitFor } from "./helpers/full-gateway.js";
import { holdingScheduling, simpleModel, writeRepository } from "./helpers/generated-repository.js";
import {
  scrapeMetrics,
  startTestModelServer,
  type TempRepository,
  type TestModelServer,
} from "./helpers/model-server.js";
import { freePort } from "./helpers/redis-server.js";

const TRANSPORTS = ["stream", "unary"] as const;

/** Default deadline of these gateways: far longer than any "fast" answer may take. */
const DEFAULT_TIMEOUT_MS = 20_000;

/** A request that waits in `held`'s queue is held this long at most. */
const HOLD_SECONDS = 10;

/** Builds the repository every model server of this file serves. */
function faultRepository(): Promise<TempRepository> {
  return writeRepository({
    simple: simpleModel("simple"),
    held: simpleModel("held", holdingScheduling(HOLD_SECONDS)),
  });
}

type Input = { name: string; datatype: string; shape: number[]; data: unknown[] };

let requestCount = 0;

/**
 * KServe v2 JSON inputs for simple-shaped models: INPUT0 = base + i, INPUT1 = 1, with a base
 * new to every request so that no result cache in the gateway can answer in Triton's place.
 */
function simpleInputs(dims: number[] = [1, 16]): Input[] {
  const count = dims.reduce((a, b) => a * b, 1);
  const base = 1000 * ++requestCount;
  return [
    {
      name: "INPUT0",
      datatype: "INT32",
      shape: dims,
      data: Array.from({ length: count }, (_, i) => base + i),
    },
    { name: "INPUT1", datatype: "INT32", shape: dims, data: new Array(count).fill(1) },
  ];
}

/** POSTs a JSON infer request; resolves with the status and the parsed body. */
async function httpInfer(
  gw: FullGateway,
  model: string,
  inputs: Input[],
  init: { headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<{ status: number; body: { error?: string; outputs?: unknown[] } }> {
  const response = await fetch(gw.url(`/v2/models/${model}/infer`), {
    method: "POST",
    headers: { "content-type": "application/json", ...init.headers },
    body: JSON.stringify({ inputs }),
    signal: init.signal,
  });
  return { status: response.status, body: (await response.json()) as { error?: string } };
}

/** The same request as a `ModelInferRequest` with raw contents. */
function grpcRequest(model: string, inputs: Input[]) {
  return encodeInferRequestMessage({
    modelName: model,
    inputs: inputs.map((t) =>
      makeTensor(
        { name: t.name, datatype: "INT32", shape: t.shape },
        Int32Array.from(t.data as number[]),
      ),
    ),
  });
}

/** `held`'s request counts on a model server, from its ModelStatistics. */
async function statsOf(models: TestModelServer, model: string) {
  const { model_stats } = await models.call("ModelStatistics", { name: model });
  const stats = model_stats[0].inference_stats;
  return { success: Number(stats.success.count ?? 0), fail: Number(stats.fail.count ?? 0) };
}

/** Requests of `model` queued or executing on a model server, from its Triton metrics. */
async function pendingOf(models: TestModelServer, model: string): Promise<number> {
  return sumOf(await scrapeMetrics(models.server), "nv_inference_pending_request_count", { model });
}

/** Failed requests of `model` with Triton's failure `reason` on a model server. */
async function failuresOf(models: TestModelServer, model: string, reason: string) {
  return sumOf(await scrapeMetrics(models.server), "nv_inference_request_failure", {
    model,
    reason,
  });
}

/**
 * Answers this much later than asked still count as "at once": far below the default timeout
 * and the hold, and loose enough for a loaded 2-core machine.
 */
const PROMPT_MS = 3000;

/**
 * Starts a gateway in front of `urls` with the given transport and the file's default timeout.
 * Health is probed every `healthIntervalMs`, which is also each probe's deadline (capped at 2 s):
 * kept at the default 2 s where nothing needs a fast health change, as one probe missing its
 * deadline on a busy machine marks the endpoint unhealthy.
 */
async function gatewayFor(
  urls: string[],
  transport: "stream" | "unary",
  healthIntervalMs = 2000,
): Promise<FullGateway> {
  return startFullGateway({
    endpoints: urls,
    configure: (config) => {
      config.triton.transport = transport;
      config.triton.defaultTimeoutMs = DEFAULT_TIMEOUT_MS;
      config.triton.healthIntervalMs = healthIntervalMs;
    },
  });
}

/** Waits until the gateway's endpoint `name` passes its health check (the first may miss). */
async function healthy(g: FullGateway, name = "e0", timeoutMs = 8000): Promise<number> {
  return waitFor(
    `endpoint ${name} to be healthy`,
    () => g.gateway.triton.endpoints.find((e) => e.name === name)?.health === "healthy",
    timeoutMs,
  );
}

describe("gateway faults against a running model server", () => {
  let repo: TempRepository;
  let models: TestModelServer;
  const gateways = new Map<string, FullGateway>();
  const gw = (transport: string) => gateways.get(transport)!;

  before(async () => {
    repo = await faultRepository();
    models = await startTestModelServer(repo.path);
    const url = `127.0.0.1:${models.server.grpcPort}`;
    for (const transport of TRANSPORTS) {
      const g = await gatewayFor([url], transport);
      gateways.set(transport, g);
      await healthy(g);
    }
  });
  after(async () => {
    for (const g of gateways.values()) await g.close();
    await models?.close();
    await repo?.remove();
  });

  describe("errors mapped to HTTP statuses and gRPC codes", () => {
    const cases = [
      {
        name: "unknown model",
        model: "no_such_model",
        inputs: simpleInputs(),
        http: 404,
        grpc: grpc.status.NOT_FOUND,
        message: /no_such_model/,
      },
      {
        name: "bad shape",
        model: "simple",
        inputs: simpleInputs([1, 8]),
        http: 400,
        grpc: grpc.status.INVALID_ARGUMENT,
        message: /shape/,
      },
      {
        name: "batch over max_batch_size",
        model: "simple",
        inputs: simpleInputs([9, 16]),
        http: 400,
        grpc: grpc.status.INVALID_ARGUMENT,
        message: /batch/,
      },
      {
        name: "missing input",
        model: "simple",
        inputs: simpleInputs().slice(0, 1),
        http: 400,
        grpc: grpc.status.INVALID_ARGUMENT,
        message: /INPUT1/,
      },
    ];
    for (const transport of TRANSPORTS) {
      for (const c of cases) {
        it(`${c.name} over ${transport} transport: HTTP ${c.http}, gRPC ${grpc.status[c.grpc]}`, async () => {
          const { status, body } = await httpInfer(gw(transport), c.model, c.inputs);
          assert.equal(status, c.http, body.error);
          assert.match(body.error ?? "", c.message);
          const { error } = await gw(transport).unary("ModelInfer", grpcRequest(c.model, c.inputs));
          assert.equal(error?.code, c.grpc, error?.details);
          assert.match(error!.details, c.message);
        });
      }
    }

    it("a wrong datatype is refused by the model server: 400 / INVALID_ARGUMENT", async () => {
      const inputs = simpleInputs().map((t) => ({ ...t, datatype: "FP32" }));
      const { status, body } = await httpInfer(gw("unary"), "simple", inputs);
      assert.equal(status, 400);
      assert.match(body.error ?? "", /FP32|data-?type/i);
    });
  });

  describe("deadlines expire while the model queue holds the request", () => {
    for (const transport of TRANSPORTS) {
      it(`x-infergate-timeout-ms over ${transport} transport: 504 at the deadline`, async () => {
        const before = await statsOf(models, "held");
        const started = Date.now();
        const { status, body } = await httpInfer(gw(transport), "held", simpleInputs(), {
          headers: { "x-infergate-timeout-ms": "300" },
        });
        const tookMs = Date.now() - started;
        assert.equal(status, 504, body.error);
        assert.match(body.error ?? "", /deadline|timed out/i);
        assert.ok(tookMs >= 250 && tookMs < PROMPT_MS, `answered after ${tookMs} ms`);
        // The model server dropped it too (the deadline went along as the queue timeout): it
        // neither ran nor stays queued.
        await waitFor("held's queue to empty", async () => (await pendingOf(models, "held")) === 0);
        const afterwards = await statsOf(models, "held");
        assert.equal(afterwards.success, before.success);
        assert.equal(afterwards.fail, before.fail + 1);
      });

      it(`the gRPC deadline over ${transport} transport: DEADLINE_EXCEEDED at the deadline`, async () => {
        const started = Date.now();
        const { error } = await gw(transport).unary(
          "ModelInfer",
          grpcRequest("held", simpleInputs()),
          { deadlineMs: 300 },
        );
        const tookMs = Date.now() - started;
        assert.equal(error?.code, grpc.status.DEADLINE_EXCEEDED, error?.details);
        assert.ok(tookMs >= 250 && tookMs < PROMPT_MS, `answered after ${tookMs} ms`);
        await waitFor("held's queue to empty", async () => (await pendingOf(models, "held")) === 0);
      });
    }

    it("a malformed x-infergate-timeout-ms is 400", async () => {
      const { status, body } = await httpInfer(gw("stream"), "simple", simpleInputs(), {
        headers: { "x-infergate-timeout-ms": "soon" },
      });
      assert.equal(status, 400);
      assert.match(body.error ?? "", /x-infergate-timeout-ms/);
    });
  });

  describe("a client hang-up", () => {
    it("unary transport: an HTTP client that aborts cancels the model server's ModelInfer", async () => {
      const before = await statsOf(models, "held");
      const canceledBefore = await failuresOf(models, "held", "CANCELED");
      const controller = new AbortController();
      const request = httpInfer(gw("unary"), "held", simpleInputs(), {
        signal: controller.signal,
      });
      request.catch(() => {});
      await waitFor("the request to wait in held's queue", async () => {
        return (await pendingOf(models, "held")) === 1;
      });
      const abortedAt = Date.now();
      controller.abort();
      await assert.rejects(request, { name: "AbortError" });
      const tookMs = await waitFor(
        "the model server to count a CANCELED failure",
        async () => (await failuresOf(models, "held", "CANCELED")) === canceledBefore + 1,
      );
      assert.ok(Date.now() - abortedAt < PROMPT_MS, `cancelled upstream after ${tookMs} ms`);
      assert.equal(await pendingOf(models, "held"), 0);
      const afterwards = await statsOf(models, "held");
      assert.equal(afterwards.success, before.success, "the request did not run");
      assert.equal(afterwards.fail, before.fail + 1);
      // The gateway logged and counted it as a client that closed the request (499).
      const metrics = await gw("unary").scrape();
      assert.ok(sumOf(metrics, "infergate_http_requests_total", { code: "499" }) >= 1);
    });

    it("unary transport: a gRPC client that cancels cancels the model server's ModelInfer", async () => {
      const canceledBefore = await failuresOf(models, "held", "CANCELED");
      let call: grpc.ClientUnaryCall | undefined;
      const outcome = gw("unary").unary("ModelInfer", grpcRequest("held", simpleInputs()), {
        onCall: (c) => {
          call = c;
        },
      });
      await waitFor("the request to wait in held's queue", async () => {
        return (await pendingOf(models, "held")) === 1;
      });
      call!.cancel();
      assert.equal((await outcome).error?.code, grpc.status.CANCELLED);
      await waitFor(
        "the model server to count a CANCELED failure",
        async () => (await failuresOf(models, "held", "CANCELED")) === canceledBefore + 1,
        PROMPT_MS,
      );
      assert.equal(await pendingOf(models, "held"), 0);
    });

    it("stream transport: the gateway lets go at once; upstream the request waits out its deadline", async () => {
      // ModelStreamInfer cannot cancel one request of a stream: the gateway settles it as
      // CANCELLED and drops the late answer. Upstream it stays queued until the queue timeout
      // the gateway sent along (the client's deadline) drops it, as a timeout (REJECTED).
      const rejectedBefore = await failuresOf(models, "held", "REJECTED");
      const canceledBefore = await failuresOf(models, "held", "CANCELED");
      const g = gw("stream");
      const controller = new AbortController();
      const request = httpInfer(g, "held", simpleInputs(), {
        signal: controller.signal,
        headers: { "x-infergate-timeout-ms": "1500" },
      });
      request.catch(() => {});
      await waitFor("the request to wait in held's queue", async () => {
        return (await pendingOf(models, "held")) === 1;
      });
      const closedBefore = sumOf(await g.scrape(), "infergate_http_requests_total", {
        code: "499",
      });
      controller.abort();
      await assert.rejects(request, { name: "AbortError" });
      // Gateway side, promptly: the request is finished (499), nothing outstanding or in flight.
      const tookMs = await waitFor(
        "the gateway to finish the request",
        async () => {
          const metrics = await g.scrape();
          return (
            sumOf(metrics, "infergate_http_requests_total", { code: "499" }) === closedBefore + 1 &&
            sumOf(metrics, "infergate_triton_outstanding_requests") === 0 &&
            sumOf(metrics, "infergate_http_in_flight_requests") === 0
          );
        },
        PROMPT_MS,
      );
      assert.ok(tookMs < PROMPT_MS);
      // Upstream: still queued right after the hang-up...
      assert.equal(await pendingOf(models, "held"), 1);
      // ...until its queue timeout, then dropped as a timeout, never as a cancel.
      await waitFor(
        "the model server to drop the request at its queue timeout",
        async () => (await pendingOf(models, "held")) === 0,
        4000,
      );
      assert.equal(await failuresOf(models, "held", "REJECTED"), rejectedBefore + 1);
      assert.equal(await failuresOf(models, "held", "CANCELED"), canceledBefore);
      // And the stream to the model server still serves.
      const ok = await httpInfer(g, "simple", simpleInputs());
      assert.equal(ok.status, 200);
    });
  });
});

describe("gateway faults when the model server is down", () => {
  it("no model server at all: 503 and UNAVAILABLE at once, and the gateway is not ready", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    for (const transport of TRANSPORTS) {
      const g = await gatewayFor([dead], transport);
      try {
        assert.equal((await fetch(g.url("/v2/health/ready"))).status, 400);
        const started = Date.now();
        const { status, body } = await httpInfer(g, "simple", simpleInputs());
        assert.equal(status, 503, body.error);
        assert.match(body.error ?? "", /no healthy Triton endpoint/);
        const { error } = await g.unary("ModelInfer", grpcRequest("simple", simpleInputs()));
        assert.equal(error?.code, grpc.status.UNAVAILABLE, error?.details);
        const tookMs = Date.now() - started;
        assert.ok(tookMs < PROMPT_MS, `${transport}: answered after ${tookMs} ms`);
        const metrics = await g.scrape();
        assert.equal(sumOf(metrics, "infergate_triton_endpoint_healthy", { endpoint: "e0" }), 0);
      } finally {
        await g.close();
      }
    }
  });

  for (const transport of TRANSPORTS) {
    it(`the model server goes away (${transport} transport): 503 and UNAVAILABLE fast, not after the timeout`, async () => {
      const repo = await faultRepository();
      const models = await startTestModelServer(repo.path, { shutdownGraceMs: 200 });
      const g = await gatewayFor([`127.0.0.1:${models.server.grpcPort}`], transport, 500);
      try {
        await healthy(g);
        assert.equal((await httpInfer(g, "simple", simpleInputs())).status, 200);
        await models.close();
        const started = Date.now();
        // Before the next health check has noticed, and after it.
        for (let k = 0; k < 3; k++) {
          const { status, body } = await httpInfer(g, "simple", simpleInputs());
          assert.equal(status, 503, `request ${k}: ${status} ${body.error}`);
          const { error } = await g.unary("ModelInfer", grpcRequest("simple", simpleInputs()));
          assert.equal(error?.code, grpc.status.UNAVAILABLE, `request ${k}: ${error?.details}`);
        }
        const tookMs = Date.now() - started;
        assert.ok(tookMs < 2 * PROMPT_MS, `6 requests answered in ${tookMs} ms`);
        await waitFor("the gateway to report not ready", async () => {
          return (await fetch(g.url("/v2/health/ready"))).status === 400;
        });
      } finally {
        await g.close();
        await models.close().catch(() => {});
        await repo.remove();
      }
    });
  }
});

describe("two endpoints, one down", () => {
  let repo: TempRepository;
  let live: TestModelServer;
  let revived: TestModelServer | undefined;
  let g: FullGateway;
  let deadPort: number;

  before(async () => {
    repo = await faultRepository();
    live = await startTestModelServer(repo.path);
    deadPort = await freePort();
    // The dead endpoint first: picking by list order alone would send everything there.
    g = await gatewayFor([`127.0.0.1:${deadPort}`, `127.0.0.1:${live.server.grpcPort}`], "stream");
    await healthy(g, "e1");
  });
  after(async () => {
    await g?.close();
    await revived?.close();
    await live?.close();
    await repo?.remove();
  });

  it("every request succeeds through the healthy endpoint", async () => {
    const before = await statsOf(live, "simple");
    const sequential = [];
    for (let k = 0; k < 5; k++) sequential.push(await httpInfer(g, "simple", simpleInputs()));
    const concurrent = await Promise.all(
      Array.from({ length: 15 }, () => httpInfer(g, "simple", simpleInputs())),
    );
    for (const { status, body } of [...sequential, ...concurrent])
      assert.equal(status, 200, body.error);
    assert.equal((await statsOf(live, "simple")).success, before.success + 20);
    const metrics = await g.scrape();
    assert.equal(sumOf(metrics, "infergate_triton_endpoint_healthy", { endpoint: "e0" }), 0);
    assert.equal(sumOf(metrics, "infergate_triton_endpoint_healthy", { endpoint: "e1" }), 1);
    assert.equal(
      sumOf(metrics, "infergate_triton_requests_total", { endpoint: "e0", model: "simple" }),
      0,
    );
  });

  it("the dead endpoint rejoins once a model server listens on its port, and takes traffic", async () => {
    revived = await startTestModelServer(repo.path, { grpcPort: deadPort });
    const tookMs = await waitFor(
      "the revived endpoint to pass its health check",
      async () =>
        sumOf(await g.scrape(), "infergate_triton_endpoint_healthy", { endpoint: "e0" }) === 1,
      12_000,
    );
    assert.ok(tookMs < 12_000);
    await healthy(g, "e1");
    const liveBefore = await statsOf(live, "simple");
    const revivedBefore = await statsOf(revived, "simple");
    const results = await Promise.all(
      Array.from({ length: 32 }, () => httpInfer(g, "simple", simpleInputs())),
    );
    for (const { status, body } of results) assert.equal(status, 200, body.error);
    const toLive = (await statsOf(live, "simple")).success - liveBefore.success;
    const toRevived = (await statsOf(revived, "simple")).success - revivedBefore.success;
    assert.equal(toLive + toRevived, 32);
    assert.ok(toRevived > 0, `the revived endpoint took ${toRevived} of 32 requests`);
  });
});
