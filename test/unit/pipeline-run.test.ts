import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type {
  CoreInferRequest,
  CoreInferResult,
  PipelineInput,
} from "../../gateway/src/core/gateway-core.js";
import { Code } from "../../gateway/src/errors.js";
import { createMetricsRegistry } from "../../gateway/src/metrics.js";
import { compose } from "../../gateway/src/pipeline/compose.js";
import { definePipeline } from "../../gateway/src/pipeline/pipeline.js";
import { createPipelineMetrics } from "../../gateway/src/pipeline/pipeline-metrics.js";
import { createPreprocess } from "../../gateway/src/pipeline/preprocess.js";
import { runPipeline } from "../../gateway/src/pipeline/run-pipeline.js";
import { findPipeline, PIPELINES } from "../../gateway/src/pipelines/registry.js";
import { simpleMathPipeline } from "../../gateway/src/pipelines/simple-math.js";
import { makeTensor, type Tensor } from "../../gateway/src/protocol/tensor.js";
import { requestContext } from "../fixtures/pipeline-context.js";

/** Triton's `simple` in TypeScript: INT32 add and subtract, wrapping as INT32 does. */
function fakeSimple() {
  const requests: CoreInferRequest[] = [];
  const infer = async (request: CoreInferRequest): Promise<CoreInferResult> => {
    requests.push(request);
    const [a, b] = ["INPUT0", "INPUT1"].map((n) => request.inputs.find((t) => t.name === n)!);
    const x = a!.data as Int32Array;
    const y = b!.data as Int32Array;
    const out = (name: string, data: Int32Array): Tensor =>
      makeTensor({ name, datatype: "INT32", shape: a!.shape }, data);
    return {
      modelName: "simple",
      modelVersion: "1",
      id: "",
      outputs: [
        out(
          "OUTPUT0",
          x.map((v, i) => v + y[i]!),
        ),
        out(
          "OUTPUT1",
          x.map((v, i) => v - y[i]!),
        ),
      ],
    };
  };
  const modelInfo = async () => ({ maxBatchSize: 8, inputs: [], outputs: [] });
  return {
    requests,
    infer,
    modelInfo,
    batchSizes: () => requests.map((r) => r.inputs[0]!.shape[0]),
  };
}

function input(fields: Record<string, unknown>, timings = false): PipelineInput {
  return { fields, files: {}, timings };
}

const vec = (f: (k: number) => number) => Array.from({ length: 16 }, (_, k) => f(k));

describe("runPipeline", () => {
  const echo = definePipeline({
    name: "echo",
    version: "1",
    description: "test",
    input: {},
    output: {},
    models: [],
    defaults: { suffix: "!" },
    build: (options) =>
      compose(
        createPreprocess({ name: "shout", run: (s: string) => s.toUpperCase() }),
        createPreprocess({ name: "mark", run: (s: string) => `${s}${options.suffix}` }),
      ),
    parse: (i) => String(i.fields["text"]),
    respond: (text) => ({ text }),
  });
  const deps = () => ({
    infer: () => Promise.reject(new Error("no models")),
    modelInfo: () => Promise.reject(new Error("no models")),
    ctx: requestContext(),
  });

  it("runs parse, the chain and respond", async () => {
    const result = await runPipeline(echo, input({ text: "hi" }), deps());
    assert.deepEqual(result, { pipeline: "echo", result: { text: "HI!" } });
  });

  it("returns per-stage timings in ms when asked", async () => {
    const result = await runPipeline(echo, input({ text: "hi" }, true), deps());
    assert.deepEqual(Object.keys(result.timings!), ["parse", "shout", "mark", "respond"]);
    for (const ms of Object.values(result.timings!)) assert.ok(ms >= 0 && ms < 1000);
  });

  it("reports stage durations and request outcomes as metrics", async () => {
    const registry = createMetricsRegistry();
    const metrics = createPipelineMetrics(registry);
    await runPipeline(echo, input({ text: "hi" }), { ...deps(), metrics });
    const failing = definePipeline({
      ...echoSpec(),
      name: "strict",
      parse: () => {
        throw new Error("nope");
      },
    });
    await assert.rejects(runPipeline(failing, input({}), { ...deps(), metrics }), {
      code: Code.INTERNAL,
      message: "stage 'parse' failed: internal error",
    });
    const text = await registry.text();
    assert.match(
      text,
      /infergate_pipeline_stage_duration_seconds_count\{pipeline="echo",stage="shout"\} 1/,
    );
    assert.match(text, /infergate_pipeline_requests_total\{pipeline="echo",code="OK"\} 1/);
    assert.match(text, /infergate_pipeline_requests_total\{pipeline="strict",code="INTERNAL"\} 1/);
  });

  it("builds the chain from configured options, rejecting unknown or mistyped ones", async () => {
    const quiet = echo.configure({ suffix: "." });
    assert.deepEqual((await runPipeline(quiet, input({ text: "a" }), deps())).result, {
      text: "A.",
    });
    assert.throws(() => echo.configure({ sufix: "." }), {
      message: "pipeline 'echo': unknown option 'sufix' (known: suffix)",
    });
    assert.throws(() => echo.configure({ suffix: 1 }), {
      message: "pipeline 'echo': option 'suffix' must be a string, got number",
    });
  });

  function echoSpec() {
    return {
      name: "echo",
      version: "1",
      description: "test",
      input: {},
      output: {},
      models: [],
      defaults: {},
      build: () => createPreprocess({ name: "id", run: (s: string) => s }),
      parse: () => "",
      respond: (text: string) => ({ text }),
    };
  }
});

