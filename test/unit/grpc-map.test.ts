import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { Code, InferError } from "../../gateway/src/errors.js";
import { toGrpcStatus } from "../../gateway/src/grpc/map-error.js";
import {
  deadlineMsOf,
  REQUEST_ID_KEY,
  requestContextOf,
  requestIdOf,
  responseMetadata,
  streamRequestContextOf,
  toCoreInferRequest,
  toModelInferResponse,
} from "../../gateway/src/grpc/map-request.js";
import { toPipelineInfo, toPipelineInput } from "../../gateway/src/grpc/pipelines-service.js";
import type { Logger } from "../../gateway/src/log.js";
import {
  decodeInferResponseMessage,
  type InferParameterMessage,
  type ModelInferRequestMessage,
} from "../../gateway/src/protocol/infer-message.js";
import { captureLogger } from "../fixtures/capture-logger.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A stand-in for a grpc-js server call: metadata, deadline, and the `cancelled` event. */
function fakeCall(options: { metadata?: Metadata; deadline?: Date | number; cancelled?: boolean }) {
  return Object.assign(new EventEmitter(), {
    metadata: options.metadata ?? new Metadata(),
    cancelled: options.cancelled ?? false,
    getDeadline: () => options.deadline ?? Number.POSITIVE_INFINITY,
  });
}

function metadataWith(...values: string[]): Metadata {
  const metadata = new Metadata();
  for (const value of values) metadata.add(REQUEST_ID_KEY, value);
  return metadata;
}

describe("requestIdOf", () => {
  const cases: { name: string; input: string[]; output?: string }[] = [
    { name: "a plain id is kept", input: ["abc-123"], output: "abc-123" },
    { name: "dots, colons and underscores are kept", input: ["a.b:c_d-E9"], output: "a.b:c_d-E9" },
    { name: "128 characters are kept", input: ["x".repeat(128)], output: "x".repeat(128) },
    { name: "the first of several values is used", input: ["first", "second"], output: "first" },
    { name: "129 characters are replaced", input: ["x".repeat(129)] },
    { name: "an empty id is replaced", input: [""] },
    { name: "a space is replaced", input: ["a b"] },
    { name: "a slash is replaced", input: ["a/b"] },
    { name: "markup is replaced", input: ["<script>"] },
    { name: "no id gets one", input: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const id = requestIdOf(metadataWith(...c.input));
      if (c.output !== undefined) assert.equal(id, c.output);
      else assert.match(id, UUID);
    });
  }
  it("generates a different id each time", () => {
    assert.notEqual(requestIdOf(new Metadata()), requestIdOf(new Metadata()));
  });
  it("returns the id in initial metadata", () => {
    assert.deepEqual(responseMetadata("r-1").get(REQUEST_ID_KEY), ["r-1"]);
  });
});

describe("deadlineMsOf", () => {
  const now = 1_700_000_000_000;
  const cases: { name: string; input: Date | number; output: number }[] = [
    { name: "a Date deadline", input: new Date(now + 1500), output: now + 1500 },
    { name: "a number deadline (ms since the epoch)", input: now + 250, output: now + 250 },
    { name: "a deadline already passed stays as it is", input: now - 10, output: now - 10 },
    { name: "no deadline (Infinity) takes the default", input: Infinity, output: now + 30_000 },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(deadlineMsOf(c.input, 30_000, now), c.output));
  }
});

describe("requestContextOf", () => {
  const options = (log: Logger) => ({ log, defaultTimeoutMs: 5000 });

  it("carries the request id, the deadline and a logger bound to both id and rpc", () => {
    const log = captureLogger();
    const deadline = new Date(Date.now() + 1234);
    const call = fakeCall({ metadata: metadataWith("req-7"), deadline });
    const { ctx } = requestContextOf(call, "ModelInfer", options(log));
    assert.equal(ctx.requestId, "req-7");
    assert.equal(ctx.deadlineMs, deadline.getTime());
    ctx.log.info({ a: 1 }, "hello");
    assert.deepEqual(log.lines[0]?.bindings, { request_id: "req-7", rpc: "ModelInfer" });
  });

  it("defaults the deadline from now", () => {
    const before = Date.now();
    const { ctx } = requestContextOf(fakeCall({}), "ModelInfer", options(captureLogger()));
    assert.ok(ctx.deadlineMs >= before + 5000 && ctx.deadlineMs <= Date.now() + 5000);
  });

  it("aborts the signal, with CANCELLED, when the call is cancelled", () => {
    const call = fakeCall({});
    const { ctx } = requestContextOf(call, "ModelInfer", options(captureLogger()));
    assert.equal(ctx.signal.aborted, false);
    call.emit("cancelled", "Cancelled on client");
    assert.equal(ctx.signal.aborted, true);
    assert.equal((ctx.signal.reason as InferError).code, Code.CANCELLED);
  });

  it("once released, no longer watches the call: its signal stays as it was", () => {
    const call = fakeCall({});
    const { ctx, release } = requestContextOf(call, "ModelInfer", options(captureLogger()));
    release();
    assert.equal(call.listenerCount("cancelled"), 0);
    call.emit("cancelled", "stream closed after the answer");
    assert.equal(ctx.signal.aborted, false);
  });

  it("is aborted from the start for a call cancelled before it was read", () => {
    const { ctx } = requestContextOf(fakeCall({ cancelled: true }), "X", options(captureLogger()));
    assert.equal(ctx.signal.aborted, true);
  });

  it("numbers the requests of a stream and gives each the default deadline from now", () => {
    const log = captureLogger();
    const signal = new AbortController().signal;
    const scope = { requestId: "s-1", deadline: Infinity, signal };
    const ctx = streamRequestContextOf(scope, 3, options(log));
    assert.equal(ctx.requestId, "s-1.3");
    assert.equal(ctx.signal, signal);
    assert.ok(Math.abs(ctx.deadlineMs - (Date.now() + 5000)) < 1000);
    ctx.log.info({}, "x");
    assert.deepEqual(log.lines[0]?.bindings, { request_id: "s-1.3", rpc: "ModelStreamInfer" });
    const bounded = streamRequestContextOf({ ...scope, deadline: 42 }, 0, options(log));
    assert.equal(bounded.deadlineMs, 42);
  });
});

