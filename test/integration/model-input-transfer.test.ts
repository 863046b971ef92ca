/**
 * Input buffers and the model instances' threads: a request that gives its inputs up
 * (`inputsTransferable`, as the gRPC service does) has them moved to the instance without a copy
 * (the caller's buffer is detached afterwards); any other request keeps its buffers (they are
 * copied), and both get the same answer.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { InferRequest } from "../../gateway/src/models/infer-request.js";
import { makeTensor } from "../../gateway/src/protocol/tensor.js";
import { SIMPLE_ROW_ELEMENTS } from "../../gateway/src/repository/simple-model.js";
import {
  makeTempRepository,
  startTestModelServer,
  type TempRepository,
  type TestModelServer,
} from "./helpers/model-server.js";

/** A `simple` request whose inputs own their buffers (as a decoded, copied wire tensor does). */
function simpleRequest(transferable: boolean): { request: InferRequest; buffers: ArrayBuffer[] } {
  const tensor = (name: string, value: number) =>
    makeTensor(
      { name, datatype: "INT32", shape: [1, SIMPLE_ROW_ELEMENTS] },
      new Int32Array(SIMPLE_ROW_ELEMENTS).fill(value),
    );
  const inputs = [tensor("INPUT0", 5), tensor("INPUT1", 2)];
  return {
    request: {
      modelName: "simple",
      modelVersion: "",
      id: "",
      inputs,
      outputs: [],
      inputsTransferable: transferable,
    },
    buffers: inputs.map((t) => (t.data as Int32Array).buffer as ArrayBuffer),
  };
}

describe("model inputs and instance threads", () => {
  let repo: TempRepository;
  let server: TestModelServer;
  before(async () => {
    repo = await makeTempRepository(["simple"]);
    server = await startTestModelServer(repo.path, { controlMode: "none" });
  });
  after(async () => {
    await server?.close();
    await repo?.remove();
  });

  for (const transferable of [true, false]) {
    it(`inputsTransferable ${transferable}: ${transferable ? "moved, not copied" : "copied, kept"}`, async () => {
      const { request, buffers } = simpleRequest(transferable);
      const result = await server.server.manager.get("simple").infer(request);
      const sum = result.outputs.find((t) => t.name === "OUTPUT0")!;
      const difference = result.outputs.find((t) => t.name === "OUTPUT1")!;
      assert.deepEqual([...(sum.data as Int32Array)], new Array(SIMPLE_ROW_ELEMENTS).fill(7));
      assert.deepEqual(
        [...(difference.data as Int32Array)],
        new Array(SIMPLE_ROW_ELEMENTS).fill(3),
      );
      for (const buffer of buffers) {
        assert.equal(buffer.byteLength, transferable ? 0 : SIMPLE_ROW_ELEMENTS * 4);
      }
    });
  }
});
