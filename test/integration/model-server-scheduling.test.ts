/**
 * The embedded model server's scheduling, end to end over gRPC: dynamic batching, batching by
 * shape, queue size and queue timeouts, priority levels, instance groups and ensembles. Every
 * test builds its own repository in a temp folder, with models encoded in code and config text
 * written here, and starts a real server on port 0.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import type { ModelServerOptions } from "../../gateway/src/models/model-server.js";
import type { ModelStatisticsSnapshot } from "../../gateway/src/models/model-statistics.js";
import {
  decodeInferResponseMessage,
  encodeInferRequestMessage,
  type ParameterValue,
} from "../../gateway/src/protocol/infer-message.js";
import { makeTensor, type Tensor } from "../../gateway/src/protocol/tensor.js";
import { encodeOnnxGraph } from "../../gateway/src/repository/onnx-model.js";
import {
  buildSimpleModel,
  SIMPLE_ROW_ELEMENTS,
} from "../../gateway/src/repository/simple-model.js";
import { startTestModelServer, type TestModelServer } from "./helpers/model-server.js";

// ---------------------------------------------------------------------------------------------
// Harness: a repository generated in a temp folder, served on port 0.

/** A model folder to write: its config text and model bytes per version (null: empty folder). */
interface ModelSpec {
  config: string;
  versions: Record<number, Uint8Array | null>;
}

/** Writes a repository of `models` into a fresh temp folder and returns its path. */
async function makeRepository(models: Record<string, ModelSpec>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "infergate-scheduling-"));
  for (const [name, spec] of Object.entries(models)) {
    await mkdir(join(root, name));
    await writeFile(join(root, name, "config.pbtxt"), spec.config);
    for (const [version, bytes] of Object.entries(spec.versions)) {
      await mkdir(join(root, name, version));
      if (bytes) await writeFile(join(root, name, version, "model.onnx"), bytes);
    }
  }
  return root;
}

type Call = TestModelServer["call"];

/** A checker for `assert.rejects`: a gRPC status error with `code` and matching details. */
function isStatus(code: status, details: RegExp) {
  return (error: unknown): boolean => {
    const e = error as { code?: number; details?: string };
    assert.equal(e.code, code, `expected ${status[code]}, got ${e.code}: ${e.details}`);
    assert.match(e.details ?? "", details);
    return true;
  };
}

async function statisticsOf(call: Call, name: string): Promise<ModelStatisticsSnapshot> {
  const response = await call("ModelStatistics", { name });
  const stats = response.model_stats?.[0] as ModelStatisticsSnapshot | undefined;
  assert.ok(stats, `no statistics for '${name}'`);
  return stats;
}

/** Polls `predicate` every 5 ms until it holds; fails after `timeoutMs` naming `what`. */
async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

// ---------------------------------------------------------------------------------------------
// Models.

/** config.pbtxt of a `simple`-shaped model (INT32[16] in and out) with extra `scheduling` text. */
function simpleConfig(name: string, scheduling: string, maxBatchSize = 8): string {
  return `
name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: ${maxBatchSize}
input [
  { name: "INPUT0", data_type: TYPE_INT32, dims: [ ${SIMPLE_ROW_ELEMENTS} ] },
  { name: "INPUT1", data_type: TYPE_INT32, dims: [ ${SIMPLE_ROW_ELEMENTS} ] }
]
output [
  { name: "OUTPUT0", data_type: TYPE_INT32, dims: [ ${SIMPLE_ROW_ELEMENTS} ] },
  { name: "OUTPUT1", data_type: TYPE_INT32, dims: [ ${SIMPLE_ROW_ELEMENTS} ] }
]
${scheduling}
`;
}

/** Inputs of `simple` for caller `seed`: distinct per caller so answers cannot be swapped. */
function simpleInputs(seed: number, rows = 1): [Tensor, Tensor] {
  const a = new Int32Array(rows * SIMPLE_ROW_ELEMENTS);
  const b = new Int32Array(rows * SIMPLE_ROW_ELEMENTS);
  for (let i = 0; i < a.length; i++) {
    a[i] = seed * 1000 + i;
    b[i] = seed - 3 * i;
  }
  const shape = [rows, SIMPLE_ROW_ELEMENTS];
  return [
    makeTensor({ name: "INPUT0", datatype: "INT32", shape }, a),
    makeTensor({ name: "INPUT1", datatype: "INT32", shape }, b),
  ];
}

