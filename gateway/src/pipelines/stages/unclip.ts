/**
 * DB's unclip: the detector is trained on text regions shrunk by the Vatti clipping offset
 * `D = A (1 - r²) / L`, so its found regions are grown back by `D' = A * ratio / L` (area A,
 * perimeter L; Liao et al., "Real-time Scene Text Detection with Differentiable
 * Binarization", 2020, eq. 10), as pyclipper's round-joined polygon offset does in PaddleOCR.
 */
import { type Point, perimeter, signedArea } from "./point.js";

/** Most degrees between two points of a rounded corner. */
const ARC_STEP_DEGREES = 10;

/** The unclip distance of `polygon` for `ratio`, px: area x ratio / perimeter. */
export function unclipDistance(polygon: readonly Point[], ratio: number): number {
  const length = perimeter(polygon);
  return length === 0 ? 0 : (Math.abs(signedArea(polygon)) * ratio) / length;
}

/**
 * The convex polygon `polygon` grown outward by `distance` px, corners rounded (each edge
 * pushed out along its normal, the gaps at the corners filled with arcs). Either winding
 * is accepted; the result winds as the input does.
 */
export function offsetConvexPolygon(polygon: readonly Point[], distance: number): Point[] {
  const n = polygon.length;
  if (n === 0 || distance === 0) return [...polygon];
  // Outward normal of an edge: right of the direction of travel for positive signed area.
  const side = signedArea(polygon) >= 0 ? 1 : -1;
  const normals = polygon.map((p, i) => {
    const q = polygon[(i + 1) % n]!;
    const length = Math.hypot(q[0] - p[0], q[1] - p[1]) || 1;
    return [(side * (q[1] - p[1])) / length, (side * -(q[0] - p[0])) / length] as Point;
  });
  const grown: Point[] = [];
  for (let i = 0; i < n; i++) {
    const p = polygon[i]!;
    const from = Math.atan2(normals[(i + n - 1) % n]![1], normals[(i + n - 1) % n]![0]);
    let to = Math.atan2(normals[i]![1], normals[i]![0]);
    // Normals of a convex polygon turn the way it winds, by the corner's exterior angle.
    while (side * (to - from) < 0) to += side * 2 * Math.PI;
    const steps = Math.max(
      1,
      Math.ceil(Math.abs(to - from) / ((ARC_STEP_DEGREES * Math.PI) / 180)),
    );
    for (let k = 0; k <= steps; k++) {
      const angle = from + ((to - from) * k) / steps;
      grown.push([p[0] + distance * Math.cos(angle), p[1] + distance * Math.sin(angle)]);
    }
  }
  return grown;
}

/** `polygon` unclipped by `ratio`: grown by {@link unclipDistance}. */
export function unclip(polygon: readonly Point[], ratio: number): Point[] {
  return offsetConvexPolygon(polygon, unclipDistance(polygon, ratio));
}
