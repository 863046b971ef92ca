/** The protobuf text format printer (see `pbtxt.ts` for the canonical form). */
import type { Type } from "protobufjs";
import { type InferError, invalidArgument } from "../errors.js";
import {
  entryShapeOf,
  type FieldShape,
  INTEGER_RANGES,
  isEnumType,
  isMessageField,
  MAX_SAFE,
  type MessageShape,
  own,
  shapeOf,
} from "./text-format-shape.js";

export function printFields(
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
