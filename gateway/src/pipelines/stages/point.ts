/**
 * Plane geometry shared by the OCR stages: points as `[x, y]` pairs in pixels (x to the right,
 * y down, the image's own axes) and quadrilaterals as four corners.
 */

/** A point `[x, y]`, in pixels. */
export type Point = [number, number];

/**
 * A text box's four corners in reading order: top-left, top-right, bottom-right, bottom-left
 * (as the text reads, so a box turned 90 degrees starts wherever its text starts).
 */
export type Quad = [Point, Point, Point, Point];

/** Euclidean distance between two points. */
export function distance(a: Point, b: Point): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

/**
 * Signed area of a polygon (shoelace formula). Positive when the vertices turn left in the
 * mathematical sense (x right, y up); as y points down in images that is clockwise on screen.
 */
export function signedArea(polygon: readonly Point[]): number {
  let twice = 0;
  for (let i = 0; i < polygon.length; i++) {
    const [x0, y0] = polygon[i]!;
    const [x1, y1] = polygon[(i + 1) % polygon.length]!;
    twice += x0 * y1 - x1 * y0;
  }
  return twice / 2;
}

/** Length of a closed polygon's outline. */
export function perimeter(polygon: readonly Point[]): number {
  let length = 0;
  for (let i = 0; i < polygon.length; i++) {
    length += distance(polygon[i]!, polygon[(i + 1) % polygon.length]!);
  }
  return length;
}

/**
 * Orders a rectangle's (or any convex quadrilateral's) corners as PaddleOCR's `get_mini_boxes`
 * does for text that reads left to right: of the two leftmost corners the upper one is
 * top-left, of the two rightmost the upper one is top-right.
 */
export function orderCorners(corners: readonly Point[]): Quad {
  if (corners.length !== 4) throw new Error(`a quadrilateral has 4 corners, got ${corners.length}`);
  const byX = [...corners].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const [l0, l1, r0, r1] = byX as [Point, Point, Point, Point];
  const [topLeft, bottomLeft] = l0[1] <= l1[1] ? [l0, l1] : [l1, l0];
  const [topRight, bottomRight] = r0[1] <= r1[1] ? [r0, r1] : [r1, r0];
  return [topLeft, topRight, bottomRight, bottomLeft];
}
