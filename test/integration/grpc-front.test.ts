/**
 * The gRPC front end over real sockets, in front of `scriptedCore`: a small in-test
 * implementation of the GatewayCore interface that records what reaches it and answers as
 * scripted. What is under test is the gRPC layer: routing, status mapping, request ids,
 * deadlines, cancellation, stream semantics, model control refused, pipelines, metrics, logs.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, beforeEach, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import type {
  CoreInferRequest,
  GatewayCore,
  RequestContext,
} from "../../gateway/src/core/gateway-core.js";
import { Code, InferError } from "../../gateway/src/errors.js";
import { createGrpcMetrics } from "../../gateway/src/grpc/grpc-metrics.js";
import { MODEL_CONTROL_DENIED } from "../../gateway/src/grpc/inference-service.js";
import { closeGrpcServer, createGrpcServer, listenGrpc } from "../../gateway/src/grpc/server.js";
import { silentLogger } from "../../gateway/src/log.js";
import { createMetricsRegistry } from "../../gateway/src/metrics.js";
import {
  decodeInferResponseMessage,
  encodeInferRequestMessage,
} from "../../gateway/src/protocol/infer-message.js";
import { loadServiceDefinitions } from "../../gateway/src/protocol/protos.js";
import type { Tensor } from "../../gateway/src/protocol/tensor.js";
import {
  startTestGateway,
  type TestGateway,
  testConfig,
  withRequestId,
} from "./helpers/grpc-gateway.js";
import { type Message, parsePrometheusText, samplesOf } from "./helpers/model-server.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A call the core saw: method, arguments and context. */
interface CoreCall {
  method: string;
  args: unknown[];
  ctx?: RequestContext;
}

/**
 * A GatewayCore that records every call and answers by model name: `simple` echoes its inputs
 * as OUTPUTn; `nope` is NOT_FOUND; `boom` throws a TypeError (a bug); `unavailable` is
 * UNAVAILABLE; `slow` answers after 100 ms; `hang` never answers and rejects when its signal
 * fires. `aborted` resolves with the context of each request whose signal fired.
 */
function scriptedCore() {
  const calls: CoreCall[] = [];
  const aborts: RequestContext[] = [];
  let abortWaiters: Array<() => void> = [];
  const state = { ready: true };
  const record = (method: string, args: unknown[], ctx?: RequestContext) => {
    calls.push({ method, args, ctx });
  };
  const notFound = (name: string) =>
    new InferError(Code.NOT_FOUND, `Request for unknown model: '${name}' is not found`);

  const infer = async (request: CoreInferRequest, ctx: RequestContext) => {
    record("infer", [request], ctx);
    ctx.signal.addEventListener("abort", () => {
      aborts.push(ctx);
      for (const wake of abortWaiters) wake();
      abortWaiters = [];
    });
    switch (request.modelName) {
      case "nope":
        throw notFound(request.modelName);
      case "boom":
        throw new TypeError("cannot read properties of undefined (reading 'secret')");
      case "unavailable":
        throw new InferError(Code.UNAVAILABLE, "no healthy endpoint serves 'unavailable'");
      case "slow":
        await new Promise((resolve) => setTimeout(resolve, 100));
        break;
      case "hang":
        await new Promise((_, reject) =>
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
        );
    }
    return {
      modelName: request.modelName,
      modelVersion: "1",
      id: request.id,
      outputs: request.inputs.map((t, i) => ({ ...t, name: `OUTPUT${i}` }) as Tensor),
      parameters: { seen_parameters: Object.keys(request.parameters).sort().join(",") },
    };
  };

  const core: GatewayCore = {
    serverMetadata: () => ({ name: "scripted", version: "9.9", extensions: ["statistics"] }),
    isLive: () => true,
    isReady: () => state.ready,
    async modelReady(name, version, ctx) {
      record("modelReady", [name, version], ctx);
      return name === "simple";
    },
    async modelMetadata(name, version, ctx) {
      record("modelMetadata", [name, version], ctx);
      if (name !== "simple") throw notFound(name);
      return {
        name,
        versions: ["1"],
        platform: "onnxruntime_onnx",
        inputs: [{ name: "INPUT0", datatype: "INT32", shape: [-1, 16] }],
        outputs: [{ name: "OUTPUT0", datatype: "INT32", shape: [-1, 16] }],
      };
    },
    async modelConfig(name, version, ctx) {
      record("modelConfig", [name, version], ctx);
      return {
        name,
        platform: "onnxruntime_onnx",
        max_batch_size: 8,
        input: [{ name: "INPUT0", data_type: "TYPE_INT32", dims: [16] }],
        dynamic_batching: { max_queue_delay_microseconds: 500 },
      };
    },
    async modelStatistics(name, version, ctx) {
      record("modelStatistics", [name, version], ctx);
      return { model_stats: [{ name, version: "1", inference_count: 3, execution_count: 2 }] };
    },
    infer,
    listPipelines: () => [
      {
        name: "echo",
        version: "1",
        description: "returns its options and file sizes",
        input: { type: "object" },
        output: { type: "object", properties: { sizes: { type: "object" } } },
        models: ["simple"],
      },
    ],
    async runPipeline(name, input, ctx) {
      record("runPipeline", [name, input], ctx);
      if (name !== "echo") throw new InferError(Code.NOT_FOUND, `unknown pipeline '${name}'`);
      const sizes = Object.fromEntries(
        Object.entries(input.files).map(([k, f]) => [k, `${f.bytes.length} ${f.contentType}`]),
      );
      return {
        pipeline: name,
        result: { fields: input.fields, sizes },
        ...(input.timings ? { timings: { decode: 1.5, infer: 2.25 } } : {}),
      };
    },
    admin: {
      repositoryIndex: async (...args) => {
        record("admin.repositoryIndex", args);
        return [];
      },
      loadModel: async (...args) => record("admin.loadModel", args),
      unloadModel: async (...args) => record("admin.unloadModel", args),
    },
  };
  return {
    core,
    calls,
    state,
    /** Resolves once `count` signals have fired in total. */
    async aborted(count = 1): Promise<RequestContext[]> {
      while (aborts.length < count) {
        await new Promise<void>((resolve) => abortWaiters.push(resolve));
      }
      return aborts;
    },
    reset() {
      calls.length = 0;
      aborts.length = 0;
    },
  };
}

