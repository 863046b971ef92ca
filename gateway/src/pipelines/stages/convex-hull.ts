/**
 * The convex hull of a point set (Andrew's monotone chain, O(n log n)), the first step of
 * fitting a text region's minimum-area rectangle.
 */
import type { Point } from "./point.js";

function cross(o: Point, a: Point, b: Point): number {
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

/**
 * The hull's vertices with positive signed area (left turns in x-right, y-up terms), without
 * repeated or collinear points. Fewer than three distinct points come back as they are
 * (deduplicated): one point, or the two ends of a segment.
 */
export function convexHull(points: readonly Point[]): Point[] {
  const sorted = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const unique = sorted.filter(
    (p, i) => i === 0 || p[0] !== sorted[i - 1]![0] || p[1] !== sorted[i - 1]![1],
  );
  if (unique.length < 3) return unique;
  const lower: Point[] = [];
  for (const p of unique) {
    while (lower.length >= 2 && cross(lower.at(-2)!, lower.at(-1)!, p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper: Point[] = [];
  for (let i = unique.length - 1; i >= 0; i--) {
    const p = unique[i]!;
    while (upper.length >= 2 && cross(upper.at(-2)!, upper.at(-1)!, p) <= 0) upper.pop();
    upper.push(p);
  }
  // Each chain ends where the other starts.
  const hull = lower.slice(0, -1).concat(upper.slice(0, -1));
  // All points collinear: both chains collapse to the segment's two ends.
  return hull.length < 3 ? [unique[0]!, unique.at(-1)!] : hull;
}
