import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Code, InferError } from "../../gateway/src/errors.js";
import type { DataType } from "../../gateway/src/protocol/datatype.js";
import { decodeRawTensor, encodeRawTensor } from "../../gateway/src/protocol/raw-codec.js";
import { makeTensor, type TensorSpec } from "../../gateway/src/protocol/tensor.js";
import { anyTensorArbitrary, assertSameTensor } from "../fixtures/tensor-arbitrary.js";

interface Case {
  name: string;
  input: { datatype: DataType; shape: unknown[]; bytes: Buffer };
  output?: unknown[];
  error?: RegExp;
}

const spec = (datatype: DataType, shape: unknown[], name = "INPUT0") =>
  ({ name, datatype, shape }) as TensorSpec;

/** Length-prefixed BYTES elements. */
function bytesElements(...elements: string[]): Buffer {
  return Buffer.concat(
    elements.flatMap((text) => {
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32LE(Buffer.byteLength(text));
      return [prefix, Buffer.from(text)];
    }),
  );
}

/** Copies `bytes` to an odd offset inside a larger buffer, as pooled gRPC slices arrive. */
function unaligned(bytes: Uint8Array): Buffer {
  const pool = Buffer.alloc(bytes.length + 3);
  pool.set(bytes, 1);
  return pool.subarray(1, 1 + bytes.length);
}