/** A `ModelInferRequest` for `model` with one INT32 input of the given values. */
function inferRequest(model: string, id = "", values = [1, 2, 3], parameters = {}): Message {
  return encodeInferRequestMessage({
    modelName: model,
    id,
    parameters,
    inputs: [
      {
        name: "INPUT0",
        datatype: "INT32",
        shape: [1, values.length],
        data: Int32Array.from(values),
      },
    ],
  });
}

function int32Output(response: Message, index = 0): number[] {
  return Array.from(decodeInferResponseMessage(response).outputs[index]!.data as Int32Array);
}

/** Collects a stream's responses until it ends, and its final status. */
async function drain(
  stream: grpc.ClientDuplexStream<Message, Message>,
): Promise<{ replies: Message[]; status: grpc.StatusObject }> {
  const replies: Message[] = [];
  stream.on("data", (reply: Message) => replies.push(reply));
  const [status] = (await once(stream, "status")) as [grpc.StatusObject];
  return { replies, status };
}

describe("gRPC front end (scripted core)", () => {
  const scripted = scriptedCore();
  let gateway: TestGateway;

  before(async () => {
    const config = testConfig((c) => {
      c.triton.defaultTimeoutMs = 12_345;
      c.limits.maxTensorElements = 4_000_000;
    });
    gateway = await startTestGateway(scripted.core, config);
  });
  after(() => gateway.close());
  beforeEach(() => {
    scripted.reset();
    scripted.state.ready = true;
  });

  describe("routing", () => {
    it("answers ServerLive, ServerReady and ServerMetadata from the core", async () => {
      assert.deepEqual((await gateway.unary("ServerLive", {})).response, { live: true });
      assert.deepEqual((await gateway.unary("ServerReady", {})).response, { ready: true });
      scripted.state.ready = false;
      assert.equal((await gateway.unary("ServerReady", {})).response!["ready"] ?? false, false);
      const metadata = (await gateway.unary("ServerMetadata", {})).response;
      assert.deepEqual(metadata, { name: "scripted", version: "9.9", extensions: ["statistics"] });
    });

    const modelRpcs: { rpc: string; core: string; check: (m: Message) => void }[] = [
      { rpc: "ModelReady", core: "modelReady", check: (m) => assert.equal(m["ready"], true) },
      {
        rpc: "ModelMetadata",
        core: "modelMetadata",
        check: (m) => assert.deepEqual(m["inputs"][0].shape, [-1, 16]),
      },
      {
        rpc: "ModelConfig",
        core: "modelConfig",
        check: (m) => {
          assert.equal(m["config"].max_batch_size, 8);
          assert.equal(m["config"].input[0].data_type, "TYPE_INT32");
          assert.equal(m["config"].scheduling_choice, "dynamic_batching");
        },
      },
      {
        rpc: "ModelStatistics",
        core: "modelStatistics",
        check: (m) => assert.equal(m["model_stats"][0].inference_count, 3),
      },
    ];
    for (const c of modelRpcs) {
      it(`routes ${c.rpc} to core.${c.core} with name and version`, async () => {
        const { response, error } = await gateway.unary(c.rpc, { name: "simple", version: "1" });
        assert.equal(error, undefined);
        c.check(response!);
        assert.deepEqual(
          scripted.calls.map((call) => [call.method, call.args]),
          [[c.core, ["simple", "1"]]],
        );
      });
    }

    it("routes ModelInfer with tensors, requested outputs and parameters", async () => {
      const request = inferRequest("simple", "my-id", [7, 8, 9], {
        priority: 2,
        timeout: 1000,
        binary_data_output: true,
      });
      request["outputs"] = [{ name: "OUTPUT0" }];
      const { response, error } = await gateway.unary("ModelInfer", request);
      assert.equal(error, undefined);
      assert.equal(response!["id"], "my-id");
      assert.equal(response!["model_version"], "1");
      assert.deepEqual(int32Output(response!), [7, 8, 9]);
      const seen = scripted.calls[0]!.args[0] as CoreInferRequest;
      assert.deepEqual(seen.outputs, [{ name: "OUTPUT0", parameters: {} }]);
      assert.deepEqual(seen.parameters, { priority: 2, timeout: 1000 });
      assert.deepEqual(seen.inputs[0]!.shape, [1, 3]);
    });

    it("accepts and returns messages far above grpc-js's 4 MiB default", async () => {
      // 6 MB each way, built as a typed array (a plain array of millions is slow to build).
      const data = new Int32Array(1_500_000).map((_, i) => i % 1000);
      const request = encodeInferRequestMessage({
        modelName: "simple",
        inputs: [{ name: "INPUT0", datatype: "INT32", shape: [1, data.length], data }],
      });
      const { response, error } = await gateway.unary("ModelInfer", request);
      assert.equal(error, undefined);
      const out = decodeInferResponseMessage(response!).outputs[0]!.data as Int32Array;
      assert.equal(out.length, 1_500_000);
      assert.equal(out[2999], 999);
    });

    it("answers health checks: SERVING while the core is ready, NOT_FOUND for other services", async () => {
      const check = (service: string) => gateway.unary("/grpc.health.v1.Health/Check", { service });
      assert.equal((await check("")).response!["status"], "SERVING");
      assert.equal((await check("inference.GRPCInferenceService")).response!["status"], "SERVING");
      assert.equal((await check("infergate.v1.Pipelines")).response!["status"], "SERVING");
      scripted.state.ready = false;
      assert.equal((await check("")).response!["status"], "NOT_SERVING");
      assert.equal((await check("nope.Service")).error?.code, grpc.status.NOT_FOUND);
    });
  });

  describe("errors", () => {
    const cases: { name: string; model: string; code: grpc.status; details: RegExp }[] = [
      { name: "unknown model", model: "nope", code: grpc.status.NOT_FOUND, details: /'nope'/ },
      {
        name: "core UNAVAILABLE",
        model: "unavailable",
        code: grpc.status.UNAVAILABLE,
        details: /no healthy endpoint/,
      },
      {
        name: "a bug in the core: INTERNAL, its message not sent",
        model: "boom",
        code: grpc.status.INTERNAL,
        details: /^internal error \(request id bug-1\)$/,
      },
    ];
    for (const c of cases) {
      it(`maps ${c.name} to ${grpc.status[c.code]}`, async () => {
        const { error } = await gateway.unary("ModelInfer", inferRequest(c.model), {
          metadata: withRequestId("bug-1"),
        });
        assert.equal(error?.code, c.code);
        assert.match(error!.details, c.details);
      });
    }

    it("logs the cause of an INTERNAL error with the request id", async () => {
      await gateway.unary("ModelInfer", inferRequest("boom"), { metadata: withRequestId("bug-2") });
      const line = gateway.log.lines.find(
        (l) => l.level === "error" && l.bindings["request_id"] === "bug-2",
      );
      assert.ok(line);
      assert.match(String(line.fields["err"]), /reading 'secret'/);
    });

    const invalid: { name: string; request: Message; details: RegExp }[] = [
      {
        name: "raw contents of the wrong size",
        request: { ...inferRequest("simple"), raw_input_contents: [Buffer.alloc(5)] },
        details: /INPUT0/,
      },
      {
        name: "a shape beyond limits.maxTensorElements",
        request: {
          model_name: "simple",
          inputs: [{ name: "INPUT0", datatype: "INT32", shape: [4000, 4000] }],
          raw_input_contents: [Buffer.alloc(0)],
        },
        details: /limit of 4000000/,
      },
      { name: "no model name", request: { inputs: [] }, details: /model_name is empty/ },
      {
        name: "a negative priority",
        request: inferRequest("simple", "", [1], { priority: -3 }),
        details: /priority/,
      },
    ];
    for (const c of invalid) {
      it(`refuses ${c.name} with INVALID_ARGUMENT before the core`, async () => {
        const { error } = await gateway.unary("ModelInfer", c.request);
        assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
        assert.match(error!.details, c.details);
        assert.equal(scripted.calls.length, 0);
      });
    }

    for (const rpc of ["RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload"]) {
      it(`refuses ${rpc} on the public port with PERMISSION_DENIED`, async () => {
        const { error } = await gateway.unary(rpc, { model_name: "simple" });
        assert.equal(error?.code, grpc.status.PERMISSION_DENIED);
        assert.equal(error?.details, MODEL_CONTROL_DENIED);
        assert.equal(scripted.calls.length, 0);
      });
    }

    const unimplemented = [
      "SystemSharedMemoryStatus",
      "SystemSharedMemoryRegister",
      "SystemSharedMemoryUnregister",
      "CudaSharedMemoryStatus",
      "CudaSharedMemoryRegister",
      "CudaSharedMemoryUnregister",
      "TraceSetting",
      "LogSettings",
    ];
    for (const rpc of unimplemented) {
      it(`answers ${rpc} with UNIMPLEMENTED`, async () => {
        const { error } = await gateway.unary(rpc, {});
        assert.equal(error?.code, grpc.status.UNIMPLEMENTED);
        assert.match(error!.details, /not supported by the infergate gateway/);
      });
    }
  });

  describe("request context", () => {
    it("keeps a valid x-request-id, passes it to the core and returns it", async () => {
      const { headers } = await gateway.unary(
        "ModelReady",
        { name: "simple" },
        {
          metadata: withRequestId("client:req-42"),
        },
      );
      assert.deepEqual(headers.get("x-request-id"), ["client:req-42"]);
      assert.equal(scripted.calls[0]!.ctx!.requestId, "client:req-42");
    });

    it("replaces an invalid x-request-id and returns the generated one, on errors too", async () => {
      const { headers, error } = await gateway.unary("ModelInfer", inferRequest("nope"), {
        metadata: withRequestId("bad id with spaces"),
      });
      assert.equal(error?.code, grpc.status.NOT_FOUND);
      const [id] = headers.get("x-request-id");
      assert.match(String(id), UUID);
      assert.deepEqual(error!.metadata.get("x-request-id"), [id], "in the trailers too");
      assert.equal(scripted.calls[0]!.ctx!.requestId, id);
    });

    it("generates a request id when none is sent", async () => {
      const { headers } = await gateway.unary("ServerLive", {});
      assert.match(String(headers.get("x-request-id")[0]), UUID);
    });

    it("gives the core the client's gRPC deadline", async () => {
      const before = Date.now();
      await gateway.unary("ModelInfer", inferRequest("simple"), { deadlineMs: 7000 });
      const { deadlineMs } = scripted.calls[0]!.ctx!;
      assert.ok(deadlineMs > before + 6500 && deadlineMs <= Date.now() + 7000, `${deadlineMs}`);
    });

    it("gives the core the configured default deadline when the client sets none", async () => {
      const before = Date.now();
      await gateway.unary("ModelInfer", inferRequest("simple"), { deadlineMs: null });
      const { deadlineMs } = scripted.calls[0]!.ctx!;
      assert.ok(deadlineMs >= before + 12_345 && deadlineMs <= Date.now() + 12_345);
    });

    it("aborts the core's signal when the client cancels", async () => {
      const outcome = gateway.unary("ModelInfer", inferRequest("hang", "c-1"), {
        onCall: (call) => setTimeout(() => call.cancel(), 50),
      });
      const [ctx] = await scripted.aborted(1);
      assert.equal((ctx!.signal.reason as InferError).code, Code.CANCELLED);
      assert.equal((await outcome).error?.code, grpc.status.CANCELLED);
    });

    it("aborts the core's signal when the deadline passes, and the client sees DEADLINE_EXCEEDED", async () => {
      const { error, headers } = await gateway.unary("ModelInfer", inferRequest("hang"), {
        deadlineMs: 150,
        metadata: withRequestId("slow-1"),
      });
      assert.equal(error?.code, grpc.status.DEADLINE_EXCEEDED);
      // Answered by grpc-js, not by the handler: the id came early, in the initial metadata.
      assert.deepEqual(headers.get("x-request-id"), ["slow-1"]);
      await scripted.aborted(1);
    });

    it("writes one log line per RPC, with the request id, model, code and duration", async () => {
      await gateway.unary("ModelInfer", inferRequest("nope"), { metadata: withRequestId("log-1") });
      const lines = gateway.log.lines.filter((l) => l.bindings["request_id"] === "log-1");
      assert.equal(lines.length, 1);
      assert.equal(lines[0]!.message, "grpc request");
      assert.equal(lines[0]!.bindings["rpc"], "ModelInfer");
      assert.equal(lines[0]!.fields["code"], "NOT_FOUND");
      assert.equal(lines[0]!.fields["model"], "nope");
      assert.equal(typeof lines[0]!.fields["duration_ms"], "number");
    });
  });

  describe("ModelStreamInfer", () => {
    it("answers each request once, echoing ids; an error leaves the stream open", async () => {
      const stream = gateway.stream({ metadata: withRequestId("s-1") });
      const headers = once(stream, "metadata") as Promise<[grpc.Metadata]>;
      const replies: Message[] = [];
      stream.on("data", (reply: Message) => replies.push(reply));
      stream.write(inferRequest("simple", "a", [1]));
      stream.write(inferRequest("nope", "b", [2]));
      while (replies.length < 2) await once(stream, "data");
      // The stream survived the error: a later request is still answered.
      stream.write(inferRequest("simple", "c", [3]));
      while (replies.length < 3) await once(stream, "data");
      stream.end();
      const [status] = (await once(stream, "status")) as [grpc.StatusObject];
      assert.equal(status.code, grpc.status.OK);
      assert.deepEqual((await headers)[0].get("x-request-id"), ["s-1"]);

      const byId = new Map(replies.map((r) => [r["infer_response"]?.id, r]));
      assert.deepEqual(int32Output(byId.get("a")!["infer_response"]), [1]);
      assert.match(byId.get("b")!["error_message"], /unknown model: 'nope'/);
      assert.equal(byId.get("b")!["infer_response"].model_name, "nope");
      assert.deepEqual(int32Output(byId.get("c")!["infer_response"]), [3]);
      assert.deepEqual(
        scripted.calls.map((c) => c.ctx!.requestId),
        ["s-1.0", "s-1.1", "s-1.2"],
      );
    });

    it("answers the requests still running after the client ends its side, then ends", async () => {
      const stream = gateway.stream();
      const done = drain(stream);
      for (let i = 0; i < 5; i++) stream.write(inferRequest("slow", `slow-${i}`, [i]));
      stream.end();
      const { replies, status } = await done;
      assert.equal(status.code, grpc.status.OK);
      assert.deepEqual(replies.map((r) => r["infer_response"].id).sort(), [
        "slow-0",
        "slow-1",
        "slow-2",
        "slow-3",
        "slow-4",
      ]);
      assert.ok(replies.every((r) => r["error_message"] === undefined));
    });

    it("ends at once when the client ends a stream with nothing in flight", async () => {
      const stream = gateway.stream();
      const done = drain(stream);
      stream.end();
      const { replies, status } = await done;
      assert.equal(status.code, grpc.status.OK);
      assert.equal(replies.length, 0);
    });

    it("answers a malformed request with error_message, not a broken stream", async () => {
      const stream = gateway.stream();
      const done = drain(stream);
      stream.write({ ...inferRequest("simple", "bad"), raw_input_contents: [Buffer.alloc(1)] });
      stream.write(inferRequest("simple", "good"));
      stream.end();
      const { replies, status } = await done;
      assert.equal(status.code, grpc.status.OK);
      const bad = replies.find((r) => r["infer_response"]?.id === "bad");
      assert.match(bad!["error_message"], /INPUT0/);
      assert.ok(replies.find((r) => r["infer_response"]?.id === "good")!["infer_response"].outputs);
    });

    it("aborts the signals of requests in flight when the client cancels the stream", async () => {
      const stream = gateway.stream();
      stream.on("error", () => {});
      stream.write(inferRequest("hang", "h-1"));
      stream.write(inferRequest("hang", "h-2"));
      while (scripted.calls.length < 2) await new Promise((r) => setTimeout(r, 5));
      stream.cancel();
      const contexts = await scripted.aborted(2);
      assert.deepEqual(contexts.map((c) => c.requestId.split(".")[1]).sort(), ["0", "1"]);
    });

    it("logs one line per stream plus one per failed request", async () => {
      const stream = gateway.stream({ metadata: withRequestId("s-log") });
      const done = drain(stream);
      stream.write(inferRequest("simple", "ok"));
      stream.write(inferRequest("nope", "nf"));
      stream.end();
      await done;
      const lines = gateway.log.lines.filter((l) =>
        String(l.bindings["request_id"]).startsWith("s-log"),
      );
      const streamLines = lines.filter((l) => l.message === "grpc stream");
      assert.equal(streamLines.length, 1);
      assert.deepEqual(
        { ...streamLines[0]!.fields, duration_ms: 0 },
        { code: "OK", requests: 2, failed: 1, duration_ms: 0 },
      );
      const failures = lines.filter((l) => l.message !== "grpc stream");
      assert.equal(failures.length, 1);
      assert.equal(failures[0]!.bindings["request_id"], "s-log.1");
      assert.equal(failures[0]!.fields["code"], "NOT_FOUND");
    });
  });

  describe("infergate.v1.Pipelines", () => {
    it("runs a pipeline with options, files, content types and timings", async () => {
      const { response, error, headers } = await gateway.unary(
        "/infergate.v1.Pipelines/Run",
        {
          pipeline: "echo",
          options_json: '{"lang": "en"}',
          files: { image: Buffer.alloc(1000, 1), mask: Buffer.alloc(3) },
          content_types: { image: "image/png" },
          timings: true,
        },
        { metadata: withRequestId("p-1") },
      );
      assert.equal(error, undefined);
      assert.deepEqual(headers.get("x-request-id"), ["p-1"]);
      assert.equal(response!["pipeline"], "echo");
      assert.deepEqual(JSON.parse(response!["result_json"]), {
        fields: { lang: "en" },
        sizes: { image: "1000 image/png", mask: "3 application/octet-stream" },
      });
      assert.deepEqual(response!["timings_ms"], { decode: 1.5, infer: 2.25 });
      assert.equal(scripted.calls[0]!.ctx!.requestId, "p-1");
    });

    it("leaves timings out unless asked", async () => {
      const { response } = await gateway.unary("/infergate.v1.Pipelines/Run", { pipeline: "echo" });
      assert.equal(response!["timings_ms"], undefined);
      assert.deepEqual(JSON.parse(response!["result_json"]).fields, {});
    });

    const failures: { name: string; request: object; code: grpc.status }[] = [
      { name: "an unknown pipeline", request: { pipeline: "nope" }, code: grpc.status.NOT_FOUND },
      { name: "no pipeline name", request: {}, code: grpc.status.INVALID_ARGUMENT },
      {
        name: "options that are not a JSON object",
        request: { pipeline: "echo", options_json: "[]" },
        code: grpc.status.INVALID_ARGUMENT,
      },
    ];
    for (const c of failures) {
      it(`answers ${c.name} with ${grpc.status[c.code]}`, async () => {
        const { error } = await gateway.unary("/infergate.v1.Pipelines/Run", c.request);
        assert.equal(error?.code, c.code);
      });
    }

    it("lists pipelines with their schemas as JSON", async () => {
      const { response } = await gateway.unary("/infergate.v1.Pipelines/List", {});
      const [echo] = response!["pipelines"];
      assert.equal(echo.name, "echo");
      assert.deepEqual(echo.models, ["simple"]);
      assert.deepEqual(JSON.parse(echo.output_schema_json).properties.sizes, { type: "object" });
    });
  });

  describe("metrics", () => {
    it("counts requests by method and code, times them, and settles the gauges", async () => {
      await gateway.unary("ModelInfer", inferRequest("simple"));
      await gateway.unary("ModelInfer", inferRequest("nope"));
      await gateway.unary("RepositoryIndex", {});
      const stream = gateway.stream();
      const done = drain(stream);
      stream.write(inferRequest("simple", "m"));
      stream.end();
      await done;

      const metrics = parsePrometheusText(await gateway.registry.text());
      const count = (labels: Record<string, string>) =>
        samplesOf(metrics, "infergate_grpc_requests_total", labels)[0]?.value ?? 0;
      assert.ok(count({ method: "ModelInfer", code: "OK" }) >= 1);
      assert.ok(count({ method: "ModelInfer", code: "NOT_FOUND" }) >= 1);
      assert.ok(count({ method: "RepositoryIndex", code: "PERMISSION_DENIED" }) >= 1);
      assert.ok(count({ method: "ModelStreamInfer", code: "OK" }) >= 1);
      const histogramCount = samplesOf(metrics, "infergate_grpc_request_duration_seconds_count", {
        method: "ModelInfer",
      });
      assert.ok((histogramCount[0]?.value ?? 0) >= 2);
      assert.equal(samplesOf(metrics, "infergate_grpc_in_flight_requests")[0]?.value, 0);
      assert.equal(
        samplesOf(metrics, "infergate_grpc_streams_open", { method: "ModelStreamInfer" })[0]?.value,
        0,
      );
      // Bounded labels: no request ids or model names.
      for (const sample of metrics.samples.filter((s) => s.name.startsWith("infergate_grpc_"))) {
        for (const name of Object.keys(sample.labels)) {
          assert.ok(["method", "code", "le"].includes(name), name);
        }
      }
    });
  });
});