describe("simple-math pipeline (fake model)", () => {
  it("is registered and describes itself", () => {
    assert.equal(findPipeline("simple-math"), simpleMathPipeline);
    assert.ok(PIPELINES.includes(simpleMathPipeline));
    assert.deepEqual(simpleMathPipeline.description.models, ["simple"]);
    assert.deepEqual((simpleMathPipeline.description.input as { required: string[] }).required, [
      "pairs",
    ]);
  });

  it("adds and subtracts 20 pairs in 3 batched calls", async () => {
    const model = fakeSimple();
    const pairs = Array.from({ length: 20 }, (_, i) => [
      vec((k) => i * 100 + k),
      vec((k) => k - i),
    ]);
    const { result } = await runPipeline(simpleMathPipeline, input({ pairs }), {
      ...model,
      ctx: requestContext(),
    });
    assert.deepEqual(model.batchSizes(), [8, 8, 4]);
    assert.equal(result["calls"], 3);
    const results = result["results"] as { sum: number[]; difference: number[]; cascade: string }[];
    for (const [i, r] of results.entries()) {
      assert.deepEqual(
        r.sum,
        vec((k) => i * 100 + k + (k - i)),
      );
      assert.deepEqual(
        r.difference,
        vec((k) => i * 100 + k - (k - i)),
      );
      assert.equal(r.cascade, "cheap");
    }
  });

  it("gives exact results where INT32 wraps, through the expensive pass", async () => {
    const model = fakeSimple();
    const max = 2 ** 31 - 1;
    const min = -(2 ** 31);
    const pairs = [
      [vec(() => max), vec((k) => k)], // sums overflow for k > 0
      [vec((k) => k), vec((k) => k)], // fine
      [vec(() => min), vec(() => max)], // differences overflow
    ];
    const { result, timings } = await runPipeline(simpleMathPipeline, input({ pairs }, true), {
      ...model,
      ctx: requestContext(),
    });
    const results = result["results"] as { sum: number[]; difference: number[]; cascade: string }[];
    assert.deepEqual(
      results.map((r) => r.cascade),
      ["expensive", "cheap", "expensive"],
    );
    assert.deepEqual(
      results[0]!.sum,
      vec((k) => max + k),
    );
    assert.deepEqual(
      results[0]!.difference,
      vec((k) => max - k),
    );
    assert.deepEqual(
      results[2]!.sum,
      vec(() => -1),
    );
    assert.deepEqual(
      results[2]!.difference,
      vec(() => min - max),
    );
    // One cheap call of 3 rows, one exact call of 2 pairs x 2 rows.
    assert.deepEqual(model.batchSizes(), [3, 4]);
    assert.equal(result["calls"], 2);
    assert.ok("pairs/exact/int32" in timings!);
    assert.ok("pairs/exact/halves" in timings!);
  });

  it("lets wrapped results stand with exactThreshold 0", async () => {
    const model = fakeSimple();
    const pairs = [[vec(() => 2 ** 31 - 1), vec(() => 1)]];
    const { result } = await runPipeline(
      simpleMathPipeline.configure({ exactThreshold: 0 }),
      input({ pairs }),
      { ...model, ctx: requestContext() },
    );
    const [first] = result["results"] as { sum: number[]; cascade: string }[];
    assert.equal(first!.cascade, "cheap");
    assert.deepEqual(
      first!.sum,
      vec(() => -(2 ** 31)),
    );
  });

  const invalid: { name: string; fields: Record<string, unknown>; error: RegExp }[] = [
    { name: "missing pairs", fields: {}, error: /'pairs' is required/ },
    { name: "pairs not an array", fields: { pairs: 3 }, error: /'pairs' must be an array/ },
    { name: "not a pair", fields: { pairs: [[vec(() => 1)]] }, error: /pairs\[0\] must be a pair/ },
    {
      name: "short vector",
      fields: { pairs: [[vec(() => 1), [1, 2]]] },
      error: /pairs\[0\]\[1\] must be an array of 16 integers, got 2 elements/,
    },
    {
      name: "fraction",
      fields: { pairs: [[vec((k) => (k === 5 ? 1.5 : 1)), vec(() => 1)]] },
      error: /pairs\[0\]\[0\]\[5\] must be an integer in the INT32 range, got 1.5/,
    },
    {
      name: "beyond INT32",
      fields: { pairs: [[vec(() => 2 ** 31), vec(() => 1)]] },
      error: /pairs\[0\]\[0\]\[0\] must be an integer in the INT32 range, got 2147483648/,
    },
    {
      name: "too many pairs",
      fields: { pairs: Array.from({ length: 1025 }, () => [vec(() => 0), vec(() => 0)]) },
      error: /'pairs' holds 1025 pairs; at most 1024 are allowed/,
    },
  ];
  for (const { name, fields, error } of invalid) {
    it(`rejects ${name} as INVALID_ARGUMENT from the validate stage`, async () => {
      const model = fakeSimple();
      await assert.rejects(
        runPipeline(simpleMathPipeline, input(fields), { ...model, ctx: requestContext() }),
        (e: unknown) => {
          assert.equal((e as { code: Code }).code, Code.INVALID_ARGUMENT);
          assert.match((e as Error).message, /^stage 'validate': /);
          assert.match((e as Error).message, error);
          return true;
        },
      );
      assert.equal(model.requests.length, 0);
    });
  }
});
