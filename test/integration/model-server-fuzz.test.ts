/**
 * Fuzz-style robustness of the embedded model server over a real gRPC socket: hundreds of
 * malformed ModelInferRequests (each with at least one defect that no other defect can repair),
 * on unary calls and on one stream, and raw garbage that the server's protobuf deserializer has
 * to reject. Every call must end with a bounded set of status codes, none may hang, and the
 * server must serve a valid request afterwards. Seeded: set FUZZ_SEED to explore others.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { Code } from "../../gateway/src/errors.js";
import { DATA_TYPES } from "../../gateway/src/protocol/datatype.js";
import { encodeMessage } from "../../gateway/src/protocol/protos.js";
import {
  deadlineIn,
  type Message,
  makeTempRepository,
  methodDefinition,
  startTestModelServer,
  type TempRepository,
  type TestModelServer,
} from "./helpers/model-server.js";

const SEED = Number(process.env["FUZZ_SEED"] ?? 20_240_611);
const RUNS = 300;
const DEADLINE_MS = 3000;
const ROW = 16;
const REQUEST_TYPE = "inference.ModelInferRequest";

/** What a malformed but decodable request may end with. */
const REQUEST_CODES: ReadonlySet<number> = new Set([Code.INVALID_ARGUMENT, Code.NOT_FOUND]);
/** grpc-js answers bytes its deserializer rejects with INTERNAL and this text. */
const UNDECODABLE = /^Error deserializing request/;

const int32Bytes = (values: readonly number[]) => Buffer.from(new Int32Array(values).buffer);

/** A valid one-row `simple` request, as a plain object to mutate. */
function validRequest(): Message {
  const input0 = Array.from({ length: ROW }, (_, i) => i);
  return {
    model_name: "simple",
    model_version: "",
    id: "fuzz",
    parameters: {},
    inputs: [
      { name: "INPUT0", datatype: "INT32", shape: [1, ROW] },
      { name: "INPUT1", datatype: "INT32", shape: [1, ROW] },
    ],
    outputs: [],
    raw_input_contents: [int32Bytes(input0), int32Bytes(input0)],
  };
}

/** A shape `simple` accepts: [rows, 16] with 1 <= rows <= 8. NaN and Infinity never qualify. */
function isServableShape(dims: readonly unknown[]): boolean {
  const [rows, width] = dims.map(Number);
  return dims.length === 2 && width === ROW && Number.isInteger(rows) && rows! >= 1 && rows! <= 8;
}

const input = fc.constantFrom(0, 1);
const bogusDatatype = fc
  .oneof(
    fc.constantFrom(...DATA_TYPES),
    fc.constantFrom("", "int32", "FLOAT32", "INT33", "TYPE_INT32", "STRING", "INT32 ", "INT32\0"),
    fc.string({ maxLength: 10 }),
  )
  .filter((datatype) => datatype !== "INT32");
// Dims as protobufjs takes int64s: numbers (NaN encodes as 0, Infinity as 2^63-1) and strings.
const dim = fc.oneof(
  fc.integer({ min: -20, max: 40 }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 31, 2 ** 53),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
);
const bogusShape = fc.array(dim, { maxLength: 5 }).filter((dims) => !isServableShape(dims));
const notInputName = fc.string({ maxLength: 12 }).filter((n) => n !== "INPUT0" && n !== "INPUT1");

/**
 * One defect. None is repaired by another applied later: typed contents are always of the
 * wrong field or count, shapes never servable, datatypes never INT32, names never both right.
 */
