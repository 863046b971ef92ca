import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, InferError, invalidArgument } from "../../gateway/src/errors.js";
import { createCascade } from "../../gateway/src/pipeline/cascade.js";
import { compose } from "../../gateway/src/pipeline/compose.js";
import { createInfer } from "../../gateway/src/pipeline/infer.js";
import { createMap } from "../../gateway/src/pipeline/map.js";
import { createPreprocess } from "../../gateway/src/pipeline/preprocess.js";
import type { Stage } from "../../gateway/src/pipeline/stage.js";
import { fakeModels, fp32, recordedTimings, stageContext } from "../fixtures/pipeline-context.js";

/** An infer stage on `model` sending one row [1, width] of `item` repeated, reading it back. */
function doubleRow(model: string, width = 4): Stage<number, number[]> {
  return createInfer({
    name: `infer-${model}`,
    model,
    inputs: (item: number) => [fp32("IN0", [1, width], new Array(width).fill(item))],
    outputNames: ["OUT0"],
    outputs: (out) => Array.from(out["OUT0"]!.data as Float32Array),
  });
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("infer stage", () => {
  it("sends the model, version, inputs, outputs and parameters, and maps the outputs", async () => {
    const models = fakeModels({ m: 8 });
    const stage = createInfer({
      model: "m",
      version: "2",
      inputs: (x: number) => [fp32("IN0", [1, 2], [x, x + 1])],
      outputNames: ["OUT0"],
      parameters: { priority: 1 },
      outputs: (out, x) => ({ x, doubled: Array.from(out["OUT0"]!.data as Float32Array) }),
    });
    assert.equal(stage.name, "m");
    assert.deepEqual(await stage(3, stageContext(models)), { x: 3, doubled: [6, 8] });
    const [request] = models.requests;
    assert.equal(request!.modelName, "m");
    assert.equal(request!.modelVersion, "2");
    assert.deepEqual(request!.outputs, [{ name: "OUT0" }]);
    assert.deepEqual(request!.parameters, { priority: 1 });
  });

  it("fails INTERNAL naming an output the model did not return", async () => {
    const stage = createInfer({
      model: "m",
      inputs: () => [fp32("IN0", [1, 1], [1])],
      outputNames: ["OUT0", "SCORES"],
      outputs: () => 0,
    });
    await assert.rejects(stage(0, stageContext(fakeModels({ m: 8 }))), {
      code: Code.INTERNAL,
      message: "model 'm' returned no output 'SCORES'",
    });
  });
});

describe("map stage", () => {
  it("sends 20 items to a model with max_batch_size 8 as 3 calls of 8, 8 and 4", async () => {
    const models = fakeModels({ m: 8 });
    const map = createMap({ name: "items", each: doubleRow("m") });
    const results = await map(range(20), stageContext(models));
    assert.deepEqual(models.batchSizes("m"), [8, 8, 4]);
    // Each item gets its own row back: item i sent i and receives 2i.
    assert.deepEqual(
      results,
      range(20).map((i) => [2 * i, 2 * i, 2 * i, 2 * i]),
    );
  });

  it("joins the items' rows in item order within each call", async () => {
    const models = fakeModels({ m: 8 });
    await createMap({ each: doubleRow("m", 1) })(range(10), stageContext(models));
    const firstColumn = models.requests.map((r) => Array.from(r.inputs[0]!.data as Float32Array));
    assert.deepEqual(firstColumn, [range(8), [8, 9]]);
  });

  it("sends one call per item to a model with max_batch_size 0", async () => {
    const models = fakeModels({ plain: 0 });
    const each = createInfer({
      model: "plain",
      inputs: (item: number) => [fp32("IN0", [3], [item, item, item])],
      outputs: (out) => (out["OUT0"]!.data as Float32Array)[0],
    });
    const results = await createMap({ each })(range(5), stageContext(models));
    assert.equal(models.requests.length, 5);
    for (const request of models.requests) assert.deepEqual(request.inputs[0]!.shape, [3]);
    assert.deepEqual(results, [0, 2, 4, 6, 8]);
  });

  it("batches items that reach their infer call at different times", async () => {
    const models = fakeModels({ m: 8 });
    const each = compose(
      createPreprocess({
        name: "wait",
        run: async (item: number) => {
          await sleep((item * 7) % 5);
          return item;
        },
      }),
      doubleRow("m"),
    );
    const results = await createMap({ each })(range(12), stageContext(models));
    assert.deepEqual(models.batchSizes("m"), [8, 4]);
    assert.deepEqual(
      results.map((r) => r[0]),
      range(12).map((i) => 2 * i),
    );
  });

  it("counts rows, not calls, against max_batch_size", async () => {
    const models = fakeModels({ m: 8 });
    const each = createInfer({
      model: "m",
      inputs: (item: number) => [fp32("IN0", [3, 1], [item, item, item])],
      outputs: (out) => Array.from(out["OUT0"]!.data as Float32Array),
    });
    const results = await createMap({ each })(range(5), stageContext(models));
    assert.deepEqual(models.batchSizes("m"), [6, 6, 3]);
    assert.deepEqual(results[4], [8, 8, 8]);
  });

  it("keeps calls with different non-batch shapes or models apart", async () => {
    const models = fakeModels({ m: 8, n: 8 });
    const each: Stage<number, number[]> = async (item, ctx) =>
      item % 3 === 0
        ? doubleRow("n")(item, ctx)
        : item % 3 === 1
          ? doubleRow("m", 4)(item, ctx)
          : doubleRow("m", 5)(item, ctx);
    const results = await createMap({ each })(range(9), stageContext(models));
    assert.deepEqual(models.batchSizes("n"), [3]);
    assert.deepEqual(
      models.requests.filter((r) => r.modelName === "m").map((r) => r.inputs[0]!.shape),
      [
        [3, 4],
        [3, 5],
      ],
    );
    assert.equal(results[8]!.length, 5);
    assert.equal(results[8]![0], 16);
  });

  it("batches every infer step of a sub-chain: two models in a row give two batched rounds", async () => {
    const models = fakeModels({ first: 8, second: 8 });
    const each = compose(
      doubleRow("first"),
      createPreprocess({ name: "pick", run: (row: number[]) => row[0]! }),
      doubleRow("second"),
    );
    const results = await createMap({ each })(range(10), stageContext(models));
    assert.deepEqual(models.batchSizes("first"), [8, 2]);
    assert.deepEqual(models.batchSizes("second"), [8, 2]);
    assert.deepEqual(results[9], [36, 36, 36, 36]);
  });

  it("looks up each model's info once per run", async () => {
    const models = fakeModels({ m: 8 });
    await createMap({ each: doubleRow("m") })(range(20), stageContext(models));
    assert.deepEqual(models.infoLookups, ["m"]);
  });

  it("records the sub-chain's timings as map/stage, once per item", async () => {
    const timings = recordedTimings();
    await createMap({ name: "boxes", each: doubleRow("m") })(
      range(3),
      stageContext(fakeModels({ m: 8 }), timings),
    );
    assert.deepEqual(timings.stages(), ["boxes/infer-m", "boxes/infer-m", "boxes/infer-m"]);
  });

  it("picks the list out of the value and folds the results back", async () => {
    const map = createMap({
      name: "boxes",
      items: (value: { image: string; boxes: number[] }) => value.boxes,
      each: doubleRow("m", 1),
      collect: (rows: number[][], value) => ({ image: value.image, texts: rows.map((r) => r[0]) }),
    });
    assert.deepEqual(
      await map({ image: "img", boxes: [1, 2] }, stageContext(fakeModels({ m: 8 }))),
      { image: "img", texts: [2, 4] },
    );
  });

  it("returns [] for no items without calling anything", async () => {
    const models = fakeModels({ m: 8 });
    assert.deepEqual(await createMap({ each: doubleRow("m") })([], stageContext(models)), []);
    assert.equal(models.requests.length, 0);
  });

  it("fails naming the item and its stage, after the other items have finished", async () => {
    const models = fakeModels({ m: 8 });
    const each = compose(
      createPreprocess({
        name: "check",
        run: (item: number) => {
          if (item === 3) throw invalidArgument("box 3 is empty");
          return item;
        },
      }),
      doubleRow("m"),
    );
    await assert.rejects(createMap({ name: "boxes", each })(range(6), stageContext(models)), {
      code: Code.INVALID_ARGUMENT,
      message: "item 3: stage 'check': box 3 is empty",
    });
    // The barrier counts a failed item as done, so the others were still sent, as one batch.
    assert.deepEqual(models.batchSizes("m"), [5]);
  });

  it("fails every item of a batch whose call failed, keeping the code", async () => {
    const models = fakeModels(
      { m: 8 },
      { fail: () => new InferError(Code.UNAVAILABLE, "triton is down") },
    );
    await assert.rejects(createMap({ each: doubleRow("m") })(range(4), stageContext(models)), {
      code: Code.UNAVAILABLE,
      message: "item 0: stage 'infer-m': triton is down",
    });
    assert.equal(models.requests.length, 1);
  });

  it("fails the calls to a model whose info cannot be had", async () => {
    const models = fakeModels({});
    await assert.rejects(createMap({ each: doubleRow("ghost") })(range(2), stageContext(models)), {
      code: Code.INTERNAL,
      message: "item 0: stage 'infer-ghost' failed: internal error",
    });
    assert.equal(models.requests.length, 0);
  });
});

describe("cascade stage", () => {
  interface Guess {
    label: string;
    score: number;
  }
  function cascadeOver(threshold: number, log: string[]) {
    return createCascade<number, Guess>({
      name: "classify",
      cheap: createPreprocess({
        name: "small",
        run: (x: number) => {
          log.push("small");
          return { label: "small", score: x };
        },
      }),
      expensive: createPreprocess({
        name: "large",
        run: (e: { input: number; cheap: Guess; confidence: number }) => {
          log.push(`large(${e.input},${e.cheap.label},${e.confidence})`);
          return { label: "large", score: 1 };
        },
      }),
      confidence: (guess) => guess.score,
      threshold,
    });
  }

  it("stops at the cheap step when it is confident enough", async () => {
    const log: string[] = [];
    const result = await cascadeOver(0.8, log)(0.9, stageContext(fakeModels({})));
    assert.deepEqual(result, {
      result: { label: "small", score: 0.9 },
      ran: "cheap",
      confidence: 0.9,
    });
    assert.deepEqual(log, ["small"]);
  });

  it("treats a confidence equal to the threshold as enough", async () => {
    const result = await cascadeOver(0.8, [])(0.8, stageContext(fakeModels({})));
    assert.equal(result.ran, "cheap");
  });

  it("runs the expensive step below the threshold, giving it the input and the cheap result", async () => {
    const log: string[] = [];
    const timings = recordedTimings();
    const result = await cascadeOver(0.8, log)(0.5, stageContext(fakeModels({}), timings));
    assert.deepEqual(result, {
      result: { label: "large", score: 1 },
      ran: "expensive",
      confidence: 0.5,
    });
    assert.deepEqual(log, ["small", "large(0.5,small,0.5)"]);
    assert.deepEqual(timings.stages(), ["classify/small", "classify/large"]);
  });

  it("escalates on a NaN confidence", async () => {
    const result = await cascadeOver(0.8, [])(Number.NaN, stageContext(fakeModels({})));
    assert.equal(result.ran, "expensive");
  });

  it("inside map, batches the escalated items' expensive calls together", async () => {
    const models = fakeModels({ cheap: 8, costly: 8 });
    const each = createCascade({
      cheap: doubleRow("cheap", 1),
      expensive: compose(
        createPreprocess({ name: "retry", run: (e: { input: number }) => e.input }),
        doubleRow("costly", 1),
      ),
      confidence: (row: number[]) => (row[0]! % 4 === 0 ? 0 : 1),
      threshold: 0.5,
    });
    const results = await createMap({ each })(range(10), stageContext(models));
    assert.deepEqual(models.batchSizes("cheap"), [8, 2]);
    // Items 0, 2, 4, 6 and 8 (doubled: multiples of 4) escalate, in one call.
    assert.deepEqual(models.batchSizes("costly"), [5]);
    assert.deepEqual(
      results.map((r) => r.ran),
      range(10).map((i) => (i % 2 === 0 ? "expensive" : "cheap")),
    );
  });
});
