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
import type { Enum, Field, MapField, Type } from "protobufjs";
import { Code, InferError, invalidArgument } from "../errors.js";

/**
 * A syntax or type error in text format input, with its 1-based position. An InferError with
 * code INVALID_ARGUMENT, so a config posted by a client maps to 400 like any other bad input.
 * The message reads `config.pbtxt:12:5: unknown field 'max_batch' in inference.ModelConfig`.
 */
export class TextFormatError extends InferError {
  /** The file name given to the parser, as shown in the message. */
  readonly file: string;
  /** 1-based line of the offending token. */
  readonly line: number;
  /** 1-based column (UTF-16 code units) of the offending token. */
  readonly column: number;
  /** The message without the `file:line:column: ` prefix. */
  readonly reason: string;

  constructor(file: string, line: number, column: number, reason: string) {
    super(Code.INVALID_ARGUMENT, `${file}:${line}:${column}: ${reason}`);
    this.file = file;
    this.line = line;
    this.column = column;
    this.reason = reason;
  }
}

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

// ---------------------------------------------------------------------------------------------
// Descriptor shapes: protobufjs fields, and the synthetic `key`/`value` fields of map entries.

interface FieldShape {
  name: string;
  /** Scalar type name (`int32`, `string`, ...) or the message/enum type name. */
  type: string;
  repeated: boolean;
  map: boolean;
  keyType: string;
  resolvedType: Type | Enum | null;
  oneof: string | undefined;
}

interface MessageShape {
  /** Fully qualified name without the leading dot, for messages. */
  name: string;
  /** By field name, in field-number order. */
  fields: Map<string, FieldShape>;
}

const shapes = new WeakMap<Type, MessageShape>();
const entryShapes = new WeakMap<FieldShape, MessageShape>();

function shapeOf(type: Type): MessageShape {
  let shape = shapes.get(type);
  if (shape === undefined) {
    const fields = [...type.fieldsArray].sort((a, b) => a.id - b.id).map(fieldShape);
    shape = {
      name: type.fullName.replace(/^\./, ""),
      fields: new Map(fields.map((f) => [f.name, f])),
    };
    shapes.set(type, shape);
  }
  return shape;
}

function fieldShape(field: Field): FieldShape {
  // A Root loaded without resolveAll() leaves message and enum types unresolved.
  if (field.resolvedType === null && !SCALAR_TYPES.has(field.type)) field.resolve();
  return {
    name: field.name,
    type: field.type,
    repeated: field.repeated,
    map: field.map,
    keyType: field.map ? (field as unknown as MapField).keyType : "",
    resolvedType: field.resolvedType,
    oneof: field.partOf?.name,
  };
}

/** The implicit `XxxEntry { key = 1; value = 2; }` message of a map field. */
function entryShapeOf(owner: MessageShape, field: FieldShape): MessageShape {
  let shape = entryShapes.get(field);
  if (shape === undefined) {
    const single = { repeated: false, map: false, keyType: "", oneof: undefined };
    const key: FieldShape = { ...single, name: "key", type: field.keyType, resolvedType: null };
    const value: FieldShape = {
      ...single,
      name: "value",
      type: field.type,
      resolvedType: field.resolvedType,
    };
    const entryName = `${field.name.replace(/(?:^|_)([a-z])/g, (_, c: string) => c.toUpperCase())}Entry`;
    shape = {
      name: `${owner.name}.${entryName}`,
      fields: new Map([
        ["key", key],
        ["value", value],
      ]),
    };
    entryShapes.set(field, shape);
  }
  return shape;
}

function isMessageType(type: Type | Enum | null): type is Type {
  return type !== null && "fieldsArray" in type;
}

function isEnumType(type: Type | Enum | null): type is Enum {
  return type !== null && "valuesById" in type;
}

function isMessageField(field: FieldShape): boolean {
  return field.map || isMessageType(field.resolvedType);
}

/** How a field's type reads in messages: `int32`, `enum inference.DataType`, `message ...`. */
function typeLabel(field: FieldShape): string {
  const t = field.resolvedType;
  if (t === null) return field.type;
  return `${isEnumType(t) ? "enum" : "message"} ${t.fullName.replace(/^\./, "")}`;
}

