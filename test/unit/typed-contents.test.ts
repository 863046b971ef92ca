import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Code, InferError } from "../../gateway/src/errors.js";
import type { DataType } from "../../gateway/src/protocol/datatype.js";
import { makeTensor, type TensorSpec } from "../../gateway/src/protocol/tensor.js";
import {
  decodeTypedContents,
  encodeTypedContents,
  type InferTensorContents,
} from "../../gateway/src/protocol/typed-contents.js";
import { anyTensorArbitrary, assertSameTensor } from "../fixtures/tensor-arbitrary.js";

interface Case {
  name: string;
  input: { datatype: DataType; shape: number[]; contents: InferTensorContents | null };
  output?: unknown[];
  error?: RegExp;
}

const spec = (datatype: DataType, shape: number[]): TensorSpec => ({
  name: "INPUT0",
  datatype,
  shape,
});

/** What protobufjs produces with `defaults: true`: every repeated field present and empty. */
const EMPTY: Required<InferTensorContents> = {
  bool_contents: [],
  int_contents: [],
  int64_contents: [],
  uint_contents: [],
  uint64_contents: [],
  fp32_contents: [],
  fp64_contents: [],
  bytes_contents: [],
};

function assertInvalid(run: () => unknown, pattern: RegExp): void {
  assert.throws(run, (e: unknown) => {
    assert.ok(e instanceof InferError);
    assert.equal(e.code, Code.INVALID_ARGUMENT);
    assert.match(e.message, pattern);
    return true;
  });
}

describe("decodeTypedContents", () => {
  const cases: Case[] = [
    {
      name: "BOOL",
      input: { datatype: "BOOL", shape: [2], contents: { bool_contents: [true, false] } },
      output: [1, 0],
    },
    {
      name: "INT8 via int_contents",
      input: { datatype: "INT8", shape: [2], contents: { int_contents: [-128, 127] } },
      output: [-128, 127],
    },
    {
      name: "UINT32 via uint_contents",
      input: { datatype: "UINT32", shape: [1], contents: { uint_contents: [4294967295] } },
      output: [4294967295],
    },
    {
      name: "INT64 as number, string, bigint and Long",
      input: {
        datatype: "INT64",
        shape: [4],
        contents: {
          int64_contents: [-5, "-9223372036854775808", 2n ** 62n, { low: -1, high: -1 }],
        },
      },
      output: [-5n, -(2n ** 63n), 2n ** 62n, -1n],
    },
    {
      name: "UINT64 as unsigned Long and string",
      input: {
        datatype: "UINT64",
        shape: [2],
        contents: {
          uint64_contents: [{ low: -1, high: -1, unsigned: true }, "18446744073709551615"],
        },
      },
      output: [2n ** 64n - 1n, 2n ** 64n - 1n],
    },
    {
      name: "FP32 rounds to float32",
      input: { datatype: "FP32", shape: [2], contents: { fp32_contents: [0.1, Number.NaN] } },
      output: [Math.fround(0.1), Number.NaN],
    },
    {
      name: "FP64",
      input: { datatype: "FP64", shape: [1, 1], contents: { fp64_contents: [0.1] } },
      output: [0.1],
    },
    {
      name: "BYTES",
      input: {
        datatype: "BYTES",
        shape: [2],
        contents: { bytes_contents: [Buffer.from("a"), new Uint8Array([0xff])] },
      },
      output: [Buffer.from("a"), Buffer.from([0xff])],
    },
    {
      name: "protobufjs defaults: empty fields are not set",
      input: { datatype: "INT16", shape: [1], contents: { ...EMPTY, int_contents: [-3] } },
      output: [-3],
    },
    {
      name: "no contents for a zero-element tensor",
      input: { datatype: "FP32", shape: [0, 4], contents: null },
      output: [],
    },
    {
      name: "FP16 with no elements and no contents",
      input: { datatype: "FP16", shape: [0], contents: EMPTY },
      output: [],
    },
    {
      name: "wrong field for the datatype",
      input: { datatype: "INT32", shape: [1], contents: { fp32_contents: [1] } },
      error: /^input 'INPUT0': INT32 data belongs in int_contents, got fp32_contents$/,
    },
    {
      name: "uint field for a signed type",
      input: { datatype: "INT8", shape: [1], contents: { uint_contents: [1] } },
      error: /input 'INPUT0': INT8 data belongs in int_contents, got uint_contents/,
    },
    {
      name: "two fields set",
      input: { datatype: "INT32", shape: [1], contents: { int_contents: [1], fp32_contents: [1] } },
      error:
        /input 'INPUT0': contents sets int_contents and fp32_contents; only one field may be set/,
    },
    {
      name: "count mismatch",
      input: { datatype: "FP32", shape: [2, 2], contents: { fp32_contents: [1, 2, 3] } },
      error: /input 'INPUT0': expected 4 values in fp32_contents for shape \[2,2\] of FP32, got 3/,
    },
    {
      name: "no contents for a tensor with elements",
      input: { datatype: "FP32", shape: [2], contents: EMPTY },
      error: /input 'INPUT0': expected 2 values in fp32_contents for shape \[2\] of FP32, got 0/,
    },
    {
      name: "300 in an INT8",
      input: { datatype: "INT8", shape: [2], contents: { int_contents: [1, 300] } },
      error: /input 'INPUT0': int_contents\[1\] = 300 is out of range for INT8/,
    },
    {
      name: "-1 in a UINT16",
      input: { datatype: "UINT16", shape: [1], contents: { uint_contents: [-1] } },
      error: /input 'INPUT0': uint_contents\[0\] = -1 is out of range for UINT16/,
    },
    {
      name: "2^63 in an INT64",
      input: {
        datatype: "INT64",
        shape: [1],
        contents: { int64_contents: ["9223372036854775808"] },
      },
      error:
        /input 'INPUT0': int64_contents\[0\] = "9223372036854775808" is out of range for INT64/,
    },
    {
      name: "negative Long in a UINT64",
      input: {
        datatype: "UINT64",
        shape: [1],
        contents: { uint64_contents: [{ low: -1, high: -1 }] },
      },
      error: /input 'INPUT0': uint64_contents\[0\] = -1 is out of range for UINT64/,
    },
    {
      name: "fraction in an INT32",
      input: { datatype: "INT32", shape: [1], contents: { int_contents: [1.5] } },
      error: /input 'INPUT0': int_contents\[0\] is 1.5, expected an integer/,
    },
    {
      name: "non-decimal INT64 string",
      input: { datatype: "INT64", shape: [1], contents: { int64_contents: ["0x10"] } },
      error: /input 'INPUT0': int64_contents\[0\] is "0x10", expected an integer/,
    },
    {
      name: "number in bool_contents",
      input: {
        datatype: "BOOL",
        shape: [1],
        contents: { bool_contents: [1 as unknown as boolean] },
      },
      error: /input 'INPUT0': bool_contents\[0\] is 1, expected a boolean/,
    },
    {
      name: "string in bytes_contents",
      input: {
        datatype: "BYTES",
        shape: [1],
        contents: { bytes_contents: ["a" as unknown as Uint8Array] },
      },
      error: /input 'INPUT0': bytes_contents\[0\] is "a", expected bytes/,
    },
    {
      name: "FP16 via typed contents",
      input: { datatype: "FP16", shape: [1], contents: { fp32_contents: [1] } },
      error:
        /input 'INPUT0': FP16 travels only in raw contents, never in typed contents \(got fp32_contents\)/,
    },
    {
      name: "BF16 with elements but no raw contents",
      input: { datatype: "BF16", shape: [2], contents: null },
      error: /input 'INPUT0': BF16 travels only in raw contents/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const run = () =>
        decodeTypedContents(spec(c.input.datatype, c.input.shape), c.input.contents);
      if (c.error) return assertInvalid(run, c.error);
      const tensor = run();
      const values = Array.from(tensor.data as ArrayLike<unknown>, (value) =>
        value instanceof Uint8Array ? Buffer.from(value) : value,
      );
      assert.deepEqual(values, c.output);
    });
  }
});

