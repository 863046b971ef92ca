import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import protobuf, { type Enum, type Type } from "protobufjs";
import { Code } from "../../gateway/src/errors.js";
import { parseModelConfig, printModelConfig } from "../../gateway/src/protocol/model-config.js";
import {
  parseTextFormat,
  printTextFormat,
  TextFormatError,
} from "../../gateway/src/protocol/pbtxt.js";
import { lookupMessage } from "../../gateway/src/protocol/protos.js";

/** A small message with every scalar type, maps of each key kind, a oneof and recursion. */
const TEST_PROTO = `
syntax = "proto3";
package test;
enum Color { COLOR_UNSET = 0; RED = 1; GREEN = 2; }
message Inner {
  string label = 1;
  repeated int32 values = 2;
  Inner child = 3;
}
message Everything {
  int32 i32 = 1;
  uint32 u32 = 2;
  int64 i64 = 3;
  uint64 u64 = 4;
  sint32 s32 = 5;
  fixed32 f32 = 6;
  sfixed64 sf64 = 7;
  float fl = 8;
  double db = 9;
  bool b = 10;
  string s = 11;
  bytes raw = 12;
  Color color = 13;
  Inner inner = 14;
  repeated int32 ints = 15;
  repeated string strings = 16;
  repeated Inner inners = 17;
  repeated Color colors = 18;
  repeated double doubles = 19;
  repeated bool bools = 20;
  map<string, string> labels = 21;
  map<uint64, Inner> by_id = 22;
  map<int32, Color> color_by_int = 23;
  map<bool, string> by_flag = 24;
  map<string, Inner> named = 25;
  oneof choice {
    string text = 26;
    Inner nested = 27;
    int32 number = 28;
  }
}
`;

const testRoot = protobuf.parse(TEST_PROTO, { keepCase: true }).root;
testRoot.resolveAll();
const Everything = testRoot.lookupType("test.Everything");
const ModelConfig = lookupMessage("inference.ModelConfig");

interface Case {
  name: string;
  input: string;
  output?: Record<string, unknown>;
  error?: RegExp;
  /** The message type to parse as; test.Everything unless given. */
  type?: Type;
}

const FILE = "config.pbtxt";

