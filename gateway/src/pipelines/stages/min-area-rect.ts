/**
 * The minimum-area enclosing rectangle of a convex polygon by rotating calipers (Toussaint
 * 1983): the best rectangle has a side on one of the hull's edges, and as the edge advances
 * the three other touching vertices only move forward, so all edges are tried in O(n).
 */
import type { Point } from "./point.js";

/** A rotated rectangle. */
export interface RotatedRect {
  /** The corners, in order around the rectangle. */
  corners: [Point, Point, Point, Point];
  /** Length of the side along the edge it was fitted to, px. */
  width: number;
  /** Length of the other side, px. */
  height: number;
  /** width x height, px². */
  area: number;
}

/**
 * The smallest rectangle enclosing `hull`, a convex polygon with positive signed area as
 * {@link convexHull} returns it. One point gives a zero-size rectangle, two a flat one.
 */
export function minAreaRect(hull: readonly Point[]): RotatedRect {
  const n = hull.length;
  if (n === 0) throw new Error("minAreaRect of no points");
  if (n < 3) return segmentRect(hull[0]!, hull[n - 1]!);
  const dot = (p: Point, u: Point) => p[0] * u[0] + p[1] * u[1];
  const at = (i: number) => hull[i % n]!;
  let best: RotatedRect | undefined;
  // Touching vertices: furthest along the edge (right), furthest from it (top), least along it.
  let right = 1;
  let top = 1;
  let left = 1;
  for (let i = 0; i < n; i++) {
    const p = at(i);
    const q = at(i + 1);
    const length = Math.hypot(q[0] - p[0], q[1] - p[1]);
    const u: Point = [(q[0] - p[0]) / length, (q[1] - p[1]) / length];
    // The inward normal: the hull lies to the left of each of its edges.
    const v: Point = [-u[1], u[0]];
    while (dot(at(right + 1), u) >= dot(at(right), u) && right < i + n) right++;
    if (i === 0) top = right;
    while (dot(at(top + 1), v) >= dot(at(top), v) && top < i + n) top++;
    if (i === 0) left = top;
    while (dot(at(left + 1), u) <= dot(at(left), u) && left < i + n) left++;
    const minU = dot(at(left), u) - dot(p, u);
    const maxU = dot(at(right), u) - dot(p, u);
    const maxV = dot(at(top), v) - dot(p, v);
    const area = (maxU - minU) * maxV;
    if (best === undefined || area < best.area) {
      const corner = (s: number, t: number): Point => [
        p[0] + s * u[0] + t * v[0],
        p[1] + s * u[1] + t * v[1],
      ];
      best = {
        corners: [corner(minU, 0), corner(maxU, 0), corner(maxU, maxV), corner(minU, maxV)],
        width: maxU - minU,
        height: maxV,
        area,
      };
    }
  }
  return best!;
}

function segmentRect(a: Point, b: Point): RotatedRect {
  return {
    corners: [a, b, b, a],
    width: Math.hypot(b[0] - a[0], b[1] - a[1]),
    height: 0,
    area: 0,
  };
}