interface SimpleAnswer {
  version: string;
  inputs: [Tensor, Tensor];
  outputs: Tensor[];
}

/** Sends caller `seed`'s request (`rows` rows) to a `simple`-shaped model. */
async function inferSimple(
  call: Call,
  model: string,
  seed: number,
  options: { rows?: number; parameters?: Record<string, ParameterValue> } = {},
): Promise<SimpleAnswer> {
  const inputs = simpleInputs(seed, options.rows);
  const response = await call(
    "ModelInfer",
    encodeInferRequestMessage({ modelName: model, inputs, parameters: options.parameters }),
  );
  const decoded = decodeInferResponseMessage(response);
  return { version: decoded.modelVersion, inputs, outputs: decoded.outputs };
}

/** Checks OUTPUT0 = factor * (a + b) and OUTPUT1 = factor * (a - b), element by element. */
function assertSumAndDifference({ inputs, outputs }: SimpleAnswer, factor = 1): void {
  const a = [...(inputs[0].data as Int32Array)];
  const b = [...(inputs[1].data as Int32Array)];
  assert.deepEqual(
    outputs.map((t) => [t.name, t.datatype, t.shape]),
    [
      ["OUTPUT0", "INT32", inputs[0].shape],
      ["OUTPUT1", "INT32", inputs[0].shape],
    ],
  );
  assert.deepEqual(
    [...(outputs[0]!.data as Int32Array)],
    a.map((x, i) => factor * (x + b[i]!)),
  );
  assert.deepEqual(
    [...(outputs[1]!.data as Int32Array)],
    a.map((x, i) => factor * (x - b[i]!)),
  );
}

/** Side of the square FP32 matrix the slow model multiplies. */
const SLOW_N = 512;

/**
 * A model that does real work: Y = sum(X^33), 32 MatMuls of a [512, 512] FP32 matrix, batch
 * dimension first; one execution takes some 60 ms on one idle core. The output is one number.
 */
function buildSlowModel(matmuls = 32): Uint8Array {
  const nodes = [];
  let previous = "X";
  for (let i = 0; i < matmuls; i++) {
    nodes.push({ opType: "MatMul", inputs: [previous, "X"], outputs: [`p${i}`] });
    previous = `p${i}`;
  }
  // ReduceSum without axes reduces every dim, keeping each as 1.
  nodes.push({ opType: "ReduceSum", inputs: [previous], outputs: ["Y"] });
  return encodeOnnxGraph({
    name: "slow",
    inputs: [{ name: "X", datatype: "FP32", dims: [-1, SLOW_N, SLOW_N] }],
    outputs: [{ name: "Y", datatype: "FP32", dims: [-1, 1, 1] }],
    nodes,
  });
}

/** config.pbtxt of the slow model, one request per batch, with extra `scheduling` text. */
function slowConfig(name: string, scheduling: string): string {
  return `
name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 1
input [ { name: "X", data_type: TYPE_FP32, dims: [ ${SLOW_N}, ${SLOW_N} ] } ]
output [ { name: "Y", data_type: TYPE_FP32, dims: [ 1, 1 ] } ]
${scheduling}
`;
}

/** Runs one slow request (all zeros, so the sum is 0) and checks its answer. */
async function inferSlow(
  call: Call,
  model: string,
  parameters: Record<string, ParameterValue> = {},
): Promise<void> {
  const x = makeTensor(
    { name: "X", datatype: "FP32", shape: [1, SLOW_N, SLOW_N] },
    new Float32Array(SLOW_N * SLOW_N),
  );
  const response = await call(
    "ModelInfer",
    encodeInferRequestMessage({ modelName: model, inputs: [x], parameters }),
  );
  const [y] = decodeInferResponseMessage(response).outputs;
  assert.deepEqual(y?.shape, [1, 1, 1]);
  assert.equal((y.data as Float32Array)[0], 0);
}

