import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CoreInferResult, ModelMetadata } from "../../gateway/src/core/gateway-core.js";
import { Code, InferError } from "../../gateway/src/errors.js";
import { inferTarget } from "../../gateway/src/http/direct-routes.js";
import {
  adminTokenRequired,
  bodyTooLarge,
  httpErrorOf,
  modelControlNotServed,
  routeNotFound,
  unsupportedMediaType,
} from "../../gateway/src/http/map-error.js";
import { toPipelineInput } from "../../gateway/src/http/map-pipeline-request.js";
import {
  createRequestContext,
  fromCoreInferResult,
  parseJsonObject,
  requestIdOf,
  singleInputSpec,
  timeoutMsOf,
  toCoreInferRequest,
} from "../../gateway/src/http/map-request.js";
import { boundaryOf, parseMultipart } from "../../gateway/src/http/multipart.js";
import { silentLogger } from "../../gateway/src/log.js";
import {
  buildInferRequest,
  parseInferResponse,
} from "../../gateway/src/protocol/binary-extension.js";
import type { Tensor, TensorSpec } from "../../gateway/src/protocol/tensor.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Plain values of a tensor's data, for comparing. */
function values(tensor: Tensor): unknown[] {
  if (tensor.datatype === "BYTES") return tensor.data.map((b) => Buffer.from(b).toString("utf8"));
  return Array.from(tensor.data as ArrayLike<number | bigint>);
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

describe("requestIdOf", () => {
  const cases: Array<{ name: string; input: string | string[] | undefined; kept: boolean }> = [
    { name: "a UUID", input: "3f1c2a9e-0b7d-4c1e-9a55-0c6f7b1d2e3f", kept: true },
    { name: "letters, digits and ._:-", input: "job-7.step_2:retry", kept: true },
    { name: "one character", input: "x", kept: true },
    { name: "128 characters", input: "a".repeat(128), kept: true },
    { name: "the first of repeated headers", input: ["abc", "def"], kept: true },
    { name: "129 characters", input: "a".repeat(129), kept: false },
    { name: "empty", input: "", kept: false },
    { name: "a space", input: "a b", kept: false },
    { name: "a slash", input: "a/b", kept: false },
    { name: "a newline (log injection)", input: "a\nb", kept: false },
    { name: "non-ASCII", input: "café", kept: false },
    { name: "absent", input: undefined, kept: false },
  ];
  for (const c of cases) {
    it(`${c.kept ? "keeps" : "replaces"} ${c.name}`, () => {
      const id = requestIdOf(c.input);
      if (c.kept) assert.equal(id, Array.isArray(c.input) ? c.input[0] : c.input);
      else assert.match(id, UUID);
    });
  }
  it("generates a different id each time", () => assert.notEqual(requestIdOf(""), requestIdOf("")));
});

describe("timeoutMsOf", () => {
  const cases: Array<{ name: string; input: string | undefined; output?: number; error?: RegExp }> =
    [
      { name: "absent: the default", input: undefined, output: 30_000 },
      { name: "a positive integer", input: "250", output: 250 },
      { name: "spaces around", input: " 1000 ", output: 1000 },
      { name: "zero", input: "0", error: /x-infergate-timeout-ms.*positive whole number.*"0"/ },
      { name: "negative", input: "-5", error: /positive whole number/ },
      { name: "a fraction", input: "1.5", error: /positive whole number/ },
      { name: "a unit", input: "10s", error: /"10s"/ },
      { name: "ten digits", input: "1234567890", error: /positive whole number/ },
      { name: "empty", input: "", error: /positive whole number/ },
    ];
  for (const c of cases) {
    it(c.name, () => {
      if (c.error) {
        assert.throws(
          () => timeoutMsOf(c.input, 30_000),
          (e: InferError) => e.code === Code.INVALID_ARGUMENT && c.error!.test(e.message),
        );
      } else {
        assert.equal(timeoutMsOf(c.input, 30_000), c.output);
      }
    });
  }
});

describe("createRequestContext", () => {
  it("sets the deadline from the header and keeps the request id and signal", () => {
    const signal = new AbortController().signal;
    const ctx = createRequestContext({
      headers: { "x-request-id": "req-1", "x-infergate-timeout-ms": "500" },
      signal,
      defaultTimeoutMs: 30_000,
      log: silentLogger(),
      nowMs: 1_000_000,
    });
    assert.equal(ctx.requestId, "req-1");
    assert.equal(ctx.deadlineMs, 1_000_500);
    assert.equal(ctx.signal, signal);
  });
  it("uses the default timeout without the header", () => {
    const ctx = createRequestContext({
      headers: {},
      signal: new AbortController().signal,
      defaultTimeoutMs: 30_000,
      log: silentLogger(),
      nowMs: 5,
    });
    assert.equal(ctx.deadlineMs, 30_005);
    assert.match(ctx.requestId, UUID);
  });
});

/** An infer body: a JSON header, then binary parts; `headerLength` for the extension header. */
function binaryBody(header: unknown, ...parts: Buffer[]) {
  const head = json(header);
  return { body: Buffer.concat([head, ...parts]), headerLength: String(head.length) };
}

const i32 = (...v: number[]) => Buffer.from(new Int32Array(v).buffer);
const target = { modelName: "m", modelVersion: "", maxElements: 1000 };

interface InferCase {
  name: string;
  input: { body: Buffer; headerLength?: string; singleInput?: TensorSpec; maxElements?: number };
  output?: {
    inputs?: Array<{ name: string; datatype: string; shape: number[]; values: unknown[] }>;
    id?: string;
    parameters?: Record<string, unknown>;
    outputs?: Array<{ name: string; parameters: Record<string, unknown> }>;
    binaryOut?: Record<string, boolean>;
  };
  error?: RegExp;
}

describe("toCoreInferRequest", () => {
  const cases: InferCase[] = [
    {
      name: "JSON with flat data",
      input: {
        body: json({
          id: "c-1",
          inputs: [{ name: "A", datatype: "INT32", shape: [2, 2], data: [1, 2, 3, 4] }],
        }),
      },
      output: {
        id: "c-1",
        inputs: [{ name: "A", datatype: "INT32", shape: [2, 2], values: [1, 2, 3, 4] }],
        outputs: [],
        parameters: {},
      },
    },
    {
      name: "JSON with data nested as the shape",
      input: {
        body: json({
          inputs: [
            {
              name: "A",
              datatype: "FP32",
              shape: [2, 3],
              data: [
                [1, 2, 3],
                [4, 5, 6],
              ],
            },
          ],
        }),
      },
      output: {
        id: "",
        inputs: [{ name: "A", datatype: "FP32", shape: [2, 3], values: [1, 2, 3, 4, 5, 6] }],
      },
    },
    {
      name: "JSON BYTES strings",
      input: {
        body: json({ inputs: [{ name: "S", datatype: "BYTES", shape: [2], data: ["hé", "x"] }] }),
      },
      output: { inputs: [{ name: "S", datatype: "BYTES", shape: [2], values: ["hé", "x"] }] },
    },
    {
      name: "binary and JSON inputs mixed",
      input: binaryBody(
        {
          inputs: [
            { name: "A", datatype: "INT32", shape: [1, 2], parameters: { binary_data_size: 8 } },
            { name: "B", datatype: "INT32", shape: [1], data: [9] },
          ],
        },
        i32(7, 8),
      ),
      output: {
        inputs: [
          { name: "A", datatype: "INT32", shape: [1, 2], values: [7, 8] },
          { name: "B", datatype: "INT32", shape: [1], values: [9] },
        ],
      },
    },
    {
      name: "request parameters pass through but binary_data_output and headers",
      input: {
        body: json({
          parameters: { binary_data_output: true, headers: "x", priority: 2, sequence_id: "s" },
          inputs: [{ name: "A", datatype: "INT32", shape: [1], data: [1] }],
        }),
      },
      output: { parameters: { priority: 2, sequence_id: "s" }, binaryOut: { X: true } },
    },
    {
      name: "output parameters kept but binary_data, which picks the response form",
      input: {
        body: json({
          inputs: [{ name: "A", datatype: "INT32", shape: [1], data: [1] }],
          outputs: [
            { name: "X", parameters: { binary_data: true, classification: 3 } },
            { name: "Y" },
          ],
        }),
      },
      output: {
        outputs: [
          { name: "X", parameters: { classification: 3 } },
          { name: "Y", parameters: {} },
        ],
        binaryOut: { X: true, Y: false },
      },
    },
    {
      name: "header length 0: the raw body is the single input, outputs binary",
      input: {
        body: i32(1, 2, 3),
        headerLength: "0",
        singleInput: { name: "IN", datatype: "INT32", shape: [1, 3] },
      },
      output: {
        inputs: [{ name: "IN", datatype: "INT32", shape: [1, 3], values: [1, 2, 3] }],
        binaryOut: { ANY: true },
      },
    },
    { name: "not JSON", input: { body: Buffer.from("{nope") }, error: /not valid JSON/ },
    { name: "JSON but no inputs", input: { body: json({ id: "x" }) }, error: /'inputs' array/ },
    {
      name: "a JSON array",
      input: { body: json([1]) },
      error: /must be a JSON object/,
    },
    {
      name: "flat data of the wrong count",
      input: {
        body: json({ inputs: [{ name: "A", datatype: "INT32", shape: [3], data: [1, 2] }] }),
      },
      error: /input 'A': data has 2 values, shape \[3\] needs 3/,
    },
    {
      name: "nesting that does not match the shape",
      input: {
        body: json({
          inputs: [{ name: "A", datatype: "INT32", shape: [2, 2], data: [[1, 2], [3]] }],
        }),
      },
      error: /input 'A': data\[1\] must be an array of 2/,
    },
    {
      name: "an unknown datatype",
      input: { body: json({ inputs: [{ name: "A", datatype: "F32", shape: [1], data: [1] }] }) },
      error: /input 'A': unknown datatype "F32"/,
    },
    {
      name: "more elements than limits.maxTensorElements",
      input: {
        body: json({ inputs: [{ name: "A", datatype: "INT8", shape: [40, 40], data: [] }] }),
        maxElements: 1000,
      },
      error: /input 'A': shape \[40,40\] has 1600 elements, more than the limit of 1000/,
    },
    {
      name: "binary sizes past the body",
      input: binaryBody(
        {
          inputs: [
            { name: "A", datatype: "INT32", shape: [2], parameters: { binary_data_size: 8 } },
          ],
        },
        i32(1),
      ),
      error: /binary_data_size 8 runs past the end/,
    },
    {
      name: "a header length beyond the body",
      input: { body: json({ inputs: [] }), headerLength: "999" },
      error: /Inference-Header-Content-Length "999"/,
    },
    {
      name: "header length 0 without a single input",
      input: { body: i32(1), headerLength: "0" },
      error: /needs a model with a single input/,
    },
    {
      name: "a raw body of the wrong size",
      input: {
        body: i32(1, 2),
        headerLength: "0",
        singleInput: { name: "IN", datatype: "INT32", shape: [1, 3] },
      },
      error: /expected 12 bytes .* got 8/,
    },
    {
      name: "an object-valued request parameter",
      input: {
        body: json({ parameters: { p: { a: 1 } }, inputs: [] }),
      },
      error: /request parameter 'p' must be a boolean, number or string/,
    },
    {
      name: "a negative priority",
      input: { body: json({ parameters: { priority: -1 }, inputs: [] }) },
      error: /'priority' must be a non-negative integer/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const run = () =>
        toCoreInferRequest(c.input.body, c.input.headerLength, {
          ...target,
          maxElements: c.input.maxElements ?? target.maxElements,
          singleInput: c.input.singleInput,
        });
      if (c.error) {
        assert.throws(
          run,
          (e: InferError) => e.code === Code.INVALID_ARGUMENT && c.error!.test(e.message),
        );
        return;
      }
      const { request, wire } = run();
      const out = c.output!;
      assert.equal(request.modelName, "m");
      if (out.id !== undefined) assert.equal(request.id, out.id);
      if (out.inputs) {
        assert.deepEqual(
          request.inputs.map((t) => ({ ...t, data: undefined, values: values(t) })),
          out.inputs.map((t) => ({ ...t, data: undefined })),
        );
      }
      if (out.parameters) assert.deepEqual(request.parameters, out.parameters);
      if (out.outputs) assert.deepEqual(request.outputs, out.outputs);
      for (const [name, binary] of Object.entries(out.binaryOut ?? {})) {
        const encoded = fromCoreInferResult(result([tensorNamed(name)]), wire);
        assert.equal(encoded.headers["content-type"] === "application/octet-stream", binary, name);
      }
    });
  }

  it("reads what buildInferRequest writes (a Triton client's binary body)", () => {
    const input: Tensor = {
      name: "A",
      datatype: "FP32",
      shape: [1, 2],
      data: new Float32Array([0.5, -2]),
    };
    const encoded = buildInferRequest({ id: "r" }, [input]);
    const { request } = toCoreInferRequest(
      Buffer.concat(encoded.body),
      String(encoded.headerLength),
      target,
    );
    assert.deepEqual(values(request.inputs[0]!), [0.5, -2]);
  });
});