const defect = fc.oneof(
  fc.record({ kind: fc.constant("datatype"), input, datatype: bogusDatatype }),
  fc.record({ kind: fc.constant("shape"), input, shape: bogusShape }),
  fc.record({
    kind: fc.constant("rawLength"),
    input,
    bytes: fc.uint8Array({ maxLength: 200 }).filter((b) => b.length !== 4 * ROW),
  }),
  fc.record({ kind: fc.constant("rawCount"), extra: fc.boolean() }),
  fc.record({
    kind: fc.constant("mixed"),
    input,
    contents: fc.oneof(
      // Never empty: an empty field counts as unset, which would be no defect at all.
      fc.record({ int_contents: fc.array(fc.integer(), { minLength: 1, maxLength: 15 }) }),
      fc.record({
        fp32_contents: fc.array(fc.float({ noNaN: true }), { minLength: 1, maxLength: 20 }),
      }),
      fc.record({
        bytes_contents: fc.array(fc.uint8Array({ maxLength: 4 }), { minLength: 1, maxLength: 3 }),
      }),
    ),
  }),
  fc.record({
    kind: fc.constant("typedOnly"),
    values: fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 40 }),
    field: fc.constantFrom("int_contents", "int64_contents", "uint_contents", "fp64_contents"),
  }),
  fc.record({ kind: fc.constant("name"), input, name: notInputName }),
  fc.record({ kind: fc.constant("duplicateName") }),
  fc.record({
    kind: fc.constant("truncatedBytes"),
    input,
    elements: fc.array(fc.uint8Array({ maxLength: 8 }), { minLength: 1, maxLength: 4 }),
    cut: fc.integer({ min: 1, max: 6 }),
  }),
  fc.record({
    kind: fc.constant("model"),
    name: fc.oneof(
      fc.constantFrom("", "ocr_cls", "SIMPLE", "simple ", "nope"),
      fc.string({ maxLength: 16 }).filter((n) => n !== "simple"),
    ),
  }),
  fc.record({
    kind: fc.constant("version"),
    version: fc.constantFrom("0", "2", "abc", " 1", "1.0", "-2", "18446744073709551617"),
  }),
  fc.record({
    kind: fc.constant("output"),
    names: fc.oneof(
      fc.constant<string[]>(["OUTPUT0", "OUTPUT0"]),
      fc.constant<string[]>([""]),
      fc.array(
        fc.string({ maxLength: 8 }).filter((n) => n !== "OUTPUT0" && n !== "OUTPUT1"),
        { minLength: 1, maxLength: 3 },
      ),
    ),
  }),
  fc.record({
    kind: fc.constant("parameter"),
    name: fc.constantFrom("priority", "timeout"),
    value: fc.oneof(
      fc.record({ int64_param: fc.integer({ min: -(2 ** 40), max: -1 }) }),
      fc.record({
        double_param: fc.double().filter((d) => !Number.isInteger(d) || d < 0),
      }),
      fc.record({ string_param: fc.string({ maxLength: 8 }) }),
      fc.record({ bool_param: fc.boolean() }),
    ),
  }),
);

/** Parameters that change nothing: unreserved names, any type. */
const noise = fc.dictionary(
  fc.string({ maxLength: 8 }).map((name) => `n_${name}`),
  fc.oneof(
    fc.record({ bool_param: fc.boolean() }),
    fc.record({ int64_param: fc.integer() }),
    fc.record({ string_param: fc.string({ maxLength: 8 }) }),
    fc.record({ double_param: fc.double() }),
    fc.record({ uint64_param: fc.nat() }),
  ),
  { maxKeys: 3 },
);

type Defect = typeof defect extends fc.Arbitrary<infer D> ? D : never;

function applyDefect(request: Message, d: Defect): void {
  const inputs: Message[] = request.inputs;
  const raw: Uint8Array[] = request.raw_input_contents;
  switch (d.kind) {
    case "datatype":
      inputs[d.input]!.datatype = d.datatype;
      return;
    case "shape":
      inputs[d.input]!.shape = d.shape;
      return;
    case "rawLength":
      if (raw.length > d.input) raw[d.input] = d.bytes;
      return;
    case "rawCount":
      // Adds a short entry at the end or drops the first: the two never cancel out.
      if (d.extra) raw.push(int32Bytes([1, 2, 3]));
      else raw.shift();
      return;
    case "mixed":
      inputs[d.input]!.contents = d.contents;
      return;
    case "typedOnly":
      // INPUT0 gets a wrong field or count (int_contents is right only with 16 values).
      request.raw_input_contents = [];
      inputs[0]!.contents = {
        [d.field]: d.field === "int_contents" && d.values.length === ROW ? [0] : d.values,
      };
      inputs[1]!.contents = { int_contents: Array.from({ length: ROW }, (_, i) => i) };
      return;
    case "name":
      inputs[d.input]!.name = d.name;
      return;
    case "duplicateName":
      inputs[1]!.name = "INPUT0";
      return;
    case "truncatedBytes": {
      const prefixed = Buffer.concat(
        d.elements.flatMap((e) => [Buffer.from(new Uint32Array([e.length]).buffer), e]),
      );
      inputs[d.input]!.datatype = "BYTES";
      inputs[d.input]!.shape = [1, d.elements.length];
      if (raw.length > d.input) raw[d.input] = prefixed.subarray(0, prefixed.length - d.cut);
      return;
    }
    case "model":
      request.model_name = d.name;
      return;
    case "version":
      request.model_version = d.version;
      return;
    case "output":
      request.outputs = d.names.map((name) => ({ name }));
      return;
    case "parameter":
      request.parameters[d.name] = d.value;
      return;
  }
}

const malformedRequest = fc
  .record({
    defects: fc.array(defect, { minLength: 1, maxLength: 3 }),
    noise,
    id: fc.string({ maxLength: 12 }),
  })
  .map(({ defects, noise: extra, id }) => {
    const request = validRequest();
    request.id = id;
    request.parameters = { ...extra };
    for (const d of defects) applyDefect(request, d);
    return { defects, request };
  });