/** `simple_twice`: two `simple` steps, (a, b) -> (a + b, a - b) -> (2a, 2b). */
const SIMPLE_TWICE_CONFIG = `
name: "simple_twice"
platform: "ensemble"
max_batch_size: 8
input [
  { name: "INPUT0", data_type: TYPE_INT32, dims: [ 16 ] },
  { name: "INPUT1", data_type: TYPE_INT32, dims: [ 16 ] }
]
output [
  { name: "OUTPUT0", data_type: TYPE_INT32, dims: [ 16 ] },
  { name: "OUTPUT1", data_type: TYPE_INT32, dims: [ 16 ] }
]
ensemble_scheduling {
  step [
    {
      model_name: "simple"
      model_version: -1
      input_map { key: "INPUT0" value: "INPUT0" }
      input_map { key: "INPUT1" value: "INPUT1" }
      output_map { key: "OUTPUT0" value: "sum" }
      output_map { key: "OUTPUT1" value: "diff" }
    },
    {
      model_name: "simple"
      model_version: -1
      input_map { key: "INPUT0" value: "sum" }
      input_map { key: "INPUT1" value: "diff" }
      output_map { key: "OUTPUT0" value: "OUTPUT0" }
      output_map { key: "OUTPUT1" value: "OUTPUT1" }
    }
  ]
}
`;

// ---------------------------------------------------------------------------------------------

