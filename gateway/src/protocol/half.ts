/**
 * Conversions between JS numbers and the 16-bit float formats that travel as raw bits:
 * IEEE 754 binary16 (FP16: 1 sign, 5 exponent, 10 mantissa bits) and bfloat16 (BF16: 1 sign,
 * 8 exponent, 7 mantissa bits, the top half of a float32).
 *
 * Narrowing rounds once, to nearest with ties to even, straight from the float64 value. Any
 * float32 is exact in a float64, so this is also the correct float32 -> 16-bit rounding, and a
 * number that came from JSON is not rounded twice (float64 -> float32 -> 16 bits can be off by
 * one ulp at ties). NaN narrows to the canonical quiet NaN (0x7e00, 0x7fc0).
 */

const FP16_NAN = 0x7e00;
const FP16_INFINITY = 0x7c00;
const BF16_NAN = 0x7fc0;
const BF16_INFINITY = 0x7f80;

// Smallest magnitudes that round up to infinity: halfway between the largest finite value and
// the next power of two; that tie goes up because the largest finite mantissa is odd.
const FP16_OVERFLOW = 65520; // (2 - 2^-11) * 2^15, largest finite 65504
const BF16_OVERFLOW = (2 - 2 ** -8) * 2 ** 127; // largest finite (2 - 2^-7) * 2^127

/** The FP16 bit pattern (0..0xffff) nearest to `value`, ties to even; overflow gives infinity. */
export function floatToFp16(value: number): number {
  return narrow(value, 10, 15, FP16_OVERFLOW, FP16_INFINITY, FP16_NAN);
}

/** The BF16 bit pattern (0..0xffff) nearest to `value`, ties to even; overflow gives infinity. */
export function floatToBf16(value: number): number {
  return narrow(value, 7, 127, BF16_OVERFLOW, BF16_INFINITY, BF16_NAN);
}

/** The exact value of an FP16 bit pattern (only the low 16 bits of `bits` are read). */
export function fp16ToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (0x400 + mantissa) * 2 ** (exponent - 25);
}

/** The exact value of a BF16 bit pattern (only the low 16 bits of `bits` are read). */
export function bf16ToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 7) & 0xff;
  const mantissa = bits & 0x7f;
  if (exponent === 0) return sign * mantissa * 2 ** -133;
  if (exponent === 0xff) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (0x80 + mantissa) * 2 ** (exponent - 134);
}

/**
 * Rounds `value` to a binary float with `mantissaBits` stored mantissa bits and exponent `bias`.
 * Scaling by a power of two is exact in float64, so the only rounding is `roundHalfEven`.
 */
function narrow(
  value: number,
  mantissaBits: number,
  bias: number,
  overflow: number,
  infinity: number,
  nan: number,
): number {
  if (Number.isNaN(value)) return nan;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  if (magnitude >= overflow) return sign | infinity;
  const minNormalExponent = 1 - bias;
  if (magnitude < 2 ** minNormalExponent) {
    // Subnormal: count units of the smallest subnormal. Rounding up to 2^mantissaBits yields the
    // bit pattern of the smallest normal, which is the right answer.
    return sign | roundHalfEven(magnitude * 2 ** (mantissaBits - minNormalExponent));
  }
  const exponent = floorLog2(magnitude);
  const significand = roundHalfEven(magnitude * 2 ** (mantissaBits - exponent));
  // A significand that rounded up to 2^(mantissaBits+1) carries into the exponent by addition.
  return sign | (((exponent + bias) << mantissaBits) + significand - (1 << mantissaBits));
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor + (floor & 1);
}

// Math.log2 may be off by one near powers of two; fix it with exact power-of-two comparisons.
function floorLog2(x: number): number {
  let exponent = Math.floor(Math.log2(x));
  if (2 ** exponent > x) exponent -= 1;
  else if (2 ** (exponent + 1) <= x) exponent += 1;
  return exponent;
}