function tensorNamed(name: string): Tensor {
  return { name, datatype: "INT32", shape: [2], data: new Int32Array([5, 6]) };
}

function result(outputs: Tensor[], extra: Partial<CoreInferResult> = {}): CoreInferResult {
  return { modelName: "m", modelVersion: "1", id: "", outputs, ...extra };
}

describe("fromCoreInferResult", () => {
  it("writes JSON when no output is binary, without an empty id or parameters", () => {
    const body = fromCoreInferResult(result([tensorNamed("X")]), {});
    assert.equal(body.headers["content-type"], "application/json");
    assert.equal(body.headers["inference-header-content-length"], undefined);
    const text = Buffer.concat(body.chunks).toString();
    assert.equal(body.headers["content-length"], String(Buffer.byteLength(text)));
    assert.deepEqual(JSON.parse(text), {
      model_name: "m",
      model_version: "1",
      outputs: [{ name: "X", datatype: "INT32", shape: [2], data: [5, 6] }],
    });
  });
  it("writes the binary extension when asked, with the header length", () => {
    const body = fromCoreInferResult(
      result([tensorNamed("X"), tensorNamed("Y")], { id: "c-9", parameters: { p: 1 } }),
      { outputs: [{ name: "X", parameters: { binary_data: true } }] },
    );
    assert.equal(body.headers["content-type"], "application/octet-stream");
    const bytes = Buffer.concat(body.chunks);
    const parsed = parseInferResponse(bytes, body.headers["inference-header-content-length"]);
    assert.equal(parsed.response.id, "c-9");
    assert.deepEqual(parsed.response.parameters, { p: 1 });
    assert.deepEqual(parsed.response.outputs[0]!.parameters, { binary_data_size: 8 });
    assert.deepEqual(parsed.outputs.map(values), [
      [5, 6],
      [5, 6],
    ]);
  });
});