describe("embedded model server: scheduling", () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    await Promise.all(cleanups.map((cleanup) => cleanup()));
  });
  /** A server on a fresh repository of `models`; stopped and removed after the suite. */
  const start = async (
    models: Record<string, ModelSpec>,
    options: Partial<ModelServerOptions> = {},
  ): Promise<TestModelServer> => {
    const repository = await makeRepository(models);
    const server = await startTestModelServer(repository, { metricsPort: -1, ...options });
    cleanups.push(async () => {
      await server.close();
      await rm(repository, { recursive: true, force: true });
    });
    return server;
  };

  it("batches concurrent requests dynamically and answers each caller with its own result", async () => {
    const { call } = await start({
      simple: {
        config: simpleConfig(
          "simple",
          `dynamic_batching { max_queue_delay_microseconds: 20000 }
           instance_group [ { count: 1, kind: KIND_CPU } ]`,
        ),
        versions: { 1: buildSimpleModel() },
      },
    });
    const answers = await Promise.all(
      Array.from({ length: 32 }, (_, seed) => inferSimple(call, "simple", seed)),
    );
    for (const answer of answers) assertSumAndDifference(answer);

    const stats = await statisticsOf(call, "simple");
    assert.equal(stats.inference_count, 32);
    assert.ok(stats.execution_count < 32, `${stats.execution_count} executions for 32 requests`);
    const sizes = stats.batch_stats.map((b) => b.batch_size);
    assert.ok(
      sizes.some((size) => size > 1),
      `no batch larger than 1: ${sizes}`,
    );
    assert.ok(
      sizes.every((size) => size >= 1 && size <= 8),
      `a batch outside [1, max_batch_size 8]: ${sizes}`,
    );
    // Every request ran in exactly one execution.
    const executions = stats.batch_stats.reduce((sum, b) => sum + b.compute_infer.count, 0);
    const rows = stats.batch_stats.reduce(
      (sum, b) => sum + b.batch_size * b.compute_infer.count,
      0,
    );
    assert.equal(executions, stats.execution_count);
    assert.equal(rows, 32);
  });

  it("never puts requests of different non-batch shapes in one batch", async () => {
    const { call } = await start({
      double: {
        config: `
name: "double"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "X", data_type: TYPE_FP32, dims: [ -1 ] } ]
output [ { name: "Y", data_type: TYPE_FP32, dims: [ -1 ] } ]
dynamic_batching { max_queue_delay_microseconds: 20000 }
`,
        versions: {
          1: encodeOnnxGraph({
            name: "double",
            inputs: [{ name: "X", datatype: "FP32", dims: [-1, -1] }],
            outputs: [{ name: "Y", datatype: "FP32", dims: [-1, -1] }],
            nodes: [{ opType: "Add", inputs: ["X", "X"], outputs: ["Y"] }],
          }),
        },
      },
    });
    const one = async (seed: number) => {
      const width = seed % 2 === 0 ? 3 : 5;
      const data = Float32Array.from({ length: width }, (_, i) => seed * 10 + i);
      const x = makeTensor({ name: "X", datatype: "FP32", shape: [1, width] }, data);
      const response = await call(
        "ModelInfer",
        encodeInferRequestMessage({ modelName: "double", inputs: [x] }),
      );
      const [y] = decodeInferResponseMessage(response).outputs;
      assert.deepEqual(y?.shape, [1, width], `caller ${seed}`);
      assert.deepEqual(
        [...(y.data as Float32Array)],
        [...data].map((v) => 2 * v),
        `caller ${seed}`,
      );
    };
    await Promise.all(Array.from({ length: 24 }, (_, seed) => one(seed)));

    const stats = await statisticsOf(call, "double");
    assert.equal(stats.inference_count, 24);
    // Requests did batch (so the two shapes queued side by side), yet each got its own shape.
    assert.ok(stats.execution_count < 24, `${stats.execution_count} executions for 24 requests`);
    assert.ok(stats.execution_count >= 2, "two shapes cannot share one execution");
  });

  it("rejects requests beyond max_queue_size with UNAVAILABLE", async () => {
    const { call, server } = await start({
      simple: {
        // A batch leaves the queue at the preferred size 8 or after 1 s, so requests wait.
        config: simpleConfig(
          "simple",
          `dynamic_batching {
             preferred_batch_size: [ 8 ]
             max_queue_delay_microseconds: 1000000
             default_queue_policy { max_queue_size: 2 }
           }`,
        ),
        versions: { 1: buildSimpleModel() },
      },
    });
    const queued = [inferSimple(call, "simple", 1), inferSimple(call, "simple", 2)];
    await waitFor("two queued requests", () => server.manager.get("simple").pendingCount() === 2);
    const full = isStatus(status.UNAVAILABLE, /exceeds maximum queue size 2/);
    await assert.rejects(inferSimple(call, "simple", 3), full);
    await assert.rejects(inferSimple(call, "simple", 4), full);
    // The queued ones are unharmed and run once their delay is over.
    for (const answer of await Promise.all(queued)) assertSumAndDifference(answer);
    const stats = await statisticsOf(call, "simple");
    assert.equal(stats.inference_count, 2);
    assert.equal(stats.inference_stats.fail.count, 2);
  });

  /** A `simple` model that holds a lone request `delayUs` for company, with a queue policy. */
  const held = (name: string, delayUs: number, policy: string): ModelSpec => ({
    config: simpleConfig(
      name,
      `dynamic_batching {
         preferred_batch_size: [ 8 ]
         max_queue_delay_microseconds: ${delayUs}
         default_queue_policy { timeout_action: REJECT ${policy} }
       }`,
    ),
    versions: { 1: buildSimpleModel() },
  });
  const timeoutParameter = (us: number) => ({ parameters: { timeout: us } });
  const timedOut = isStatus(status.DEADLINE_EXCEEDED, /timed out in queue/);

  it("times requests out in the queue with DEADLINE_EXCEEDED; a request's timeout shortens it only when allowed", async () => {
    const { call } = await start({
      // 100 ms timeout, far shorter than the 2 s the request waits for company.
      short: held("short", 2_000_000, "default_timeout_microseconds: 100000"),
      // 1 s timeout, longer than the 300 ms wait; requests may shorten it, or not.
      relaxed: held(
        "relaxed",
        300_000,
        "default_timeout_microseconds: 1000000 allow_timeout_override: true",
      ),
      fixed: held("fixed", 300_000, "default_timeout_microseconds: 1000000"),
    });
    const started = Date.now();
    const [short, shortened, relaxed, ignored] = await Promise.allSettled([
      inferSimple(call, "short", 1),
      inferSimple(call, "relaxed", 2, timeoutParameter(50_000)),
      inferSimple(call, "relaxed", 3),
      // Without allow_timeout_override the request's own timeout is ignored.
      inferSimple(call, "fixed", 4, timeoutParameter(50_000)),
    ]);
    const elapsedMs = Date.now() - started;
    for (const outcome of [short, shortened]) {
      if (outcome?.status !== "rejected") assert.fail("expected a queue timeout");
      timedOut(outcome.reason);
    }
    for (const outcome of [relaxed, ignored]) {
      if (outcome?.status !== "fulfilled") assert.fail(`request failed: ${outcome?.reason}`);
      assertSumAndDifference(outcome.value);
    }
    // The short model's request failed at its timeout, not after its 2 s batching delay.
    assert.ok(elapsedMs < 1500, `took ${elapsedMs} ms`);
    const stats = await statisticsOf(call, "short");
    assert.equal(stats.inference_stats.fail.count, 1);
    assert.equal(stats.execution_count, 0);
  });

  // Differs from Triton on purpose in one case: with no default timeout, a request's own timeout
  // still bounds its queueing (the gateway sends its deadline there), see priority-queue.ts.
  it("never lengthens the queue timeout by a request's timeout", async () => {
    const { call } = await start({
      capped: held(
        "capped",
        300_000,
        "default_timeout_microseconds: 100000 allow_timeout_override: true",
      ),
    });
    const [lengthened] = await Promise.allSettled([
      // 2 s would outlast the 300 ms wait, but an override may not exceed the 100 ms default.
      inferSimple(call, "capped", 1, timeoutParameter(2_000_000)),
    ]);
    if (lengthened?.status !== "rejected") assert.fail("an override lengthened the timeout");
    timedOut(lengthened.reason);
  });

  it("fills a batch from the higher priority level first", async () => {
    // max_batch_size 4: B1..B3 (level 2, one row each) wait 1 s for company. C (level 1, two
    // rows) comes after them but is first in line, so [C, B1, B2] fills a batch of 4 and B3
    // waits on. In FIFO order [B1, B2, B3] would have gone and C waited instead.
    const { call, server } = await start({
      simple: {
        config: simpleConfig(
          "simple",
          `dynamic_batching {
             max_queue_delay_microseconds: 1000000
             priority_levels: 2
             default_priority_level: 2
           }`,
          4,
        ),
        versions: { 1: buildSimpleModel() },
      },
    });
    const finished: string[] = [];
    const track = (label: string, seed: number, rows: number, priority?: number) =>
      inferSimple(call, "simple", seed, {
        rows,
        parameters: priority === undefined ? {} : { priority },
      }).then((answer) => {
        finished.push(label);
        assertSumAndDifference(answer);
      });
    const pending = () => server.manager.get("simple").pendingCount();
    const calls = [track("B1", 1, 1), track("B2", 2, 1, 2), track("B3", 3, 1)];
    await waitFor("B1..B3 to queue", () => pending() === 3);
    calls.push(track("C", 4, 2, 1));
    await Promise.all(calls);
    assert.equal(finished.at(-1), "B3", `completion order ${finished}`);
    const stats = await statisticsOf(call, "simple");
    assert.deepEqual(
      stats.batch_stats.map((b) => [b.batch_size, b.compute_infer.count]),
      [
        [1, 1],
        [4, 1],
      ],
    );
  });

  it("runs a higher-priority request before queued lower-priority ones on a busy instance", async () => {
    const { call, server } = await start(
      {
        slow: {
          config: slowConfig(
            "slow",
            `dynamic_batching { priority_levels: 2 default_priority_level: 2 }
               instance_group [ { count: 1, kind: KIND_CPU } ]`,
          ),
          // Long enough (some 500 ms) that the others surely queue while A runs.
          versions: { 1: buildSlowModel(256) },
        },
      },
      { intraOpThreads: 1 },
    );
    const pending = () => server.manager.get("slow").pendingCount();
    const finished: string[] = [];
    const track = (label: string, parameters?: Record<string, ParameterValue>) =>
      inferSlow(call, "slow", parameters).then(() => {
        finished.push(label);
      });
    // A occupies the only instance; B1..B3 (level 2) queue behind it, then C (level 1).
    const calls = [track("A")];
    await waitFor("A to arrive or finish", () => pending() === 1 || finished.length > 0);
    calls.push(track("B1"), track("B2", { priority: 2 }), track("B3"));
    await waitFor("B1..B3 to queue", () => pending() === 4 || finished.length > 0);
    calls.push(track("C", { priority: 1 }));
    await waitFor("C to queue", () => pending() === 5 || finished.length > 0);
    assert.deepEqual(finished, [], "A finished before the others were queued behind it");
    await Promise.all(calls);
    assert.deepEqual(finished.slice(0, 2), ["A", "C"]);
    assert.deepEqual(finished.slice(2).sort(), ["B1", "B2", "B3"]);
  });

  const twoInstanceModels = () => {
    const scheduling = (count: number) =>
      `dynamic_batching { }
       instance_group [ { count: ${count}, kind: KIND_CPU } ]`;
    return {
      one: { config: slowConfig("one", scheduling(1)), versions: { 1: buildSlowModel() } },
      two: { config: slowConfig("two", scheduling(2)), versions: { 1: buildSlowModel() } },
    };
  };

  it("dispatches two requests at once to an instance group of two", async () => {
    const { call } = await start(twoInstanceModels(), { intraOpThreads: 1 });
    // Two requests at once: with one instance the second is dispatched only after the first's
    // execution; with two, each is dispatched to its own instance at once. Queue time says which.
    const queueOverCompute = async (model: string) => {
      await Promise.all([inferSlow(call, model), inferSlow(call, model)]);
      const stats = await statisticsOf(call, model);
      assert.equal(stats.execution_count, 2);
      const oneExecutionNs = stats.batch_stats[0]!.compute_infer.ns / 2;
      return stats.inference_stats.queue.ns / oneExecutionNs;
    };
    const single = await queueOverCompute("one");
    const pair = await queueOverCompute("two");
    assert.ok(single > 0.5, `one instance: queue/compute ${single.toFixed(2)}, expected ~1`);
    assert.ok(pair < 0.2, `two instances: queue/compute ${pair.toFixed(2)}, expected ~0`);
  });

  it("keeps answering while a model executes (instances run off the event loop)", async () => {
    const { call, server } = await start({
      slow: {
        config: slowConfig("slow", "instance_group [ { count: 1, kind: KIND_CPU } ]"),
        versions: { 1: buildSlowModel(256) },
      },
    });
    // Ordering, not timing: the long execution is under way when ServerLive is asked, and the
    // answer to ServerLive must come first, which it cannot while the event loop is blocked.
    const order: string[] = [];
    const slow = inferSlow(call, "slow").then(() => order.push("infer"));
    await waitFor(
      "the request to reach the model",
      () => server.manager.get("slow").pendingCount() === 1 || order.length > 0,
    );
    await call("ServerLive", {}).then(() => order.push("live"));
    await slow;
    assert.deepEqual(order, ["live", "infer"]);
  });

  it("serves an ensemble of two simple steps whose requests batch in the composing model", async () => {
    const { call } = await start({
      simple: {
        config: simpleConfig("simple", "dynamic_batching { max_queue_delay_microseconds: 20000 }"),
        versions: { 1: buildSimpleModel() },
      },
      simple_twice: { config: SIMPLE_TWICE_CONFIG, versions: { 1: null } },
    });

    const doubled = (answer: SimpleAnswer) => {
      const [a, b] = answer.inputs;
      assert.deepEqual(
        answer.outputs.map((t) => [t.name, t.shape, [...(t.data as Int32Array)]]),
        [
          ["OUTPUT0", a.shape, [...(a.data as Int32Array)].map((x) => 2 * x)],
          ["OUTPUT1", b.shape, [...(b.data as Int32Array)].map((x) => 2 * x)],
        ],
      );
    };
    const one = await inferSimple(call, "simple_twice", 7);
    assert.equal(one.version, "1");
    doubled(one);

    const metadata = await call("ModelMetadata", { name: "simple_twice" });
    assert.equal(metadata.name, "simple_twice");
    assert.equal(metadata.platform, "ensemble");
    assert.deepEqual(metadata.versions, ["1"]);
    assert.deepEqual(
      metadata.inputs.map((t: { name: string; datatype: string; shape: number[] }) => [
        t.name,
        t.datatype,
        t.shape,
      ]),
      [
        ["INPUT0", "INT32", [-1, 16]],
        ["INPUT1", "INT32", [-1, 16]],
      ],
    );
    const { config } = await call("ModelConfig", { name: "simple_twice" });
    assert.equal(config.name, "simple_twice");
    assert.equal(config.platform, "ensemble");
    assert.deepEqual(
      config.ensemble_scheduling.step.map((s: { model_name: string }) => s.model_name),
      ["simple", "simple"],
    );

    const before = await statisticsOf(call, "simple");
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, seed) => inferSimple(call, "simple_twice", 100 + seed)),
    );
    for (const answer of answers) doubled(answer);
    const after = await statisticsOf(call, "simple");
    const inferences = after.inference_count - before.inference_count;
    const executions = after.execution_count - before.execution_count;
    assert.equal(inferences, 32, "two steps per ensemble request");
    assert.ok(executions < inferences, `${executions} executions for ${inferences} inferences`);
    assert.equal((await statisticsOf(call, "simple_twice")).inference_count, 17);
  });
});
