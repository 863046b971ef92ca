/** The gRPC code recovered from a `ModelStreamInfer` `error_message`, table-driven. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "../../gateway/src/errors.js";
import { codeOfStreamError } from "../../gateway/src/triton/stream-error-code.js";

const CASES: Array<{ message: string; code: Code }> = [
  { message: "Request for unknown model: 'nope' is not found", code: Code.NOT_FOUND },
  { message: "request specifies unknown model version", code: Code.NOT_FOUND },
  { message: "Exceeds maximum queue size", code: Code.UNAVAILABLE },
  { message: "model 'simple' is not ready: LOADING", code: Code.UNAVAILABLE },
  { message: "Request timeout expired", code: Code.DEADLINE_EXCEEDED },
  { message: "the request was cancelled", code: Code.CANCELLED },
  { message: "shared memory is not supported", code: Code.UNIMPLEMENTED },
  {
    message: "unexpected shape for input 'INPUT0' for model 'simple'. Expected [-1,16], got [1,15]",
    code: Code.INVALID_ARGUMENT,
  },
  {
    message: "inference input 'INPUT0' data-type is 'FP32', but model expects 'INT32'",
    code: Code.INVALID_ARGUMENT,
  },
  // A backend failing, though its text says "must be" or "invalid": INTERNAL, a server fault.
  {
    message:
      "onnxruntime: Non-zero status code returned while running Gather node. Name:'gather_1' Status Message: indices element out of data bounds, idx=99 must be within the inclusive range [-16,15]",
    code: Code.INTERNAL,
  },
  {
    message:
      "onnx runtime error 2: Non-zero status code returned while running Reshape node: invalid shape",
    code: Code.INTERNAL,
  },
  {
    message:
      "input 'INPUT0': BYTES element 0 contains a NUL byte, which the ONNX Runtime backend cannot carry unchanged",
    code: Code.INVALID_ARGUMENT,
  },
  { message: "something nobody has seen before", code: Code.INTERNAL },
];

describe("codeOfStreamError", () => {
  for (const { message, code } of CASES) {
    it(`${Code[code]}: ${message.slice(0, 60)}`, () =>
      assert.equal(codeOfStreamError(message), code));
  }
});