describe("toCoreInferRequest", () => {
  const int32 = (...values: number[]) => Buffer.from(new Int32Array(values).buffer);
  const message = (parameters: Record<string, InferParameterMessage> = {}) =>
    ({
      model_name: "simple",
      model_version: "2",
      id: "client-id",
      parameters,
      inputs: [{ name: "INPUT0", datatype: "INT32", shape: [1, 2] }],
      outputs: [{ name: "OUTPUT0" }],
      raw_input_contents: [int32(5, 6)],
    }) satisfies ModelInferRequestMessage;

  interface Case {
    name: string;
    input: ModelInferRequestMessage;
    output?: Record<string, unknown>;
    error?: RegExp;
  }
  const cases: Case[] = [
    {
      name: "priority, timeout and sequence parameters pass through",
      input: message({
        priority: { int64_param: 1 },
        timeout: { int64_param: 5000 },
        sequence_id: { uint64_param: 9 },
        sequence_start: { bool_param: true },
        custom: { string_param: "x" },
      }),
      output: { priority: 1, timeout: 5000, sequence_id: 9, sequence_start: true, custom: "x" },
    },
    {
      name: "binary_data_output and headers are the gateway's and are dropped",
      input: message({ binary_data_output: { bool_param: true }, headers: { string_param: "h" } }),
      output: {},
    },
    {
      name: "a negative priority is refused",
      input: message({ priority: { int64_param: -1 } }),
      error: /'priority' must be a non-negative integer/,
    },
    {
      name: "a fractional timeout is refused",
      input: message({ timeout: { double_param: 1.5 } }),
      error: /'timeout' must be a non-negative integer/,
    },
    {
      name: "a string priority is refused",
      input: message({ priority: { string_param: "high" } }),
      error: /'priority' must be a non-negative integer, got "high"/,
    },
    {
      name: "an empty model name is refused",
      input: { ...message(), model_name: "" },
      error: /model_name is empty/,
    },
    {
      name: "a tensor beyond the element limit is refused",
      input: {
        ...message(),
        inputs: [{ name: "INPUT0", datatype: "INT32", shape: [1000, 1000] }],
        raw_input_contents: [Buffer.alloc(0)],
      },
      error: /more than the limit of 1000$/,
    },
    {
      name: "raw contents that do not match the shape are refused",
      input: { ...message(), raw_input_contents: [int32(1)] },
      error: /INPUT0/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      if (c.error) {
        assert.throws(
          () => toCoreInferRequest(c.input, 1000),
          (e: unknown) =>
            e instanceof InferError && e.code === Code.INVALID_ARGUMENT && c.error!.test(e.message),
        );
        return;
      }
      const request = toCoreInferRequest(c.input, 1000);
      assert.deepEqual(request.parameters, c.output);
      assert.equal(request.modelName, "simple");
      assert.equal(request.modelVersion, "2");
      assert.equal(request.id, "client-id");
      assert.deepEqual(request.outputs, [{ name: "OUTPUT0", parameters: {} }]);
      assert.deepEqual(Array.from(request.inputs[0]!.data as Int32Array), [5, 6]);
    });
  }
});

describe("toModelInferResponse", () => {
  it("puts outputs in raw_output_contents and decodes back to the same tensors", () => {
    const response = toModelInferResponse({
      modelName: "simple",
      modelVersion: "1",
      id: "abc",
      outputs: [
        { name: "OUTPUT0", datatype: "INT32", shape: [1, 3], data: Int32Array.of(1, 2, 3) },
      ],
      parameters: { sequence_id: 4 },
    });
    assert.equal(response.raw_output_contents?.length, 1);
    assert.equal(response.outputs?.[0]?.contents, undefined);
    const decoded = decodeInferResponseMessage(response);
    assert.equal(decoded.id, "abc");
    assert.equal(decoded.modelVersion, "1");
    assert.deepEqual(decoded.parameters, { sequence_id: 4 });
    assert.deepEqual(Array.from(decoded.outputs[0]!.data as Int32Array), [1, 2, 3]);
  });
});

