/**
 * TensorRT's entropy (KL-divergence) calibration, from its published description ("8-bit
 * Inference with TensorRT", Migacz 2017): for each candidate threshold of `i` bins, clip the
 * histogram there (the clipped values join the last kept bin) to get the reference distribution
 * P, quantize the `i` bins into 128 levels (INT8's positive half) and spread each level back
 * over its non-empty bins to get Q, and keep the threshold whose KL(P || Q) is smallest. A
 * small threshold loses the clipped tail, a large one loses resolution; the minimum balances
 * the two, so rare outliers are clipped while a dense tail is kept.
 */
import type { AbsHistogram } from "./histogram.js";

/** INT8's positive levels: values are quantized to -127..127. */
export const QUANTIZED_LEVELS = 128;

/** Divergence charged where P has mass and Q none (a rounding floor instead of infinity). */
const EMPTY_Q = 1e-12;

/** The result of {@link entropyThreshold}. */
export interface EntropyResult {
  /** The clipping threshold, in the histogram's units: `bins * binWidth`. */
  threshold: number;
  /** How many histogram bins the threshold keeps. */
  bins: number;
  /** KL(P || Q) at that threshold, in nats. */
  divergence: number;
}

/**
 * The entropy-calibrated threshold of a histogram (0 for a histogram of zeros only). A sparse
 * histogram, fewer values than bins, keeps its whole range: there KL is degenerate (clipping
 * everything into one bin that is already a lone spike costs nothing), and tensors that small
 * (a pooled vector over a few images) are better kept whole than guessed at.
 */
export function entropyThreshold(
  histogram: AbsHistogram,
  levels = QUANTIZED_LEVELS,
): EntropyResult {
  const counts = histogram.counts;
  let used = counts.length;
  while (used > 0 && counts[used - 1] === 0) used--;
  // Thresholds past the last non-empty bin clip nothing and only coarsen the levels.
  if (used <= levels || histogram.total < counts.length) {
    return { threshold: used * histogram.binWidth, bins: used, divergence: 0 };
  }
  const sums = prefixSums(counts);
  let best = { bins: used, divergence: Number.POSITIVE_INFINITY };
  for (let i = levels; i <= used; i++) {
    const divergence = klDivergence(sums, i, histogram.total - sums.count[i]!, levels);
    if (divergence < best.divergence) best = { bins: i, divergence };
  }
  return { threshold: best.bins * histogram.binWidth, ...best };
}

/** Prefix sums over the bins: counts, non-empty bins, and count x ln(count). */
interface PrefixSums {
  counts: Float64Array;
  count: Float64Array;
  nonEmpty: Float64Array;
  countLogCount: Float64Array;
}

function prefixSums(counts: Float64Array): PrefixSums {
  const n = counts.length;
  const sums = {
    counts,
    count: new Float64Array(n + 1),
    nonEmpty: new Float64Array(n + 1),
    countLogCount: new Float64Array(n + 1),
  };
  for (let k = 0; k < n; k++) {
    const c = counts[k]!;
    sums.count[k + 1] = sums.count[k]! + c;
    sums.nonEmpty[k + 1] = sums.nonEmpty[k]! + (c > 0 ? 1 : 0);
    sums.countLogCount[k + 1] = sums.countLogCount[k]! + (c > 0 ? c * Math.log(c) : 0);
  }
  return sums;
}

/**
 * KL(P || Q) for the candidate threshold of `bins` bins with `outliers` values beyond it, in
 * O(levels): within one level Q is constant, so sum p ln(p / q) over the level is
 * sum p ln p - (sum p) ln q, both read off prefix sums (the last bin, which takes the
 * outliers, is corrected by hand). P's total is every value counted, whatever the threshold.
 */
function klDivergence(sums: PrefixSums, bins: number, outliers: number, levels: number): number {
  const total = sums.count[sums.count.length - 1]!;
  const qTotal = sums.count[bins]!;
  const last = bins - 1;
  const lastCount = sums.counts[last]!;
  const lastP = lastCount + outliers;
  const logTotal = Math.log(total);
  let divergence = 0;
  for (let level = 0; level < levels; level++) {
    const start = Math.floor((level * bins) / levels);
    const end = Math.floor(((level + 1) * bins) / levels);
    const qSum = sums.count[end]! - sums.count[start]!;
    let pSum = qSum;
    let nonEmpty = sums.nonEmpty[end]! - sums.nonEmpty[start]!;
    let pLogP = sums.countLogCount[end]! - sums.countLogCount[start]!;
    if (end === bins && outliers > 0) {
      // The outliers join the last bin of P, which Q (made from the unclipped bins) lacks.
      pSum += outliers;
      if (lastCount === 0) nonEmpty += 1;
      pLogP += lastP * Math.log(lastP) - (lastCount > 0 ? lastCount * Math.log(lastCount) : 0);
    }
    if (pSum === 0) continue;
    // Q spreads the level's count evenly over the bins where P has mass.
    const q = qTotal > 0 ? Math.max(qSum / nonEmpty / qTotal, EMPTY_Q) : EMPTY_Q;
    divergence += pLogP / total - (pSum / total) * (logTotal + Math.log(q));
  }
  return divergence;
}
