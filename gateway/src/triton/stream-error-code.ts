/**
 * A `ModelStreamInfer` failure carries only `error_message`, no status code (the stream itself
 * stays OK). To keep gRPC codes end to end, the code is recovered from Triton's message texts,
 * which are stable across releases. Unrecognised messages are INTERNAL: a failure of the
 * server whose cause we cannot tell.
 */
import { Code } from "../errors.js";

const RULES: ReadonlyArray<readonly [RegExp, Code]> = [
  // A backend's own failure, first: its text may say "must be" or "invalid" about the graph
  // (Triton: "onnx runtime error 2: ...", the embedded server: "onnxruntime: ...").
  [
    /^onnxruntime: |onnx runtime error \d+|non-zero status code returned while running/i,
    Code.INTERNAL,
  ],
  [/unknown model|is not found|not found/i, Code.NOT_FOUND],
  [/exceeds maximum queue size|is not ready|unavailable|unloading/i, Code.UNAVAILABLE],
  [/timed out|timeout|deadline/i, Code.DEADLINE_EXCEEDED],
  [/cancel/i, Code.CANCELLED],
  [/unimplemented|not supported/i, Code.UNIMPLEMENTED],
  [
    /unexpected (shape|inference (input|output))|data-type|datatype|batch-size|batch size|expected \d+ inputs|must be|invalid|not valid|NUL byte|malformed|mismatch|has no raw_input_contents|given more than once|requested more than once|is empty/i,
    Code.INVALID_ARGUMENT,
  ],
];

/** The gRPC code a stream `error_message` stands for. */
export function codeOfStreamError(message: string): Code {
  for (const [pattern, code] of RULES) if (pattern.test(message)) return code;
  return Code.INTERNAL;
}
