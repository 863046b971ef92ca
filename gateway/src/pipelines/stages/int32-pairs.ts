/**
 * The arithmetic of the `simple-math` pipeline: validating a client's pairs of INT32 vectors,
 * turning a pair into the `simple` model's tensors, reading its outputs, and the exact
 * ("wide") form that splits each number into 16-bit halves so nothing can overflow.
 */
import { Code, InferError, invalidArgument } from "../../errors.js";
import { makeTensor, type Tensor } from "../../protocol/tensor.js";

/** Elements per vector: the `simple` model's dims [16]. */
export const VECTOR_LENGTH = 16;

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const HALF = 2 ** 16;

/** Two vectors to add and subtract. */
export interface Int32Pair {
  a: Int32Array;
  b: Int32Array;
}

/** a + b and a - b, element by element. */
export interface PairResult {
  sum: number[];
  difference: number[];
  /** Elements (of 2 x 16) where the INT32 result wrapped around; 0 for the exact form. */
  overflowed: number;
}

/**
 * Checks the client's `pairs` field: an array of at most `maxPairs` pairs `[a, b]`, each a
 * vector of 16 integers in the INT32 range. Throws INVALID_ARGUMENT naming the first bad place.
 */
export function parseInt32Pairs(value: unknown, maxPairs: number): Int32Pair[] {
  if (value === undefined) throw invalidArgument("'pairs' is required");
  if (!Array.isArray(value)) throw invalidArgument("'pairs' must be an array of [a, b] pairs");
  if (value.length > maxPairs) {
    throw invalidArgument(`'pairs' holds ${value.length} pairs; at most ${maxPairs} are allowed`);
  }
  return value.map((pair: unknown, i) => {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw invalidArgument(`pairs[${i}] must be a pair [a, b] of ${VECTOR_LENGTH}-integer arrays`);
    }
    return { a: parseVector(pair[0], `pairs[${i}][0]`), b: parseVector(pair[1], `pairs[${i}][1]`) };
  });
}

function parseVector(value: unknown, where: string): Int32Array {
  if (!Array.isArray(value) || value.length !== VECTOR_LENGTH) {
    const got = Array.isArray(value) ? `${value.length} elements` : typeof value;
    throw invalidArgument(`${where} must be an array of ${VECTOR_LENGTH} integers, got ${got}`);
  }
  for (const [k, n] of value.entries()) {
    if (!Number.isInteger(n) || n < INT32_MIN || n > INT32_MAX) {
      throw invalidArgument(`${where}[${k}] must be an integer in the INT32 range, got ${n}`);
    }
  }
  return Int32Array.from(value as number[]);
}

/** The `simple` model's inputs for one pair: INPUT0 = a, INPUT1 = b, each [1, 16]. */
export function pairTensors(pair: Int32Pair): Tensor[] {
  return [int32Tensor("INPUT0", [pair.a]), int32Tensor("INPUT1", [pair.b])];
}

/**
 * A pair in the exact form: per side two rows, the high halves (`x >> 16`, signed) then the
 * low halves (`x & 0xffff`), so that x = high * 2^16 + low and no sum or difference of halves
 * leaves the INT32 range.
 */
export interface Int32Halves {
  a: Int32Array[];
  b: Int32Array[];
}

/** Splits both vectors of a pair into halves. */
export function splitPair(pair: Int32Pair): Int32Halves {
  return { a: splitHalves(pair.a), b: splitHalves(pair.b) };
}

/** The `simple` model's inputs for the exact form: INPUT0 = a's halves, INPUT1 = b's, [2, 16]. */
export function halvesTensors(halves: Int32Halves): Tensor[] {
  return [int32Tensor("INPUT0", halves.a), int32Tensor("INPUT1", halves.b)];
}

/** Reads OUTPUT0 (sums) and OUTPUT1 (differences) of one pair, counting wrapped elements. */
export function readPairResult(outputs: Record<string, Tensor>, pair: Int32Pair): PairResult {
  const sum = Array.from(int32Data(outputs, "OUTPUT0", 1));
  const difference = Array.from(int32Data(outputs, "OUTPUT1", 1));
  let overflowed = 0;
  for (let k = 0; k < VECTOR_LENGTH; k++) {
    // JS numbers hold the exact result of two INT32s, so a mismatch is a wrap-around.
    if (sum[k] !== pair.a[k]! + pair.b[k]!) overflowed++;
    if (difference[k] !== pair.a[k]! - pair.b[k]!) overflowed++;
  }
  return { sum, difference, overflowed };
}

/** The exact form's outputs: sums and differences of halves, [2, 16] each (high row first). */
export interface HalvesResult {
  sumHalves: Int32Array;
  differenceHalves: Int32Array;
}

/** Reads OUTPUT0 and OUTPUT1 of the exact form. */
export function readHalves(outputs: Record<string, Tensor>): HalvesResult {
  return {
    sumHalves: int32Data(outputs, "OUTPUT0", 2),
    differenceHalves: int32Data(outputs, "OUTPUT1", 2),
  };
}

/** Joins halves back: high * 2^16 + low, exact in a JS number. */
export function joinHalves(halves: HalvesResult): PairResult {
  return {
    sum: joinRows(halves.sumHalves),
    difference: joinRows(halves.differenceHalves),
    overflowed: 0,
  };
}

/** The share of a result's elements that did not wrap around, 0..1. */
export function exactShare(result: PairResult): number {
  return 1 - result.overflowed / (2 * VECTOR_LENGTH);
}

function splitHalves(x: Int32Array): Int32Array[] {
  return [x.map((n) => n >> 16), x.map((n) => n & 0xffff)];
}

function joinRows(rows: Int32Array): number[] {
  return Array.from(
    { length: VECTOR_LENGTH },
    (_, k) => rows[k]! * HALF + rows[VECTOR_LENGTH + k]!,
  );
}

function int32Tensor(name: string, rows: Int32Array[]): Tensor {
  const data = new Int32Array(rows.length * VECTOR_LENGTH);
  for (const [r, row] of rows.entries()) data.set(row, r * VECTOR_LENGTH);
  return makeTensor({ name, datatype: "INT32", shape: [rows.length, VECTOR_LENGTH] }, data);
}

function int32Data(outputs: Record<string, Tensor>, name: string, rows: number): Int32Array {
  const tensor = outputs[name];
  if (tensor?.datatype !== "INT32" || tensor.data.length !== rows * VECTOR_LENGTH) {
    const got = tensor ? `${tensor.datatype} [${tensor.shape.join(",")}]` : "nothing";
    throw new InferError(
      Code.INTERNAL,
      `output '${name}': expected INT32 [${rows},${VECTOR_LENGTH}], got ${got}`,
    );
  }
  return tensor.data;
}
