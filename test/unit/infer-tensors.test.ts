import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Code, InferError } from "../../gateway/src/errors.js";
import {
  decodeInferInputs,
  decodeInferOutputs,
  encodeInferInputs,
  encodeInferOutputs,
  type InferWireTensor,
} from "../../gateway/src/protocol/infer-tensors.js";
import { anyTensorArbitrary, assertSameTensor } from "../fixtures/tensor-arbitrary.js";

interface Case {
  name: string;
  input: { inputs: InferWireTensor[]; raw: Uint8Array[] };
  output?: Array<{ name: string; datatype: string; shape: number[]; values: unknown[] }>;
  error?: RegExp;
}

const int32 = (...values: number[]) => Buffer.from(new Int32Array(values).buffer);

describe("decodeInferInputs", () => {
  const cases: Case[] = [
    {
      name: "raw contents, one entry per input, Long and string shapes",
      input: {
        inputs: [
          { name: "A", datatype: "INT32", shape: [{ low: 2, high: 0 }] },
          { name: "B", datatype: "INT32", shape: ["1"] },
        ],
        raw: [int32(1, 2), int32(3)],
      },
      output: [
        { name: "A", datatype: "INT32", shape: [2], values: [1, 2] },
        { name: "B", datatype: "INT32", shape: [1], values: [3] },
      ],
    },
    {
      name: "typed contents when there are no raw contents",
      input: {
        inputs: [{ name: "A", datatype: "FP64", shape: [1], contents: { fp64_contents: [0.5] } }],
        raw: [],
      },
      output: [{ name: "A", datatype: "FP64", shape: [1], values: [0.5] }],
    },
    {
      name: "raw with protobufjs-default empty contents",
      input: {
        inputs: [{ name: "A", datatype: "INT32", shape: [1], contents: { int_contents: [] } }],
        raw: [int32(9)],
      },
      output: [{ name: "A", datatype: "INT32", shape: [1], values: [9] }],
    },
    {
      name: "raw and typed contents mixed",
      input: {
        inputs: [
          { name: "A", datatype: "INT32", shape: [1] },
          { name: "B", datatype: "INT32", shape: [1], contents: { int_contents: [1] } },
        ],
        raw: [int32(1), int32(2)],
      },
      error:
        /^input 'B': sets contents while the message uses raw_input_contents; a message may use only one of them$/,
    },
    {
      name: "fewer raw entries than inputs",
      input: {
        inputs: [
          { name: "A", datatype: "INT32", shape: [1] },
          { name: "B", datatype: "INT32", shape: [1] },
        ],
        raw: [int32(1)],
      },
      error: /input 'B': has no raw_input_contents entry \(1 entries for 2 inputs\)/,
    },
    {
      name: "more raw entries than inputs",
      input: { inputs: [{ name: "A", datatype: "INT32", shape: [1] }], raw: [int32(1), int32(2)] },
      error: /raw_input_contents has 2 entries for 1 inputs/,
    },
    {
      name: "unknown datatype",
      input: { inputs: [{ name: "A", datatype: "FP8", shape: [1] }], raw: [Buffer.alloc(1)] },
      error: /input 'A': unknown datatype "FP8"/,
    },
    {
      name: "lower-case datatype is unknown",
      input: { inputs: [{ name: "A", datatype: "fp32", shape: [1] }], raw: [Buffer.alloc(4)] },
      error: /input 'A': unknown datatype "fp32"/,
    },
    {
      name: "duplicate input names",
      input: {
        inputs: [
          { name: "A", datatype: "INT32", shape: [1] },
          { name: "A", datatype: "INT32", shape: [1] },
        ],
        raw: [int32(1), int32(2)],
      },
      error: /input 'A': appears more than once/,
    },
    {
      name: "raw byte length mismatch names the input",
      input: {
        inputs: [{ name: "A", datatype: "INT32", shape: [1, 16] }],
        raw: [Buffer.alloc(60)],
      },
      error: /input 'A': expected 64 bytes for shape \[1,16\] of INT32, got 60/,
    },
    {
      name: "negative dim",
      input: { inputs: [{ name: "A", datatype: "INT32", shape: [-1] }], raw: [Buffer.alloc(4)] },
      error: /input 'A': shape \[-1\] has a negative dimension -1/,
    },
    {
      name: "FP16 via typed contents",
      input: {
        inputs: [{ name: "H", datatype: "FP16", shape: [1], contents: { fp32_contents: [1] } }],
        raw: [],
      },
      error: /input 'H': FP16 travels only in raw contents/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const run = () => decodeInferInputs(c.input.inputs, c.input.raw);
      if (c.error) {
        assert.throws(run, (e: unknown) => {
          assert.ok(e instanceof InferError);
          assert.equal(e.code, Code.INVALID_ARGUMENT);
          assert.match(e.message, c.error!);
          return true;
        });
        return;
      }
      const tensors = run().map(({ name, datatype, shape, data }) => ({
        name,
        datatype,
        shape,
        values: Array.from(data as ArrayLike<unknown>),
      }));
      assert.deepEqual(tensors, c.output);
    });
  }

  it("names outputs when decoding a response", () => {
    assert.throws(
      () => decodeInferOutputs([{ name: "Y", datatype: "INT32", shape: [2] }], [int32(1)]),
      /output 'Y': expected 8 bytes/,
    );
  });
});

describe("infer tensors round trip (property)", () => {
  const tensors = fc
    .array(anyTensorArbitrary(), { maxLength: 4 })
    .map((list) => list.map((tensor, i) => ({ ...tensor, name: `t${i}` }) as typeof tensor));

  it("request inputs: encode then decode gives the same tensors", () => {
    fc.assert(
      fc.property(tensors, (list) => {
        const { inputs, raw_input_contents } = encodeInferInputs(list);
        const decoded = decodeInferInputs(inputs, raw_input_contents);
        decoded.forEach((tensor, i) => {
          assertSameTensor(tensor, list[i]!, "bits");
        });
      }),
      { numRuns: 300 },
    );
  });

  it("response outputs: encode then decode gives the same tensors", () => {
    fc.assert(
      fc.property(tensors, (list) => {
        const { outputs, raw_output_contents } = encodeInferOutputs(list);
        const decoded = decodeInferOutputs(outputs, raw_output_contents);
        assert.equal(decoded.length, list.length);
        decoded.forEach((tensor, i) => {
          assertSameTensor(tensor, list[i]!, "bits");
        });
      }),
      { numRuns: 300 },
    );
  });
});
