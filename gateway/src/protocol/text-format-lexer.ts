/** The protobuf text format's tokens and string literals (see `pbtxt.ts`). */
import { TextFormatError } from "./text-format-error.js";
import { own } from "./text-format-shape.js";

type TokenKind = "identifier" | "number" | "string" | "symbol" | "end";

export interface Token {
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
export class Lexer {
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

// String literal decoding

/** Decodes the bytes of one quoted string token, C escapes included. */
export function decodeStringToken(
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

export const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
