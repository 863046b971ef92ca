/**
 * Every Triton datatype round trip through the whole gateway (`startGateway`) in front of the
 * embedded model server: one ONNX `Identity` model per datatype the ONNX Runtime backend serves,
 * built in code, and for each datatype three paths, all with edge values that must come back
 * identical: KServe v2 JSON over HTTP, the HTTP binary tensor extension
 * (`Inference-Header-Content-Length`, `binary_data_output`), and gRPC `ModelInfer` with raw
 * contents. BF16, which onnxruntime-node cannot carry, must fail clearly instead.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import type { ModelServer } from "../../gateway/src/models/model-server.js";
import {
  buildInferRequest,
  parseInferResponse,
} from "../../gateway/src/protocol/binary-extension.js";
import { DATA_TYPES, type DataType } from "../../gateway/src/protocol/datatype.js";
import {
  decodeInferResponseMessage,
  encodeInferRequestMessage,
} from "../../gateway/src/protocol/infer-message.js";
import { makeTensor, type Tensor, type TensorData } from "../../gateway/src/protocol/tensor.js";
import { type FullGateway, startFullGateway } from "./helpers/full-gateway.js";
import {
  identityModel,
  identityModelName,
  writeRepository,
} from "./helpers/generated-repository.js";
import { startTestModelServer, type TempRepository } from "./helpers/model-server.js";

/** One datatype's values: JSON forms sent and expected back, and raw storage. */
interface DatatypeCase {
  datatype: DataType;
  /** `data` of the JSON request, in the codec's JSON forms. */
  json: unknown[];
  /** `data` expected in the JSON response; default `json`. */
  jsonBack?: unknown[];
  /** Storage for the binary and gRPC paths: bytes must come back unchanged. */
  data: TensorData;
}

/** Float32 storage from IEEE 754 bit patterns (so -0 and NaN payloads are exact). */
const f32Bits = (bits: number[]) => new Float32Array(Uint32Array.from(bits).buffer);
/** Float64 storage from IEEE 754 bit patterns. */
const f64Bits = (bits: bigint[]) => new Float64Array(BigUint64Array.from(bits).buffer);

const FP32_JSON = [
  0,
  0.1,
  -3.4028234663852886e38,
  1.401298464324817e-45,
  1.1754943508222875e-38,
  "NaN",
  "Infinity",
  "-Infinity",
];

const FP64_JSON = [
  0.1,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.MIN_VALUE,
  2.2250738585072014e-308,
  -123456789.125,
  "NaN",
  "Infinity",
  "-Infinity",
];

const STRINGS = [
  "",
  "ascii",
  "héllo wörld",
  "日本語のテキスト",
  "emoji 😀🎉 and ZWJ 👩‍💻",
  'quote " backslash \\ tab \t newline \n',
  "",
  "x".repeat(1000),
];