describe("decodeRawTensor", () => {
  const cases: Case[] = [
    {
      name: "INT32 little-endian",
      input: { datatype: "INT32", shape: [2], bytes: Buffer.from("01000000ffffffff", "hex") },
      output: [1, -1],
    },
    {
      name: "UINT16",
      input: { datatype: "UINT16", shape: [1, 2], bytes: Buffer.from("0100ffff", "hex") },
      output: [1, 65535],
    },
    {
      name: "INT64 keeps full precision",
      input: { datatype: "INT64", shape: [1], bytes: Buffer.from("ffffffffffffff7f", "hex") },
      output: [2n ** 63n - 1n],
    },
    {
      name: "UINT64",
      input: { datatype: "UINT64", shape: [1], bytes: Buffer.from("ffffffffffffffff", "hex") },
      output: [2n ** 64n - 1n],
    },
    {
      name: "FP32",
      input: { datatype: "FP32", shape: [2], bytes: Buffer.from("0000803f000000c0", "hex") },
      output: [1, -2],
    },
    {
      name: "FP16 keeps raw bits",
      input: { datatype: "FP16", shape: [2], bytes: Buffer.from("003c007e", "hex") },
      output: [0x3c00, 0x7e00],
    },
    {
      name: "BF16 keeps raw bits",
      input: { datatype: "BF16", shape: [1], bytes: Buffer.from("803f", "hex") },
      output: [0x3f80],
    },
    {
      name: "BOOL",
      input: { datatype: "BOOL", shape: [3], bytes: Buffer.from([1, 0, 1]) },
      output: [1, 0, 1],
    },
    {
      name: "scalar shape []",
      input: { datatype: "INT8", shape: [], bytes: Buffer.from([0xff]) },
      output: [-1],
    },
    {
      name: "zero-element tensor",
      input: { datatype: "FP64", shape: [2, 0], bytes: Buffer.alloc(0) },
      output: [],
    },
    {
      name: "shape dims as strings, bigints and Longs (protobufjs int64)",
      input: {
        datatype: "UINT8",
        shape: ["1", 2n, { low: 1, high: 0 }],
        bytes: Buffer.from([7, 8]),
      },
      output: [7, 8],
    },
    {
      name: "BYTES elements",
      input: { datatype: "BYTES", shape: [3], bytes: bytesElements("ab", "", "ñ") },
      output: ["ab", "", "ñ"],
    },
    {
      name: "element count vs byte length",
      input: { datatype: "INT32", shape: [1, 16], bytes: Buffer.alloc(60) },
      error: /^input 'INPUT0': expected 64 bytes for shape \[1,16\] of INT32, got 60$/,
    },
    {
      name: "too many bytes",
      input: { datatype: "FP16", shape: [2], bytes: Buffer.alloc(6) },
      error: /input 'INPUT0': expected 4 bytes for shape \[2\] of FP16, got 6/,
    },
    {
      name: "negative dimension",
      input: { datatype: "FP32", shape: [1, -3], bytes: Buffer.alloc(0) },
      error: /input 'INPUT0': shape \[1,-3\] has a negative dimension -3 at index 1/,
    },
    {
      name: "non-integer dimension",
      input: { datatype: "FP32", shape: [2.5], bytes: Buffer.alloc(0) },
      error: /input 'INPUT0': shape \[2.5\] has a non-integer dimension at index 0/,
    },
    {
      name: "non-numeric dimension",
      input: { datatype: "FP32", shape: ["two"], bytes: Buffer.alloc(0) },
      error: /input 'INPUT0': shape \["two"\] has a non-integer dimension at index 0/,
    },
    {
      name: "absurd dimensions",
      input: { datatype: "FP32", shape: [1e6, 1e6, 1e6], bytes: Buffer.alloc(0) },
      error:
        /input 'INPUT0': shape \[1000000,1000000,1000000\] has 1000000000000000000 elements, more than the limit of 2147483648/,
    },
    {
      name: "one absurd dimension beside a zero",
      input: { datatype: "FP32", shape: [0, 2 ** 40], bytes: Buffer.alloc(0) },
      error: /input 'INPUT0': shape \[0,1099511627776\] has an absurd dimension/,
    },
    {
      name: "BYTES length prefix running past the buffer",
      input: { datatype: "BYTES", shape: [2], bytes: Buffer.from("0100000061ff000000", "hex") },
      error:
        /input 'INPUT0': BYTES element 1 length prefix 255 at byte 5 runs past the end of the 9 bytes/,
    },
    {
      name: "BYTES truncated length prefix",
      input: { datatype: "BYTES", shape: [2], bytes: Buffer.from("010000006101", "hex") },
      error: /input 'INPUT0': BYTES data ends after 1 of the 2 elements of shape \[2\]/,
    },
    {
      name: "BYTES with fewer elements than the shape",
      input: { datatype: "BYTES", shape: [3], bytes: bytesElements("a", "b") },
      error: /input 'INPUT0': BYTES data ends after 2 of the 3 elements/,
    },
    {
      name: "BYTES trailing bytes",
      input: {
        datatype: "BYTES",
        shape: [1],
        bytes: Buffer.concat([bytesElements("a"), Buffer.from([0, 0])]),
      },
      error: /input 'INPUT0': 2 trailing bytes after the 1 BYTES elements of shape \[1\]/,
    },
    {
      name: "BOOL byte other than 0 or 1",
      input: { datatype: "BOOL", shape: [2], bytes: Buffer.from([1, 2]) },
      error: /input 'INPUT0': BOOL element 1 is byte 2, expected 0 or 1/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const run = () => decodeRawTensor(spec(c.input.datatype, c.input.shape), c.input.bytes);
      if (c.error) {
        assert.throws(run, (e: unknown) => {
          assert.ok(e instanceof InferError);
          assert.equal(e.code, Code.INVALID_ARGUMENT);
          assert.match(e.message, c.error!);
          return true;
        });
        return;
      }
      const tensor = run();
      const values =
        tensor.datatype === "BYTES"
          ? tensor.data.map((element) => Buffer.from(element).toString())
          : Array.from(tensor.data as ArrayLike<unknown>);
      assert.deepEqual(values, c.output);
    });
  }

  it("names an output tensor when decoding a response", () => {
    assert.throws(
      () => decodeRawTensor(spec("INT8", [2], "OUT"), Buffer.alloc(1), "output"),
      /output 'OUT': expected 2 bytes for shape \[2\] of INT8, got 1/,
    );
  });

  it("honours a smaller element limit", () => {
    assert.throws(
      () =>
        decodeRawTensor(spec("INT8", [10, 10]), Buffer.alloc(100), "input", { maxElements: 64 }),
      /input 'INPUT0': shape \[10,10\] has 100 elements, more than the limit of 64/,
    );
  });
});

