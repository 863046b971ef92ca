/**
 * Triton's classic `simple` model, built in code: two INT32 inputs of 16 elements (plus the batch
 * dimension) and their element-wise sum and difference as outputs. Protocol tests and the
 * dynamic-batching benchmark use it because its answer is known without running it.
 */
import { encodeOnnxGraph } from "./onnx-model.js";

/** Elements per row of each `simple` tensor. */
export const SIMPLE_ROW_ELEMENTS = 16;

/** ONNX bytes of `simple`: OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1, batch dim first. */
export function buildSimpleModel(): Uint8Array {
  const tensor = (name: string) => ({
    name,
    datatype: "INT32",
    dims: [-1, SIMPLE_ROW_ELEMENTS],
  });
  return encodeOnnxGraph({
    name: "simple",
    docString: "Triton's simple example: sum and difference of two INT32[16] inputs",
    inputs: [tensor("INPUT0"), tensor("INPUT1")],
    outputs: [tensor("OUTPUT0"), tensor("OUTPUT1")],
    nodes: [
      { opType: "Add", inputs: ["INPUT0", "INPUT1"], outputs: ["OUTPUT0"] },
      { opType: "Sub", inputs: ["INPUT0", "INPUT1"], outputs: ["OUTPUT1"] },
    ],
  });
}
