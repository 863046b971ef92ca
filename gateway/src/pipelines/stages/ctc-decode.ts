/**
 * Greedy CTC decoding of the recognizer's output (Graves et al. 2006): the most likely class
 * per time step, repeats collapsed, blanks (class 0) dropped. The result's confidence is the
 * mean probability of the kept steps, as PaddleOCR's `CTCLabelDecode` reports it.
 */

/** The kept classes of one strip and their probabilities. */
export interface CtcPath {
  classes: number[];
  probabilities: number[];
}

/**
 * Decodes `steps` x `classes` probabilities (row-major, starting at `offset`) greedily.
 * Class 0 is the blank; a class repeated on consecutive steps counts once.
 */
export function ctcGreedy(
  probabilities: Float32Array,
  steps: number,
  classes: number,
  offset = 0,
): CtcPath {
  const best = new Int32Array(steps);
  const bestProbabilities = new Float32Array(steps);
  for (let t = 0; t < steps; t++) {
    const row = offset + t * classes;
    let bestClass = 0;
    let bestP = probabilities[row]!;
    for (let c = 1; c < classes; c++) {
      const p = probabilities[row + c]!;
      if (p > bestP) {
        bestP = p;
        bestClass = c;
      }
    }
    best[t] = bestClass;
    bestProbabilities[t] = bestP;
  }
  return ctcCollapse(best, bestProbabilities);
}

/**
 * The path of per-step best classes and their probabilities (as `ocr_ctc_argmax` returns them,
 * the first of equal maxima): repeats collapsed, blanks (class 0) dropped.
 */
export function ctcCollapse(best: Int32Array, probabilities: Float32Array): CtcPath {
  const path: CtcPath = { classes: [], probabilities: [] };
  let previous = -1;
  for (let t = 0; t < best.length; t++) {
    const c = best[t]!;
    if (c !== 0 && c !== previous) {
      path.classes.push(c);
      path.probabilities.push(probabilities[t]!);
    }
    previous = c;
  }
  return path;
}

/** A decoded line: text and confidence (0 when nothing was read). */
export interface DecodedText {
  text: string;
  confidence: number;
}

/** The text of `path` in `charset` (indexed by class; see `dictionary.ts`). */
export function pathText(path: CtcPath, charset: readonly string[]): DecodedText {
  const text = path.classes.map((c) => charset[c] ?? "").join("");
  const n = path.probabilities.length;
  const confidence = n === 0 ? 0 : path.probabilities.reduce((sum, p) => sum + p, 0) / n;
  return { text, confidence };
}