const SCALAR_TYPES = new Set([
  "double",
  "float",
  "int32",
  "uint32",
  "sint32",
  "fixed32",
  "sfixed32",
  "int64",
  "uint64",
  "sint64",
  "fixed64",
  "sfixed64",
  "bool",
  "string",
  "bytes",
]);

/** Inclusive ranges of the integer types; 64-bit ones are further capped at 2^53 - 1. */
const INTEGER_RANGES: Record<string, readonly [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** `record[key]` when it is an own property: lookup tables must not find `constructor`. */
function own<V>(record: Record<string, V>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Sets an own enumerable property, safe for keys such as `__proto__` (map keys are user text). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

// ---------------------------------------------------------------------------------------------
// Lexer

type TokenKind = "identifier" | "number" | "string" | "symbol" | "end";

interface Token {
  kind: TokenKind;
  /** The source text of the token (a string token keeps its quotes and escapes). */
  text: string;
  line: number;
  column: number;
}

const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_]/;
const DIGIT = /[0-9]/;

/** Splits text into tokens, skipping whitespace and `#` comments; one token of lookahead. */
class Lexer {
  private pos = 0;
  private line = 1;
  private lineStart = 0;
  private lookahead: Token | undefined;

  constructor(
    private readonly text: string,
    private readonly fileName: string,
  ) {
    if (text.charCodeAt(0) === 0xfeff) this.pos = this.lineStart = 1;
  }

  peek(): Token {
    this.lookahead ??= this.scan();
    return this.lookahead;
  }

  next(): Token {
    const token = this.peek();
    this.lookahead = undefined;
    return token;
  }

  fail(line: number, column: number, reason: string): never {
    throw new TextFormatError(this.fileName, line, column, reason);
  }

  private scan(): Token {
    this.skipSpaceAndComments();
    const start = this.pos;
    const line = this.line;
    const column = start - this.lineStart + 1;
    const token = (kind: TokenKind): Token => ({
      kind,
      text: this.text.slice(start, this.pos),
      line,
      column,
    });
    if (start >= this.text.length) return { kind: "end", text: "", line, column };
    const c = this.text[start]!;
    if (IDENT_START.test(c)) {
      while (this.pos < this.text.length && IDENT_PART.test(this.text[this.pos]!)) this.pos++;
      return token("identifier");
    }
    if (DIGIT.test(c) || (c === "." && DIGIT.test(this.text[start + 1] ?? ""))) {
      this.scanNumber(line, column);
      return token("number");
    }
    if (c === '"' || c === "'") {
      this.scanString(c, line, column);
      return token("string");
    }
    this.pos += (c.codePointAt(0) ?? 0) > 0xffff ? 2 : 1;
    return token("symbol");
  }

  private skipSpaceAndComments(): void {
    const text = this.text;
    while (this.pos < text.length) {
      const c = text[this.pos]!;
      if (c === "\n") {
        this.pos++;
        this.line++;
        this.lineStart = this.pos;
      } else if (c === " " || c === "\t" || c === "\r" || c === "\v" || c === "\f") {
        this.pos++;
      } else if (c === "#") {
        while (this.pos < text.length && text[this.pos] !== "\n") this.pos++;
      } else {
        return;
      }
    }
  }

  private scanNumber(line: number, column: number): void {
    const text = this.text;
    const digits = (re: RegExp) => {
      const from = this.pos;
      while (this.pos < text.length && re.test(text[this.pos]!)) this.pos++;
      return this.pos - from;
    };
    if (text[this.pos] === "0" && (text[this.pos + 1] === "x" || text[this.pos + 1] === "X")) {
      this.pos += 2;
      if (digits(/[0-9a-fA-F]/) === 0) this.fail(line, column, "hex number '0x' has no digits");
    } else {
      digits(DIGIT);
      if (text[this.pos] === ".") {
        this.pos++;
        digits(DIGIT);
      }
      if (text[this.pos] === "e" || text[this.pos] === "E") {
        this.pos++;
        if (text[this.pos] === "+" || text[this.pos] === "-") this.pos++;
        if (digits(DIGIT) === 0) {
          this.fail(
            line,
            column,
            `exponent of '${text.slice(column - 1 + this.lineStart, this.pos)}' has no digits`,
          );
        }
      }
      if (text[this.pos] === "f" || text[this.pos] === "F") this.pos++;
    }
    if (this.pos < text.length && /[A-Za-z0-9_.]/.test(text[this.pos]!)) {
      const from = this.pos;
      while (this.pos < text.length && /[A-Za-z0-9_.]/.test(text[this.pos]!)) this.pos++;
      const start = this.lineStart + column - 1;
      this.fail(
        line,
        column,
        `invalid number '${text.slice(start, this.pos)}' (unexpected '${text[from]}')`,
      );
    }
  }

  private scanString(quote: string, line: number, column: number): void {
    const text = this.text;
    this.pos++;
    while (this.pos < text.length) {
      const c = text[this.pos]!;
      if (c === quote) {
        this.pos++;
        return;
      }
      if (c === "\n") break;
      this.pos += c === "\\" && text[this.pos + 1] !== "\n" ? 2 : 1;
    }
    this.fail(line, column, "unterminated string: missing closing quote before end of line");
  }
}

// ---------------------------------------------------------------------------------------------
// String literal decoding

/** Decodes the bytes of one quoted string token, C escapes included. */
function decodeStringToken(
  token: Token,
  fail: (column: number, reason: string) => never,
): number[] {
  const body = token.text.slice(1, -1);
  const bytes: number[] = [];
  const column = (i: number) => token.column + 1 + i;
  for (let i = 0; i < body.length; ) {
    const cp = body.codePointAt(i)!;
    if (cp !== 0x5c /* \ */) {
      pushUtf8(bytes, cp);
      i += cp > 0xffff ? 2 : 1;
      continue;
    }
    const escapeAt = i;
    const e = body[i + 1] ?? "";
    i += 2;
    const simple = own(SIMPLE_ESCAPES, e);
    if (simple !== undefined) {
      bytes.push(simple);
    } else if (/[0-7]/.test(e)) {
      const octal = e + (body.slice(i).match(/^[0-7]{1,2}/)?.[0] ?? "");
      i += octal.length - 1;
      const value = Number.parseInt(octal, 8);
      if (value > 0xff) fail(column(escapeAt), `octal escape '\\${octal}' is above \\377`);
      bytes.push(value);
    } else if (e === "x" || e === "X") {
      const hex = body.slice(i).match(/^[0-9a-fA-F]{1,2}/)?.[0];
      if (hex === undefined) fail(column(escapeAt), "'\\x' escape has no hex digits");
      i += hex.length;
      bytes.push(Number.parseInt(hex, 16));
    } else if (e === "u" || e === "U") {
      const width = e === "u" ? 4 : 8;
      const hex = body.slice(i, i + width);
      if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) {
        fail(column(escapeAt), `'\\${e}' escape needs ${width} hex digits`);
      }
      i += width;
      let value = Number.parseInt(hex, 16);
      if (value >= 0xd800 && value <= 0xdbff) {
        // A surrogate pair written as two \u escapes is one code point.
        const low = body.slice(i).match(/^\\u([dD][c-fC-F][0-9a-fA-F]{2})/)?.[1];
        if (low === undefined) fail(column(escapeAt), `'\\${e}${hex}' is an unpaired surrogate`);
        value = 0x10000 + ((value - 0xd800) << 10) + (Number.parseInt(low, 16) - 0xdc00);
        i += 6;
      } else if ((value >= 0xdc00 && value <= 0xdfff) || value > 0x10ffff) {
        fail(column(escapeAt), `'\\${e}${hex}' is not a Unicode code point`);
      }
      pushUtf8(bytes, value);
    } else {
      fail(column(escapeAt), `unknown escape '\\${e}' in string`);
    }
  }
  return bytes;
}

