/**
 * Connected regions of a binary mask (8-connectivity, as OpenCV's contour finder sees them),
 * each reduced to what fitting a rotated rectangle needs: the leftmost and rightmost pixel of
 * every row it spans. Their convex hull equals the hull of all its pixels.
 */
import type { Point } from "./point.js";

/** One connected region. */
export interface Component {
  /** Pixels in the region. */
  pixels: number;
  /** Per row the region spans, its leftmost and rightmost pixel (pixel centers, integers). */
  outline: Point[];
  /** Bounding box, inclusive pixel coordinates. */
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

/**
 * The regions of `mask` (width x height, non-zero = set) in raster order of their first pixel,
 * at most `maxComponents` of them. Iterative flood fill: no recursion, one queue reused.
 */
export function connectedComponents(
  mask: Uint8Array,
  width: number,
  height: number,
  maxComponents = Number.POSITIVE_INFINITY,
): Component[] {
  const seen = new Uint8Array(width * height);
  const queue = new Int32Array(width * height);
  const components: Component[] = [];
  for (let start = 0; start < mask.length && components.length < maxComponents; start++) {
    if (mask[start] === 0 || seen[start] === 1) continue;
    seen[start] = 1;
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    let minX = width;
    let minY = height;
    let maxX = -1;
    let maxY = -1;
    while (head < tail) {
      const index = queue[head++]!;
      const x = index % width;
      const y = (index - x) / width;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const next = ny * width + nx;
          if (mask[next] !== 0 && seen[next] === 0) {
            seen[next] = 1;
            queue[tail++] = next;
          }
        }
      }
    }
    components.push({
      pixels: tail,
      outline: rowExtremes(queue, tail, width, minY, maxY),
      minX,
      minY,
      maxX,
      maxY,
    });
  }
  return components;
}

function rowExtremes(
  pixels: Int32Array,
  count: number,
  width: number,
  minY: number,
  maxY: number,
): Point[] {
  const rows = maxY - minY + 1;
  const left = new Int32Array(rows).fill(width);
  const right = new Int32Array(rows).fill(-1);
  for (let k = 0; k < count; k++) {
    const index = pixels[k]!;
    const x = index % width;
    const row = (index - x) / width - minY;
    if (x < left[row]!) left[row] = x;
    if (x > right[row]!) right[row] = x;
  }
  const outline: Point[] = [];
  for (let row = 0; row < rows; row++) {
    outline.push([left[row]!, row + minY]);
    if (right[row] !== left[row]) outline.push([right[row]!, row + minY]);
  }
  return outline;
}
