/**
 * A histogram of absolute values for INT8 calibration: `bins` equal bins over (0, range], filled
 * batch by batch without knowing the final range in advance. The first batch that is not all
 * zeros sets the range to its largest |x|; a later batch with a larger |x| doubles the range
 * (merging neighbouring bins in pairs) until it fits, so every count stays exact and the
 * resolution is never worse than half the bins over the data actually seen.
 */

/** TensorRT's conventional bin count for entropy calibration. */
export const DEFAULT_BINS = 2048;

/**
 * Bin `k` holds the values with `k * binWidth < |x| <= (k + 1) * binWidth` (bin 0 also holds
 * 0), so a histogram's upper bin edges are the values of integer data on an integer grid.
 * NaN and ±Infinity are left out (an attention mask's -inf, a log of 0): they have no range to
 * calibrate to, and the finite values still do; `nonFinite` counts them.
 */
export class AbsHistogram {
  readonly counts: Float64Array;
  /** Upper edge of the last bin; 0 until a non-zero value has been seen. */
  range = 0;
  /** Values counted (NaN and ±Infinity excluded). */
  total = 0;
  /** NaN and ±Infinity values left out. */
  nonFinite = 0;
  /** The largest |x| seen. */
  max = 0;

  constructor(bins = DEFAULT_BINS) {
    if (!Number.isInteger(bins) || bins < 2 || bins % 2 !== 0) {
      throw new Error(`histogram bins must be an even integer >= 2, got ${bins}`);
    }
    this.counts = new Float64Array(bins);
  }

  /** Width of one bin (0 while the range is unknown). */
  get binWidth(): number {
    return this.range / this.counts.length;
  }

  /** Counts every element of `values`. */
  add(values: ArrayLike<number>): void {
    const batchMax = absMax(values);
    if (batchMax > this.max) this.max = batchMax;
    if (this.range === 0 && batchMax > 0) this.range = batchMax;
    while (batchMax > this.range) this.doubleRange();
    const bins = this.counts.length;
    const last = bins - 1;
    // With range 0 only zeros have been seen: they all belong in bin 0.
    const perUnit = this.range > 0 ? bins / this.range : 0;
    for (let i = 0; i < values.length; i++) {
      const v = Math.abs(values[i]!);
      if (!Number.isFinite(v)) {
        this.nonFinite += 1;
        continue;
      }
      const bin = Math.ceil(v * perUnit) - 1;
      this.counts[Math.min(Math.max(bin, 0), last)]! += 1;
      this.total += 1;
    }
  }

  /**
   * The smallest upper bin edge below which `percent` % of the values lie: exact for data on
   * the bin grid, otherwise at most one bin width above the exact percentile.
   */
  percentile(percent: number): number {
    if (!(percent > 0 && percent <= 100)) throw new Error(`percentile must be in (0, 100]`);
    const wanted = (percent / 100) * this.total;
    let seen = 0;
    for (let k = 0; k < this.counts.length; k++) {
      seen += this.counts[k]!;
      // A relative tolerance, so 99.99 % of 10000 values is 9999 values despite rounding.
      if (seen >= wanted * (1 - 1e-12)) return (k + 1) * this.binWidth;
    }
    return this.range;
  }

  private doubleRange(): void {
    const half = this.counts.length / 2;
    for (let k = 0; k < half; k++) {
      this.counts[k] = this.counts[2 * k]! + this.counts[2 * k + 1]!;
    }
    this.counts.fill(0, half);
    this.range *= 2;
  }
}

function absMax(values: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const v = Math.abs(values[i]!);
    if (v > max && v !== Number.POSITIVE_INFINITY) max = v;
  }
  return max;
}