describe("singleInputSpec", () => {
  const meta = (shape: number[], datatype = "FP32", count = 1): ModelMetadata => ({
    name: "m",
    versions: ["1"],
    platform: "onnxruntime_onnx",
    inputs: Array.from({ length: count }, (_, i) => ({ name: `IN${i}`, datatype, shape })),
    outputs: [],
  });
  const cases: Array<{
    name: string;
    input: { metadata: ModelMetadata; bytes: number };
    output?: number[];
    error?: RegExp;
  }> = [
    { name: "a fixed shape", input: { metadata: meta([2, 3]), bytes: 24 }, output: [2, 3] },
    {
      name: "batch dim -1 becomes 1",
      input: { metadata: meta([-1, 16]), bytes: 64 },
      output: [1, 16],
    },
    {
      name: "one more variable dim solved from the length",
      input: { metadata: meta([-1, -1, 4]), bytes: 48 },
      output: [1, 3, 4],
    },
    {
      name: "two variable dims besides the batch",
      input: { metadata: meta([-1, -1, -1]), bytes: 48 },
      error: /cannot say its variable dims/,
    },
    {
      name: "a variable BYTES dim",
      input: { metadata: meta([-1, -1], "BYTES"), bytes: 10 },
      error: /cannot say its variable dims/,
    },
    {
      name: "a length that is not whole rows",
      input: { metadata: meta([-1, -1, 4]), bytes: 20 },
      error: /20 bytes are not a whole number of FP32 rows/,
    },
    {
      name: "two inputs",
      input: { metadata: meta([1], "FP32", 2), bytes: 4 },
      error: /single input; 'm' has 2/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      if (c.error) {
        assert.throws(() => singleInputSpec(c.input.metadata, c.input.bytes), c.error);
      } else {
        assert.deepEqual(singleInputSpec(c.input.metadata, c.input.bytes).shape, c.output);
      }
    });
  }
});

