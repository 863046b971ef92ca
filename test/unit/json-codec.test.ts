import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Code, InferError } from "../../gateway/src/errors.js";
import { decodeJsonTensor, encodeJsonTensor } from "../../gateway/src/protocol/json-codec.js";
import type { BytesEncoding } from "../../gateway/src/protocol/json-values.js";
import { makeTensor, type Tensor } from "../../gateway/src/protocol/tensor.js";
import { anyTensorArbitrary, assertSameTensor } from "../fixtures/tensor-arbitrary.js";

interface Case {
  name: string;
  input: unknown;
  bytesEncoding?: BytesEncoding;
  output?: unknown[];
  error?: RegExp;
}

/** Nests flat row-major values as `shape` (rank 0 and 1 stay flat). */
function nest(values: readonly unknown[], shape: readonly number[]): unknown[] {
  if (shape.length <= 1) return [...values];
  const [first, ...rest] = shape as [number, ...number[]];
  const size = rest.reduce((product, dim) => product * dim, 1);
  return Array.from({ length: first }, (_, i) =>
    nest(values.slice(i * size, (i + 1) * size), rest),
  );
}

const tensor = (datatype: string, shape: unknown, data: unknown) => ({
  name: "INPUT0",
  datatype,
  shape,
  data,
});

function valuesOf(decoded: Tensor): unknown[] {
  if (decoded.datatype === "BYTES") return decoded.data.map((b) => Buffer.from(b).toString("hex"));
  return Array.from(decoded.data as ArrayLike<unknown>);
}

