/**
 * 64-bit integers as they reach us: protobufjs hands int64/uint64 fields over as JS numbers,
 * decimal strings or Long objects depending on its `longs` option, and JSON may carry them as
 * numbers or strings. Everything is normalised to bigint so no value is silently rounded.
 */

/** The shape of a long.js `Long` (what protobufjs produces by default), without depending on it. */
export interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}

/** Any of the forms a 64-bit integer may take on arrival. */
export type Int64Like = number | string | bigint | LongLike;

/** Smallest INT64, -2^63. */
export const INT64_MIN = -(2n ** 63n);
/** Largest INT64, 2^63 - 1. */
export const INT64_MAX = 2n ** 63n - 1n;
/** Largest UINT64, 2^64 - 1. */
export const UINT64_MAX = 2n ** 64n - 1n;

const DECIMAL = /^[+-]?\d+$/;

/**
 * The exact integer `value` stands for, or undefined when it is not an integer: a non-integer or
 * non-finite number, a string that is not plain decimal, or anything else. Integer numbers are
 * taken as they are, even past 2^53 (callers that need exactness check `Number.isSafeInteger`).
 */
export function toBigInt(value: unknown): bigint | undefined {
  switch (typeof value) {
    case "bigint":
      return value;
    case "number":
      return Number.isInteger(value) ? BigInt(value) : undefined;
    case "string":
      return DECIMAL.test(value) ? BigInt(value) : undefined;
    case "object":
      return isLongLike(value) ? longToBigInt(value) : undefined;
    default:
      return undefined;
  }
}

/** True for an object with integer `low` and `high` fields, the parts of a long.js `Long`. */
export function isLongLike(value: unknown): value is LongLike {
  if (value === null || typeof value !== "object") return false;
  const { low, high } = value as { low?: unknown; high?: unknown };
  return Number.isInteger(low) && Number.isInteger(high);
}

function longToBigInt(value: LongLike): bigint {
  // low and high are two's-complement 32-bit halves; `unsigned` says how to read bit 63.
  const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  return value.unsigned ? bits : BigInt.asIntN(64, bits);
}