describe("gRPC front end lifecycle", () => {
  it("Health/Watch streams the status; closeGrpcServer cuts what is still open after the grace", async () => {
    const scripted = scriptedCore();
    const registry = createMetricsRegistry();
    const server = createGrpcServer({
      core: scripted.core,
      config: testConfig(),
      log: silentLogger(),
      metrics: createGrpcMetrics(registry),
    });
    const port = await listenGrpc(server, "127.0.0.1", 0);
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const watch = loadServiceDefinitions().health["Watch"]!;
      const call = client.makeServerStreamRequest(
        watch.path,
        watch.requestSerialize,
        watch.responseDeserialize as (bytes: Buffer) => Message,
        { service: "" },
      );
      call.on("error", () => {});
      // Not events.once: it would reject on the "error" event that precedes the status.
      const ended = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
      const statuses: string[] = [];
      call.on("data", (reply: Message) => statuses.push(reply["status"]));
      while (statuses.length < 1) await once(call, "data");
      scripted.state.ready = false;
      while (statuses.length < 2) await once(call, "data");
      assert.deepEqual(statuses, ["SERVING", "NOT_SERVING"]);
      const open = parsePrometheusText(await registry.text());
      assert.equal(
        samplesOf(open, "infergate_grpc_streams_open", { method: "Watch" })[0]?.value,
        1,
      );

      const started = Date.now();
      await closeGrpcServer(server, 200);
      assert.ok(Date.now() - started < 2000);
      assert.notEqual((await ended).code, grpc.status.OK);
    } finally {
      client.close();
    }
  });
});