describe("decodeJsonTensor", () => {
  const cases: Case[] = [
    { name: "flat FP32", input: tensor("FP32", [2, 2], [1, 2, 3, 4]), output: [1, 2, 3, 4] },
    {
      name: "nested FP32",
      input: tensor(
        "FP32",
        [2, 2],
        [
          [1, 2],
          [3, 4],
        ],
      ),
      output: [1, 2, 3, 4],
    },
    { name: "nested rank 3", input: tensor("INT8", [1, 2, 1], [[[5], [6]]]), output: [5, 6] },
    { name: "nested with a zero dim", input: tensor("INT8", [2, 0], [[], []]), output: [] },
    { name: "flat with a zero dim", input: tensor("INT8", [2, 0], []), output: [] },
    { name: "scalar", input: tensor("UINT8", [], [255]), output: [255] },
    { name: "BOOL", input: tensor("BOOL", [2], [true, false]), output: [1, 0] },
    {
      name: "INT64 as safe numbers and decimal strings",
      input: tensor("INT64", [3], [-5, "-9223372036854775808", "9223372036854775807"]),
      output: [-5n, -(2n ** 63n), 2n ** 63n - 1n],
    },
    {
      name: "UINT64 as a decimal string",
      input: tensor("UINT64", [1], ["18446744073709551615"]),
      output: [2n ** 64n - 1n],
    },
    {
      name: "NaN and infinities as strings, null as NaN",
      input: tensor("FP64", [5], ["NaN", "Infinity", "-Infinity", "-inf", null]),
      output: [
        Number.NaN,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        Number.NaN,
      ],
    },
    {
      name: "FP16 from numbers, rounded to nearest even",
      input: tensor("FP16", [4], [1, 65504, 1e6, "NaN"]),
      output: [0x3c00, 0x7bff, 0x7c00, 0x7e00],
    },
    {
      name: "BF16 from numbers",
      input: tensor("BF16", [2], [1, Math.PI]),
      output: [0x3f80, 0x4049],
    },
    {
      name: "BYTES as UTF-8 strings",
      input: tensor("BYTES", [2], ["hé", ""]),
      output: ["68c3a9", ""],
    },
    {
      name: "BYTES as base64 when the client says so",
      input: tensor("BYTES", [2], ["/wA=", "aGk="]),
      bytesEncoding: "base64",
      output: ["ff00", "6869"],
    },
    {
      name: "nesting that does not match the shape",
      input: tensor(
        "FP32",
        [2, 3],
        [
          [1, 2, 3],
          [4, 5],
        ],
      ),
      error:
        /^input 'INPUT0': data\[1\] must be an array of 3 to match shape \[2,3\], got 2 entries$/,
    },
    {
      name: "too few rows",
      input: tensor("FP32", [3, 1], [[1], [2]]),
      error: /input 'INPUT0': data must be an array of 3 to match shape \[3,1\], got 2 entries/,
    },
    {
      name: "partially flattened nesting",
      input: tensor(
        "FP32",
        [2, 2, 2],
        [
          [1, 2, 3, 4],
          [5, 6, 7, 8],
        ],
      ),
      error:
        /input 'INPUT0': data\[0\] must be an array of 2 to match shape \[2,2,2\], got 4 entries/,
    },
    {
      name: "scalar where a row belongs",
      input: tensor("FP32", [2, 2], [[1, 2], 3]),
      error: /input 'INPUT0': data\[1\] must be an array of 2 to match shape \[2,2\], got a scalar/,
    },
    {
      name: "nested deeper than the shape",
      input: tensor("FP32", [1, 2], [[1, [2]]]),
      error: /input 'INPUT0': data\[0\]\[1\] nests deeper than shape \[1,2\]/,
    },
    {
      name: "flat count mismatch",
      input: tensor("INT32", [2, 3], [1, 2, 3, 4, 5]),
      error: /input 'INPUT0': data has 5 values, shape \[2,3\] needs 6/,
    },
    {
      name: "array inside rank-1 data",
      input: tensor("INT32", [1], [[1]]),
      error: /input 'INPUT0': data element 0 is \[1\], expected an integer/,
    },
    {
      name: "data not an array",
      input: tensor("INT32", [1], 7),
      error: /input 'INPUT0': data must be an array/,
    },
    {
      name: "out of range INT8",
      input: tensor("INT8", [2], [1, 300]),
      error: /input 'INPUT0': data element 1 = 300 is out of range for INT8/,
    },
    {
      name: "negative UINT64 string",
      input: tensor("UINT64", [1], ["-1"]),
      error: /input 'INPUT0': data element 0 = "-1" is out of range for UINT64/,
    },
    {
      name: "INT64 number past 2^53",
      input: tensor("INT64", [1], [2 ** 60]),
      error:
        /input 'INPUT0': data element 0 is 1152921504606847000, past 2\^53 where JSON numbers lose precision; send it as a decimal string/,
    },
    {
      name: "INT64 fraction",
      input: tensor("INT64", [1], [1.5]),
      error: /input 'INPUT0': data element 0 is 1.5, expected an integer or decimal string/,
    },
    {
      name: "BOOL as a number",
      input: tensor("BOOL", [1], [1]),
      error: /input 'INPUT0': data element 0 is 1, expected true or false/,
    },
    {
      name: "FP32 as an arbitrary string",
      input: tensor("FP32", [1], ["1.5"]),
      error: /input 'INPUT0': data element 0 is "1.5", expected a number, "NaN" or "Infinity"/,
    },
    {
      name: "invalid base64",
      input: tensor("BYTES", [1], ["not base64!"]),
      bytesEncoding: "base64",
      error: /input 'INPUT0': data element 0 is "not base64!", expected a base64 string/,
    },
    {
      name: "BYTES element not a string",
      input: tensor("BYTES", [1], [5]),
      error: /input 'INPUT0': data element 0 is 5, expected a string/,
    },
    {
      name: "unknown datatype",
      input: tensor("STRING", [1], ["a"]),
      error: /input 'INPUT0': unknown datatype "STRING"/,
    },
    {
      name: "negative dims",
      input: tensor("FP32", [-1, 2], []),
      error: /input 'INPUT0': shape \[-1,2\] has a negative dimension -1 at index 0/,
    },
    {
      name: "non-integer dims",
      input: tensor("FP32", [1.5], []),
      error: /input 'INPUT0': shape \[1.5\] has a non-integer dimension at index 0/,
    },
    {
      name: "absurd dims",
      input: tensor("FP32", [1e6, 1e6, 1e6], []),
      error: /input 'INPUT0': shape \[1000000,1000000,1000000\] has 1000000000000000000 elements/,
    },
    {
      name: "missing name",
      input: { datatype: "FP32", shape: [1], data: [1] },
      error: /input tensor without a string 'name'/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const run = () => decodeJsonTensor(c.input, { bytesEncoding: c.bytesEncoding ?? "utf8" });
      if (c.error) {
        assert.throws(run, (e: unknown) => {
          assert.ok(e instanceof InferError);
          assert.equal(e.code, Code.INVALID_ARGUMENT);
          assert.match(e.message, c.error!);
          return true;
        });
        return;
      }
      assert.deepEqual(valuesOf(run()), c.output);
    });
  }
});

