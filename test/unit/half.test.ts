import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  bf16ToFloat,
  floatToBf16,
  floatToFp16,
  fp16ToFloat,
} from "../../gateway/src/protocol/half.js";

interface Case {
  name: string;
  input: number;
  output: number;
}

const hex = (bits: number) => `0x${bits.toString(16).padStart(4, "0")}`;

describe("floatToFp16", () => {
  const cases: Case[] = [
    { name: "+0", input: 0, output: 0x0000 },
    { name: "-0 keeps its sign", input: -0, output: 0x8000 },
    { name: "one", input: 1, output: 0x3c00 },
    { name: "minus two", input: -2, output: 0xc000 },
    { name: "0.1 rounds to nearest", input: 0.1, output: 0x2e66 },
    { name: "one third", input: 1 / 3, output: 0x3555 },
    { name: "largest finite", input: 65504, output: 0x7bff },
    { name: "just under the overflow tie", input: 65519.99, output: 0x7bff },
    { name: "overflow tie rounds to even, infinity", input: 65520, output: 0x7c00 },
    { name: "large overflow", input: 1e6, output: 0x7c00 },
    { name: "negative overflow", input: -1e6, output: 0xfc00 },
    { name: "+Infinity", input: Number.POSITIVE_INFINITY, output: 0x7c00 },
    { name: "-Infinity", input: Number.NEGATIVE_INFINITY, output: 0xfc00 },
    { name: "NaN is the canonical quiet NaN", input: Number.NaN, output: 0x7e00 },
    { name: "smallest normal 2^-14", input: 2 ** -14, output: 0x0400 },
    { name: "smallest subnormal 2^-24", input: 2 ** -24, output: 0x0001 },
    { name: "largest subnormal", input: 1023 * 2 ** -24, output: 0x03ff },
    { name: "negative subnormal", input: -(2 ** -24), output: 0x8001 },
    { name: "half the smallest subnormal ties to zero", input: 2 ** -25, output: 0x0000 },
    { name: "just over half the smallest subnormal", input: 2 ** -25 * 1.0001, output: 0x0001 },
    { name: "subnormal tie 1.5 ulp rounds to even 2", input: 3 * 2 ** -25, output: 0x0002 },
    { name: "largest subnormal tie rounds up to normal", input: 1023.5 * 2 ** -24, output: 0x0400 },
    { name: "tiny underflows to zero", input: 1e-10, output: 0x0000 },
    { name: "1+2^-11 ties to even (down)", input: 1 + 2 ** -11, output: 0x3c00 },
    { name: "1+3*2^-11 ties to even (up)", input: 1 + 3 * 2 ** -11, output: 0x3c02 },
    { name: "1+2^-11+2^-30 rounds up", input: 1 + 2 ** -11 + 2 ** -30, output: 0x3c01 },
    { name: "mantissa carry into exponent", input: 2047.9, output: 0x6800 },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(hex(floatToFp16(c.input)), hex(c.output)));
  }
});

describe("fp16ToFloat", () => {
  const cases: Case[] = [
    { name: "smallest subnormal", input: 0x0001, output: 2 ** -24 },
    { name: "largest subnormal", input: 0x03ff, output: 1023 * 2 ** -24 },
    { name: "smallest normal", input: 0x0400, output: 2 ** -14 },
    { name: "largest finite", input: 0x7bff, output: 65504 },
    { name: "one", input: 0x3c00, output: 1 },
    { name: "one third", input: 0x3555, output: 0.333251953125 },
    { name: "minus two", input: 0xc000, output: -2 },
    { name: "+Infinity", input: 0x7c00, output: Number.POSITIVE_INFINITY },
    { name: "-Infinity", input: 0xfc00, output: Number.NEGATIVE_INFINITY },
    { name: "-0", input: 0x8000, output: -0 },
    { name: "quiet NaN", input: 0x7e00, output: Number.NaN },
    { name: "signalling NaN", input: 0x7c01, output: Number.NaN },
    { name: "negative NaN", input: 0xfe00, output: Number.NaN },
  ];
  for (const c of cases) {
    it(c.name, () => assert.ok(Object.is(fp16ToFloat(c.input), c.output)));
  }
});

