/**
 * The OCR answer from the recognized strips: each strip's CTC path spelled with the
 * dictionary, lines below the confidence bar left out, the rest in reading order with their
 * boxes scaled to the original image.
 */
import { Code, InferError } from "../../errors.js";
import { type CtcPath, pathText } from "./ctc-decode.js";
import type { TextBox } from "./db-postprocess.js";
import type { Point } from "./point.js";
import { readingOrder } from "./reading-order.js";

/** A recognized strip: its box (working-image pixels) and the recognizer's best path. */
export interface ReadStrip {
  box: TextBox;
  path: CtcPath;
}

/** One line of the answer. */
export interface OcrLine {
  text: string;
  /** Mean probability of the line's characters, 0..1. */
  confidence: number;
  /** Corners in the original image's pixels (integers): TL, TR, BR, BL. */
  box: Point[];
}

/** The answer. */
export interface PageLines {
  lines: OcrLine[];
  width: number;
  height: number;
}

/** How {@link pageLines} filters and scales. */
export interface PageLinesOptions {
  /** Classes in the recognizer's output, to check against the dictionary. */
  classes: number;
  minConfidence: number;
  /** Original pixels per working pixel. */
  scaleX: number;
  scaleY: number;
  /** The original's size. */
  width: number;
  height: number;
}

/** Spells, filters, orders and scales; INTERNAL when the dictionary does not fit the model. */
export function pageLines(
  strips: readonly ReadStrip[],
  charset: readonly string[],
  options: PageLinesOptions,
): PageLines {
  if (options.classes !== charset.length) {
    throw new InferError(
      Code.INTERNAL,
      `the recognizer has ${options.classes} classes but its dictionary gives ${charset.length}`,
    );
  }
  const lines: OcrLine[] = [];
  for (const strip of strips) {
    const { text, confidence } = pathText(strip.path, charset);
    if (text.trim() === "" || confidence < options.minConfidence) continue;
    const box = strip.box.quad.map(
      ([x, y]): Point => [
        Math.min(Math.round(x * options.scaleX), options.width),
        Math.min(Math.round(y * options.scaleY), options.height),
      ],
    );
    lines.push({ text: text.trim(), confidence: Math.round(confidence * 1e4) / 1e4, box });
  }
  const order = readingOrder(lines.map((line) => line.box as [Point, Point, Point, Point]));
  return {
    lines: order.flat().map((i) => lines[i]!),
    width: options.width,
    height: options.height,
  };
}
