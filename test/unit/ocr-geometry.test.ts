/**
 * The OCR pipeline's plane geometry: convex hull, minimum-area rectangles by rotating calipers
 * (checked against a brute force over every hull edge), unclip offsets, corner order, reading
 * order.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { convexHull } from "../../gateway/src/pipelines/stages/convex-hull.js";
import { minAreaRect } from "../../gateway/src/pipelines/stages/min-area-rect.js";
import {
  orderCorners,
  type Point,
  perimeter,
  type Quad,
  signedArea,
} from "../../gateway/src/pipelines/stages/point.js";
import { readingOrder } from "../../gateway/src/pipelines/stages/reading-order.js";
import {
  offsetConvexPolygon,
  unclip,
  unclipDistance,
} from "../../gateway/src/pipelines/stages/unclip.js";

/** The rectangle of `w` x `h` centred at (cx, cy), turned by `degrees`. */
function rotatedRect(cx: number, cy: number, w: number, h: number, degrees: number): Point[] {
  const a = (degrees * Math.PI) / 180;
  const [c, s] = [Math.cos(a), Math.sin(a)];
  return [
    [-w / 2, -h / 2],
    [w / 2, -h / 2],
    [w / 2, h / 2],
    [-w / 2, h / 2],
  ].map(([x, y]) => [cx + x! * c - y! * s, cy + x! * s + y! * c]);
}

/** The smallest area over rectangles with a side on each hull edge, O(n²). */
function bruteForceMinArea(hull: readonly Point[]): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < hull.length; i++) {
    const p = hull[i]!;
    const q = hull[(i + 1) % hull.length]!;
    const length = Math.hypot(q[0] - p[0], q[1] - p[1]);
    const u = [(q[0] - p[0]) / length, (q[1] - p[1]) / length] as const;
    const along = hull.map((r) => r[0] * u[0] + r[1] * u[1]);
    const across = hull.map((r) => -r[0] * u[1] + r[1] * u[0]);
    const area =
      (Math.max(...along) - Math.min(...along)) * (Math.max(...across) - Math.min(...across));
    best = Math.min(best, area);
  }
  return best;
}

