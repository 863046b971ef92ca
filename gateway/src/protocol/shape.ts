/**
 * Tensor shapes: validation of the dims a client sends and the element count they imply.
 */
import { invalidArgument } from "../errors.js";
import { toBigInt } from "./int64.js";

/**
 * Default largest element count a tensor may have, 2^31. It bounds what a request can make us
 * allocate and keeps every byte size (count x at most 8) a safe integer.
 */
export const DEFAULT_MAX_ELEMENTS = 2 ** 31;

/** Limits applied when validating a shape. */
export interface ShapeOptions {
  /** Largest element count allowed (product of the dims); default {@link DEFAULT_MAX_ELEMENTS}. */
  maxElements?: number;
}

/**
 * Checks a shape from the wire and returns it as plain numbers. Dims may arrive as numbers,
 * decimal strings, bigints or Long objects (protobufjs int64). Every dim must be a non-negative
 * integer and the element count at most `maxElements`; otherwise INVALID_ARGUMENT naming
 * `label` (e.g. `input 'INPUT0'`). Variable dims (-1) belong in model metadata, never in a tensor.
 */
export function validateShape(shape: unknown, label: string, options?: ShapeOptions): number[] {
  if (!Array.isArray(shape)) throw invalidArgument(`${label}: shape must be an array of dims`);
  const maxElements = options?.maxElements ?? DEFAULT_MAX_ELEMENTS;
  const dims: number[] = new Array(shape.length);
  for (let i = 0; i < shape.length; i++) {
    const dim = toBigInt(shape[i]);
    if (dim === undefined) throw badDim(label, shape, `a non-integer dimension at index ${i}`);
    if (dim < 0n) throw badDim(label, shape, `a negative dimension ${dim} at index ${i}`);
    if (dim > BigInt(maxElements)) {
      throw badDim(
        label,
        shape,
        `an absurd dimension ${dim} at index ${i}, more than the limit of ${maxElements} elements`,
      );
    }
    dims[i] = Number(dim);
  }
  // A float product may round or reach Infinity (but never NaN once a zero dim is ruled out);
  // rounding is monotone, so the comparison with the limit still holds.
  if (!dims.includes(0) && elementCount(dims) > maxElements) {
    const exact = dims.reduce((product, dim) => product * BigInt(dim), 1n);
    throw badDim(label, shape, `${exact} elements, more than the limit of ${maxElements}`);
  }
  return dims;
}

/** The number of elements of a valid shape (1 for a scalar, shape `[]`). */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

/** A shape as error messages show it: `[1,3,224,224]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

function badDim(label: string, shape: readonly unknown[], problem: string): Error {
  const shown = shape.map((dim) => String(toBigInt(dim) ?? JSON.stringify(dim)));
  return invalidArgument(`${label}: shape [${shown.join(",")}] has ${problem}`);
}
