/**
 * Cache values: every datatype round-trips bit-exactly through the compact binary form, which
 * is raw tensor bytes plus a small header (not JSON numbers); malformed values are DATA_LOSS.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  decodeInferValue,
  decodePipelineValue,
  encodeInferValue,
  encodePipelineValue,
  inferValueBytes,
} from "../../gateway/src/cache/value-codec.js";
import { Code, InferError } from "../../gateway/src/errors.js";
import { DATA_TYPES } from "../../gateway/src/protocol/datatype.js";
import { makeTensor } from "../../gateway/src/protocol/tensor.js";
import { assertSameTensor, tensorArbitrary } from "../fixtures/tensor-arbitrary.js";

describe("cache value codec", () => {
  for (const datatype of DATA_TYPES) {
    it(`round-trips ${datatype} outputs bit-exactly`, () => {
      fc.assert(
        fc.property(
          fc.array(tensorArbitrary(datatype), { maxLength: 3 }),
          fc.constantFrom("1", "12", ""),
          (outputs, modelVersion) => {
            const encoded = encodeInferValue({ modelVersion, outputs });
            assert.equal(encoded.byteLength, inferValueBytes({ modelVersion, outputs }));
            const decoded = decodeInferValue(encoded);
            assert.equal(decoded.modelVersion, modelVersion);
            assert.equal(decoded.outputs.length, outputs.length);
            for (const [i, t] of decoded.outputs.entries())
              assertSameTensor(t, outputs[i]!, "bits");
          },
        ),
        { numRuns: 50 },
      );
    });
  }

  it("is compact: raw bytes plus a small header", () => {
    const tensor = (name: string) =>
      makeTensor({ name, datatype: "INT32", shape: [1, 16] }, new Int32Array(16).fill(-123456));
    const value = { modelVersion: "1", outputs: [tensor("OUTPUT0"), tensor("OUTPUT1")] };
    const encoded = encodeInferValue(value);
    const dataBytes = 2 * 16 * 4;
    assert.ok(encoded.byteLength <= dataBytes + 100, `${encoded.byteLength} bytes`);
    // The same outputs as JSON numbers take more.
    const json = JSON.stringify(value.outputs.map((t) => [...(t.data as Int32Array)]));
    assert.ok(json.length > encoded.byteLength, `${json.length} vs ${encoded.byteLength}`);
  });

  it("decodes numeric outputs as views of the value, not copies", () => {
    const t = makeTensor(
      { name: "o", datatype: "FP32", shape: [4] },
      Float32Array.from([1, 2, 3, 4]),
    );
    const encoded = encodeInferValue({ modelVersion: "1", outputs: [t] });
    const out = decodeInferValue(encoded).outputs[0]!;
    assert.equal((out.data as Float32Array).buffer, encoded.buffer);
  });

  it("round-trips pipeline results (JSON)", () => {
    const value = { pipeline: "ocr", result: { lines: [{ text: "héllo", box: [1, 2] }] } };
    assert.deepEqual(decodePipelineValue(encodePipelineValue(value)), value);
  });

  const malformed: Array<{ name: string; input: Buffer }> = [
    { name: "empty", input: Buffer.alloc(0) },
    { name: "wrong magic", input: Buffer.from("XXXX\u0001") },
    {
      name: "a pipeline value read as a model value",
      input: encodePipelineValue({ pipeline: "p", result: {} }),
    },
    {
      name: "truncated data",
      input: encodeInferValue({
        modelVersion: "1",
        outputs: [makeTensor({ name: "o", datatype: "INT32", shape: [8] }, new Int32Array(8))],
      }).subarray(0, 40),
    },
  ];
  for (const row of malformed) {
    it(`refuses ${row.name}`, () => {
      assert.throws(
        () => decodeInferValue(row.input),
        (e: unknown) =>
          e instanceof Error && (!(e instanceof InferError) || e.code === Code.DATA_LOSS),
      );
    });
  }
});
