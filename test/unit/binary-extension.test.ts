import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Code, InferError } from "../../gateway/src/errors.js";
import {
  buildInferRequest,
  buildInferResponse,
  parseInferRequest,
  parseInferResponse,
} from "../../gateway/src/protocol/binary-extension.js";
import { makeTensor, type Tensor, type TensorSpec } from "../../gateway/src/protocol/tensor.js";
import { anyTensorArbitrary, assertSameTensor } from "../fixtures/tensor-arbitrary.js";

/** A request body: JSON header then the given binary parts, and the header length. */
function body(header: unknown, ...parts: Buffer[]): { bytes: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header));
  return { bytes: Buffer.concat([json, ...parts]), headerLength: json.length };
}

const f32 = (...values: number[]) => Buffer.from(new Float32Array(values).buffer);

interface Case {
  name: string;
  input: { bytes: Buffer; headerLength: string | number | undefined; singleInput?: TensorSpec };
  output?: Array<{ name: string; values: unknown[] }>;
  error?: RegExp;
}

const binaryInput = (name: string, size: number, datatype = "FP32", shape = [size / 4]) => ({
  name,
  datatype,
  shape,
  parameters: { binary_data_size: size },
});

function withLength(
  parts: { bytes: Buffer; headerLength: number },
  headerLength?: string | number,
) {
  return { bytes: parts.bytes, headerLength: headerLength ?? String(parts.headerLength) };
}