describe("httpErrorOf", () => {
  const cases: Array<{ name: string; input: unknown; status: number; error: RegExp }> = [
    {
      name: "NOT_FOUND",
      input: new InferError(Code.NOT_FOUND, "no model 'x'"),
      status: 404,
      error: /^no model 'x'$/,
    },
    {
      name: "INVALID_ARGUMENT",
      input: new InferError(Code.INVALID_ARGUMENT, "bad"),
      status: 400,
      error: /^bad$/,
    },
    {
      name: "UNAVAILABLE",
      input: new InferError(Code.UNAVAILABLE, "down"),
      status: 503,
      error: /down/,
    },
    {
      name: "UNIMPLEMENTED",
      input: new InferError(Code.UNIMPLEMENTED, "no"),
      status: 501,
      error: /no/,
    },
    {
      name: "DEADLINE_EXCEEDED",
      input: new InferError(Code.DEADLINE_EXCEEDED, "late"),
      status: 504,
      error: /late/,
    },
    {
      name: "CANCELLED as Triton",
      input: new InferError(Code.CANCELLED, "gone"),
      status: 400,
      error: /gone/,
    },
    {
      name: "INTERNAL keeps its message but never its cause",
      input: new InferError(Code.INTERNAL, "model failed", {
        cause: new Error("secret path /etc"),
      }),
      status: 500,
      error: /^model failed$/,
    },
    {
      name: "a body too large",
      input: bodyTooLarge(1024),
      status: 413,
      error: /exceeds the limit of 1024 bytes \(limits.maxBodyBytes\)/,
    },
    {
      name: "an unsupported content type",
      input: unsupportedMediaType("text/csv", ["application/json"]),
      status: 415,
      error: /unsupported content type 'text\/csv'; expected one of application\/json/,
    },
    {
      name: "an unknown route",
      input: routeNotFound("GET", "/x"),
      status: 404,
      error: /no route for GET \/x/,
    },
    {
      name: "model control on the public port",
      input: modelControlNotServed(),
      status: 403,
      error: /admin listener/,
    },
    { name: "no admin token", input: adminTokenRequired(), status: 401, error: /Bearer/ },
    {
      name: "an express client error keeps its status",
      input: Object.assign(new Error("Failed to decode param '%E0'"), {
        status: 400,
        expose: true,
      }),
      status: 400,
      error: /Failed to decode param/,
    },
    {
      name: "the router's percent-decoding error keeps its 400",
      input: Object.assign(new URIError("Failed to decode param '%E0'"), { status: 400 }),
      status: 400,
      error: /Failed to decode param/,
    },
    {
      name: "a client error marked not to expose is 500 without detail",
      input: Object.assign(new Error("private"), { status: 400, expose: false }),
      status: 500,
      error: /^internal error$/,
    },
    {
      name: "anything else is 500 without detail",
      input: new TypeError("x is undefined at /srv/app.js"),
      status: 500,
      error: /^internal error$/,
    },
    {
      name: "a 5xx http-errors error is not exposed",
      input: Object.assign(new Error("db password wrong"), { status: 500, expose: false }),
      status: 500,
      error: /^internal error$/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { status, body, error } = httpErrorOf(c.input);
      assert.equal(status, c.status);
      assert.deepEqual(Object.keys(body), ["error"]);
      assert.match(body.error, c.error);
      assert.ok(error instanceof InferError);
    });
  }
  it("keeps a foreign error as the cause, for the log", () => {
    const boom = new TypeError("boom");
    assert.equal(httpErrorOf(boom).error.cause, boom);
  });
});