describe("raw views, not copies", () => {
  it("an aligned decode views the Buffer's memory", () => {
    const arena = Buffer.alloc(64);
    const bytes = arena.subarray(8, 8 + 16);
    bytes.writeFloatLE(1.5, 0);
    const tensor = decodeRawTensor(spec("FP32", [4]), bytes);
    assert.equal((tensor.data as Float32Array).buffer, arena.buffer);
    assert.equal((tensor.data as Float32Array).byteOffset, bytes.byteOffset);
    bytes.writeFloatLE(2.5, 4);
    assert.deepEqual(Array.from(tensor.data as Float32Array), [1.5, 2.5, 0, 0]);
  });

  it("an unaligned slice (as pooled gRPC buffers arrive) is copied and decodes correctly", () => {
    const bytes = unaligned(Buffer.from("0100000002000000", "hex"));
    assert.notEqual(bytes.byteOffset % 4, 0);
    const tensor = decodeRawTensor(spec("INT32", [2]), bytes);
    assert.deepEqual(Array.from(tensor.data as Int32Array), [1, 2]);
    assert.notEqual((tensor.data as Int32Array).buffer, bytes.buffer);
  });

  it("an unaligned 64-bit slice decodes correctly", () => {
    const bytes = unaligned(Buffer.from("feffffffffffffff", "hex"));
    const tensor = decodeRawTensor(spec("INT64", [1]), bytes);
    assert.deepEqual(Array.from(tensor.data as BigInt64Array), [-2n]);
  });

  it("BYTES elements view the Buffer", () => {
    const bytes = bytesElements("hello", "world");
    const tensor = decodeRawTensor(spec("BYTES", [2]), bytes);
    assert.equal(tensor.datatype, "BYTES");
    for (const element of tensor.data as Uint8Array[]) assert.equal(element.buffer, bytes.buffer);
  });

  it("encoding a typed array returns a Buffer over the same memory", () => {
    const data = new Float64Array([1, 2, 3]);
    const encoded = encodeRawTensor(makeTensor({ name: "y", datatype: "FP64", shape: [3] }, data));
    assert.equal(encoded.buffer, data.buffer);
    assert.equal(encoded.length, 24);
    assert.equal(encoded.readDoubleLE(16), 3);
  });

  it("encoding data that does not fit its shape is INTERNAL", () => {
    const tensor = makeTensor({ name: "y", datatype: "FP32", shape: [4] }, new Float32Array(3));
    assert.throws(
      () => encodeRawTensor(tensor),
      (e: unknown) =>
        e instanceof InferError &&
        e.code === Code.INTERNAL &&
        /output 'y': data holds 3 elements, shape \[4\] needs 4/.test(e.message),
    );
  });
});

describe("raw round trip (property)", () => {
  it("encode then decode gives the same bits for every datatype and shape", () => {
    fc.assert(
      fc.property(anyTensorArbitrary(), (tensor) => {
        const bytes = encodeRawTensor(tensor);
        assertSameTensor(decodeRawTensor(tensor, bytes), tensor, "bits");
      }),
      { numRuns: 1000 },
    );
  });

  it("decoding from an unaligned copy gives the same bits", () => {
    fc.assert(
      fc.property(anyTensorArbitrary(), (tensor) => {
        const bytes = unaligned(encodeRawTensor(tensor));
        assertSameTensor(decodeRawTensor(tensor, bytes), tensor, "bits");
      }),
      { numRuns: 500 },
    );
  });
});