const SIMPLE_ESCAPES: Record<string, number> = {
  a: 0x07,
  b: 0x08,
  f: 0x0c,
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  v: 0x0b,
  "\\": 0x5c,
  "'": 0x27,
  '"': 0x22,
  "?": 0x3f,
};

function pushUtf8(bytes: number[], cp: number): void {
  if (cp < 0x80) bytes.push(cp);
  else if (cp < 0x800) bytes.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  else if (cp < 0x10000) {
    bytes.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  } else {
    bytes.push(
      0xf0 | (cp >> 18),
      0x80 | ((cp >> 12) & 0x3f),
      0x80 | ((cp >> 6) & 0x3f),
      0x80 | (cp & 0x3f),
    );
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------
// Parser

/** Per-message bookkeeping: where each singular field and each oneof was first set. */
interface SeenFields {
  singular: Map<string, Token>;
  oneofs: Map<string, { field: string; token: Token }>;
}

/** As protobuf's own parsers, a bound on nesting so that hostile input cannot overflow the stack. */
const MAX_NESTING = 100;

class Parser {
  private depth = 0;

  constructor(
    private readonly lexer: Lexer,
    private readonly fileName: string,
  ) {}

  /**
   * Parses fields up to `close` (or the end of input at top level). `open` is the token that
   * opened this message, `label` the field it belongs to, both for errors.
   */
  parseMessageBody(
    shape: MessageShape,
    open: Token | undefined,
    label: string,
  ): Record<string, unknown> {
    const close = open === undefined ? undefined : open.text === "<" ? ">" : "}";
    if (open !== undefined && ++this.depth > MAX_NESTING) {
      this.fail(open, `messages are nested more than ${MAX_NESTING} deep`);
    }
    const out: Record<string, unknown> = {};
    const seen: SeenFields = { singular: new Map(), oneofs: new Map() };
    for (;;) {
      const token = this.lexer.peek();
      if (token.kind === "end") {
        if (open === undefined) return out;
        this.fail(
          open,
          `'${open.text}' of ${label} is never closed: expected '${close}' before end of file`,
        );
      }
      if (token.kind === "symbol" && (token.text === "}" || token.text === ">")) {
        this.lexer.next();
        if (token.text === close) {
          this.depth--;
          return out;
        }
        if (open === undefined) this.fail(token, `unexpected '${token.text}': no message is open`);
        this.fail(
          token,
          `expected '${close}' to close '${open.text}' of ${label} at ${open.line}:${open.column}, got '${token.text}'`,
        );
      }
      if (token.kind === "symbol" && token.text === "[") {
        this.fail(token, `extension and Any fields ('[...]') are not supported in ${shape.name}`);
      }
      if (token.kind !== "identifier") {
        this.fail(token, `expected a field name of ${shape.name}, got ${describe(token)}`);
      }
      this.lexer.next();
      const field = shape.fields.get(token.text);
      if (field === undefined) {
        this.fail(
          token,
          `unknown field '${token.text}' in ${shape.name}${suggest(token.text, shape)}`,
        );
      }
      this.checkSetOnce(shape, field, token, seen);
      this.parseField(out, shape, field);
      const separator = this.lexer.peek();
      if (separator.kind === "symbol" && (separator.text === "," || separator.text === ";")) {
        this.lexer.next();
      }
    }
  }

  private checkSetOnce(shape: MessageShape, field: FieldShape, token: Token, seen: SeenFields) {
    if (!field.repeated && !field.map) {
      const first = seen.singular.get(field.name);
      if (first !== undefined) {
        this.fail(
          token,
          `field '${field.name}' of ${shape.name} is not repeated but is set twice (first at ${first.line}:${first.column})`,
        );
      }
      seen.singular.set(field.name, token);
    }
    if (field.oneof !== undefined) {
      const other = seen.oneofs.get(field.oneof);
      if (other !== undefined && other.field !== field.name) {
        this.fail(
          token,
          `fields '${other.field}' (at ${other.token.line}:${other.token.column}) and '${field.name}' of ${shape.name} are both members of oneof '${field.oneof}': set only one`,
        );
      }
      seen.oneofs.set(field.oneof, { field: field.name, token });
    }
  }

  private parseField(out: Record<string, unknown>, shape: MessageShape, field: FieldShape): void {
    const many = field.repeated || field.map;
    if (many && !Object.hasOwn(out, field.name)) setOwn(out, field.name, field.map ? {} : []);
    const add = (value: unknown) => {
      if (field.repeated) (out[field.name] as unknown[]).push(value);
      else setOwn(out, field.name, value);
    };
    if (isMessageField(field)) {
      this.acceptSymbol(":");
      if (this.isSymbol("[")) {
        const list = this.lexer.next();
        if (!many)
          this.fail(
            list,
            `field '${field.name}' of ${shape.name} is not repeated: a list '[...]' is not allowed`,
          );
        this.parseList(() => this.parseMessageValue(out, shape, field, add));
      } else {
        this.parseMessageValue(out, shape, field, add);
      }
      return;
    }
    const colon = this.lexer.peek();
    if (!this.acceptSymbol(":")) {
      const got = colon.text === "{" || colon.text === "<" ? `a message` : describe(colon);
      this.fail(
        colon,
        `expected ':' after field '${field.name}' (${typeLabel(field)}), got ${got}`,
      );
    }
    if (this.isSymbol("[")) {
      const list = this.lexer.next();
      if (!field.repeated) {
        this.fail(
          list,
          `field '${field.name}' of ${shape.name} is not repeated: a list '[...]' is not allowed`,
        );
      }
      this.parseList(() => add(this.parseScalar(field)));
    } else {
      add(this.parseScalar(field));
    }
  }

  /** Parses the rest of `[ item, item ]` after the `[`. */
  private parseList(item: () => void): void {
    if (this.acceptSymbol("]")) return;
    for (;;) {
      item();
      if (this.acceptSymbol("]")) return;
      const token = this.lexer.peek();
      if (!this.acceptSymbol(",")) {
        this.fail(token, `expected ',' or ']' in list, got ${describe(token)}`);
      }
    }
  }

  /** One `{ ... }` or `< ... >` of a message field or map entry. */
  private parseMessageValue(
    out: Record<string, unknown>,
    shape: MessageShape,
    field: FieldShape,
    add: (value: unknown) => void,
  ): void {
    const open = this.lexer.next();
    const what = field.map ? `map entry of field '${field.name}'` : `field '${field.name}'`;
    if (open.kind !== "symbol" || (open.text !== "{" && open.text !== "<")) {
      this.fail(open, `${what} (${typeLabel(field)}) expects '{', got ${describe(open)}`);
    }
    if (!field.map) {
      add(this.parseMessageBody(shapeOf(field.resolvedType as Type), open, what));
      return;
    }
    const entryShape = entryShapeOf(shape, field);
    const entry = this.parseMessageBody(entryShape, open, what);
    const keyField = entryShape.fields.get("key")!;
    const valueField = entryShape.fields.get("value")!;
    const key = String(entry["key"] ?? defaultValue(keyField));
    const map = out[field.name] as Record<string, unknown>;
    if (Object.hasOwn(map, key)) {
      this.fail(
        open,
        `duplicate key ${JSON.stringify(key)} in map field '${field.name}' of ${shape.name}`,
      );
    }
    setOwn(map, key, Object.hasOwn(entry, "value") ? entry["value"] : defaultValue(valueField));
  }

  private parseScalar(field: FieldShape): unknown {
    if (field.type === "string" || field.type === "bytes") return this.parseStrings(field);
    if (field.type === "bool") return this.parseBool(field);
    if (field.type === "float" || field.type === "double") return this.parseFloat(field);
    if (own(INTEGER_RANGES, field.type) !== undefined) return this.parseInteger(field);
    if (isEnumType(field.resolvedType)) return this.parseEnum(field, field.resolvedType);
    throw new InferError(
      Code.INTERNAL,
      `field '${field.name}' has unresolved type '${field.type}'`,
    );
  }

  private parseStrings(field: FieldShape): string | Buffer {
    const first = this.lexer.peek();
    if (first.kind !== "string") {
      this.fail(
        first,
        `field '${field.name}' (${field.type}) expects a quoted string, got ${describe(first)}`,
      );
    }
    const bytes: number[] = [];
    while (this.lexer.peek().kind === "string") {
      const token = this.lexer.next();
      for (const b of decodeStringToken(token, (column, reason) =>
        this.lexer.fail(token.line, column, reason),
      )) {
        bytes.push(b);
      }
    }
    if (field.type === "bytes") return Buffer.from(bytes);
    try {
      return utf8.decode(Uint8Array.from(bytes));
    } catch {
      this.fail(
        first,
        `field '${field.name}' (string) is not valid UTF-8; use a bytes field for binary data`,
      );
    }
  }

  private parseBool(field: FieldShape): boolean {
    const token = this.lexer.next();
    const value = own(BOOL_WORDS, token.text);
    if ((token.kind === "identifier" || token.kind === "number") && value !== undefined)
      return value;
    this.fail(token, `field '${field.name}' (bool) expects true or false, got ${describe(token)}`);
  }

  /** Reads an optional '-' and the token after it. */
  private signed(): { negative: boolean; token: Token; start: Token } {
    const start = this.lexer.peek();
    const negative = this.acceptSymbol("-");
    return { negative, token: this.lexer.next(), start };
  }

  private parseInteger(field: FieldShape): number {
    const { negative, token, start } = this.signed();
    const magnitude = token.kind === "number" ? integerValue(token.text) : undefined;
    if (magnitude === undefined) {
      this.fail(
        start,
        `field '${field.name}' (${field.type}) expects an integer, got ${describe(token, negative)}`,
      );
    }
    const value = negative ? -magnitude : magnitude;
    const [min, max] = INTEGER_RANGES[field.type]!;
    const written = `${negative ? "-" : ""}${token.text}`;
    if (value < min || value > max) {
      this.fail(
        start,
        `value ${written} is out of range for field '${field.name}' (${field.type}: ${min} to ${max})`,
      );
    }
    if (value > MAX_SAFE || value < -MAX_SAFE) {
      this.fail(
        start,
        `value ${written} of field '${field.name}' (${field.type}) is beyond 2^53 - 1 and cannot be held exactly as a JS number`,
      );
    }
    return Number(value) || 0; // `|| 0` turns -0 into 0
  }

  private parseFloat(field: FieldShape): number {
    const { negative, token, start } = this.signed();
    let value: number | undefined;
    if (token.kind === "number") {
      const integer = integerValue(token.text);
      value = integer !== undefined ? Number(integer) : Number(token.text.replace(/[fF]$/, ""));
    } else if (token.kind === "identifier") {
      value = own(FLOAT_WORDS, token.text.toLowerCase());
    }
    if (value === undefined) {
      this.fail(
        start,
        `field '${field.name}' (${field.type}) expects a number, got ${describe(token, negative)}`,
      );
    }
    return negative ? -value : value;
  }

  private parseEnum(field: FieldShape, type: Enum): string {
    const { negative, token, start } = this.signed();
    const enumName = type.fullName.replace(/^\./, "");
    if (token.kind === "identifier" && !negative) {
      if (Object.hasOwn(type.values, token.text)) return token.text;
      this.fail(
        token,
        `unknown value '${token.text}' for field '${field.name}' (enum ${enumName}); valid values: ${Object.keys(type.values).join(", ")}`,
      );
    }
    const magnitude = token.kind === "number" ? integerValue(token.text) : undefined;
    if (magnitude !== undefined) {
      const number = Number(negative ? -magnitude : magnitude);
      const name = type.valuesById[number];
      if (name !== undefined) return name;
      this.fail(
        start,
        `number ${number} is not a value of enum ${enumName} (field '${field.name}')`,
      );
    }
    this.fail(
      start,
      `field '${field.name}' (enum ${enumName}) expects a value name, got ${describe(token, negative)}`,
    );
  }

  private isSymbol(text: string): boolean {
    const token = this.lexer.peek();
    return token.kind === "symbol" && token.text === text;
  }

  private acceptSymbol(text: string): boolean {
    if (!this.isSymbol(text)) return false;
    this.lexer.next();
    return true;
  }

  private fail(token: Token, reason: string): never {
    throw new TextFormatError(this.fileName, token.line, token.column, reason);
  }
}

const BOOL_WORDS: Record<string, boolean> = {
  true: true,
  True: true,
  t: true,
  "1": true,
  false: false,
  False: false,
  f: false,
  "0": false,
};

const FLOAT_WORDS: Record<string, number> = { inf: Infinity, infinity: Infinity, nan: Number.NaN };

/** The value of an integer literal (decimal, 0x hex, 0 octal), or undefined for a float literal. */
function integerValue(text: string): bigint | undefined {
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) return BigInt(text);
  if (/^0[0-7]+$/.test(text)) return BigInt(`0o${text.slice(1)}`);
  if (/^(0|[1-9][0-9]*)$/.test(text)) return BigInt(text);
  return undefined;
}

function describe(token: Token, negative = false): string {
  if (token.kind === "end") return "end of file";
  if (token.kind === "string")
    return token.text.length > 40 ? `${token.text.slice(0, 37)}...` : token.text;
  return `'${negative ? "-" : ""}${token.text}'`;
}

/** ` (did you mean 'x'?)` for a field name close to an unknown one, else "". */
function suggest(name: string, shape: MessageShape): string {
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const candidate of shape.fields.keys()) {
    // A truncated name (`max_batch`) or a small typo (`lable`) points at one field.
    const truncated = name.length >= 3 && candidate.startsWith(name);
    const score = truncated ? 0 : editDistance(name, candidate);
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best !== undefined && bestScore <= (name.length < 6 ? 1 : 2)
    ? ` (did you mean '${best}'?)`
    : "";
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The proto3 default of a map entry's missing key or value. */
function defaultValue(field: FieldShape): unknown {
  if (field.type === "string") return "";
  if (field.type === "bytes") return Buffer.alloc(0);
  if (field.type === "bool") return false;
  if (isMessageType(field.resolvedType)) return {};
  if (isEnumType(field.resolvedType)) {
    return field.resolvedType.valuesById[0] ?? Object.keys(field.resolvedType.values)[0];
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Printer

function printFields(
  shape: MessageShape,
  message: Record<string, unknown>,
  indent: string,
  path: string,
  out: string[],
): void {
  if (typeof message !== "object" || message === null || Array.isArray(message)) {
    const got = message === null ? "null" : Array.isArray(message) ? "an array" : typeof message;
    throw printError(path || shape.name, `expected a message object, got ${got}`);
  }
  for (const key of Object.keys(message)) {
    if (!shape.fields.has(key)) {
      throw printError(`${path}${key}`, `unknown field '${key}' in ${shape.name}`);
    }
  }
  const inner = `${indent}  `;
  for (const field of shape.fields.values()) {
    const value = message[field.name];
    // null reads as unset, as in protobuf's JSON mapping.
    if (value === undefined || value === null) continue;
    const at = `${path}${field.name}`;
    if (field.map) {
      printMap(shape, field, value, indent, at, out);
    } else if (field.repeated) {
      if (!Array.isArray(value)) throw printError(at, `repeated field expects an array`);
      if (value.length === 0) {
        out.push(`${indent}${field.name}: []`);
      } else if (isMessageField(field)) {
        out.push(`${indent}${field.name} [`);
        value.forEach((item, i) => {
          printMessage(field, item, inner, "", `${at}[${i}].`, out);
          if (i < value.length - 1) out[out.length - 1] += ",";
        });
        out.push(`${indent}]`);
      } else {
        const items = value.map((item, i) => formatScalar(field, item, `${at}[${i}]`));
        out.push(`${indent}${field.name}: [ ${items.join(", ")} ]`);
      }
    } else if (isMessageField(field)) {
      printMessage(field, value, indent, `${field.name} `, `${at}.`, out);
    } else {
      out.push(`${indent}${field.name}: ${formatScalar(field, value, at)}`);
    }
  }
}

/** Prints `{prefix}{ ... }` with the fields of `value` one level deeper, or `{prefix}{}` when empty. */
function printMessage(
  field: FieldShape,
  value: unknown,
  indent: string,
  prefix: string,
  path: string,
  out: string[],
): void {
  const start = out.length;
  out.push(`${indent}${prefix}{`);
  printFields(
    shapeOf(field.resolvedType as Type),
    value as Record<string, unknown>,
    `${indent}  `,
    path,
    out,
  );
  if (out.length === start + 1) out[start] += "}";
  else out.push(`${indent}}`);
}

function printMap(
  owner: MessageShape,
  field: FieldShape,
  value: unknown,
  indent: string,
  path: string,
  out: string[],
): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw printError(path, `map field expects a plain object`);
  }
  const entries = Object.entries(value);
  if (entries.length === 0) {
    out.push(`${indent}${field.name}: []`);
    return;
  }
  const entryShape = entryShapeOf(owner, field);
  const keyField = entryShape.fields.get("key")!;
  const valueField = entryShape.fields.get("value")!;
  const inner = `${indent}  `;
  for (const [key, item] of entries) {
    const at = `${path}[${JSON.stringify(key)}]`;
    out.push(`${indent}${field.name} {`);
    out.push(
      `${inner}key: ${formatScalar(keyField, mapKeyValue(field.keyType, key, at), `${at}.key`)}`,
    );
    if (isMessageField(valueField)) printMessage(valueField, item, inner, "value ", `${at}.`, out);
    else out.push(`${inner}value: ${formatScalar(valueField, item, at)}`);
    out.push(`${indent}}`);
  }
}

/** A map key (always a string in JS) as the value of the entry's typed `key` field. */
function mapKeyValue(keyType: string, key: string, path: string): unknown {
  if (keyType === "string") return key;
  if (keyType === "bool") {
    if (key === "true" || key === "false") return key === "true";
    throw printError(path, `bool map key must be "true" or "false"`);
  }
  if (!/^-?(0|[1-9][0-9]*)$/.test(key))
    throw printError(path, `${keyType} map key is not an integer`);
  return Number(key);
}

function formatScalar(field: FieldShape, value: unknown, path: string): string {
  const type = field.type;
  if (type === "string") {
    if (typeof value !== "string") throw printError(path, `string field expects a string`);
    return quoteString(value, path);
  }
  if (type === "bytes") {
    if (!(value instanceof Uint8Array)) throw printError(path, `bytes field expects a Buffer`);
    return quoteBytes(value);
  }
  if (type === "bool") {
    if (typeof value !== "boolean") throw printError(path, `bool field expects a boolean`);
    return String(value);
  }
  if (type === "float" || type === "double") {
    if (typeof value !== "number") throw printError(path, `${type} field expects a number`);
    return formatFloat(value);
  }
  const range = own(INTEGER_RANGES, type);
  if (range !== undefined) {
    const ok =
      (typeof value === "number" && Number.isSafeInteger(value)) || typeof value === "bigint";
    const big = ok ? BigInt(value as number | bigint) : 0n;
    if (!ok || big < range[0] || big > range[1] || big > MAX_SAFE || big < -MAX_SAFE) {
      throw printError(path, `${type} field expects a safe integer in range, got ${String(value)}`);
    }
    return big.toString();
  }
  if (isEnumType(field.resolvedType)) {
    const e = field.resolvedType;
    if (typeof value === "string" && Object.hasOwn(e.values, value)) return value;
    if (typeof value === "number" && e.valuesById[value] !== undefined) return e.valuesById[value];
    throw printError(
      path,
      `${String(value)} is not a value of enum ${e.fullName.replace(/^\./, "")}`,
    );
  }
  throw printError(path, `unresolved type '${type}'`);
}

/** Shortest text that reads back as the same double; `-0`, `inf`, `-inf`, `nan` included. */
function formatFloat(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (value === Number.POSITIVE_INFINITY) return "inf";
  if (value === Number.NEGATIVE_INFINITY) return "-inf";
  if (Object.is(value, -0)) return "-0";
  return String(value);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A double-quoted literal: text as UTF-8, control characters as 3-digit octal escapes. */
function quoteString(value: string, path: string): string {
  if (LONE_SURROGATE.test(value))
    throw printError(path, "string has an unpaired surrogate (not UTF-8)");
  let quoted = '"';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    quoted += cp < 0x20 || cp === 0x7f || ch === '"' || ch === "\\" ? escapeByte(cp) : ch;
  }
  return `${quoted}"`;
}

function quoteBytes(value: Uint8Array): string {
  let quoted = '"';
  for (const byte of value) {
    quoted +=
      byte < 0x20 || byte >= 0x7f || byte === 0x22 || byte === 0x5c
        ? escapeByte(byte)
        : String.fromCharCode(byte);
  }
  return `${quoted}"`;
}

function escapeByte(byte: number): string {
  switch (byte) {
    case 0x0a:
      return "\\n";
    case 0x0d:
      return "\\r";
    case 0x09:
      return "\\t";
    case 0x22:
      return '\\"';
    case 0x5c:
      return "\\\\";
    default:
      // Three digits, so that a following digit is not read as part of the escape.
      return `\\${byte.toString(8).padStart(3, "0")}`;
  }
}

function printError(path: string, reason: string): InferError {
  return invalidArgument(`cannot print text format: ${path}: ${reason}`);
}