describe("parseInferRequest", () => {
  const cases: Case[] = [
    {
      name: "binary and JSON inputs mixed, binary bytes in input order",
      input: withLength(
        body(
          {
            inputs: [
              binaryInput("A", 8),
              { name: "B", datatype: "INT32", shape: [1], data: [7] },
              binaryInput("C", 4),
            ],
          },
          f32(1, 2),
          f32(3),
        ),
      ),
      output: [
        { name: "A", values: [1, 2] },
        { name: "B", values: [7] },
        { name: "C", values: [3] },
      ],
    },
    {
      name: "no header: the whole body is JSON",
      input: {
        bytes: Buffer.from(
          JSON.stringify({ inputs: [{ name: "B", datatype: "BOOL", shape: [1], data: [true] }] }),
        ),
        headerLength: undefined,
      },
      output: [{ name: "B", values: [1] }],
    },
    {
      name: "Inference-Header-Content-Length 0: the body is the single input's raw bytes",
      input: {
        bytes: f32(4, 5, 6),
        headerLength: "0",
        singleInput: { name: "IMAGE", datatype: "FP32", shape: [1, 3] },
      },
      output: [{ name: "IMAGE", values: [4, 5, 6] }],
    },
    {
      name: "binary_data_size sum short of the body",
      input: withLength(body({ inputs: [binaryInput("A", 4)] }, f32(1, 2))),
      error:
        /^input 'A': 4 bytes left over after the last binary input; the binary_data_size values must add up to the body$/,
    },
    {
      name: "binary_data_size running past the body",
      input: withLength(body({ inputs: [binaryInput("A", 4), binaryInput("B", 8)] }, f32(1, 2))),
      error: /input 'B': binary_data_size 8 runs past the end of the body \(4 bytes left\)/,
    },
    {
      name: "bytes after the header but no binary input",
      input: withLength(
        body({ inputs: [{ name: "B", datatype: "INT32", shape: [1], data: [7] }] }, f32(1)),
      ),
      error: /4 bytes follow the JSON header but no input has binary_data_size/,
    },
    {
      name: "binary size not matching the input's shape",
      input: withLength(body({ inputs: [binaryInput("A", 8, "FP32", [3])] }, f32(1, 2))),
      error: /input 'A': expected 12 bytes for shape \[3\] of FP32, got 8/,
    },
    {
      name: "both data and binary_data_size",
      input: withLength(body({ inputs: [{ ...binaryInput("A", 4), data: [1] }] }, f32(1))),
      error: /input 'A': has both data and parameters.binary_data_size/,
    },
    {
      name: "neither data nor binary_data_size",
      input: withLength(body({ inputs: [{ name: "A", datatype: "FP32", shape: [1] }] })),
      error: /input 'A': has neither data nor parameters.binary_data_size/,
    },
    {
      name: "negative binary_data_size",
      input: withLength(body({ inputs: [binaryInput("A", -4, "FP32", [1])] })),
      error: /input 'A': binary_data_size -4 is not a non-negative integer/,
    },
    {
      name: "header length past the body",
      input: withLength(body({ inputs: [] }), 1000),
      error: /Inference-Header-Content-Length 1000 is not a byte count within the 13-byte body/,
    },
    {
      name: "header length not a number",
      input: withLength(body({ inputs: [] }), "12abc"),
      error: /Inference-Header-Content-Length "12abc" is not a byte count/,
    },
    {
      name: "header cut in the middle of the JSON",
      input: withLength(body({ inputs: [] }), 5),
      error: /the JSON header of the body is not valid JSON/,
    },
    {
      name: "header without inputs",
      input: withLength(body({ outputs: [] })),
      error: /the JSON header must have an 'inputs' array/,
    },
    {
      name: "Inference-Header-Content-Length 0 without a single-input model",
      input: { bytes: f32(1), headerLength: 0 },
      error:
        /Inference-Header-Content-Length 0 \(a body of raw bytes only\) needs a model with a single input/,
    },
    {
      name: "Inference-Header-Content-Length 0 with the wrong byte count",
      input: {
        bytes: f32(1),
        headerLength: 0,
        singleInput: { name: "IMAGE", datatype: "FP32", shape: [1, 3] },
      },
      error: /input 'IMAGE': expected 12 bytes for shape \[1,3\] of FP32, got 4/,
    },
    {
      name: "unknown datatype of a binary input",
      input: withLength(body({ inputs: [binaryInput("A", 4, "FLOAT", [1])] }, f32(1))),
      error: /input 'A': unknown datatype "FLOAT"/,
    },
    {
      name: "nested JSON data not matching the shape",
      input: withLength(
        body({ inputs: [{ name: "A", datatype: "INT8", shape: [2, 2], data: [[1, 2], [3]] }] }),
      ),
      error: /input 'A': data\[1\] must be an array of 2 to match shape \[2,2\], got 1 entries/,
    },
    {
      name: "requested output without a name",
      input: withLength(body({ inputs: [], outputs: [{ parameters: {} }] })),
      error: /each requested output must be an object with a string 'name'/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const run = () =>
        parseInferRequest(c.input.bytes, c.input.headerLength, {
          singleInput: c.input.singleInput,
        });
      if (c.error) {
        assert.throws(run, (e: unknown) => {
          assert.ok(e instanceof InferError);
          assert.equal(e.code, Code.INVALID_ARGUMENT);
          assert.match(e.message, c.error!);
          return true;
        });
        return;
      }
      const { inputs } = run();
      const values = inputs.map(({ name, data }) => ({
        name,
        values: Array.from(data as ArrayLike<unknown>),
      }));
      assert.deepEqual(values, c.output);
    });
  }

  it("binary inputs view the request body when aligned", () => {
    const header = { inputs: [binaryInput("A", 8)] };
    let json = Buffer.from(JSON.stringify(header));
    json = Buffer.concat([json, Buffer.alloc((4 - (json.length % 4)) % 4, " ")]); // pad JSON to 4
    const bytes = Buffer.alloc(json.length + 8); // unpooled: offset 0, so the raw part is aligned
    bytes.set(json);
    bytes.set(f32(1, 2), json.length);
    const { inputs } = parseInferRequest(bytes, json.length);
    assert.equal((inputs[0]!.data as Float32Array).buffer, bytes.buffer);
    assert.deepEqual(Array.from(inputs[0]!.data as Float32Array), [1, 2]);
  });

  it("keeps the request fields for the caller", () => {
    const parts = body(
      { id: "r1", parameters: { binary_data_output: true }, inputs: [binaryInput("A", 4)] },
      f32(1),
    );
    const { request } = parseInferRequest(parts.bytes, parts.headerLength);
    assert.equal(request.id, "r1");
    assert.deepEqual(request.parameters, { binary_data_output: true });
  });
});

