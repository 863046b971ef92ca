/**
 * The dynamic range of one tensor from its histogram of |x|, by the calibration method chosen:
 * `entropy` (TensorRT's own KL-divergence method, the default) or `percentile` of |x|.
 */
import { entropyThreshold } from "./entropy.js";
import type { AbsHistogram } from "./histogram.js";

/** The methods `infergate calibrate --method` offers. */
export const CALIBRATION_METHODS = ["entropy", "percentile"] as const;

/** A calibration method. */
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];

/** The default percentile of |x| for `percentile`, %. */
export const DEFAULT_PERCENTILE = 99.99;

/** Options of {@link tensorRange}. */
export interface RangeOptions {
  method: CalibrationMethod;
  /** For `percentile`: the percentile of |x|, in (0, 100]; default {@link DEFAULT_PERCENTILE}. */
  percentile?: number;
}

/**
 * The range (threshold on |x|) of a tensor. A tensor that was 0 everywhere gets range 1: every
 * range represents 0 exactly, and TensorRT needs a positive scale.
 */
export function tensorRange(histogram: AbsHistogram, options: RangeOptions): number {
  if (histogram.range === 0) return 1;
  const range =
    options.method === "entropy"
      ? entropyThreshold(histogram).threshold
      : histogram.percentile(options.percentile ?? DEFAULT_PERCENTILE);
  return range > 0 ? range : histogram.binWidth;
}
