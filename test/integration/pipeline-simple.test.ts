/**
 * The `simple-math` pipeline against the embedded model server over real gRPC: the pipeline's
 * `infer` and `modelInfo` are ModelInfer and ModelConfig calls on a grpc-js client, and the
 * server's ModelStatistics show the batches the map stage made.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type {
  CoreInferRequest,
  CoreInferResult,
  PipelineInput,
} from "../../gateway/src/core/gateway-core.js";
import { Code, InferError } from "../../gateway/src/errors.js";
import type { RunPipelineDeps } from "../../gateway/src/pipeline/run-pipeline.js";
import { runPipeline } from "../../gateway/src/pipeline/run-pipeline.js";
import type { ModelInfo } from "../../gateway/src/pipeline/stage.js";
import { simpleMathPipeline } from "../../gateway/src/pipelines/simple-math.js";
import {
  decodeInferResponseMessage,
  encodeInferRequestMessage,
  type ModelInferResponseMessage,
} from "../../gateway/src/protocol/infer-message.js";
import { requestContext } from "../fixtures/pipeline-context.js";
import {
  type Message,
  makeTempRepository,
  startTestModelServer,
  type TempRepository,
  type TestModelServer,
} from "./helpers/model-server.js";

const INT32_MAX = 2 ** 31 - 1;
const INT32_MIN = -(2 ** 31);

interface Item {
  sum: number[];
  difference: number[];
  cascade: "cheap" | "expensive";
}

const vec = (f: (k: number) => number) => Array.from({ length: 16 }, (_, k) => f(k));

describe("simple-math pipeline on the embedded model server", () => {
  let repository: TempRepository;
  let h: TestModelServer;

  before(async () => {
    repository = await makeTempRepository(["simple"]);
    h = await startTestModelServer(repository.path, { metricsPort: -1 });
  });
  after(async () => {
    await h?.close();
    await repository?.remove();
  });

  /** What the core would inject: ModelInfer and ModelConfig over the gRPC client. */
  function deps(): RunPipelineDeps {
    return {
      async infer(request: CoreInferRequest): Promise<CoreInferResult> {
        try {
          const response = await h.call("ModelInfer", encodeInferRequestMessage(request));
          return decodeInferResponseMessage(response as ModelInferResponseMessage);
        } catch (error) {
          throw InferError.from(error);
        }
      },
      async modelInfo(name: string): Promise<ModelInfo> {
        const { config } = await h.call("ModelConfig", { name });
        const spec = (t: Message) => ({ name: t.name, datatype: t.data_type, shape: t.dims });
        return {
          maxBatchSize: config.max_batch_size,
          inputs: config.input.map(spec),
          outputs: config.output.map(spec),
        };
      },
      ctx: requestContext(),
    };
  }

  async function statistics(): Promise<{ executions: number; inferences: number }> {
    const { model_stats } = await h.call("ModelStatistics", { name: "simple" });
    return {
      executions: model_stats[0].execution_count,
      inferences: model_stats[0].inference_count,
    };
  }

  async function run(pairs: unknown, timings = false) {
    const input: PipelineInput = { fields: { pairs }, files: {}, timings };
    const before = await statistics();
    const outcome = await runPipeline(simpleMathPipeline, input, deps());
    const after = await statistics();
    return {
      ...outcome,
      items: outcome.result["results"] as Item[],
      executions: after.executions - before.executions,
      inferences: after.inferences - before.inferences,
    };
  }

  it("adds and subtracts 20 pairs in 3 executions of batches of 8, 8 and 4", async () => {
    const pairs = Array.from({ length: 20 }, (_, i) => [
      vec((k) => i * 1000 + k),
      vec((k) => 3 * k - i),
    ]);
    const { items, result, executions, inferences } = await run(pairs);
    assert.equal(items.length, 20);
    for (const [i, item] of items.entries()) {
      assert.deepEqual(
        item.sum,
        vec((k) => i * 1000 + k + (3 * k - i)),
        `pair ${i} sum`,
      );
      assert.deepEqual(
        item.difference,
        vec((k) => i * 1000 + k - (3 * k - i)),
        `pair ${i}`,
      );
      assert.equal(item.cascade, "cheap");
    }
    assert.equal(result["calls"], 3);
    assert.equal(executions, 3);
    assert.equal(inferences, 20);
  });

  it("escalates pairs whose INT32 results wrap to the exact pass, in one more batch", async () => {
    const pairs = [
      [vec(() => INT32_MAX), vec((k) => k)],
      [vec((k) => -k), vec((k) => k * k)],
      [vec(() => INT32_MIN), vec(() => INT32_MAX)],
      [vec((k) => INT32_MIN + k), vec(() => -1)],
    ];
    const { items, result, executions, inferences, timings } = await run(pairs, true);
    assert.deepEqual(
      items.map((item) => item.cascade),
      ["expensive", "cheap", "expensive", "expensive"],
    );
    assert.deepEqual(
      items[0]!.sum,
      vec((k) => INT32_MAX + k),
    );
    assert.deepEqual(
      items[0]!.difference,
      vec((k) => INT32_MAX - k),
    );
    assert.deepEqual(
      items[1]!.sum,
      vec((k) => k * k - k),
    );
    assert.deepEqual(
      items[2]!.sum,
      vec(() => -1),
    );
    assert.deepEqual(
      items[2]!.difference,
      vec(() => INT32_MIN - INT32_MAX),
    );
    assert.deepEqual(
      items[3]!.sum,
      vec((k) => INT32_MIN + k - 1),
    );
    // 4 rows for the cheap pass, then 3 escalated pairs x 2 rows (6 <= 8) for the exact one.
    assert.equal(result["calls"], 2);
    assert.equal(executions, 2);
    assert.equal(inferences, 4 + 6);
    for (const stage of ["parse", "validate", "pairs", "pairs/exact/int32", "pairs/exact/halves"]) {
      assert.ok(timings?.[stage] !== undefined, `timing for ${stage}`);
    }
  });

  it("rejects bad input before any call reaches the server", async () => {
    await assert.rejects(run([[vec(() => 1), vec(() => 1).slice(1)]]), {
      code: Code.INVALID_ARGUMENT,
      message: "stage 'validate': pairs[0][1] must be an array of 16 integers, got 15 elements",
    });
    const { executions } = await run([]);
    assert.equal(executions, 0);
  });
});
