import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  cacheHeader,
  float32Hex,
  formatCalibrationCache,
  hexFloat32,
  parseCalibrationCache,
  scaleOfRange,
} from "../../gateway/src/repository/calibration/calibration-cache.js";
import { entropyThreshold } from "../../gateway/src/repository/calibration/entropy.js";
import { AbsHistogram } from "../../gateway/src/repository/calibration/histogram.js";
import { createProgress } from "../../gateway/src/repository/calibration/progress.js";
import { tensorRange } from "../../gateway/src/repository/calibration/tensor-range.js";
import { random } from "../fixtures/ocr/render-text.js";

/** `count` standard normal samples (Box-Muller on a seeded PRNG). */
function gaussian(count: number, seed: number, sigma = 1): Float32Array {
  const next = random(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const u = 1 - next();
    out[i] = sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  }
  return out;
}

function histogramOf(values: ArrayLike<number>, bins?: number): AbsHistogram {
  const histogram = new AbsHistogram(bins);
  histogram.add(values);
  return histogram;
}

describe("AbsHistogram", () => {
  it("sets its range from the first batch and doubles it for larger values, keeping counts", () => {
    const histogram = new AbsHistogram(8);
    histogram.add([0, 0]);
    assert.equal(histogram.range, 0);
    histogram.add([1, -2, 4]);
    assert.equal(histogram.range, 4);
    assert.deepEqual([...histogram.counts], [2, 1, 0, 1, 0, 0, 0, 1]);
    histogram.add([-7]);
    assert.equal(histogram.range, 8);
    // Bins of width 1 after merging pairs: (0,1] holds 0, 0, 1; (1,2] holds 2; ...
    assert.deepEqual([...histogram.counts], [3, 1, 0, 1, 0, 0, 1, 0]);
    assert.equal(histogram.total, 6);
    assert.equal(histogram.max, 7);
  });

  it("leaves NaN and infinities out, counting them, and calibrates the finite values", () => {
    const histogram = histogramOf([Number.NaN, 1]);
    histogram.add([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 3]);
    assert.equal(histogram.total, 2);
    assert.equal(histogram.nonFinite, 3);
    assert.equal(histogram.max, 3);
    assert.ok(Number.isFinite(histogram.range) && histogram.range >= 3);
  });

  const percentiles = [
    { name: "99.99 % of 1..10000", percent: 99.99, output: 9999 },
    { name: "50 % of 1..10000", percent: 50, output: 5000 },
    { name: "100 % is the maximum", percent: 100, output: 10000 },
    { name: "0.01 % is the smallest", percent: 0.01, output: 1 },
  ];
  const integers = Float32Array.from({ length: 10000 }, (_, i) => -(i + 1) * (i % 2 ? 1 : -1));
  for (const row of percentiles) {
    it(`percentile: ${row.name} is exact on the bin grid`, () => {
      assert.equal(histogramOf(integers, 10000).percentile(row.percent), row.output);
    });
  }

  it("percentile with 2048 bins is within one bin of the exact percentile", () => {
    const values = gaussian(50_000, 7);
    const sorted = Float64Array.from(values, Math.abs).sort();
    const exact = sorted[Math.ceil(0.9999 * sorted.length) - 1]!;
    const histogram = histogramOf(values);
    const found = histogram.percentile(99.99);
    assert.ok(found >= exact && found <= exact + histogram.binWidth, `${found} vs ${exact}`);
  });
});

