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
  const path: CtcPath = { classes: [], probabilities: [] };
  let previous = -1;
  for (let t = 0; t < steps; t++) {
    const row = offset + t * classes;
    let best = 0;
    let bestP = probabilities[row]!;
    for (let c = 1; c < classes; c++) {
      const p = probabilities[row + c]!;
      if (p > bestP) {
        bestP = p;
        best = c;
      }
    }
    if (best !== 0 && best !== previous) {
      path.classes.push(best);
      path.probabilities.push(bestP);
    }
    previous = best;
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
