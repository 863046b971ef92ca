/**
 * DB postprocessing on synthetic probability maps: filled rotated rectangles (and noise) with
 * known geometry, checked for the boxes found, the filters and the scaling to the image.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connectedComponents } from "../../gateway/src/pipelines/stages/connected-components.js";
import {
  DB_DEFAULTS,
  dbPostprocess,
  meanInside,
  type ProbabilityMap,
} from "../../gateway/src/pipelines/stages/db-postprocess.js";
import { distance, type Point } from "../../gateway/src/pipelines/stages/point.js";

/** A map of `width` x `height` with `regions` painted at `value` on a `background`. */
function syntheticMap(
  width: number,
  height: number,
  regions: { cx: number; cy: number; w: number; h: number; degrees?: number; value?: number }[],
  background = 0.02,
): ProbabilityMap {
  const data = new Float32Array(width * height).fill(background);
  for (const { cx, cy, w, h, degrees = 0, value = 0.9 } of regions) {
    const a = (degrees * Math.PI) / 180;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        // Pixel centre in the region's own axes.
        const dx = x - cx;
        const dy = y - cy;
        const u = dx * Math.cos(a) + dy * Math.sin(a);
        const v = -dx * Math.sin(a) + dy * Math.cos(a);
        if (Math.abs(u) <= w / 2 && Math.abs(v) <= h / 2) data[y * width + x] = value;
      }
    }
  }
  return { data, width, height };
}

const sides = (quad: Point[]) => ({
  width: distance(quad[0]!, quad[1]!),
  height: distance(quad[0]!, quad[3]!),
});

describe("connectedComponents", () => {
  it("joins diagonal neighbours (8-connectivity) and keeps separate regions apart", () => {
    // 1 . . 1
    // . 1 . 1
    // . . . .
    const mask = Uint8Array.from([1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0]);
    const components = connectedComponents(mask, 4, 3);
    assert.deepEqual(
      components.map((c) => c.pixels),
      [2, 2],
    );
    assert.deepEqual(components[0]!.outline, [
      [0, 0],
      [1, 1],
    ]);
    assert.deepEqual(components[1]!.outline, [
      [3, 0],
      [3, 1],
    ]);
  });

  it("stops at maxComponents", () => {
    const mask = Uint8Array.from([1, 0, 1, 0, 1]);
    assert.equal(connectedComponents(mask, 5, 1, 2).length, 2);
  });
});

describe("dbPostprocess", () => {
  it("finds one horizontal region and grows it by the unclip distance", () => {
    const map = syntheticMap(200, 60, [{ cx: 100, cy: 30, w: 121, h: 11 }]);
    const [box, ...rest] = dbPostprocess(map, 200, 60);
    assert.equal(rest.length, 0);
    // Pixel centres span 120 x 10; the unclip distance is area * 1.5 / perimeter.
    const d = (120 * 10 * 1.5) / (2 * (120 + 10));
    const { width, height } = sides(box!.quad);
    assert.ok(Math.abs(width - (120 + 2 * d)) < 0.01, `width ${width}`);
    assert.ok(Math.abs(height - (10 + 2 * d)) < 0.01, `height ${height}`);
    assert.ok(Math.abs(box!.score - 0.9) < 1e-6);
    const [tl, tr, br, bl] = box!.quad;
    assert.ok(tl[0] < tr[0] && tl[1] < bl[1] && br[0] > bl[0]);
  });

  it("fits a turned region with a turned box", () => {
    const map = syntheticMap(300, 200, [{ cx: 150, cy: 100, w: 200, h: 20, degrees: 10 }]);
    const [box] = dbPostprocess(map, 300, 200, { ...DB_DEFAULTS, unclipRatio: 0.001 });
    const [tl, tr] = box!.quad;
    const angle = (Math.atan2(tr[1] - tl[1], tr[0] - tl[0]) * 180) / Math.PI;
    assert.ok(Math.abs(angle - 10) < 1, `angle ${angle}`);
    const { width, height } = sides(box!.quad);
    assert.ok(Math.abs(width - 200) < 3 && Math.abs(height - 20) < 3, `${width} x ${height}`);
  });

  const filters: { name: string; regions: Parameters<typeof syntheticMap>[2]; found: number }[] = [
    {
      name: "two separate lines give two boxes",
      regions: [
        { cx: 60, cy: 15, w: 80, h: 9 },
        { cx: 60, cy: 45, w: 80, h: 9 },
      ],
      found: 2,
    },
    {
      name: "a region scoring below boxThreshold is dropped",
      regions: [{ cx: 60, cy: 30, w: 80, h: 9, value: 0.5 }],
      found: 0,
    },
    {
      name: "a region thinner than minSize is dropped",
      regions: [{ cx: 60, cy: 30, w: 80, h: 2 }],
      found: 0,
    },
    { name: "a speck is dropped", regions: [{ cx: 60, cy: 30, w: 2, h: 2 }], found: 0 },
    { name: "a map without text gives nothing", regions: [], found: 0 },
  ];
  for (const { name, regions, found } of filters) {
    it(name, () =>
      assert.equal(dbPostprocess(syntheticMap(120, 60, regions), 120, 60).length, found),
    );
  }

  it("scales boxes to the target image and clips them to it", () => {
    const map = syntheticMap(100, 50, [{ cx: 50, cy: 25, w: 41, h: 11 }]);
    const [small] = dbPostprocess(map, 100, 50);
    const [large] = dbPostprocess(map, 300, 100);
    for (let i = 0; i < 4; i++) {
      assert.ok(Math.abs(large!.quad[i]![0] - 3 * small!.quad[i]![0]) < 1e-9);
      assert.ok(Math.abs(large!.quad[i]![1] - 2 * small!.quad[i]![1]) < 1e-9);
    }
    const [edge] = dbPostprocess(
      syntheticMap(100, 50, [{ cx: 10, cy: 25, w: 21, h: 11 }]),
      100,
      50,
    );
    assert.ok(edge!.quad.every(([x, y]) => x >= 0 && y >= 0 && x <= 100 && y <= 50));
  });

  it("scores the mean probability inside a polygon", () => {
    const map = syntheticMap(20, 20, [{ cx: 5, cy: 5, w: 11, h: 11, value: 1 }], 0);
    const inside = meanInside(map, [
      [0, 0],
      [10, 0],
      [10, 10],
      [0, 10],
    ]);
    assert.equal(inside, 1);
    const half = meanInside(map, [
      [0, 0],
      [19, 0],
      [19, 10],
      [0, 10],
    ]);
    assert.ok(half > 0.5 && half < 0.6, `${half}`);
  });
});
