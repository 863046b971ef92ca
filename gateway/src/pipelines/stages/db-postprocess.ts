/**
 * Text boxes from the DB detector's probability map (Liao et al. 2020, as PaddleOCR's
 * `DBPostProcess` with `box_type: quad`): threshold the map, take each connected region's
 * minimum-area rectangle, drop regions that are too thin or score too low, grow the rest back
 * by the unclip ratio, and scale them to the image the map was computed for.
 */
import { connectedComponents } from "./connected-components.js";
import { convexHull } from "./convex-hull.js";
import { minAreaRect } from "./min-area-rect.js";
import { orderCorners, type Point, type Quad } from "./point.js";
import { unclip } from "./unclip.js";

/** Thresholds of {@link dbPostprocess}; PaddleOCR's defaults in brackets. */
export interface DbOptions {
  /** A pixel is text when its probability exceeds this (0.3). */
  pixelThreshold: number;
  /** A region is kept when its mean probability reaches this (0.6). */
  boxThreshold: number;
  /** Growth of the kept regions, see `unclip.ts` (1.5). */
  unclipRatio: number;
  /** Regions whose shorter side is below this many map pixels are noise (3). */
  minSize: number;
  /** Most regions examined (1000). */
  maxCandidates: number;
}

/** PaddleOCR's DB defaults. */
export const DB_DEFAULTS: DbOptions = {
  pixelThreshold: 0.3,
  boxThreshold: 0.6,
  unclipRatio: 1.5,
  minSize: 3,
  maxCandidates: 1000,
};

/** A probability map: one float per pixel, row-major. */
export interface ProbabilityMap {
  data: Float32Array;
  width: number;
  height: number;
}

/** A detected text box. */
export interface TextBox {
  /** Corners in the target image's pixels, see {@link orderCorners}. */
  quad: Quad;
  /** Mean probability inside the region's (not yet grown) rectangle. */
  score: number;
}

/**
 * The text boxes of `map`, scaled to a `targetWidth` x `targetHeight` image (the map may be
 * smaller or larger, each axis scaled on its own) and clipped to it.
 */
export function dbPostprocess(
  map: ProbabilityMap,
  targetWidth: number,
  targetHeight: number,
  options: DbOptions = DB_DEFAULTS,
): TextBox[] {
  const { data, width, height } = map;
  const mask = new Uint8Array(width * height);
  for (let i = 0; i < mask.length; i++) mask[i] = data[i]! > options.pixelThreshold ? 1 : 0;
  const scaleX = targetWidth / width;
  const scaleY = targetHeight / height;
  const boxes: TextBox[] = [];
  for (const component of connectedComponents(mask, width, height, options.maxCandidates)) {
    const spanX = component.maxX - component.minX;
    const spanY = component.maxY - component.minY;
    if (spanX < options.minSize && spanY < options.minSize) continue;
    const rect = minAreaRect(convexHull(component.outline));
    if (Math.min(rect.width, rect.height) < options.minSize) continue;
    const score = meanInside(map, rect.corners);
    if (score < options.boxThreshold) continue;
    const grown = minAreaRect(convexHull(unclip(rect.corners, options.unclipRatio)));
    if (Math.min(grown.width, grown.height) < options.minSize + 2) continue;
    const scaled = grown.corners.map(
      ([x, y]): Point => [clamp(x * scaleX, 0, targetWidth), clamp(y * scaleY, 0, targetHeight)],
    );
    boxes.push({ quad: orderCorners(scaled), score });
  }
  return boxes;
}

/**
 * The mean of `map` over the pixels whose centers lie inside the convex polygon `corners`
 * (edges included), PaddleOCR's `box_score_fast`.
 */
export function meanInside(map: ProbabilityMap, corners: readonly Point[]): number {
  const xs = corners.map((p) => p[0]);
  const ys = corners.map((p) => p[1]);
  const x0 = clamp(Math.floor(Math.min(...xs)), 0, map.width - 1);
  const x1 = clamp(Math.ceil(Math.max(...xs)), 0, map.width - 1);
  const y0 = clamp(Math.floor(Math.min(...ys)), 0, map.height - 1);
  const y1 = clamp(Math.ceil(Math.max(...ys)), 0, map.height - 1);
  const inside = insideTest(corners);
  let sum = 0;
  let count = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (!inside(x, y)) continue;
      sum += map.data[y * map.width + x]!;
      count++;
    }
  }
  return count === 0 ? 0 : sum / count;
}

/** A point-in-convex-polygon test with half a pixel of tolerance, either winding. */
function insideTest(corners: readonly Point[]): (x: number, y: number) => boolean {
  const edges = corners.map((p, i) => {
    const q = corners[(i + 1) % corners.length]!;
    const length = Math.hypot(q[0] - p[0], q[1] - p[1]) || 1;
    return { p, nx: -(q[1] - p[1]) / length, ny: (q[0] - p[0]) / length };
  });
  const TOLERANCE = 0.5;
  return (x, y) => {
    let positive = true;
    let negative = true;
    for (const { p, nx, ny } of edges) {
      const side = (x - p[0]) * nx + (y - p[1]) * ny;
      if (side < -TOLERANCE) positive = false;
      if (side > TOLERANCE) negative = false;
    }
    return positive || negative;
  };
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}