const close = (actual: number, expected: number, tolerance = 1e-6) =>
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${actual} is not ${expected} ± ${tolerance}`,
  );

describe("convexHull", () => {
  const cases: { name: string; input: Point[]; output: Point[] }[] = [
    { name: "one point", input: [[1, 1]], output: [[1, 1]] },
    {
      name: "duplicates of one point",
      input: [
        [2, 3],
        [2, 3],
      ],
      output: [[2, 3]],
    },
    {
      name: "collinear points give the segment's ends",
      input: [
        [0, 0],
        [1, 1],
        [2, 2],
        [3, 3],
      ],
      output: [
        [0, 0],
        [3, 3],
      ],
    },
    {
      name: "a square with inner and edge points",
      input: [
        [0, 0],
        [2, 0],
        [2, 2],
        [0, 2],
        [1, 1],
        [1, 0],
        [2, 1],
      ],
      output: [
        [0, 0],
        [2, 0],
        [2, 2],
        [0, 2],
      ],
    },
  ];
  for (const { name, input, output } of cases) {
    it(name, () => assert.deepEqual(convexHull(input), output));
  }

  it("has positive signed area and contains every point", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: -50, max: 50 }), fc.integer({ min: -50, max: 50 })), {
          minLength: 3,
          maxLength: 40,
        }),
        (points) => {
          const hull = convexHull(points as Point[]);
          if (hull.length < 3) return;
          assert.ok(signedArea(hull) > 0);
          for (const p of points) {
            for (let i = 0; i < hull.length; i++) {
              const a = hull[i]!;
              const b = hull[(i + 1) % hull.length]!;
              const cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]);
              assert.ok(cross >= 0, `point ${p} outside hull edge ${a}->${b}`);
            }
          }
        },
      ),
    );
  });
});

describe("minAreaRect (rotating calipers)", () => {
  for (const degrees of [0, 7, 30, 45, 89, 120, -15]) {
    it(`recovers a 40 x 10 rectangle turned by ${degrees} degrees`, () => {
      const rect = minAreaRect(convexHull(rotatedRect(100, 50, 40, 10, degrees)));
      close(rect.area, 400, 1e-6);
      close(Math.max(rect.width, rect.height), 40, 1e-6);
      close(Math.min(rect.width, rect.height), 10, 1e-6);
    });
  }

  it("handles one point and a segment", () => {
    assert.equal(minAreaRect([[3, 4]]).area, 0);
    const flat = minAreaRect([
      [0, 0],
      [3, 4],
    ]);
    assert.equal(flat.width, 5);
    assert.equal(flat.height, 0);
  });

  it("finds the brute-force minimum on random point sets, and encloses them", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.double({ min: -100, max: 100, noNaN: true }),
            fc.double({ min: -100, max: 100, noNaN: true }),
          ),
          { minLength: 3, maxLength: 60 },
        ),
        (points) => {
          const hull = convexHull(points as Point[]);
          if (hull.length < 3 || signedArea(hull) < 1e-6) return;
          const rect = minAreaRect(hull);
          close(rect.area, bruteForceMinArea(hull), 1e-6 * Math.max(1, rect.area));
          const [c0, c1, , c3] = rect.corners;
          const u = [c1[0] - c0[0], c1[1] - c0[1]];
          const v = [c3[0] - c0[0], c3[1] - c0[1]];
          const uu = u[0]! ** 2 + u[1]! ** 2;
          const vv = v[0]! ** 2 + v[1]! ** 2;
          // Containment in absolute distance along each side: normalised coordinates amplify
          // rounding on sliver rectangles (sides of 1e-6) beyond any fixed tolerance.
          const lu = Math.sqrt(uu) || 1;
          const lv = Math.sqrt(vv) || 1;
          for (const p of points) {
            const s = ((p[0] - c0[0]) * u[0]! + (p[1] - c0[1]) * u[1]!) / lu;
            const t = ((p[0] - c0[0]) * v[0]! + (p[1] - c0[1]) * v[1]!) / lv;
            const eps = 1e-6 * 200;
            assert.ok(s > -eps && s < lu + eps && t > -eps && t < lv + eps, `${p} outside`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("unclip", () => {
  it("offsets by area x ratio / perimeter", () => {
    const rect = rotatedRect(0, 0, 100, 10, 0);
    close(unclipDistance(rect, 1.5), (1000 * 1.5) / 220);
    close(perimeter(rect), 220);
  });

  for (const degrees of [0, 20, -35]) {
    it(`grows a rectangle turned by ${degrees} degrees by the distance on every side`, () => {
      const rect = rotatedRect(50, 50, 100, 10, degrees);
      const d = unclipDistance(rect, 1.5);
      const grown = minAreaRect(convexHull(unclip(rect, 1.5)));
      close(Math.max(grown.width, grown.height), 100 + 2 * d, 1e-6);
      close(Math.min(grown.width, grown.height), 10 + 2 * d, 1e-6);
    });
  }

  it("keeps every point of a round corner at the distance from the polygon", () => {
    const square: Point[] = [
      [0, 0],
      [10, 0],
      [10, 10],
      [0, 10],
    ];
    for (const polygon of [square, [...square].reverse()]) {
      const grown = offsetConvexPolygon(polygon, 2);
      for (const [x, y] of grown) {
        const dx = Math.max(0 - x, 0, x - 10);
        const dy = Math.max(0 - y, 0, y - 10);
        close(Math.hypot(dx, dy), 2, 1e-9);
      }
      assert.equal(Math.sign(signedArea(grown)), Math.sign(signedArea(polygon)));
    }
  });
});

describe("orderCorners and readingOrder", () => {
  it("orders a slightly turned box top-left, top-right, bottom-right, bottom-left", () => {
    const corners = rotatedRect(100, 20, 120, 20, 3);
    const [tl, tr, br, bl] = orderCorners([corners[2]!, corners[0]!, corners[3]!, corners[1]!]);
    assert.ok(tl[0] < tr[0] && bl[0] < br[0]);
    assert.ok(tl[1] < bl[1] && tr[1] < br[1]);
  });

  const box = (x: number, y: number, w = 50, h = 20): Quad => [
    [x, y],
    [x + w, y],
    [x + w, y + h],
    [x, y + h],
  ];
  const cases: { name: string; input: Quad[]; output: number[][] }[] = [
    { name: "stacked lines, top first", input: [box(0, 100), box(0, 10)], output: [[1], [0]] },
    {
      name: "words of one line, left to right",
      input: [box(200, 12), box(0, 10), box(100, 8)],
      output: [[1, 2, 0]],
    },
    {
      name: "two rows of two",
      input: [box(100, 60), box(0, 62), box(100, 10), box(0, 11)],
      output: [
        [3, 2],
        [1, 0],
      ],
    },
  ];
  for (const { name, input, output } of cases) {
    it(name, () => assert.deepEqual(readingOrder(input), output));
  }
});