describe("toGrpcStatus", () => {
  // Every code but OK travels as itself; OK is no error and becomes UNKNOWN.
  const codes = Object.values(Code).filter((v): v is Code => typeof v === "number");
  for (const code of codes) {
    const expected = code === Code.OK ? Code.UNKNOWN : code;
    it(`maps ${Code[code]} to status ${expected}`, () => {
      const log = captureLogger();
      const status = toGrpcStatus(new InferError(code, "the message"), log, "r-1");
      assert.equal(status.code as number, expected);
      assert.equal(status.details, "the message");
      const logged = log.lines.filter((l) => l.level === "error").length;
      assert.equal(logged, expected === Code.INTERNAL || expected === Code.UNKNOWN ? 1 : 0);
    });
  }

  const cases: {
    name: string;
    input: unknown;
    output: { code: Code; details: string | RegExp };
    logged?: RegExp;
  }[] = [
    {
      name: "an InferError's cause is logged, never sent",
      input: new InferError(Code.INTERNAL, "backend failed", {
        cause: new Error("secret path /opt/x"),
      }),
      output: { code: Code.INTERNAL, details: "backend failed" },
      logged: /secret path \/opt\/x/,
    },
    {
      name: "a bug's message is not sent: the client gets the request id",
      input: new TypeError("cannot read properties of undefined (reading 'shape')"),
      output: { code: Code.INTERNAL, details: "internal error (request id r-1)" },
      logged: /TypeError: cannot read properties/,
    },
    {
      name: "a thrown string is INTERNAL",
      input: "oops",
      output: { code: Code.INTERNAL, details: "internal error (request id r-1)" },
      logged: /oops/,
    },
    {
      name: "a grpc-js ServiceError from Triton keeps its code and details",
      input: Object.assign(new Error("5 NOT_FOUND: Request for unknown model"), {
        code: 5,
        details: "Request for unknown model: 'x' is not found",
      }),
      output: { code: Code.NOT_FOUND, details: "Request for unknown model: 'x' is not found" },
    },
    {
      name: "a Node system error (string code) is INTERNAL without its message",
      input: Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:8001"), {
        code: "ECONNREFUSED",
      }),
      output: { code: Code.INTERNAL, details: "internal error (request id r-1)" },
      logged: /ECONNREFUSED/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const log = captureLogger();
      const status = toGrpcStatus(c.input, log, "r-1");
      assert.equal(status.code as number, c.output.code);
      if (typeof c.output.details === "string") assert.equal(status.details, c.output.details);
      else assert.match(status.details, c.output.details);
      if (c.logged) {
        const line = log.lines.find((l) => l.level === "error");
        assert.ok(line, "an error line is logged");
        assert.match(JSON.stringify(line.fields), c.logged);
        assert.doesNotMatch(status.details, c.logged);
      }
    });
  }
});

describe("Pipelines mapping", () => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
  const cases: {
    name: string;
    input: Parameters<typeof toPipelineInput>[0];
    output?: ReturnType<typeof toPipelineInput>;
    error?: RegExp;
  }[] = [
    {
      name: "empty options are {}",
      input: {},
      output: { fields: {}, files: {}, timings: false },
    },
    {
      name: "options, files with and without a content type, timings",
      input: {
        options_json: '{"max_boxes": 3}',
        files: { image: png, extra: png },
        content_types: { image: "image/png" },
        timings: true,
      },
      output: {
        fields: { max_boxes: 3 },
        files: {
          image: { bytes: png, contentType: "image/png" },
          extra: { bytes: png, contentType: "application/octet-stream" },
        },
        timings: true,
      },
    },
    { name: "invalid JSON", input: { options_json: "{" }, error: /not valid JSON/ },
    { name: "a JSON array", input: { options_json: "[1]" }, error: /must be a JSON object/ },
    { name: "JSON null", input: { options_json: "null" }, error: /must be a JSON object/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      if (c.error) {
        assert.throws(
          () => toPipelineInput(c.input),
          (e: unknown) =>
            e instanceof InferError && e.code === Code.INVALID_ARGUMENT && c.error!.test(e.message),
        );
      } else {
        assert.deepEqual(toPipelineInput(c.input), c.output);
      }
    });
  }

  it("describes a pipeline with its schemas as JSON text that parses back", () => {
    const description = {
      name: "p",
      version: "1",
      description: "d",
      input: { type: "object", properties: { a: { type: "number" } } },
      output: { type: "object" },
      models: ["simple"],
    };
    const info = toPipelineInfo(description);
    assert.deepEqual(JSON.parse(info.input_schema_json), description.input);
    assert.deepEqual(JSON.parse(info.output_schema_json), description.output);
    assert.deepEqual(info.models, ["simple"]);
  });
});
