/**
 * Descriptor shapes for the protobuf text format (see `pbtxt.ts`): protobufjs fields, and the
 * synthetic `key`/`value` fields of map entries, with the scalar rules both directions share.
 */
import type { Enum, Field, MapField, Type } from "protobufjs";

export interface FieldShape {
  name: string;
  /** Scalar type name (`int32`, `string`, ...) or the message/enum type name. */
  type: string;
  repeated: boolean;
  map: boolean;
  keyType: string;
  resolvedType: Type | Enum | null;
  oneof: string | undefined;
}

export interface MessageShape {
  /** Fully qualified name without the leading dot, for messages. */
  name: string;
  /** By field name, in field-number order. */
  fields: Map<string, FieldShape>;
}

const shapes = new WeakMap<Type, MessageShape>();
const entryShapes = new WeakMap<FieldShape, MessageShape>();

export function shapeOf(type: Type): MessageShape {
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
export function entryShapeOf(owner: MessageShape, field: FieldShape): MessageShape {
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

export function isMessageType(type: Type | Enum | null): type is Type {
  return type !== null && "fieldsArray" in type;
}

export function isEnumType(type: Type | Enum | null): type is Enum {
  return type !== null && "valuesById" in type;
}

export function isMessageField(field: FieldShape): boolean {
  return field.map || isMessageType(field.resolvedType);
}

/** How a field's type reads in messages: `int32`, `enum inference.DataType`, `message ...`. */
export function typeLabel(field: FieldShape): string {
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
export const INTEGER_RANGES: Record<string, readonly [bigint, bigint]> = {
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

export const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** `record[key]` when it is an own property: lookup tables must not find `constructor`. */
export function own<V>(record: Record<string, V>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Sets an own enumerable property, safe for keys such as `__proto__` (map keys are user text). */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}