describe("buildInferResponse", () => {
  const outputs: Tensor[] = [
    makeTensor({ name: "Y", datatype: "FP32", shape: [2] }, new Float32Array([1, 2])),
    makeTensor({ name: "Z", datatype: "INT32", shape: [1] }, new Int32Array([3])),
  ];
  const meta = { model_name: "m", model_version: "1" };

  it("sends outputs binary where the client asked, JSON data otherwise", () => {
    const request = { outputs: [{ name: "Y", parameters: { binary_data: true } }, { name: "Z" }] };
    const encoded = buildInferResponse(meta, outputs, request);
    assert.equal(encoded.binary, true);
    assert.equal(encoded.body.length, 2);
    const json = JSON.parse(encoded.body[0]!.toString());
    assert.equal(encoded.headerLength, encoded.body[0]!.length);
    assert.deepEqual(json.outputs, [
      { name: "Y", datatype: "FP32", shape: [2], parameters: { binary_data_size: 8 } },
      { name: "Z", datatype: "INT32", shape: [1], data: [3] },
    ]);
    assert.equal(
      encoded.body[1]!.buffer,
      (outputs[0]!.data as Float32Array).buffer,
      "raw output is a view",
    );
    assert.equal(encoded.byteLength, encoded.headerLength + 8);
  });

  it("binary_data_output in the request parameters makes every output binary unless overridden", () => {
    const request = {
      parameters: { binary_data_output: true },
      outputs: [{ name: "Z", parameters: { binary_data: false } }],
    };
    const encoded = buildInferResponse(meta, outputs, request);
    const json = JSON.parse(encoded.body[0]!.toString());
    assert.deepEqual(json.outputs[0].parameters, { binary_data_size: 8 });
    assert.deepEqual(json.outputs[1].data, [3]);
  });

  it("is plain JSON when no output is binary", () => {
    const encoded = buildInferResponse({ ...meta, id: "r1" }, outputs);
    assert.equal(encoded.binary, false);
    assert.equal(encoded.body.length, 1);
    assert.deepEqual(JSON.parse(encoded.body[0]!.toString()), {
      model_name: "m",
      model_version: "1",
      id: "r1",
      outputs: [
        { name: "Y", datatype: "FP32", shape: [2], data: [1, 2] },
        { name: "Z", datatype: "INT32", shape: [1], data: [3] },
      ],
    });
  });

  it("parses back with parseInferResponse", () => {
    const encoded = buildInferResponse(meta, outputs, { parameters: { binary_data_output: true } });
    const { response, outputs: decoded } = parseInferResponse(
      Buffer.concat(encoded.body),
      encoded.headerLength,
    );
    assert.equal(response.model_name, "m");
    decoded.forEach((tensor, i) => {
      assertSameTensor(tensor, outputs[i]!, "bits");
    });
  });
});

describe("binary extension round trip (property)", () => {
  const named = (list: Tensor[]) =>
    list.map((tensor, i) => ({ ...tensor, name: `t${i}` }) as Tensor);
  const tensors = fc.array(anyTensorArbitrary({ textBytes: true }), { maxLength: 4 }).map(named);

  it("request: build then parse gives the same tensors, binary or JSON", () => {
    fc.assert(
      fc.property(tensors, fc.boolean(), (list, binaryInputs) => {
        const encoded = buildInferRequest({ id: "q" }, list, { binaryInputs });
        const { inputs } = parseInferRequest(Buffer.concat(encoded.body), encoded.headerLength);
        assert.equal(inputs.length, list.length);
        inputs.forEach((tensor, i) => {
          assertSameTensor(tensor, list[i]!, binaryInputs ? "bits" : "values");
        });
      }),
      { numRuns: 500 },
    );
  });

  it("response: outputs chosen binary at random parse back the same", () => {
    fc.assert(
      fc.property(
        tensors,
        fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
        (list, flags) => {
          const request = {
            outputs: list.map((tensor, i) => ({
              name: tensor.name,
              parameters: { binary_data: flags[i] },
            })),
          };
          const encoded = buildInferResponse(
            { model_name: "m", model_version: "1" },
            list,
            request,
          );
          const { outputs } = parseInferResponse(Buffer.concat(encoded.body), encoded.headerLength);
          outputs.forEach((tensor, i) => {
            assertSameTensor(tensor, list[i]!, flags[i] ? "bits" : "values");
          });
        },
      ),
      { numRuns: 500 },
    );
  });
});