describe("entropy calibration (KL divergence)", () => {
  it("keeps nearly the whole range of a uniform distribution", () => {
    const next = random(3);
    const values = Float32Array.from({ length: 200_000 }, () => 2 * next() - 1);
    const histogram = histogramOf(values);
    const { threshold } = entropyThreshold(histogram);
    assert.ok(threshold > 0.95 * histogram.max, `threshold ${threshold}, max ${histogram.max}`);
    assert.ok(threshold <= histogram.range);
  });

  it("clips a Gaussian between 2 and 5 sigma", () => {
    const sigma = 0.5;
    const histogram = histogramOf(gaussian(200_000, 11, sigma));
    const { threshold } = entropyThreshold(histogram);
    assert.ok(
      threshold > 2 * sigma && threshold < 5 * sigma,
      `threshold ${threshold / sigma} sigma`,
    );
    assert.ok(threshold < histogram.max);
  });

  it("clips rare outliers far below the maximum", () => {
    const values = gaussian(100_000, 5);
    for (let i = 0; i < 10; i++) values[i * 997] = i % 2 ? 1000 : -1000;
    const histogram = histogramOf(values);
    const { threshold } = entropyThreshold(histogram);
    assert.equal(histogram.max, 1000);
    assert.ok(threshold < 100, `threshold ${threshold} should clip the outliers at 1000`);
    assert.ok(threshold > 3, `threshold ${threshold} should keep the Gaussian's bulk`);
  });

  it("keeps the whole range of a sparse histogram (fewer values than bins)", () => {
    // Four values of five far below the top: KL alone would clip at 0.5 for free.
    const histogram = histogramOf([0.5, 0.5, 0.5, 0.5, 4], 2048);
    assert.equal(entropyThreshold(histogram).threshold, 4);
  });

  it("keeps everything when the data fills fewer bins than there are levels", () => {
    const histogram = histogramOf(
      Float32Array.from({ length: 4096 }, (_, i) => (i % 64) + 1),
      2048,
    );
    assert.equal(entropyThreshold(histogram).bins, 2048);
    const coarse = histogramOf(
      Float32Array.from({ length: 4096 }, (_, i) => (i % 2) + 1),
      64,
    );
    assert.equal(entropyThreshold(coarse).threshold, 2);
  });

  it("gives a tensor of zeros range 1 and any other a positive range", () => {
    assert.equal(tensorRange(histogramOf([0, 0, 0]), { method: "entropy" }), 1);
    assert.ok(tensorRange(histogramOf([0, 0, 1e-30]), { method: "percentile" }) > 0);
  });
});

describe("calibration cache", () => {
  it("encodes scale 1/127 (range 1.0) as 3c010204", () => {
    // 1/127 = 1.00787... x 2^-7: exponent 120 (0x3c0 << 20), fraction round(0.007874 x 2^23) = 0x10204.
    const expected = ((120 << 23) | Math.round((128 / 127 - 1) * 2 ** 23)).toString(16);
    assert.equal(expected, "3c010204");
    assert.equal(float32Hex(scaleOfRange(1)), expected);
    assert.equal(hexFloat32("3c010204"), Math.fround(1 / 127));
  });

  it("round-trips names and float32 bits exactly", () => {
    const scales = new Map([
      ["x", scaleOfRange(2.5)],
      ["conv2d_1.tmp_0", Math.fround(0.0123)],
      ["name: with colon", Math.fround(3e-8)],
      ["softmax_11.tmp_0", scaleOfRange(1)],
    ]);
    const text = formatCalibrationCache({ header: cacheHeader("10.7.0"), scales });
    assert.match(text, /^TRT-100700-EntropyCalibration2\nx: [0-9a-f]{8}\n/);
    const parsed = parseCalibrationCache(text);
    assert.equal(parsed.header, "TRT-100700-EntropyCalibration2");
    assert.deepEqual([...parsed.scales], [...scales]);
  });

  const headers = [
    { name: "TensorRT 10", input: "10.3.0", output: "TRT-100300-EntropyCalibration2" },
    { name: "TensorRT 8", input: "8.6.3", output: "TRT-8603-EntropyCalibration2" },
    { name: "not a version", input: "ten", error: /not a TensorRT version/ },
  ];
  for (const row of headers) {
    it(`header: ${row.name}`, () => {
      if (row.error) assert.throws(() => cacheHeader(row.input), row.error);
      else assert.equal(cacheHeader(row.input), row.output);
    });
  }

  it("refuses scales that are not finite and positive, and malformed lines", () => {
    const header = cacheHeader("10.7.0");
    assert.throws(() => formatCalibrationCache({ header, scales: new Map([["x", 0]]) }), /x/);
    assert.throws(() => parseCalibrationCache(`${header}\nx 3c010204\n`), /line 2/);
    assert.throws(() => parseCalibrationCache("calibration\n"), /header/);
  });
});

describe("progress", () => {
  it("draws a bar in place on a TTY and about twenty plain lines otherwise", () => {
    let clock = 0;
    const tty: string[] = [];
    const bar = createProgress({
      label: "calibrate m",
      total: 4,
      unit: "images",
      stream: { isTTY: true, write: (t: string) => tty.push(t) },
      now: () => clock,
    });
    clock = 2000;
    bar.update(1);
    bar.finish();
    assert.match(tty[0]!, /^\rcalibrate m \[#{7}-{21}\] 1\/4 images, ETA 6s/);
    assert.equal(tty.at(-1), "\n");

    const plain: string[] = [];
    const lines = createProgress({
      label: "calibrate m",
      total: 200,
      unit: "images",
      stream: { write: (t: string) => plain.push(t) },
    });
    for (let done = 0; done <= 200; done++) lines.update(done);
    assert.ok(plain.length >= 20 && plain.length <= 22, `${plain.length} lines`);
    assert.match(plain.at(-1)!, /^calibrate m 200\/200 images, \d+s total\n$/);
  });
});
