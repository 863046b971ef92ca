/**
 * Every RPC of the embedded model server over a real gRPC socket, against the shipped `simple`
 * model (OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1, INT32 [-1,16], max_batch_size 8),
 * plus its Prometheus metrics. Each server runs on 127.0.0.1 port 0 over a temp repository.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code } from "../../gateway/src/errors.js";
import {
  type Message,
  makeTempRepository,
  samplesOf,
  scrapeMetrics,
  startTestModelServer,
  type TempRepository,
  type TestModelServer,
} from "./helpers/model-server.js";

const ROW = 16;

/** INT32 values as raw little-endian bytes. */
const int32Bytes = (values: readonly number[]) => Buffer.from(new Int32Array(values).buffer);

/** Raw little-endian INT32 bytes as numbers (no alignment assumptions about the Buffer). */
function int32Values(bytes: Uint8Array): number[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: buffer.length / 4 }, (_, i) => buffer.readInt32LE(i * 4));
}

/** Deterministic inputs for `rows` rows: INPUT0[i] = i, INPUT1[i] = 2 * (i % 7) - 5. */
function simpleInputs(rows: number): { input0: number[]; input1: number[] } {
  const input0 = Array.from({ length: rows * ROW }, (_, i) => i);
  const input1 = input0.map((i) => 2 * (i % 7) - 5);
  return { input0, input1 };
}

/** A valid `simple` ModelInferRequest with raw contents; `patch` overrides any field. */
function simpleRequest(rows = 1, patch: Message = {}): Message {
  const { input0, input1 } = simpleInputs(rows);
  return {
    model_name: "simple",
    id: `req-${rows}`,
    inputs: [
      { name: "INPUT0", datatype: "INT32", shape: [rows, ROW] },
      { name: "INPUT1", datatype: "INT32", shape: [rows, ROW] },
    ],
    raw_input_contents: [int32Bytes(input0), int32Bytes(input1)],
    ...patch,
  };
}

/** Checks a `simple` response: shapes, datatypes and the sums and differences of the inputs. */
function assertSimpleOutputs(
  response: Message,
  rows: number,
  names: string[] = ["OUTPUT0", "OUTPUT1"],
): void {
  const { input0, input1 } = simpleInputs(rows);
  const expected: Record<string, number[]> = {
    OUTPUT0: input0.map((a, i) => a + input1[i]!),
    OUTPUT1: input0.map((a, i) => a - input1[i]!),
  };
  assert.deepEqual(
    response.outputs.map((o: Message) => [o.name, o.datatype, o.shape]),
    names.map((name) => [name, "INT32", [rows, ROW]]),
  );
  assert.equal(response.raw_output_contents.length, names.length);
  names.forEach((name, i) => {
    assert.deepEqual(int32Values(response.raw_output_contents[i]), expected[name], name);
  });
}

/** The `simple` version-1 entry of a ModelStatistics response. */
async function simpleStatistics(h: TestModelServer): Promise<Message> {
  const response = await h.call("ModelStatistics", { name: "simple", version: "1" });
  assert.equal(response.model_stats.length, 1);
  return response.model_stats[0];
}

