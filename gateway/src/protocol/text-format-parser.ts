/** The protobuf text format parser (see `pbtxt.ts` for the grammar and the JS shape). */
import type { Enum, Type } from "protobufjs";
import { Code, InferError } from "../errors.js";
import { TextFormatError } from "./text-format-error.js";
import { decodeStringToken, type Lexer, type Token, utf8 } from "./text-format-lexer.js";
import {
  entryShapeOf,
  type FieldShape,
  INTEGER_RANGES,
  isEnumType,
  isMessageField,
  isMessageType,
  MAX_SAFE,
  type MessageShape,
  own,
  setOwn,
  shapeOf,
  typeLabel,
} from "./text-format-shape.js";

/** Per-message bookkeeping: where each singular field and each oneof was first set. */
interface SeenFields {
  singular: Map<string, Token>;
  oneofs: Map<string, { field: string; token: Token }>;
}

/** As protobuf's own parsers, a bound on nesting so that hostile input cannot overflow the stack. */
const MAX_NESTING = 100;

export class Parser {
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

const FLOAT_WORDS: Record<string, number> = {
  inf: Infinity,
  infinity: Infinity,
  nan: Number.NaN,
};

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