const CASES: DatatypeCase[] = [
  {
    datatype: "BOOL",
    json: [true, false, false, true],
    data: Uint8Array.from([1, 0, 0, 1]),
  },
  { datatype: "UINT8", json: [0, 1, 254, 255], data: Uint8Array.from([0, 1, 254, 255]) },
  {
    datatype: "UINT16",
    json: [0, 1, 65534, 65535],
    data: Uint16Array.from([0, 1, 65534, 65535]),
  },
  {
    datatype: "UINT32",
    json: [0, 1, 4294967294, 4294967295],
    data: Uint32Array.from([0, 1, 4294967294, 4294967295]),
  },
  {
    datatype: "UINT64",
    // Past 2^53 JSON numbers round: the codec's form is a decimal string, both ways.
    json: [0, 9007199254740991, "9007199254740993", "18446744073709551615"],
    data: BigUint64Array.from([0n, 9007199254740993n, 2n ** 63n, 2n ** 64n - 1n]),
  },
  { datatype: "INT8", json: [-128, -1, 0, 127], data: Int8Array.from([-128, -1, 0, 127]) },
  {
    datatype: "INT16",
    json: [-32768, -1, 0, 32767],
    data: Int16Array.from([-32768, -1, 0, 32767]),
  },
  {
    datatype: "INT32",
    json: [-2147483648, -1, 0, 2147483647],
    data: Int32Array.from([-2147483648, -1, 0, 2147483647]),
  },
  {
    datatype: "INT64",
    json: ["-9223372036854775808", -9007199254740991, 0, "9223372036854775807"],
    data: BigInt64Array.from([-(2n ** 63n), -(2n ** 53n) - 1n, -1n, 0n, 2n ** 63n - 1n]),
  },
  {
    datatype: "FP16",
    // All exact in half precision: max, min normal, min subnormal, and the non-finite forms.
    json: [0, 1.5, -2, 65504, 6.103515625e-5, 2 ** -24, "NaN", "Infinity", "-Infinity"],
    // Bit patterns: +0, -0, 1.5, -2, max, min normal, min subnormal, NaN, NaN with payload,
    // +Inf, -Inf.
    data: Uint16Array.from([
      0x0000, 0x8000, 0x3e00, 0xc000, 0x7bff, 0x0400, 0x0001, 0x7e00, 0x7e01, 0x7c00, 0xfc00,
    ]),
  },
  {
    datatype: "FP32",
    json: FP32_JSON,
    jsonBack: FP32_JSON.map((v) => (typeof v === "number" ? Math.fround(v) : v)),
    data: f32Bits([
      0x00000000, 0x80000000, 0x3dcccccd, 0x7f7fffff, 0xff7fffff, 0x00000001, 0x00800000,
      0x7fc00000, 0x7fc00001, 0x7f800000, 0xff800000,
    ]),
  },
  {
    datatype: "FP64",
    // Decoding also takes "nan", "inf", "-inf" and null (NaN); encoding writes the canonical forms.
    json: [...FP64_JSON, "nan", "inf", "-inf", null],
    jsonBack: [...FP64_JSON, "NaN", "Infinity", "-Infinity", "NaN"],
    data: f64Bits([
      0x0000000000000000n,
      0x8000000000000000n,
      0x3fb999999999999an,
      0x7fefffffffffffffn,
      0xffefffffffffffffn,
      0x0000000000000001n,
      0x0010000000000000n,
      0x7ff8000000000000n,
      0x7ff8000000000001n,
      0x7ff0000000000000n,
      0xfff0000000000000n,
    ]),
  },
  {
    datatype: "BYTES",
    json: STRINGS,
    data: STRINGS.map((s) => Buffer.from(s, "utf8")),
  },
];

/** The datatypes the ONNX Runtime backend serves: every one but BF16. */
const SERVED = DATA_TYPES.filter((d) => d !== "BF16");

/** Row-major element bytes of any storage, as hex strings, for exact comparison. */
function bytesOf(data: TensorData): string[] {
  if (Array.isArray(data)) return data.map((b) => Buffer.from(b).toString("hex"));
  return [Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("hex")];
}

function inputOf(c: DatatypeCase): Tensor {
  return makeTensor({ name: "INPUT0", datatype: c.datatype, shape: [c.data.length] }, c.data);
}

/** The one output of an identity model, checked to mirror `input`. */
function assertMirrors(output: Tensor | undefined, input: Tensor): void {
  assert.ok(output, "no output");
  assert.equal(output.name, "OUTPUT0");
  assert.equal(output.datatype, input.datatype);
  assert.deepEqual(output.shape, input.shape);
  assert.deepEqual(bytesOf(output.data), bytesOf(input.data));
}