describe("model server RPCs over gRPC (simple, ocr_cls)", () => {
  let repo: TempRepository;
  let h: TestModelServer;

  before(async () => {
    repo = await makeTempRepository(["simple", "ocr_cls"]);
    h = await startTestModelServer(repo.path);
  });
  after(async () => {
    await h?.close();
    await repo?.remove();
  });

  describe("server health and metadata", () => {
    it("ServerLive and ServerReady answer true", async () => {
      assert.deepEqual(await h.call("ServerLive", {}), { live: true });
      assert.deepEqual(await h.call("ServerReady", {}), { ready: true });
    });

    it("ServerMetadata gives the name, a version and the extensions", async () => {
      const metadata = await h.call("ServerMetadata", {});
      assert.equal(metadata.name, "infergate-models");
      assert.match(metadata.version, /^\d+\.\d+\.\d+/);
      for (const extension of ["model_repository", "model_configuration", "statistics"]) {
        assert.ok(metadata.extensions.includes(extension), extension);
      }
    });

    it("grpc.health.v1.Health/Check is SERVING; an unknown service is NOT_FOUND", async () => {
      for (const service of ["", "inference.GRPCInferenceService"]) {
        const response = await h.call("/grpc.health.v1.Health/Check", { service });
        assert.deepEqual(response, { status: "SERVING" }, service);
      }
      await assert.rejects(h.call("/grpc.health.v1.Health/Check", { service: "nope.Service" }), {
        code: Code.NOT_FOUND,
        details: /unknown service 'nope\.Service'/,
      });
    });
  });

  describe("model metadata and config", () => {
    it("ModelReady: true for a loaded model and version, false otherwise", async () => {
      const cases = [
        { request: { name: "simple" }, ready: true },
        { request: { name: "simple", version: "1" }, ready: true },
        { request: { name: "ocr_cls" }, ready: true },
        { request: { name: "nope" }, ready: false },
        { request: { name: "simple", version: "2" }, ready: false },
        { request: { name: "simple", version: "one" }, ready: false },
      ];
      for (const { request, ready } of cases) {
        assert.deepEqual(await h.call("ModelReady", request), { ready }, JSON.stringify(request));
      }
    });

    it("ModelMetadata: -1 batch dim, wire datatypes, versions and platform", async () => {
      const metadata = await h.call("ModelMetadata", { name: "simple" });
      const tensor = (name: string) => ({ name, datatype: "INT32", shape: [-1, ROW] });
      assert.deepEqual(metadata, {
        name: "simple",
        versions: ["1"],
        platform: "onnxruntime_onnx",
        inputs: [tensor("INPUT0"), tensor("INPUT1")],
        outputs: [tensor("OUTPUT0"), tensor("OUTPUT1")],
      });
      const cls = await h.call("ModelMetadata", { name: "ocr_cls", version: "1" });
      assert.deepEqual(cls.inputs, [{ name: "x", datatype: "FP32", shape: [-1, 3, 48, 192] }]);
    });

    it("ModelMetadata of an unknown model or version is NOT_FOUND in Triton's words", async () => {
      await assert.rejects(h.call("ModelMetadata", { name: "nope" }), {
        code: Code.NOT_FOUND,
        details: /^Request for unknown model: 'nope' is not found$/,
      });
      await assert.rejects(h.call("ModelMetadata", { name: "simple", version: "7" }), {
        code: Code.NOT_FOUND,
        details: /'simple' version 7 is not found/,
      });
    });

    it("ModelConfig returns the config with enum names", async () => {
      const { config } = await h.call("ModelConfig", { name: "simple" });
      assert.equal(config.name, "simple");
      assert.equal(config.platform, "onnxruntime_onnx");
      assert.equal(config.max_batch_size, 8);
      assert.deepEqual(
        config.input.map((i: Message) => [i.name, i.data_type, i.dims]),
        [
          ["INPUT0", "TYPE_INT32", [ROW]],
          ["INPUT1", "TYPE_INT32", [ROW]],
        ],
      );
      assert.deepEqual(
        config.output.map((o: Message) => o.data_type),
        ["TYPE_INT32", "TYPE_INT32"],
      );
      assert.equal(config.instance_group[0].kind, "KIND_CPU");
      assert.equal(config.dynamic_batching.max_queue_delay_microseconds, 500);
      await assert.rejects(h.call("ModelConfig", { name: "nope" }), { code: Code.NOT_FOUND });
    });
  });

  describe("ModelInfer", () => {
    it("raw contents: sums and differences, id echoed, model_version 1", async () => {
      const response = await h.call("ModelInfer", simpleRequest(1, { id: "raw-1" }));
      assert.equal(response.model_name, "simple");
      assert.equal(response.model_version, "1");
      assert.equal(response.id, "raw-1");
      assertSimpleOutputs(response, 1);
    });

    it("typed int_contents instead of raw contents", async () => {
      const { input0, input1 } = simpleInputs(1);
      const response = await h.call("ModelInfer", {
        model_name: "simple",
        id: "typed",
        inputs: [
          {
            name: "INPUT0",
            datatype: "INT32",
            shape: [1, ROW],
            contents: { int_contents: input0 },
          },
          {
            name: "INPUT1",
            datatype: "INT32",
            shape: [1, ROW],
            contents: { int_contents: input1 },
          },
        ],
      });
      assert.equal(response.id, "typed");
      assertSimpleOutputs(response, 1);
    });

    it("a requested subset of outputs returns only those", async () => {
      const response = await h.call(
        "ModelInfer",
        simpleRequest(1, { outputs: [{ name: "OUTPUT1" }] }),
      );
      assertSimpleOutputs(response, 1, ["OUTPUT1"]);
    });

    it("a batch of 3 rows", async () => {
      assertSimpleOutputs(await h.call("ModelInfer", simpleRequest(3)), 3);
    });

    it("an explicit version 1", async () => {
      const response = await h.call("ModelInfer", simpleRequest(2, { model_version: "1" }));
      assert.equal(response.model_version, "1");
      assertSimpleOutputs(response, 2);
    });

    it("an unknown version is NOT_FOUND", async () => {
      await assert.rejects(h.call("ModelInfer", simpleRequest(1, { model_version: "2" })), {
        code: Code.NOT_FOUND,
        details: /'simple' version 2 is not found/,
      });
    });

    describe("malformed requests", () => {
      const { input0, input1 } = simpleInputs(1);
      const raw = [int32Bytes(input0), int32Bytes(input1)];
      const inputs = (patch0: Message = {}, patch1: Message = {}) => [
        { name: "INPUT0", datatype: "INT32", shape: [1, ROW], ...patch0 },
        { name: "INPUT1", datatype: "INT32", shape: [1, ROW], ...patch1 },
      ];
      const rowsOf = (rows: number) => {
        const data = simpleInputs(rows);
        return [int32Bytes(data.input0), int32Bytes(data.input1)];
      };
      const cases: { name: string; input: Message; code: Code; error: RegExp }[] = [
        {
          name: "wrong datatype",
          input: { inputs: inputs({ datatype: "FP32" }) },
          code: Code.INVALID_ARGUMENT,
          error: /input 'INPUT0' data-type is 'FP32', but model 'simple' expects 'INT32'/,
        },
        {
          name: "wrong shape",
          input: {
            inputs: inputs({ shape: [1, 15] }, { shape: [1, 15] }),
            raw_input_contents: [int32Bytes(input0.slice(1)), int32Bytes(input1.slice(1))],
          },
          code: Code.INVALID_ARGUMENT,
          error:
            /unexpected shape for input 'INPUT0' for model 'simple'\. Expected \[-1,16\], got \[1,15\]/,
        },
        {
          name: "batch larger than max_batch_size",
          input: {
            inputs: inputs({ shape: [9, ROW] }, { shape: [9, ROW] }),
            raw_input_contents: rowsOf(9),
          },
          code: Code.INVALID_ARGUMENT,
          error: /batch-size must be between 1 and 8 for 'simple', got 9/,
        },
        {
          name: "missing input",
          input: { inputs: inputs().slice(0, 1), raw_input_contents: raw.slice(0, 1) },
          code: Code.INVALID_ARGUMENT,
          error: /expected 2 inputs but got 1 inputs for model 'simple'.*'INPUT1'/,
        },
        {
          name: "unknown input",
          input: {
            inputs: [...inputs(), { name: "INPUT2", datatype: "INT32", shape: [1, ROW] }],
            raw_input_contents: [...raw, raw[0]],
          },
          code: Code.INVALID_ARGUMENT,
          error: /unexpected inference input 'INPUT2' for model 'simple'/,
        },
        {
          name: "unknown output",
          input: { outputs: [{ name: "OUTPUT0" }, { name: "OUTPUT9" }] },
          code: Code.INVALID_ARGUMENT,
          error: /unexpected inference output 'OUTPUT9' for model 'simple'/,
        },
        {
          name: "raw and typed contents mixed",
          input: { inputs: inputs({}, { contents: { int_contents: input1 } }) },
          code: Code.INVALID_ARGUMENT,
          error: /input 'INPUT1': sets contents while the message uses raw_input_contents/,
        },
        {
          name: "fewer raw entries than inputs",
          input: { raw_input_contents: raw.slice(0, 1) },
          code: Code.INVALID_ARGUMENT,
          error: /input 'INPUT1': has no raw_input_contents entry \(1 entries for 2 inputs\)/,
        },
        {
          name: "more raw entries than inputs",
          input: { raw_input_contents: [...raw, raw[0]] },
          code: Code.INVALID_ARGUMENT,
          error: /raw_input_contents has 3 entries for 2 inputs/,
        },
        {
          name: "raw byte length not matching the shape",
          input: { raw_input_contents: [raw[0]!.subarray(4), raw[1]] },
          code: Code.INVALID_ARGUMENT,
          error: /input 'INPUT0': expected 64 bytes for shape \[1,16\] of INT32, got 60/,
        },
        {
          name: "typed value count not matching the shape",
          input: {
            inputs: inputs(
              { contents: { int_contents: input0.slice(1) } },
              { contents: { int_contents: input1 } },
            ),
            raw_input_contents: [],
          },
          code: Code.INVALID_ARGUMENT,
          error: /input 'INPUT0': expected 16 values in int_contents .* got 15/,
        },
        {
          name: "empty model_name",
          input: { model_name: "" },
          code: Code.INVALID_ARGUMENT,
          error: /model_name is empty/,
        },
        {
          name: "negative priority parameter",
          input: { parameters: { priority: { int64_param: -1 } } },
          code: Code.INVALID_ARGUMENT,
          error: /request parameter 'priority' must be a non-negative integer, got -1/,
        },
        {
          name: "string timeout parameter",
          input: { parameters: { timeout: { string_param: "soon" } } },
          code: Code.INVALID_ARGUMENT,
          error: /request parameter 'timeout' must be a non-negative integer, got "soon"/,
        },
        {
          name: "unknown datatype",
          input: { inputs: inputs({ datatype: "FLOAT32" }) },
          code: Code.INVALID_ARGUMENT,
          error: /input 'INPUT0': unknown datatype "FLOAT32"/,
        },
        {
          name: "negative dimension",
          input: { inputs: inputs({ shape: [-1, ROW] }) },
          code: Code.INVALID_ARGUMENT,
          error: /input 'INPUT0': shape \[-1,16\] has a negative dimension -1/,
        },
        {
          name: "input given twice",
          input: { inputs: [...inputs()].map((t) => ({ ...t, name: "INPUT0" })) },
          code: Code.INVALID_ARGUMENT,
          error: /input 'INPUT0': appears more than once/,
        },
        {
          name: "unknown model",
          input: { model_name: "nope" },
          code: Code.NOT_FOUND,
          error: /^Request for unknown model: 'nope' is not found$/,
        },
        {
          name: "version that is not a number",
          input: { model_version: "latest" },
          code: Code.INVALID_ARGUMENT,
          error: /model version must be a number, got 'latest'/,
        },
      ];
      for (const { name, input, code, error } of cases) {
        it(name, async () => {
          await assert.rejects(h.call("ModelInfer", simpleRequest(1, input)), {
            code,
            details: error,
          });
        });
      }

      it("the server still serves after the malformed requests", async () => {
        assertSimpleOutputs(await h.call("ModelInfer", simpleRequest(2)), 2);
      });
    });
  });

  describe("ModelStreamInfer", () => {
    it("answers each request once, errors in-band, and ends when the client ends", async () => {
      const stream = h.stream();
      const status = new Promise<Message>((resolve) => stream.on("status", resolve));
      const responses = stream[Symbol.asyncIterator]() as AsyncIterator<Message>;
      const next = async () => {
        const item = await responses.next();
        assert.equal(item.done, false, "the stream ended early");
        return item.value as Message;
      };

      stream.write(simpleRequest(1, { id: "s1" }));
      const first = await next();
      assert.equal(first.error_message, undefined);
      assert.equal(first.infer_response.id, "s1");
      assertSimpleOutputs(first.infer_response, 1);

      const bad = simpleRequest(1, { id: "bad" });
      bad.inputs[0].shape = [1, 15];
      bad.inputs[1].shape = [1, 15];
      bad.raw_input_contents = bad.raw_input_contents.map((b: Buffer) => b.subarray(4));
      stream.write(bad);
      const failed = await next();
      assert.match(failed.error_message, /unexpected shape for input 'INPUT0'/);
      assert.equal(failed.infer_response.id, "bad");

      stream.write(simpleRequest(2, { id: "s2" }));
      const second = await next();
      assert.equal(second.infer_response.id, "s2");
      assertSimpleOutputs(second.infer_response, 2);

      // Several in flight at once: one response each, matched by id.
      const ids = ["p1", "p2", "p3", "p4"];
      for (const id of ids) stream.write(simpleRequest(1, { id }));
      const burst = [await next(), await next(), await next(), await next()];
      assert.deepEqual(burst.map((r) => r.infer_response.id).sort(), ids);
      for (const response of burst) {
        assert.equal(response.error_message, undefined);
        assertSimpleOutputs(response.infer_response, 1);
      }

      stream.end();
      assert.deepEqual(await responses.next(), { done: true, value: undefined });
      assert.equal((await status).code, Code.OK);
    });
  });

  describe("ModelStatistics", () => {
    it("counts successes, failures, inferences and executions consistently", async () => {
      const before = await simpleStatistics(h);
      const rows = [1, 2, 1, 3, 1, 1];
      const responses = await Promise.all(rows.map((n) => h.call("ModelInfer", simpleRequest(n))));
      for (const [i, response] of responses.entries()) assertSimpleOutputs(response, rows[i]!);
      // Failures the model itself rejects (shape, datatype, batch size): Triton counts these.
      const failing = [
        simpleRequest(1, {
          inputs: [
            { name: "INPUT0", datatype: "INT32", shape: [2, 8] },
            { name: "INPUT1", datatype: "INT32", shape: [2, 8] },
          ],
        }),
        simpleRequest(1, {
          inputs: [
            { name: "INPUT0", datatype: "FP32", shape: [1, ROW] },
            { name: "INPUT1", datatype: "FP32", shape: [1, ROW] },
          ],
        }),
        simpleRequest(1, { outputs: [{ name: "OUTPUT7" }] }),
      ];
      for (const request of failing) {
        await assert.rejects(h.call("ModelInfer", request), { code: Code.INVALID_ARGUMENT });
      }
      const after = await simpleStatistics(h);
      const delta = (path: (s: Message) => number) => path(after) - path(before);
      const stats = (s: Message) => s.inference_stats;

      assert.equal(after.name, "simple");
      assert.equal(after.version, "1");
      assert.equal(
        delta((s) => stats(s).success.count),
        rows.length,
      );
      assert.equal(
        delta((s) => stats(s).fail.count),
        failing.length,
      );
      assert.ok(delta((s) => stats(s).success.ns) > 0);
      assert.ok(delta((s) => stats(s).fail.ns) > 0);
      assert.equal(
        delta((s) => s.inference_count),
        rows.reduce((a, b) => a + b, 0),
      );
      const executions = delta((s) => s.execution_count);
      assert.ok(executions >= 1 && executions <= rows.length, `${executions} executions`);
      for (const part of ["queue", "compute_input", "compute_infer", "compute_output"]) {
        assert.equal(
          delta((s) => stats(s)[part].count),
          rows.length,
          part,
        );
      }
      assert.ok(delta((s) => stats(s).compute_infer.ns) > 0);

      // Absolute consistency over everything this server has run.
      assert.ok(after.execution_count <= after.inference_count);
      assert.equal(stats(after).compute_infer.count, stats(after).success.count);
      assert.equal(stats(after).queue.count, stats(after).success.count);
      const batches: Message[] = after.batch_stats;
      assert.equal(
        batches.reduce((sum, b) => sum + b.compute_infer.count, 0),
        after.execution_count,
      );
      assert.equal(
        batches.reduce((sum, b) => sum + b.batch_size * b.compute_infer.count, 0),
        after.inference_count,
      );
      assert.ok(Math.abs(after.last_inference - Date.now()) < 60_000, "last_inference is ms");
    });

    it("an empty name lists every loaded model; an unknown one is NOT_FOUND", async () => {
      const all = await h.call("ModelStatistics", { name: "" });
      assert.deepEqual(all.model_stats.map((s: Message) => `${s.name}:${s.version}`).sort(), [
        "ocr_cls:1",
        "simple:1",
      ]);
      await assert.rejects(h.call("ModelStatistics", { name: "nope" }), { code: Code.NOT_FOUND });
    });
  });

  describe("model repository", () => {
    it("RepositoryIndex lists every model READY at version 1", async () => {
      const { models } = await h.call("RepositoryIndex", {});
      assert.deepEqual(models, [
        { name: "ocr_cls", version: "1", state: "READY", reason: "" },
        { name: "simple", version: "1", state: "READY", reason: "" },
      ]);
      assert.deepEqual(await h.call("RepositoryIndex", { ready: true }), { models });
    });

    it("load and unload are UNAVAILABLE in 'none' control mode", async () => {
      for (const method of ["RepositoryModelLoad", "RepositoryModelUnload"]) {
        await assert.rejects(h.call(method, { model_name: "simple" }), {
          code: Code.UNAVAILABLE,
          details: /explicit model load \/ unload is not allowed if model control mode is 'none'/,
        });
      }
      assert.deepEqual(await h.call("ModelReady", { name: "simple" }), { ready: true });
    });

    describe("explicit control mode", () => {
      let explicit: TestModelServer;
      before(async () => {
        explicit = await startTestModelServer(repo.path, {
          controlMode: "explicit",
          startupModels: [],
        });
      });
      after(() => explicit?.close());

      it("starts with every model UNAVAILABLE", async () => {
        const { models } = await explicit.call("RepositoryIndex", {});
        assert.deepEqual(
          models.map((m: Message) => [m.name, m.state]),
          [
            ["ocr_cls", "UNAVAILABLE"],
            ["simple", "UNAVAILABLE"],
          ],
        );
        assert.deepEqual(await explicit.call("RepositoryIndex", { ready: true }), {});
        assert.deepEqual(await explicit.call("ModelReady", { name: "simple" }), { ready: false });
        await assert.rejects(explicit.call("ModelInfer", simpleRequest(1)), {
          code: Code.NOT_FOUND,
        });
      });

      it("load makes a model READY and servable; unload takes it away", async () => {
        assert.deepEqual(await explicit.call("RepositoryModelLoad", { model_name: "simple" }), {});
        assert.deepEqual(await explicit.call("ModelReady", { name: "simple" }), { ready: true });
        const { models } = await explicit.call("RepositoryIndex", {});
        assert.deepEqual(
          models.find((m: Message) => m.name === "simple"),
          { name: "simple", version: "1", state: "READY", reason: "" },
        );
        assertSimpleOutputs(await explicit.call("ModelInfer", simpleRequest(2)), 2);

        assert.deepEqual(
          await explicit.call("RepositoryModelUnload", { model_name: "simple" }),
          {},
        );
        assert.deepEqual(await explicit.call("ModelReady", { name: "simple" }), { ready: false });
        await assert.rejects(explicit.call("ModelInfer", simpleRequest(1)), (error: Message) => {
          assert.ok([Code.UNAVAILABLE, Code.NOT_FOUND].includes(error.code), error.message);
          assert.match(error.details, /'simple'/);
          return true;
        });
        const index = await explicit.call("RepositoryIndex", {});
        assert.equal(index.models.find((m: Message) => m.name === "simple").state, "UNAVAILABLE");
      });

      it("loading a model that is not in the repository fails naming it", async () => {
        await assert.rejects(explicit.call("RepositoryModelLoad", { model_name: "ghost" }), {
          code: Code.NOT_FOUND,
          details: /'ghost'/,
        });
        await assert.rejects(explicit.call("RepositoryModelLoad", { model_name: "" }), {
          code: Code.INVALID_ARGUMENT,
          details: /model_name is empty/,
        });
      });

      it("a 'config' parameter (JSON ModelConfig) replaces the config file", async () => {
        const { config } = await h.call("ModelConfig", { name: "simple" });
        // A client sends protobuf JSON: the oneof's virtual property is no field of it.
        const { scheduling_choice: _, ...fields } = config;
        const json = JSON.stringify({ ...fields, max_batch_size: 4 });
        await explicit.call("RepositoryModelLoad", {
          model_name: "simple",
          parameters: { config: { string_param: json } },
        });
        const loaded = await explicit.call("ModelConfig", { name: "simple" });
        assert.equal(loaded.config.max_batch_size, 4);
        assertSimpleOutputs(await explicit.call("ModelInfer", simpleRequest(4)), 4);
        await assert.rejects(explicit.call("ModelInfer", simpleRequest(5)), {
          code: Code.INVALID_ARGUMENT,
          details: /batch-size must be between 1 and 4 for 'simple', got 5/,
        });

        // A config that is not JSON fails the load and leaves the loaded one serving.
        await assert.rejects(
          explicit.call("RepositoryModelLoad", {
            model_name: "simple",
            parameters: { config: { string_param: "{not json" } },
          }),
          { code: Code.INVALID_ARGUMENT, details: /'simple'.*the 'config' parameter is not JSON/ },
        );
        assert.equal(
          (await explicit.call("ModelConfig", { name: "simple" })).config.max_batch_size,
          4,
        );
        assertSimpleOutputs(await explicit.call("ModelInfer", simpleRequest(1)), 1);
      });

      it("a 'config' parameter in proto3 JSON form (int64 as strings, enums as numbers) loads as Triton's would", async () => {
        const tensor = (name: string) => ({ name, data_type: 8, dims: ["16"] });
        const json = JSON.stringify({
          name: "simple",
          platform: "onnxruntime_onnx",
          max_batch_size: 8,
          input: [tensor("INPUT0"), tensor("INPUT1")],
          output: [tensor("OUTPUT0"), tensor("OUTPUT1")],
        });
        await explicit.call("RepositoryModelLoad", {
          model_name: "simple",
          parameters: { config: { string_param: json } },
        });
        const { config } = await explicit.call("ModelConfig", { name: "simple" });
        assert.deepEqual(config.input[0], { name: "INPUT0", data_type: "TYPE_INT32", dims: [16] });
        assertSimpleOutputs(await explicit.call("ModelInfer", simpleRequest(2)), 2);
      });

      it("a load that fails after opening its instances releases them", async () => {
        const ports = () =>
          process.getActiveResourcesInfo().filter((r) => r === "MessagePort").length;
        const before = ports();
        // Warmup dims the model cannot take pass config validation and fail once instances run.
        const { config } = await h.call("ModelConfig", { name: "simple" });
        const { scheduling_choice: _, ...fields } = config;
        const warmup = [
          {
            name: "bad",
            batch_size: 1,
            inputs: {
              INPUT0: { data_type: "TYPE_INT32", dims: [3], zero_data: true },
              INPUT1: { data_type: "TYPE_INT32", dims: [3], zero_data: true },
            },
          },
        ];
        await assert.rejects(
          explicit.call("RepositoryModelLoad", {
            model_name: "simple",
            parameters: {
              config: { string_param: JSON.stringify({ ...fields, model_warmup: warmup }) },
            },
          }),
          { code: Code.INVALID_ARGUMENT },
        );
        assert.equal(ports(), before);
      });

      it("refuses a 'config' parameter with an unknown field, naming it", async () => {
        await assert.rejects(
          explicit.call("RepositoryModelLoad", {
            model_name: "simple",
            parameters: {
              config: { string_param: JSON.stringify({ name: "simple", max_batch: 8 }) },
            },
          }),
          { code: Code.INVALID_ARGUMENT, details: /max_batch: unknown field/ },
        );
      });
    });
  });

  describe("unsupported RPCs", () => {
    const cases = [
      { method: "SystemSharedMemoryStatus", error: /system shared memory is not supported/ },
      { method: "SystemSharedMemoryRegister", error: /system shared memory is not supported/ },
      { method: "SystemSharedMemoryUnregister", error: /system shared memory is not supported/ },
      { method: "CudaSharedMemoryStatus", error: /CUDA shared memory is not supported/ },
      { method: "CudaSharedMemoryRegister", error: /CUDA shared memory is not supported/ },
      { method: "CudaSharedMemoryUnregister", error: /CUDA shared memory is not supported/ },
      { method: "TraceSetting", error: /TraceSetting.* is not supported/ },
      { method: "LogSettings", error: /LogSettings.* is not supported/ },
    ];
    for (const { method, error } of cases) {
      it(`${method} is UNIMPLEMENTED`, async () => {
        await assert.rejects(h.call(method, {}), { code: Code.UNIMPLEMENTED, details: error });
      });
    }
  });
});

