/**
 * The protobuf text format (the syntax of Triton's `config.pbtxt`), parsed and printed against a
 * protobufjs message descriptor. Generic over any message type; the Root must be loaded with
 * `keepCase: true` (as `protos.ts` does) so that field names are the .proto's snake_case names.
 *
 * JS shape of a message, the same as `decodeMessage` in `protos.ts` gives:
 * - keys are the proto field names; fields that the text does not set are absent (no defaults);
 * - repeated fields are arrays, map fields plain objects keyed by strings (also for integer and
 *   bool keys: `map<uint64, V>` key `1` is `"1"`);
 * - enums are their value names (`"TYPE_FP32"`), bools booleans, strings strings, bytes Buffers;
 * - every integer type is a JS number: int64/uint64 values beyond `Number.MAX_SAFE_INTEGER` are
 *   refused rather than rounded. float fields keep the decimal value as a double (the wire
 *   encoding rounds to 32 bits), so `0.1` reads as `0.1`.
 *
 * The grammar follows https://protobuf.dev/reference/protobuf/textformat-spec/ : `#` comments,
 * `{}` or `<>` message delimiters with an optional `:` before them, `[a, b]` lists (of scalars and
 * of messages), `,` or `;` after any field, adjacent string literals concatenated, C escapes,
 * decimal/hex/octal integers, `inf`/`nan`, enums by name or number. Extensions and `Any`
 * expansions (`[type.name]`) are not supported. A map key given twice is an error here (the C++
 * parser keeps the last), since in a config file it is always a mistake.
 */
import type { Type } from "protobufjs";
import { Lexer } from "./text-format-lexer.js";
import { Parser } from "./text-format-parser.js";
import { printFields } from "./text-format-printer.js";
import { shapeOf } from "./text-format-shape.js";

export { TextFormatError } from "./text-format-error.js";

/**
 * Parses `text` as the text format of message `type`. `fileName` only labels error messages.
 * Throws {@link TextFormatError} at the first error.
 */
export function parseTextFormat(
  type: Type,
  text: string,
  fileName: string,
): Record<string, unknown> {
  const parser = new Parser(new Lexer(text, fileName), fileName);
  return parser.parseMessageBody(shapeOf(type), undefined, "");
}

/**
 * Prints `message` (in the JS shape above) as canonical text format: fields in field-number
 * order, 2-space indents, repeated scalars as `dims: [ 3, 224, 224 ]`, repeated messages as
 * `input [ { ... }, { ... } ]` (Triton's own style), map entries as repeated
 * `parameters { key: "k" value { ... } }` blocks, strings double-quoted with C escapes and floats
 * in the shortest form that reads back to the same double. Empty arrays and maps print as `[]`
 * so that `parseTextFormat(t, printTextFormat(t, m))` deep-equals `m`. Throws an INVALID_ARGUMENT
 * InferError for keys that are not fields of `type` or values of the wrong type.
 */
export function printTextFormat(type: Type, message: Record<string, unknown>): string {
  const lines: string[] = [];
  printFields(shapeOf(type), message, "", "", lines);
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}