describe("encodeTypedContents", () => {
  it("sets only the datatype's field; 64-bit values become exact decimal strings", () => {
    const data = new BigUint64Array([2n ** 64n - 1n]);
    const contents = encodeTypedContents(
      makeTensor({ name: "y", datatype: "UINT64", shape: [1] }, data),
    );
    assert.deepEqual(contents, { uint64_contents: ["18446744073709551615"] });
  });

  it("BOOL becomes booleans", () => {
    const data = new Uint8Array([1, 0]);
    const contents = encodeTypedContents(
      makeTensor({ name: "y", datatype: "BOOL", shape: [2] }, data),
    );
    assert.deepEqual(contents, { bool_contents: [true, false] });
  });

  for (const datatype of ["FP16", "BF16"] as const) {
    it(`refuses ${datatype}`, () =>
      assertInvalid(
        () =>
          encodeTypedContents(makeTensor({ name: "y", datatype, shape: [1] }, new Uint16Array(1))),
        new RegExp(`output 'y': ${datatype} travels only in raw contents`),
      ));
  }
});

describe("typed contents round trip (property)", () => {
  it("encode then decode gives the same tensor for every typed datatype", () => {
    fc.assert(
      fc.property(anyTensorArbitrary({ exclude: ["FP16", "BF16"] }), (tensor) => {
        const decoded = decodeTypedContents(tensor, encodeTypedContents(tensor));
        assertSameTensor(decoded, tensor, "bits");
      }),
      { numRuns: 1000 },
    );
  });
});