const someBytes = (max: number) => fc.uint8Array({ maxLength: max });
/** Garbage: random bytes, truncated valid messages, and valid fields wrapping random bytes. */
const garbage = fc.oneof(
  someBytes(512),
  fc.integer({ min: 0, max: 10_000 }).map((n) => {
    const whole = encodeMessage(REQUEST_TYPE, validRequest());
    return whole.subarray(0, n % whole.length);
  }),
  // field 5 (inputs) or 4 (parameters) holding random bytes, after a valid model_name
  fc
    .tuple(fc.constantFrom(0x22, 0x2a, 0x32), someBytes(100))
    .map(([tag, body]) =>
      Buffer.concat([
        encodeMessage(REQUEST_TYPE, { model_name: "simple" }),
        Buffer.from([tag, body.length]),
        body,
      ]),
    ),
  // a length prefix that claims more bytes than follow
  fc
    .tuple(fc.constantFrom(0x0a, 0x3a), fc.integer({ min: 1, max: 127 }))
    .map(([tag, claim]) => Buffer.from([tag, claim, 0x41])),
);

/** Sends pre-encoded bytes as a ModelInferRequest (the client serializer is the identity). */
function sendBytes(
  h: TestModelServer,
  bytes: Uint8Array,
): Promise<{ code: Code; details: string }> {
  const definition = methodDefinition("ModelInfer");
  return new Promise((resolve) => {
    h.client.makeUnaryRequest(
      definition.path,
      (message: Uint8Array) => Buffer.from(message),
      definition.responseDeserialize,
      bytes,
      new grpc.Metadata(),
      { deadline: deadlineIn(DEADLINE_MS) },
      (error) =>
        resolve(
          error
            ? { code: error.code as number as Code, details: error.details }
            : { code: Code.OK, details: "" },
        ),
    );
  });
}

describe("model server fuzzing over gRPC", () => {
  let repo: TempRepository;
  let h: TestModelServer;

  before(async () => {
    repo = await makeTempRepository(["simple", "ocr_cls"]);
    h = await startTestModelServer(repo.path);
  });
  after(async () => {
    await h?.close();
    await repo?.remove();
  });

  it(`${RUNS} malformed ModelInferRequests each end INVALID_ARGUMENT or NOT_FOUND`, async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(malformedRequest, async ({ request }) => {
        const result = await sendBytes(h, encodeMessage(REQUEST_TYPE, request));
        seen.set(result.code, (seen.get(result.code) ?? 0) + 1);
        assert.ok(REQUEST_CODES.has(result.code), `code ${result.code}: ${result.details}`);
        assert.ok(result.details.length > 0, "an error names its problem");
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    // The generator reaches both outcomes, not just the first check that fails.
    assert.ok((seen.get(Code.INVALID_ARGUMENT) ?? 0) > RUNS / 2, JSON.stringify([...seen]));
    assert.ok((seen.get(Code.NOT_FOUND) ?? 0) > 0, JSON.stringify([...seen]));
  });

  it(`${RUNS} garbage messages end INVALID_ARGUMENT, NOT_FOUND or INTERNAL (undecodable)`, async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(garbage, async (bytes) => {
        const result = await sendBytes(h, bytes);
        seen.set(result.code, (seen.get(result.code) ?? 0) + 1);
        if (result.code === Code.INTERNAL) {
          assert.match(result.details, UNDECODABLE, "INTERNAL only for bytes that do not decode");
        } else {
          assert.ok(REQUEST_CODES.has(result.code), `code ${result.code}: ${result.details}`);
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    assert.ok((seen.get(Code.INTERNAL) ?? 0) > 0, JSON.stringify([...seen]));
    assert.ok((seen.get(Code.INVALID_ARGUMENT) ?? 0) > 0, JSON.stringify([...seen]));
  });

  it("malformed requests on one stream each get one error_message; the stream lives on", async () => {
    const samples = fc.sample(malformedRequest, { numRuns: 60, seed: SEED });
    const stream = h.stream({ deadlineMs: 10_000 });
    const responses: Message[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on("data", (response: Message) => responses.push(response));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    samples.forEach(({ request }, i) => {
      stream.write({ ...request, id: `m${i}` });
    });
    stream.write({ ...validRequest(), id: "valid" });
    stream.end();
    await ended;
    assert.equal(responses.length, samples.length + 1);
    const byId = new Map(responses.map((r) => [r.infer_response?.id, r]));
    samples.forEach((_, i) => {
      const response = byId.get(`m${i}`);
      assert.ok(response, `a response to m${i}`);
      assert.ok(response.error_message?.length > 0, `m${i} answered with an error_message`);
    });
    assert.equal(byId.get("valid")?.error_message, undefined);
    assert.equal(byId.get("valid")?.infer_response.outputs.length, 2);
  });

  it("the server still answers, serves a valid request and has nothing pending", async () => {
    assert.deepEqual(await h.call("ServerLive", {}), { live: true });
    const response = await h.call("ModelInfer", validRequest());
    const sums = Buffer.from(response.raw_output_contents[0]);
    assert.deepEqual(
      Array.from({ length: ROW }, (_, i) => sums.readInt32LE(i * 4)),
      Array.from({ length: ROW }, (_, i) => 2 * i),
    );
    assert.equal(h.server.manager.get("simple").pendingCount(), 0);
  });
});