describe("a deadline that expires while the request is queued", () => {
  let repo: TempRepository;
  let h: TestModelServer;
  before(async () => {
    // One request alone waits up to 2 s for company, as its batch is short of the preferred 8.
    repo = await makeTempRepository([
      {
        name: "simple",
        config: (text) =>
          text.replace(
            /max_queue_delay_microseconds: \d+/,
            "preferred_batch_size: [ 8 ]\n  max_queue_delay_microseconds: 2000000",
          ),
      },
    ]);
    h = await startTestModelServer(repo.path);
  });
  after(async () => {
    await h?.close();
    await repo?.remove();
  });

  it("fails with DEADLINE_EXCEEDED quickly, leaves nothing queued, and the server serves on", async () => {
    const { config } = await h.call("ModelConfig", { name: "simple" });
    assert.deepEqual(config.dynamic_batching.preferred_batch_size, [8]);

    const started = Date.now();
    await assert.rejects(h.call("ModelInfer", simpleRequest(1), { deadlineMs: 300 }), {
      code: Code.DEADLINE_EXCEEDED,
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 1000, `took ${elapsed} ms`);

    // The server drops the abandoned request from its queue at the deadline.
    const model = h.server.manager.get("simple");
    for (let i = 0; i < 50 && model.pendingCount() > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(model.pendingCount(), 0);

    // A full preferred batch dispatches at once, without the 2 s wait.
    const fullStarted = Date.now();
    assertSimpleOutputs(await h.call("ModelInfer", simpleRequest(8), { deadlineMs: 5000 }), 8);
    assert.ok(Date.now() - fullStarted < 1500, "a preferred-size batch did not wait");
    assert.deepEqual(await h.call("ServerLive", {}), { live: true });
    const stats = await simpleStatistics(h);
    assert.equal(stats.inference_stats.success.count, 1);
    assert.equal(stats.inference_stats.fail.count, 1);
  });
});

describe("Prometheus metrics", () => {
  let repo: TempRepository;
  let h: TestModelServer;
  const rows = [1, 2, 1, 1, 3];
  const failures = 2;

  before(async () => {
    repo = await makeTempRepository(["simple"]);
    h = await startTestModelServer(repo.path);
    for (const n of rows) assertSimpleOutputs(await h.call("ModelInfer", simpleRequest(n)), n);
    for (let i = 0; i < failures; i++) {
      await assert.rejects(h.call("ModelInfer", simpleRequest(1, { outputs: [{ name: "X" }] })), {
        code: Code.INVALID_ARGUMENT,
      });
    }
  });
  after(async () => {
    await h?.close();
    await repo?.remove();
  });

  it("GET /metrics reports Triton's counters for what was run", async () => {
    const metrics = await scrapeMetrics(h.server);
    const simple = { model: "simple", version: "1" };
    const value = (name: string, labels: Record<string, string> = simple) => {
      const found = samplesOf(metrics, name, labels);
      assert.equal(found.length, 1, `one sample of ${name} ${JSON.stringify(labels)}`);
      return found[0]!.value;
    };
    const stats = await simpleStatistics(h);

    assert.equal(value("nv_inference_request_success"), rows.length);
    assert.equal(
      value("nv_inference_count"),
      rows.reduce((a, b) => a + b, 0),
    );
    const executions = value("nv_inference_exec_count");
    assert.equal(executions, stats.execution_count);
    assert.ok(executions >= 1 && executions <= rows.length);
    const failure = samplesOf(metrics, "nv_inference_request_failure", simple);
    assert.ok(failure.length >= 1, "nv_inference_request_failure has samples");
    assert.ok(failure.every((s) => typeof s.labels["reason"] === "string" && s.labels["reason"]));
    assert.equal(
      failure.reduce((sum, s) => sum + s.value, 0),
      failures,
    );
    for (const name of [
      "nv_inference_request_duration_us",
      "nv_inference_queue_duration_us",
      "nv_inference_compute_input_duration_us",
      "nv_inference_compute_infer_duration_us",
      "nv_inference_compute_output_duration_us",
    ]) {
      assert.ok(value(name) > 0, `${name} > 0`);
    }
    assert.equal(value("nv_inference_pending_request_count"), 0);
    assert.equal(metrics.type.get("nv_inference_count"), "counter");
    assert.equal(metrics.type.get("nv_inference_request_failure"), "counter");
    assert.equal(metrics.type.get("nv_inference_pending_request_count"), "gauge");
    assert.match(metrics.help.get("nv_inference_count") ?? "", /inferences/);
  });
});