describe("every datatype round trip through the gateway", () => {
  let repo: TempRepository;
  let models: { server: ModelServer; close(): Promise<void> };
  let gw: FullGateway;

  before(async () => {
    repo = await writeRepository(
      Object.fromEntries(DATA_TYPES.map((d) => [identityModelName(d), identityModel(d)])),
    );
    models = await startTestModelServer(repo.path, { metricsPort: -1 });
    gw = await startFullGateway({ endpoints: [`127.0.0.1:${models.server.grpcPort}`] });
  });
  after(async () => {
    await gw?.close();
    await models?.close();
    await repo?.remove();
  });

  it("covers every served datatype with a case", () => {
    assert.deepEqual(
      CASES.map((c) => c.datatype),
      SERVED,
    );
  });

  describe("HTTP JSON infer", () => {
    for (const c of CASES) {
      it(c.datatype, async () => {
        const model = identityModelName(c.datatype);
        const response = await fetch(gw.url(`/v2/models/${model}/infer`), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            id: `json-${c.datatype}`,
            inputs: [
              { name: "INPUT0", datatype: c.datatype, shape: [c.json.length], data: c.json },
            ],
          }),
        });
        const text = await response.text();
        assert.equal(response.status, 200, text);
        assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
        const body = JSON.parse(text) as {
          model_name: string;
          id: string;
          outputs: Array<{ name: string; datatype: string; shape: number[]; data: unknown[] }>;
        };
        assert.equal(body.model_name, model);
        assert.equal(body.id, `json-${c.datatype}`);
        assert.deepEqual(body.outputs, [
          {
            name: "OUTPUT0",
            datatype: c.datatype,
            shape: [c.json.length],
            data: c.jsonBack ?? c.json,
          },
        ]);
      });
    }
  });

  describe("HTTP binary tensor extension (binary input, binary_data_output)", () => {
    for (const c of CASES) {
      it(c.datatype, async () => {
        const input = inputOf(c);
        const encoded = buildInferRequest({ parameters: { binary_data_output: true } }, [input]);
        const response = await fetch(
          gw.url(`/v2/models/${identityModelName(c.datatype)}/versions/1/infer`),
          {
            method: "POST",
            headers: {
              "content-type": "application/octet-stream",
              "inference-header-content-length": String(encoded.headerLength),
            },
            body: Buffer.concat(encoded.body),
          },
        );
        const bytes = new Uint8Array(await response.arrayBuffer());
        assert.equal(response.status, 200, Buffer.from(bytes).toString("utf8"));
        assert.equal(response.headers.get("content-type"), "application/octet-stream");
        const headerLength = response.headers.get("inference-header-content-length");
        assert.ok(headerLength, "Inference-Header-Content-Length is set");
        const parsed = parseInferResponse(bytes, headerLength);
        const [wire] = parsed.response.outputs;
        assert.equal(wire?.data, undefined, "the output travels binary, not as JSON data");
        assert.equal(typeof wire?.parameters?.["binary_data_size"], "number");
        assertMirrors(parsed.outputs[0], input);
      });
    }
  });

  describe("gRPC ModelInfer with raw contents", () => {
    for (const c of CASES) {
      it(c.datatype, async () => {
        const input = inputOf(c);
        const { response, error } = await gw.unary(
          "ModelInfer",
          encodeInferRequestMessage({
            modelName: identityModelName(c.datatype),
            id: `grpc-${c.datatype}`,
            inputs: [input],
          }),
        );
        assert.equal(error, undefined, error?.details);
        const decoded = decodeInferResponseMessage(response!);
        assert.equal(decoded.id, `grpc-${c.datatype}`);
        assert.equal(decoded.modelVersion, "1");
        assert.equal(decoded.outputs.length, 1);
        assertMirrors(decoded.outputs[0], input);
      });
    }
  });

  describe("BYTES the ONNX Runtime backend cannot carry (onnxruntime-node string tensors)", () => {
    // Triton's BYTES are arbitrary byte strings and its ONNX Runtime backend keeps them; the
    // embedded server passes them through JS strings, so these must come back intact or be
    // refused with a clear error, never altered.
    const awkward: Array<[string, Buffer]> = [
      ["an element with a NUL byte", Buffer.from("a\u0000b", "utf8")],
      ["an element that is not UTF-8", Buffer.from([0xff, 0x00, 0x80])],
    ];
    for (const [what, element] of awkward) {
      it(`${what} comes back intact or is refused, never altered`, async () => {
        const input = makeTensor({ name: "INPUT0", datatype: "BYTES", shape: [1] }, [element]);
        const { response, error } = await gw.unary(
          "ModelInfer",
          encodeInferRequestMessage({ modelName: identityModelName("BYTES"), inputs: [input] }),
        );
        if (error) {
          assert.ok(
            [grpc.status.INVALID_ARGUMENT, grpc.status.UNIMPLEMENTED].includes(error.code),
            `${grpc.status[error.code]}: ${error.details}`,
          );
          return;
        }
        assertMirrors(decodeInferResponseMessage(response!).outputs[0], input);
      });
    }
  });

  describe("BF16, which onnxruntime-node cannot load", () => {
    const model = identityModelName("BF16");
    const bf16 = makeTensor(
      { name: "INPUT0", datatype: "BF16", shape: [3] },
      Uint16Array.from([0x3f80, 0xff80, 0x7fc0]),
    );

    it("the model fails to load, and the repository index gives the reason", async () => {
      const response = await fetch(gw.adminUrl("/v2/repository/index"), {
        method: "POST",
        body: "{}",
      });
      assert.equal(response.status, 200);
      const index = (await response.json()) as Array<{
        name: string;
        state: string;
        reason: string;
      }>;
      const entry = index.find((m) => m.name === model);
      assert.ok(entry, `${model} is listed`);
      assert.equal(entry.state, "UNAVAILABLE");
      assert.match(entry.reason, new RegExp(`failed to load '${model}'`));
      // onnxruntime-node's own words: ONNX element type 16 is bfloat16.
      assert.match(entry.reason, /Unsupported data type: 16/);
      for (const served of SERVED) {
        assert.equal(index.find((m) => m.name === identityModelName(served))?.state, "READY");
      }
    });

    it("HTTP infer on it answers 503 with the load failure", async () => {
      const response = await fetch(gw.url(`/v2/models/${model}/infer`), {
        method: "POST",
        body: JSON.stringify({
          inputs: [{ name: "INPUT0", datatype: "BF16", shape: [3], data: [1, "-Infinity", "NaN"] }],
        }),
      });
      assert.equal(response.status, 503);
      const { error } = (await response.json()) as { error: string };
      assert.match(error, new RegExp(`'${model}' is not ready`));
      assert.match(error, /Unsupported data type: 16/);
    });

    it("gRPC ModelInfer on it answers UNAVAILABLE with the load failure", async () => {
      const { error } = await gw.unary(
        "ModelInfer",
        encodeInferRequestMessage({ modelName: model, inputs: [bf16] }),
      );
      assert.equal(error?.code, grpc.status.UNAVAILABLE);
      assert.match(error!.details, /Unsupported data type: 16/);
    });

    it("a BF16 tensor for an FP32 model is refused: 400 over HTTP, INVALID_ARGUMENT over gRPC", async () => {
      const fp32 = identityModelName("FP32");
      const encoded = buildInferRequest({}, [bf16]);
      const response = await fetch(gw.url(`/v2/models/${fp32}/infer`), {
        method: "POST",
        headers: { "inference-header-content-length": String(encoded.headerLength) },
        body: Buffer.concat(encoded.body),
      });
      assert.equal(response.status, 400);
      const { error: message } = (await response.json()) as { error: string };
      assert.match(message, /BF16/);
      assert.match(message, /FP32/);
      const { error } = await gw.unary(
        "ModelInfer",
        encodeInferRequestMessage({ modelName: fp32, inputs: [bf16] }),
      );
      assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
      assert.match(error!.details, /BF16/);
    });
  });
});