describe("encodeJsonTensor", () => {
  it("writes NaN and infinities as strings and flat data", () => {
    const data = new Float32Array([
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      1.5,
    ]);
    const json = encodeJsonTensor(makeTensor({ name: "y", datatype: "FP32", shape: [2, 2] }, data));
    assert.deepEqual(json, {
      name: "y",
      datatype: "FP32",
      shape: [2, 2],
      data: ["NaN", "Infinity", "-Infinity", 1.5],
    });
  });

  it("writes 64-bit integers as numbers when safe and strings otherwise", () => {
    const data = new BigInt64Array([1n, -(2n ** 63n)]);
    const json = encodeJsonTensor(makeTensor({ name: "y", datatype: "INT64", shape: [2] }, data));
    assert.deepEqual(json.data, [1, "-9223372036854775808"]);
  });

  it("widens FP16 bits to numbers", () => {
    const data = new Uint16Array([0x3c00, 0x0001, 0x7c00]);
    const json = encodeJsonTensor(makeTensor({ name: "y", datatype: "FP16", shape: [3] }, data));
    assert.deepEqual(json.data, [1, 2 ** -24, "Infinity"]);
  });

  it("refuses BYTES that are not UTF-8 unless base64 is asked for", () => {
    const tensor = makeTensor({ name: "y", datatype: "BYTES", shape: [1] }, [Buffer.from([0xff])]);
    assert.throws(
      () => encodeJsonTensor(tensor),
      (e: unknown) =>
        e instanceof InferError &&
        e.code === Code.INVALID_ARGUMENT &&
        /output 'y': BYTES element 0 is not valid UTF-8/.test(e.message),
    );
    assert.deepEqual(encodeJsonTensor(tensor, { bytesEncoding: "base64" }).data, ["/w=="]);
  });
});

describe("JSON round trip (property)", () => {
  const roundTrip = (value: Tensor, nested: boolean, bytesEncoding: BytesEncoding) => {
    const json = encodeJsonTensor(value, { bytesEncoding });
    const body = JSON.stringify(nested ? { ...json, data: nest(json.data, json.shape) } : json);
    const decoded = decodeJsonTensor(JSON.parse(body), { bytesEncoding, role: "output" });
    assertSameTensor(decoded, value, "values");
  };

  it("flat data, every datatype, through JSON text", () => {
    fc.assert(
      fc.property(anyTensorArbitrary({ textBytes: true }), (value) =>
        roundTrip(value, false, "utf8"),
      ),
      { numRuns: 1000 },
    );
  });

  it("nested data, every datatype, through JSON text", () => {
    fc.assert(
      fc.property(anyTensorArbitrary({ textBytes: true }), (value) =>
        roundTrip(value, true, "utf8"),
      ),
      { numRuns: 1000 },
    );
  });

  it("BYTES of any content through base64", () => {
    fc.assert(
      fc.property(anyTensorArbitrary(), (value) => roundTrip(value, true, "base64")),
      { numRuns: 500 },
    );
  });
});