describe("floatToBf16", () => {
  const cases: Case[] = [
    { name: "one", input: 1, output: 0x3f80 },
    { name: "-0", input: -0, output: 0x8000 },
    { name: "1+2^-8 ties to even (down)", input: 1 + 2 ** -8, output: 0x3f80 },
    { name: "1+3*2^-8 ties to even (up)", input: 1 + 3 * 2 ** -8, output: 0x3f82 },
    { name: "1+2^-8+2^-20 rounds up", input: 1 + 2 ** -8 + 2 ** -20, output: 0x3f81 },
    { name: "1+2^-7 is exact", input: 1 + 2 ** -7, output: 0x3f81 },
    { name: "pi", input: Math.PI, output: 0x4049 },
    { name: "largest finite", input: (2 - 2 ** -7) * 2 ** 127, output: 0x7f7f },
    { name: "float32 max overflows", input: 3.4028234663852886e38, output: 0x7f80 },
    { name: "past float32 range", input: 1e39, output: 0x7f80 },
    { name: "-Infinity", input: Number.NEGATIVE_INFINITY, output: 0xff80 },
    { name: "NaN", input: Number.NaN, output: 0x7fc0 },
    { name: "smallest normal", input: 2 ** -126, output: 0x0080 },
    { name: "smallest subnormal", input: 2 ** -133, output: 0x0001 },
    { name: "largest subnormal", input: 127 * 2 ** -133, output: 0x007f },
    { name: "half the smallest subnormal ties to zero", input: 2 ** -134, output: 0x0000 },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(hex(floatToBf16(c.input)), hex(c.output)));
  }
});

describe("bf16ToFloat", () => {
  const cases: Case[] = [
    { name: "one", input: 0x3f80, output: 1 },
    { name: "pi", input: 0x4049, output: 3.140625 },
    { name: "largest finite", input: 0x7f7f, output: (2 - 2 ** -7) * 2 ** 127 },
    { name: "smallest subnormal", input: 0x0001, output: 2 ** -133 },
    { name: "+Infinity", input: 0x7f80, output: Number.POSITIVE_INFINITY },
    { name: "-0", input: 0x8000, output: -0 },
    { name: "NaN", input: 0x7fc1, output: Number.NaN },
  ];
  for (const c of cases) {
    it(c.name, () => assert.ok(Object.is(bf16ToFloat(c.input), c.output)));
  }
});

describe("16-bit floats, exhaustively and by property", () => {
  const allBits = Array.from({ length: 0x10000 }, (_, bits) => bits);

  it("every non-NaN FP16 pattern survives widen then narrow", () => {
    for (const bits of allBits) {
      const value = fp16ToFloat(bits);
      if (Number.isNaN(value)) assert.equal(floatToFp16(value), 0x7e00);
      else assert.equal(floatToFp16(value), bits, hex(bits));
    }
  });

  it("every non-NaN BF16 pattern survives widen then narrow", () => {
    for (const bits of allBits) {
      const value = bf16ToFloat(bits);
      if (Number.isNaN(value)) assert.equal(floatToBf16(value), 0x7fc0);
      else assert.equal(floatToBf16(value), bits, hex(bits));
    }
  });

  it("BF16 narrowing matches the float32 bit trick (round half to even on the low 16 bits)", () => {
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (value) => {
        f32[0] = value;
        const bits = u32[0]!;
        const expected = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
        assert.equal(floatToBf16(value), expected);
      }),
      { numRuns: 5000 },
    );
  });

  it("FP16 narrowing picks the nearest value, ties to the even pattern", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 65504, noNaN: true }), (value) => {
        const bits = floatToFp16(value);
        const error = Math.abs(fp16ToFloat(bits) - value);
        for (const neighbour of [bits - 1, bits + 1]) {
          if (neighbour < 0 || neighbour > 0x7bff) continue;
          const other = Math.abs(fp16ToFloat(neighbour) - value);
          assert.ok(error < other || (error === other && (bits & 1) === 0), hex(bits));
        }
      }),
      { numRuns: 5000 },
    );
  });
});