describe("parseJsonObject", () => {
  it("reads an object", () => assert.deepEqual(parseJsonObject(json({ a: 1 })), { a: 1 }));
  it("takes an empty body as {} when allowed", () =>
    assert.deepEqual(parseJsonObject(Buffer.alloc(0), true), {}));
  it("refuses an empty body otherwise", () =>
    assert.throws(() => parseJsonObject(Buffer.alloc(0)), /not valid JSON/));
  it("refuses null", () =>
    assert.throws(() => parseJsonObject(json(null)), /must be a JSON object/));
});

/** A multipart body from parts, CRLF line ends, with the given boundary. */
function multipart(boundary: string, parts: string[], preamble = ""): Buffer {
  const body = parts.map((part) => `--${boundary}\r\n${part}\r\n`).join("");
  return Buffer.from(`${preamble}${body}--${boundary}--\r\n`, "latin1");
}

describe("parseMultipart", () => {
  const cases: Array<{
    name: string;
    input: { body: Buffer; boundary?: string; maxParts?: number };
    output?: Array<{ name: string; filename?: string; contentType?: string; data: string }>;
    error?: RegExp;
  }> = [
    {
      name: "a text field and a file",
      input: {
        body: multipart("XyZ", [
          'Content-Disposition: form-data; name="lang"\r\n\r\nen',
          'Content-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n',
        ]),
      },
      output: [
        { name: "lang", data: "en" },
        { name: "image", filename: "a.png", contentType: "image/png", data: "\x89PNG\r\n\x1a\n" },
      ],
    },
    {
      name: "a preamble, an empty part and a CRLF inside content",
      input: {
        body: multipart(
          "b",
          [
            "content-disposition: form-data; name=empty\r\n\r\n",
            'Content-Disposition: form-data; name="t"\r\n\r\na\r\nb',
          ],
          "ignored preamble\r\n",
        ),
      },
      output: [
        { name: "empty", data: "" },
        { name: "t", data: "a\r\nb" },
      ],
    },
    {
      name: "an RFC 5987 filename*",
      input: {
        body: multipart("b", [
          "Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''caf%C3%A9.jpg\r\n\r\nx",
        ]),
      },
      output: [{ name: "f", filename: "café.jpg", data: "x" }],
    },
    {
      name: "a quoted name with an escaped quote",
      input: { body: multipart("b", ['Content-Disposition: form-data; name="a\\"b"\r\n\r\n1']) },
      output: [{ name: 'a"b', data: "1" }],
    },
    {
      name: "no closing delimiter",
      input: { body: Buffer.from('--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue') },
      error: /multipart part 1 is not closed by a boundary/,
    },
    {
      name: "no boundary at all",
      input: { body: Buffer.from("hello") },
      error: /holds no multipart boundary/,
    },
    {
      name: "headers that never end",
      input: { body: Buffer.from('--b\r\nContent-Disposition: form-data; name="a"\r\n--b--') },
      error: /no end of headers/,
    },
    {
      name: "a part without Content-Disposition",
      input: { body: multipart("b", ["Content-Type: text/plain\r\n\r\nx"]) },
      error: /no 'Content-Disposition: form-data' header/,
    },
    {
      name: "a part without a name",
      input: { body: multipart("b", ['Content-Disposition: form-data; filename="a"\r\n\r\nx']) },
      error: /Content-Disposition has no name/,
    },
    {
      name: "more parts than allowed",
      input: {
        body: multipart("b", [
          'Content-Disposition: form-data; name="a"\r\n\r\n1',
          'Content-Disposition: form-data; name="b"\r\n\r\n2',
        ]),
        maxParts: 1,
      },
      error: /more than 1 parts/,
    },
    {
      name: "garbage after a boundary",
      input: {
        body: Buffer.from('--bX\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--'),
      },
      error: /not followed by a line break/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const run = () =>
        parseMultipart(c.input.body, c.input.boundary ?? boundaryFrom(c.input.body), {
          maxParts: c.input.maxParts,
        });
      if (c.error) {
        assert.throws(
          run,
          (e: InferError) => e.code === Code.INVALID_ARGUMENT && c.error!.test(e.message),
        );
        return;
      }
      const parts = run().map((p) => ({ ...p, data: p.data.toString("latin1") }));
      assert.deepEqual(parts, c.output);
    });
  }
  it("bounds the header section of a part", () => {
    const body = multipart("b", [
      `Content-Disposition: form-data; name="a"\r\nX-Pad: ${"p".repeat(200)}\r\n\r\n1`,
    ]);
    assert.throws(
      () => parseMultipart(body, "b", { maxHeaderBytes: 100 }),
      /no end of headers within 100 bytes/,
    );
  });
});