const cases: Case[] = [
  // Structure, comments and separators
  { name: "empty input", input: "", output: {} },
  { name: "only comments and blank lines", input: "# one\n\n   # two\n", output: {} },
  { name: "leading byte order mark", input: "\uFEFFi32: 1", output: { i32: 1 } },
  {
    name: "comments everywhere",
    input:
      "# head\ni32 # after name\n: # after colon\n 5 # after value\ninner # x\n{ # y\n label: 'a' # z\n} # end",
    output: { i32: 5, inner: { label: "a" } },
  },
  {
    name: "comma and semicolon separators",
    input: "i32: 1, u32: 2; b: true;",
    output: { i32: 1, u32: 2, b: true },
  },
  {
    name: "no separators on one line",
    input: "i32: 1 u32: 2 s: 'x'",
    output: { i32: 1, u32: 2, s: "x" },
  },
  { name: "CRLF line ends", input: "i32: 1\r\nu32: 2\r\n", output: { i32: 1, u32: 2 } },
  // Nested messages
  { name: "message with braces", input: "inner { label: 'a' }", output: { inner: { label: "a" } } },
  {
    name: "message with colon and braces",
    input: "inner: { label: 'a' }",
    output: { inner: { label: "a" } },
  },
  {
    name: "message with angle brackets",
    input: "inner < label: 'a' >",
    output: { inner: { label: "a" } },
  },
  {
    name: "message with colon and angle brackets",
    input: "inner: <label: 'a'>",
    output: { inner: { label: "a" } },
  },
  { name: "empty message", input: "inner {}", output: { inner: {} } },
  {
    name: "deeply nested messages",
    input: "inner { child { child < label: 'deep' > } }",
    output: { inner: { child: { child: { label: "deep" } } } },
  },
  {
    name: "oneof with one member",
    input: "nested { label: 'n' }",
    output: { nested: { label: "n" } },
  },
  // Repeated fields
  { name: "repeated scalars as a list", input: "ints: [1, 2, 3]", output: { ints: [1, 2, 3] } },
  { name: "repeated scalars as entries", input: "ints: 1 ints: 2", output: { ints: [1, 2] } },
  {
    name: "repeated list and entries mixed",
    input: "ints: [1] ints: 2 ints: [3, 4]",
    output: { ints: [1, 2, 3, 4] },
  },
  { name: "empty list", input: "ints: []", output: { ints: [] } },
  {
    name: "list of strings",
    input: "strings: [ 'a', \"b\" 'c' ]",
    output: { strings: ["a", "bc"] },
  },
  {
    name: "list of enums",
    input: "colors: [RED, 2, COLOR_UNSET]",
    output: { colors: ["RED", "GREEN", "COLOR_UNSET"] },
  },
  {
    name: "list of messages without colon",
    input: "inners [ { label: 'a' }, { label: 'b' } ]",
    output: { inners: [{ label: "a" }, { label: "b" }] },
  },
  {
    name: "list of messages with colon and angle brackets",
    input: "inners: [ <label: 'a'>, <> ]",
    output: { inners: [{ label: "a" }, {}] },
  },
  {
    name: "repeated messages as entries",
    input: "inners { label: 'a' } inners: { label: 'b' } inners < >",
    output: { inners: [{ label: "a" }, { label: "b" }, {}] },
  },
  { name: "empty list of messages", input: "inners []", output: { inners: [] } },
  // Maps
  {
    name: "map entries, repeated",
    input: "labels { key: 'a' value: 'x' } labels: { key: 'b', value: 'y' }",
    output: { labels: { a: "x", b: "y" } },
  },
  {
    name: "map entries as a list",
    input: "labels [ { key: 'a' value: 'x' }, < key: 'b' value: 'y' > ]",
    output: { labels: { a: "x", b: "y" } },
  },
  {
    name: "map with message values, value with and without colon",
    input: "named { key: 'p' value: { label: 'v' } } named { key: 'q' value { } }",
    output: { named: { p: { label: "v" }, q: {} } },
  },
  {
    name: "map with uint64 keys gives string keys",
    input: "by_id { key: 1 value { label: 'one' } } by_id { key: 0x10 value { } }",
    output: { by_id: { "1": { label: "one" }, "16": {} } },
  },
  {
    name: "map with int32 keys and enum values",
    input: "color_by_int { key: -3 value: GREEN } color_by_int { key: 7 value: 1 }",
    output: { color_by_int: { "-3": "GREEN", "7": "RED" } },
  },
  {
    name: "map with bool keys",
    input: "by_flag { key: true value: 'yes' } by_flag { key: f value: 'no' }",
    output: { by_flag: { true: "yes", false: "no" } },
  },
  {
    name: "map entry without value or key takes defaults",
    input: "labels { key: 'a' } named { key: 'n' } color_by_int { value: RED }",
    output: { labels: { a: "" }, named: { n: {} }, color_by_int: { "0": "RED" } },
  },
  {
    name: "map key __proto__ is an ordinary key",
    input: "labels { key: '__proto__' value: 'x' }",
    output: { labels: JSON.parse('{"__proto__": "x"}') },
  },
  // Strings and bytes
  { name: "double-quoted string", input: 's: "hello"', output: { s: "hello" } },
  { name: "single-quoted string", input: "s: 'it''s'", output: { s: "its" } },
  {
    name: "simple escapes",
    input: String.raw`s: "a\nb\tc\\d\'e\"f\?\a\b\f\v\r"`,
    output: { s: "a\nb\tc\\d'e\"f?\x07\b\f\v\r" },
  },
  {
    name: "hex and octal escapes",
    input: String.raw`s: "\x41\x4a\101\12\0"`,
    output: { s: "AJA\n\0" },
  },
  {
    name: "unicode escapes",
    input: String.raw`s: "\u00e9\U0001F600\ud83d\ude00"`,
    output: { s: "é😀😀" },
  },
  {
    name: "UTF-8 built from byte escapes",
    input: String.raw`s: "\xe2\x82\xac\342\202\254"`,
    output: { s: "€€" },
  },
  { name: "raw UTF-8 text", input: "s: 'naïve 日本 😀'", output: { s: "naïve 日本 😀" } },
  {
    name: "adjacent literals concatenated across lines and comments",
    input: "s: 'a' \"b\"\n  # c\n  'd'",
    output: { s: "abd" },
  },
  {
    name: "bytes with any byte",
    input: String.raw`raw: "\x00\xff\377a"`,
    output: { raw: Buffer.from([0, 255, 255, 97]) },
  },
  {
    name: "empty string and bytes",
    input: "s: '' raw: \"\"",
    output: { s: "", raw: Buffer.alloc(0) },
  },
  // Numbers
  {
    name: "integers: negative, hex, octal",
    input: "i32: -42 u32: 0xFF i64: -0x10 u64: 017 s32: -2147483648 f32: 4294967295",
    output: { i32: -42, u32: 255, i64: -16, u64: 15, s32: -2147483648, f32: 4294967295 },
  },
  {
    name: "64-bit integers up to 2^53 - 1",
    input: "i64: -9007199254740991 u64: 9007199254740991 sf64: 0x1FFFFFFFFFFFFF",
    output: { i64: -9007199254740991, u64: 9007199254740991, sf64: 9007199254740991 },
  },
  { name: "minus zero integer is zero", input: "i32: -0", output: { i32: 0 } },
  { name: "minus with space before number", input: "i32: - 5", output: { i32: -5 } },
  {
    name: "floats: scientific notation, signs, leading dot, suffix",
    input: "doubles: [1e-3, -2.5E+2, .5, 1.5f, 2F, 3, 0x10, 1e+21, 1.0e308]",
    output: { doubles: [0.001, -250, 0.5, 1.5, 2, 3, 16, 1e21, 1e308] },
  },
  {
    name: "floats: inf, infinity, nan in any case",
    input: "doubles: [inf, -inf, Infinity, -INF, nan, NaN]",
    output: { doubles: [Infinity, -Infinity, Infinity, -Infinity, Number.NaN, Number.NaN] },
  },
  { name: "float keeps its decimal value", input: "fl: 0.1 db: -0", output: { fl: 0.1, db: -0 } },
  // Enums and bools
  { name: "enum by name", input: "color: GREEN", output: { color: "GREEN" } },
  { name: "enum by number", input: "color: 1", output: { color: "RED" } },
  {
    name: "bools in every spelling",
    input: "bools: [true, false, True, False, t, f, 1, 0]",
    output: { bools: [true, false, true, false, true, false, true, false] },
  },
  // Model configs in Triton's style
  {
    name: "ModelConfig: Triton's example layout",
    type: ModelConfig,
    input: `name: "m" platform: "onnxruntime_onnx" max_batch_size: 8
      input [ { name: "x", data_type: TYPE_FP32, dims: [ 3, -1 ] } ]
      dynamic_batching { preferred_batch_size: [ 4, 8 ] }
      parameters { key: "k" value: { string_value: "v" } }`,
    output: {
      name: "m",
      platform: "onnxruntime_onnx",
      max_batch_size: 8,
      input: [{ name: "x", data_type: "TYPE_FP32", dims: [3, -1] }],
      dynamic_batching: { preferred_batch_size: [4, 8] },
      parameters: { k: { string_value: "v" } },
    },
  },
  {
    name: "ModelConfig: integer-keyed priority queue policy",
    type: ModelConfig,
    input:
      "dynamic_batching { priority_levels: 2 priority_queue_policy { key: 2 value { max_queue_size: 4 } } }",
    output: {
      dynamic_batching: {
        priority_levels: 2,
        priority_queue_policy: { "2": { max_queue_size: 4 } },
      },
    },
  },

  // Errors: unknown fields
  {
    name: "unknown field",
    input: "i32: 1\nbogus: 2",
    error: /^config\.pbtxt:2:1: unknown field 'bogus' in test\.Everything$/,
  },
  {
    name: "unknown field in a nested message",
    input: "inner {\n  label: 'a'\n  lable: 'b'\n}",
    error: /^config\.pbtxt:3:3: unknown field 'lable' in test\.Inner \(did you mean 'label'\?\)$/,
  },
  {
    name: "unknown ModelConfig field suggests the right one",
    type: ModelConfig,
    input: 'name: "m"\n\n\n\n\n\n\n\n\n\n\n    max_batch: 8',
    error:
      /^config\.pbtxt:12:5: unknown field 'max_batch' in inference\.ModelConfig \(did you mean 'max_batch_size'\?\)$/,
  },
  {
    name: "unknown field in a map entry",
    input: "labels { key: 'a' val: 'b' }",
    error: /^config\.pbtxt:1:19: unknown field 'val' in test\.Everything\.LabelsEntry/,
  },
  {
    name: "extension syntax",
    input: "[ext.field]: 1",
    error: /^config\.pbtxt:1:1: extension and Any fields/,
  },
  // Errors: wrong value types
  {
    name: "string for an int",
    input: 'i32: "5"',
    error: /^config\.pbtxt:1:6: field 'i32' \(int32\) expects an integer, got "5"$/,
  },
  {
    name: "float for an int",
    input: "u64: 1.5",
    error: /^config\.pbtxt:1:6: field 'u64' \(uint64\) expects an integer, got '1\.5'$/,
  },
  {
    name: "exponent for an int",
    input: "i32: 1e3",
    error: /^config\.pbtxt:1:6: .*expects an integer, got '1e3'/,
  },
  {
    name: "identifier for an int",
    input: "i32: RED",
    error: /^config\.pbtxt:1:6: .*expects an integer, got 'RED'/,
  },
  {
    name: "int for a string",
    input: "s: 5",
    error: /^config\.pbtxt:1:4: field 's' \(string\) expects a quoted string, got '5'$/,
  },
  {
    name: "int for bytes",
    input: "raw: 5",
    error: /^config\.pbtxt:1:6: field 'raw' \(bytes\) expects a quoted string/,
  },
  {
    name: "string for a float",
    input: "db: 'x'",
    error: /^config\.pbtxt:1:5: field 'db' \(double\) expects a number, got 'x'$/,
  },
  {
    name: "word for a float",
    input: "db: big",
    error: /^config\.pbtxt:1:5: field 'db' \(double\) expects a number, got 'big'$/,
  },
  {
    name: "message for a scalar",
    input: "i32 { }",
    error: /^config\.pbtxt:1:5: expected ':' after field 'i32' \(int32\), got a message$/,
  },
  {
    name: "missing colon before a scalar",
    input: "i32 5",
    error: /^config\.pbtxt:1:5: expected ':' after field 'i32'/,
  },
  {
    name: "scalar for a message",
    input: "inner: 5",
    error: /^config\.pbtxt:1:8: field 'inner' \(message test\.Inner\) expects '\{', got '5'$/,
  },
  {
    name: "bad bool",
    input: "b: yes",
    error: /^config\.pbtxt:1:4: field 'b' \(bool\) expects true or false, got 'yes'$/,
  },
  {
    name: "bool 2",
    input: "b: 2",
    error: /^config\.pbtxt:1:4: field 'b' \(bool\) expects true or false/,
  },
  {
    name: "bad enum name lists the valid ones",
    input: "color: PURPLE",
    error:
      /^config\.pbtxt:1:8: unknown value 'PURPLE' for field 'color' \(enum test\.Color\); valid values: COLOR_UNSET, RED, GREEN$/,
  },
  {
    name: "bad enum number",
    input: "color: 7",
    error: /^config\.pbtxt:1:8: number 7 is not a value of enum test\.Color/,
  },
  {
    name: "enum as a string",
    input: 'color: "RED"',
    error:
      /^config\.pbtxt:1:8: field 'color' \(enum test\.Color\) expects a value name, got "RED"$/,
  },
  {
    name: "bad ModelConfig data type",
    type: ModelConfig,
    input: 'input [ { name: "x" data_type: TYPE_FLOAT32 } ]',
    error:
      /^config\.pbtxt:1:32: unknown value 'TYPE_FLOAT32' for field 'data_type' \(enum inference\.DataType\); valid values: TYPE_INVALID, TYPE_BOOL, .*TYPE_FP32/,
  },
  {
    name: "map key of the wrong type",
    input: "by_id { key: 'x' }",
    error: /^config\.pbtxt:1:14: field 'key' \(uint64\) expects an integer, got 'x'$/,
  },
  // Errors: ranges
  {
    name: "int32 above range",
    input: "i32: 2147483648",
    error:
      /^config\.pbtxt:1:6: value 2147483648 is out of range for field 'i32' \(int32: -2147483648 to 2147483647\)$/,
  },
  {
    name: "int32 below range",
    input: "i32: -2147483649",
    error: /^config\.pbtxt:1:6: value -2147483649 is out of range for field 'i32'/,
  },
  {
    name: "negative for unsigned",
    input: "u32: -1",
    error:
      /^config\.pbtxt:1:6: value -1 is out of range for field 'u32' \(uint32: 0 to 4294967295\)$/,
  },
  {
    name: "uint32 above range",
    input: "u32: 0x100000000",
    error: /^config\.pbtxt:1:6: value 0x100000000 is out of range for field 'u32'/,
  },
  {
    name: "negative for uint64",
    input: "u64: -5",
    error: /^config\.pbtxt:1:6: value -5 is out of range for field 'u64' \(uint64/,
  },
  {
    name: "int64 beyond 2^53",
    input: "i64: 9007199254740993",
    error:
      /^config\.pbtxt:1:6: value 9007199254740993 of field 'i64' \(int64\) is beyond 2\^53 - 1/,
  },
  {
    name: "uint64 beyond 2^64",
    input: "u64: 18446744073709551616",
    error: /^config\.pbtxt:1:6: value 18446744073709551616 is out of range/,
  },
  {
    name: "int32 map key out of range",
    input: "color_by_int { key: 3000000000 }",
    error: /^config\.pbtxt:1:21: value 3000000000 is out of range for field 'key' \(int32/,
  },
  {
    name: "negative ModelConfig max_batch_size is fine for the parser",
    type: ModelConfig,
    input: "max_batch_size: -1",
    output: { max_batch_size: -1 },
  },
  {
    name: "negative uint32 in ModelConfig",
    type: ModelConfig,
    input: "dynamic_batching { default_queue_policy { max_queue_size: -1 } }",
    error: /^config\.pbtxt:1:59: value -1 is out of range for field 'max_queue_size' \(uint32/,
  },
  // Errors: cardinality
  {
    name: "non-repeated scalar given twice",
    input: "i32: 1\ni32: 2",
    error:
      /^config\.pbtxt:2:1: field 'i32' of test\.Everything is not repeated but is set twice \(first at 1:1\)$/,
  },
  {
    name: "non-repeated message given twice",
    input: "inner {} inner {}",
    error:
      /^config\.pbtxt:1:10: field 'inner' of test\.Everything is not repeated but is set twice/,
  },
  {
    name: "list for a non-repeated scalar",
    input: "i32: [1]",
    error: /^config\.pbtxt:1:6: field 'i32' of test\.Everything is not repeated: a list/,
  },
  {
    name: "list for a non-repeated message",
    input: "inner [ {} ]",
    error: /^config\.pbtxt:1:7: field 'inner' of test\.Everything is not repeated: a list/,
  },
  {
    name: "two members of one oneof",
    input: "text: 'a'\nnumber: 2",
    error:
      /^config\.pbtxt:2:1: fields 'text' \(at 1:1\) and 'number' of test\.Everything are both members of oneof 'choice': set only one$/,
  },
  {
    name: "two ModelConfig schedulers",
    type: ModelConfig,
    input: "dynamic_batching {}\nsequence_batching {}",
    error:
      /^config\.pbtxt:2:1: fields 'dynamic_batching' \(at 1:1\) and 'sequence_batching' of inference\.ModelConfig are both members of oneof 'scheduling_choice'/,
  },
  {
    name: "duplicate map key",
    input: "labels { key: 'a' value: 'x' }\nlabels { key: 'a' value: 'y' }",
    error: /^config\.pbtxt:2:8: duplicate key "a" in map field 'labels' of test\.Everything$/,
  },
  {
    name: "map key given twice in one entry",
    input: "labels { key: 'a' key: 'b' }",
    error:
      /^config\.pbtxt:1:19: field 'key' of test\.Everything\.LabelsEntry is not repeated but is set twice/,
  },
  // Errors: unterminated and stray tokens
  {
    name: "unterminated string at end of line",
    input: "s: 'abc\ni32: 1",
    error: /^config\.pbtxt:1:4: unterminated string: missing closing quote before end of line$/,
  },
  {
    name: "unterminated string at end of file",
    input: 'inner { label: "abc',
    error: /^config\.pbtxt:1:16: unterminated string/,
  },
  {
    name: "string closed by the other quote",
    input: "s: \"abc'",
    error: /^config\.pbtxt:1:4: unterminated string/,
  },
  {
    name: "unterminated message",
    input: "inner {\n  label: 'a'\n",
    error:
      /^config\.pbtxt:1:7: '\{' of field 'inner' is never closed: expected '\}' before end of file$/,
  },
  {
    name: "unterminated nested message",
    input: "inners [ { child < label: 'a' }",
    error: /^config\.pbtxt:1:31: expected '>' to close '<' of field 'child' at 1:18, got '\}'$/,
  },
  {
    name: "unterminated list",
    input: "ints: [1, 2",
    error: /^config\.pbtxt:1:12: expected ',' or '\]' in list, got end of file$/,
  },
  {
    name: "list without commas",
    input: "ints: [1 2]",
    error: /^config\.pbtxt:1:10: expected ',' or '\]' in list, got '2'$/,
  },
  {
    name: "trailing comma in list",
    input: "ints: [1, ]",
    error: /^config\.pbtxt:1:11: .*expects an integer, got '\]'$/,
  },
  {
    name: "stray closing brace",
    input: "i32: 1\n}",
    error: /^config\.pbtxt:2:1: unexpected '\}': no message is open$/,
  },
  {
    name: "stray value",
    input: "i32: 1 2",
    error: /^config\.pbtxt:1:8: expected a field name of test\.Everything, got '2'$/,
  },
  {
    name: "stray symbol",
    input: "i32: 1 = 2",
    error: /^config\.pbtxt:1:8: expected a field name of test\.Everything, got '='$/,
  },
  {
    name: "missing value",
    input: "i32:",
    error: /^config\.pbtxt:1:5: field 'i32' \(int32\) expects an integer, got end of file$/,
  },
  {
    name: "number glued to a word",
    input: "i32: 12abc",
    error: /^config\.pbtxt:1:6: invalid number '12abc'/,
  },
  {
    name: "exponent without digits",
    input: "db: 1e",
    error: /^config\.pbtxt:1:5: exponent of '1e' has no digits$/,
  },
  {
    name: "hex without digits",
    input: "i32: 0x",
    error: /^config\.pbtxt:1:6: hex number '0x' has no digits$/,
  },
  {
    name: "bad octal digits",
    input: "i32: 09",
    error: /^config\.pbtxt:1:6: .*expects an integer, got '09'$/,
  },
  {
    name: "unknown escape",
    input: String.raw`s: "ab\qc"`,
    error: /^config\.pbtxt:1:7: unknown escape '\\q' in string$/,
  },
  {
    name: "hex escape without digits",
    input: String.raw`s: "\xg"`,
    error: /^config\.pbtxt:1:5: '\\x' escape has no hex digits$/,
  },
  {
    name: "short unicode escape",
    input: String.raw`s: "\u12"`,
    error: /^config\.pbtxt:1:5: '\\u' escape needs 4 hex digits$/,
  },
  {
    name: "unpaired surrogate escape",
    input: String.raw`s: "\ud800"`,
    error: /^config\.pbtxt:1:5: '\\ud800' is an unpaired surrogate$/,
  },
  {
    name: "octal escape above 255",
    input: String.raw`s: "\777"`,
    error: /^config\.pbtxt:1:5: octal escape '\\777' is above \\377$/,
  },
  {
    name: "invalid UTF-8 in a string",
    input: String.raw`s: "\xff"`,
    error: /^config\.pbtxt:1:4: field 's' \(string\) is not valid UTF-8/,
  },
  {
    name: "error column after a multi-line string",
    input: "s: 'a'\n  'b' bogus: 1",
    error: /^config\.pbtxt:2:7: unknown field 'bogus'/,
  },
  {
    name: "nesting deeper than 100",
    input: `inner { ${"child { ".repeat(100)}`,
    error: /^config\.pbtxt:1:807: messages are nested more than 100 deep$/,
  },
];

describe("parseTextFormat", () => {
  for (const c of cases) {
    it(c.name, () => {
      const type = c.type ?? Everything;
      if (c.error) {
        assert.throws(
          () => parseTextFormat(type, c.input, FILE),
          (error: unknown) => {
            assert.ok(error instanceof TextFormatError, `not a TextFormatError: ${String(error)}`);
            assert.match(error.message, c.error!);
            return true;
          },
        );
        return;
      }
      const parsed = parseTextFormat(type, c.input, FILE);
      assert.deepStrictEqual(parsed, c.output);
      // Printing and parsing again gives the same message.
      const printed = printTextFormat(type, parsed);
      assert.deepStrictEqual(parseTextFormat(type, printed, "printed"), parsed);
    });
  }

  it("reports file, line and column on the error object", () => {
    try {
      parseTextFormat(Everything, "\n\n   bogus: 1", "models/m/config.pbtxt");
      assert.fail("no error");
    } catch (error: unknown) {
      assert.ok(error instanceof TextFormatError);
      assert.equal(error.code, Code.INVALID_ARGUMENT);
      assert.deepEqual(
        { file: error.file, line: error.line, column: error.column, reason: error.reason },
        {
          file: "models/m/config.pbtxt",
          line: 3,
          column: 4,
          reason: "unknown field 'bogus' in test.Everything",
        },
      );
      assert.equal(error.message, `models/m/config.pbtxt:3:4: ${error.reason}`);
    }
  });
});

describe("printTextFormat", () => {
  const printCases: {
    name: string;
    input: Record<string, unknown>;
    output?: string;
    error?: RegExp;
  }[] = [
    { name: "empty message", input: {}, output: "" },
    {
      name: "Triton layout: scalars, [ ] lists, lists of messages, blocks",
      input: {
        name: "m",
        max_batch_size: 8,
        input: [
          { name: "a", data_type: "TYPE_FP32", dims: [3, -1] },
          { name: "b", data_type: "TYPE_INT64", dims: [1] },
        ],
        dynamic_batching: { preferred_batch_size: [4, 8], default_queue_policy: {} },
        version_policy: { all: {} },
      },
      output: [
        'name: "m"',
        "version_policy {",
        "  all {}",
        "}",
        "max_batch_size: 8",
        "input [",
        "  {",
        '    name: "a"',
        "    data_type: TYPE_FP32",
        "    dims: [ 3, -1 ]",
        "  },",
        "  {",
        '    name: "b"',
        "    data_type: TYPE_INT64",
        "    dims: [ 1 ]",
        "  }",
        "]",
        "dynamic_batching {",
        "  preferred_batch_size: [ 4, 8 ]",
        "  default_queue_policy {}",
        "}",
        "",
      ].join("\n"),
    },
    {
      name: "map entries as repeated blocks with integer keys",
      input: {
        dynamic_batching: { priority_queue_policy: { "2": { max_queue_size: 4 } } },
        parameters: { k: { string_value: "v" } },
      },
      output: [
        "dynamic_batching {",
        "  priority_queue_policy {",
        "    key: 2",
        "    value {",
        "      max_queue_size: 4",
        "    }",
        "  }",
        "}",
        "parameters {",
        '  key: "k"',
        "  value {",
        '    string_value: "v"',
        "  }",
        "}",
        "",
      ].join("\n"),
    },
    {
      name: "strings escaped",
      input: { name: 'a"b\\c\nd\te\u0001é' },
      output: 'name: "a\\"b\\\\c\\nd\\te\\001é"\n',
    },
    {
      name: "unknown key",
      input: { max_batch: 1 },
      error:
        /cannot print text format: max_batch: unknown field 'max_batch' in inference\.ModelConfig/,
    },
    {
      name: "wrong scalar type",
      input: { max_batch_size: "8" },
      error: /max_batch_size: int32 field expects a safe integer in range, got 8/,
    },
    {
      name: "int32 out of range",
      input: { max_batch_size: 2 ** 31 },
      error: /max_batch_size: int32 field expects a safe integer in range/,
    },
    {
      name: "bad enum",
      input: { input: [{ data_type: "FP32" }] },
      error: /input\[0\]\.data_type: FP32 is not a value of enum inference\.DataType/,
    },
    {
      name: "non-array repeated",
      input: { input: { name: "x" } },
      error: /input: repeated field expects an array/,
    },
    {
      name: "integer map key not an integer",
      input: { dynamic_batching: { priority_queue_policy: { x: {} } } },
      error: /priority_queue_policy\["x"\]: uint64 map key is not an integer/,
    },
    {
      name: "unpaired surrogate",
      input: { name: "\ud800" },
      error: /name: string has an unpaired surrogate/,
    },
  ];
  for (const c of printCases) {
    it(c.name, () => {
      if (c.error) {
        assert.throws(() => printTextFormat(ModelConfig, c.input), c.error);
        return;
      }
      const printed = printTextFormat(ModelConfig, c.input);
      assert.equal(printed, c.output);
      assert.deepStrictEqual(parseTextFormat(ModelConfig, printed, "printed"), c.input);
    });
  }

  it("treats null fields as unset", () => {
    const printed = printTextFormat(ModelConfig, {
      name: null,
      input: [{ name: "x", dims: null }],
    });
    assert.equal(printed, 'input [\n  {\n    name: "x"\n  }\n]\n');
  });

  it("prints bytes, floats and enums of every kind so they read back", () => {
    const message = {
      raw: Buffer.from([0, 1, 34, 92, 127, 128, 255, 65]),
      doubles: [
        0.1,
        -0,
        1e-7,
        1e21,
        Number.NaN,
        Infinity,
        -Infinity,
        Number.MIN_VALUE,
        Number.MAX_VALUE,
      ],
      fl: 0.1,
      colors: ["RED", "COLOR_UNSET"],
      by_flag: { true: "t" },
    };
    const printed = printTextFormat(Everything, message);
    assert.match(
      printed,
      /doubles: \[ 0\.1, -0, 1e-7, 1e\+21, nan, inf, -inf, 5e-324, 1\.7976931348623157e\+308 \]/,
    );
    assert.match(printed, /raw: "\\000\\001\\"\\\\\\177\\200\\377A"/);
    assert.deepStrictEqual(parseTextFormat(Everything, printed, "printed"), message);
  });
});

const VALID_DIR = join(import.meta.dirname, "../fixtures/config/valid");
const INVALID_DIR = join(import.meta.dirname, "../fixtures/config/invalid");

describe("config fixtures", () => {
  const valid = readdirSync(VALID_DIR).filter((f) => f.endsWith(".pbtxt"));
  it("has at least 10 valid fixtures", () => assert.ok(valid.length >= 10));
  for (const file of valid) {
    it(`valid/${file}: parse, print, parse again gives the same config`, () => {
      const config = parseModelConfig(readFileSync(join(VALID_DIR, file), "utf8"), file);
      assert.equal(config.name, file.replace(/\.pbtxt$/, ""));
      const printed = printModelConfig(config);
      assert.deepStrictEqual(parseModelConfig(printed, `printed ${file}`), config);
      assert.equal(printModelConfig(parseModelConfig(printed)), printed, "printing is stable");
    });
  }

  // Each syntax fixture states the error it expects on a `# expect: <regex>` line.
  const syntax = readdirSync(INVALID_DIR).filter((f) => f.startsWith("syntax-"));
  for (const file of syntax) {
    it(`invalid/${file} fails with the expected error`, () => {
      const text = readFileSync(join(INVALID_DIR, file), "utf8");
      const expected = /^# expect: (.*)$/m.exec(text)?.[1];
      assert.ok(expected, "fixture has no '# expect:' line");
      assert.throws(
        () => parseModelConfig(text, file),
        (error: unknown) => {
          assert.ok(error instanceof TextFormatError);
          assert.match(error.message, new RegExp(`^${expected}$`));
          return true;
        },
      );
    });
  }
});

/** An arbitrary message of `type`, generated from its descriptor; `depth` bounds recursion. */
function arbitraryMessage(type: Type, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of type.fieldsArray) {
    const nested = field.resolvedType !== null && "fieldsArray" in field.resolvedType;
    if (nested && depth <= 0) continue;
    const value = arbitraryValue(field.type, field.resolvedType, depth);
    if (field.map) {
      const key = arbitraryKey((field as unknown as { keyType: string }).keyType);
      model[field.name] = fc.array(fc.tuple(key, value), { maxLength: 3 }).map(toObject);
    } else if (field.repeated) {
      model[field.name] = fc.array(value, { maxLength: 3 });
    } else {
      model[field.name] = value;
    }
  }
  return fc.record(model, { requiredKeys: [], noNullPrototype: true }).map((message) => {
    // Keep at most one member of each oneof, as the text format allows.
    for (const oneof of type.oneofsArray) {
      const present = oneof.oneof.filter((name) => Object.hasOwn(message, name));
      for (const name of present.slice(1)) delete message[name];
    }
    return message;
  });
}

function arbitraryValue(
  typeName: string,
  resolved: Type | Enum | null,
  depth: number,
): fc.Arbitrary<unknown> {
  if (resolved !== null && "fieldsArray" in resolved) return arbitraryMessage(resolved, depth - 1);
  if (resolved !== null) return fc.constantFrom(...Object.keys(resolved.values));
  switch (typeName) {
    case "string":
      return fc.string({ unit: "binary", maxLength: 8 });
    case "bytes":
      return fc.uint8Array({ maxLength: 8 }).map((bytes) => Buffer.from(bytes));
    case "bool":
      return fc.boolean();
    case "float":
    case "double":
      return fc.double();
    case "int32":
    case "sint32":
    case "sfixed32":
      return fc.integer();
    case "uint32":
    case "fixed32":
      return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    case "uint64":
    case "fixed64":
      return fc.maxSafeNat();
    default:
      return fc.maxSafeInteger();
  }
}

function arbitraryKey(keyType: string): fc.Arbitrary<string> {
  if (keyType === "string") return fc.string({ unit: "binary", maxLength: 6 });
  if (keyType === "bool") return fc.constantFrom("true", "false");
  return (arbitraryValue(keyType, null, 0) as fc.Arbitrary<number>).map(String);
}

function toObject(entries: [string, unknown][]): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    Object.defineProperty(object, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return object;
}

describe("print then parse (property)", () => {
  it("random ModelConfig-shaped messages survive print -> parse", () => {
    fc.assert(
      fc.property(arbitraryMessage(ModelConfig, 6), (config) => {
        const printed = printTextFormat(ModelConfig, config);
        assert.deepStrictEqual(parseTextFormat(ModelConfig, printed, "printed"), config);
      }),
      { numRuns: 300 },
    );
  });
  it("random messages with every scalar and map key type survive print -> parse", () => {
    fc.assert(
      fc.property(arbitraryMessage(Everything, 3), (message) => {
        const printed = printTextFormat(Everything, message);
        assert.deepStrictEqual(parseTextFormat(Everything, printed, "printed"), message);
      }),
      { numRuns: 300 },
    );
  });
});