/** The boundary the test bodies use: whatever follows the first `--` up to the line end. */
function boundaryFrom(body: Buffer): string {
  const text = body.toString("latin1");
  const match = /(?:^|\r\n)--([^\r\n-]+)/.exec(text);
  return match ? match[1]!.replace(/X$/, "") : "b";
}

describe("boundaryOf", () => {
  const cases: Array<{ name: string; input: string; output?: string; error?: RegExp }> = [
    { name: "a token", input: "multipart/form-data; boundary=----abc123", output: "----abc123" },
    { name: "quoted", input: 'multipart/form-data; boundary="a b:c"', output: "a b:c" },
    { name: "missing", input: "multipart/form-data", error: /without a boundary/ },
    {
      name: "too long",
      input: `multipart/form-data; boundary=${"a".repeat(71)}`,
      error: /not 1 to 70/,
    },
    {
      name: "ending in a space",
      input: 'multipart/form-data; boundary="ab "',
      error: /not 1 to 70/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      if (c.error) assert.throws(() => boundaryOf(c.input), c.error);
      else assert.equal(boundaryOf(c.input), c.output);
    });
  }
});

describe("toPipelineInput", () => {
  const form = multipart("zz", [
    'Content-Disposition: form-data; name="lang"\r\n\r\nen',
    'Content-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\nJPEG',
  ]);
  const cases: Array<{
    name: string;
    input: { body: Buffer; contentType?: string; query?: Record<string, unknown> };
    output?: {
      fields: Record<string, unknown>;
      files: Record<string, [string, string]>;
      timings: boolean;
    };
    error?: RegExp;
    status?: number;
  }> = [
    {
      name: "a JSON object, query fields under it",
      input: {
        body: json({ max_boxes: 3, lang: "en" }),
        contentType: "application/json; charset=utf-8",
        query: { lang: "de", x: "1" },
      },
      output: { fields: { max_boxes: 3, lang: "en", x: "1" }, files: {}, timings: false },
    },
    {
      name: "timings from the JSON field",
      input: { body: json({ timings: true }), contentType: "application/json" },
      output: { fields: {}, files: {}, timings: true },
    },
    {
      name: "timings from the query",
      input: { body: Buffer.alloc(0), query: { timings: "true" } },
      output: { fields: {}, files: {}, timings: true },
    },
    {
      name: "multipart: text fields and files",
      input: { body: form, contentType: "multipart/form-data; boundary=zz" },
      output: {
        fields: { lang: "en" },
        files: { image: ["JPEG", "application/octet-stream"] },
        timings: false,
      },
    },
    {
      name: "a raw PNG is the file 'image'",
      input: { body: Buffer.from("PNGDATA"), contentType: "image/png", query: { lang: "en" } },
      output: {
        fields: { lang: "en" },
        files: { image: ["PNGDATA", "image/png"] },
        timings: false,
      },
    },
    {
      name: "octet-stream is the file 'image' too",
      input: { body: Buffer.from("B"), contentType: "application/octet-stream" },
      output: { fields: {}, files: { image: ["B", "application/octet-stream"] }, timings: false },
    },
    {
      name: "a part named __proto__ is a plain field",
      input: {
        body: multipart("q", [
          'Content-Disposition: form-data; name="__proto__"; filename="x"\r\n\r\nX',
        ]),
        contentType: "multipart/form-data; boundary=q",
      },
      output: {
        fields: {},
        files: JSON.parse('{"__proto__": ["X", "application/octet-stream"]}'),
        timings: false,
      },
    },
    {
      name: "a field sent twice",
      input: {
        body: multipart("q", [
          'Content-Disposition: form-data; name="a"\r\n\r\n1',
          'Content-Disposition: form-data; name="a"\r\n\r\n2',
        ]),
        contentType: "multipart/form-data; boundary=q",
      },
      error: /field 'a' more than once/,
      status: 400,
    },
    {
      name: "bad JSON",
      input: { body: Buffer.from("{"), contentType: "application/json" },
      error: /not valid JSON/,
      status: 400,
    },
    {
      name: "a JSON array",
      input: { body: json([]), contentType: "application/json" },
      error: /must be a JSON object/,
      status: 400,
    },
    {
      name: "text/csv",
      input: { body: Buffer.from("a,b"), contentType: "text/csv" },
      error: /unsupported content type 'text\/csv'/,
      status: 415,
    },
    {
      name: "a body without a content type",
      input: { body: Buffer.from("x") },
      error: /unsupported content type '\(none\)'/,
      status: 415,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const run = () => toPipelineInput(c.input.body, c.input.contentType, c.input.query ?? {});
      if (c.error) {
        assert.throws(
          run,
          (e: unknown) => c.error!.test((e as Error).message) && httpErrorOf(e).status === c.status,
        );
        return;
      }
      const input = run();
      assert.deepEqual({ ...input.fields }, c.output!.fields);
      assert.equal(input.timings, c.output!.timings);
      const files = Object.fromEntries(
        Object.entries(input.files).map(([k, f]) => [
          k,
          [f.bytes.toString("latin1"), f.contentType],
        ]),
      );
      assert.deepEqual(files, c.output!.files);
      assert.equal(Object.getPrototypeOf(input.files), Object.prototype);
    });
  }
});

describe("inferTarget (the direct infer route's URL match)", () => {
  const cases: { url: string; target?: { model: string; version: string } }[] = [
    { url: "/v2/models/simple/infer", target: { model: "simple", version: "" } },
    { url: "/v2/models/simple/versions/3/infer", target: { model: "simple", version: "3" } },
    { url: "/v2/models/simple/infer?x=1", target: { model: "simple", version: "" } },
    { url: "/v2/models/my%20model/infer", target: { model: "my model", version: "" } },
    { url: "/v2/models/a%2Fb/infer", target: { model: "a/b", version: "" } },
    // Left to express, which serves or refuses them as before.
    { url: "/v2/models/simple/infer/" },
    { url: "/V2/MODELS/simple/INFER" },
    { url: "/v2/models/simple" },
    { url: "/v2/models//infer" },
    { url: "/v2/models/m#x/infer" },
    { url: "/v2/models/%E0%A4%A/infer" },
    { url: "/v2/models/a/b/infer" },
  ];
  for (const c of cases) {
    it(`${c.url} -> ${c.target ? JSON.stringify(c.target) : "express"}`, () => {
      assert.deepEqual(inferTarget(c.url), c.target);
    });
  }
});
