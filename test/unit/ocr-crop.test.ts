/**
 * Cutting text boxes out and making tensors of them: the homography, the perspective crop
 * (on synthetic images with known content), turning vertical boxes, margins, the strip and
 * detection tensors, and the generated `ocr_preprocess` ONNX graph against the gateway's own
 * normalization, bit for bit.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openOrtSession } from "../../gateway/src/models/ort-runtime.js";
import {
  detectionSize,
  normalizedTensor,
  pixelTensor,
} from "../../gateway/src/pipelines/stages/detection-input.js";
import {
  applyHomography,
  expandQuad,
  perspectiveCrop,
  perspectiveTransform,
  quadSize,
  uprightQuad,
} from "../../gateway/src/pipelines/stages/perspective-crop.js";
import type { Point, Quad } from "../../gateway/src/pipelines/stages/point.js";
import { type RgbImage, rotate180 } from "../../gateway/src/pipelines/stages/rgb-image.js";
import {
  CLASSIFIER_WIDTH,
  classifierTensor,
  stripTensor,
} from "../../gateway/src/pipelines/stages/strip-tensor.js";
import { makeTensor } from "../../gateway/src/protocol/tensor.js";
import { buildOcrPreprocessModel } from "../../gateway/src/repository/model-sources.js";

/** An image whose pixel (x, y) is `f(x, y)` in all three channels. */
function image(width: number, height: number, f: (x: number, y: number) => number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++)
      data.fill(f(x, y), (y * width + x) * 3, (y * width + x + 1) * 3);
  }
  return { data, width, height };
}

const grey = (img: RgbImage, x: number, y: number) => img.data[(y * img.width + x) * 3]!;

describe("perspectiveTransform", () => {
  it("maps each corner to its counterpart, and midpoints of a parallelogram to midpoints", () => {
    const from: Point[] = [
      [0, 0],
      [99, 0],
      [99, 47],
      [0, 47],
    ];
    const to: Point[] = [
      [10, 20],
      [200, 40],
      [190, 90],
      [5, 70],
    ];
    const h = perspectiveTransform(from, to);
    for (let i = 0; i < 4; i++) {
      const [x, y] = applyHomography(h, ...from[i]!);
      assert.ok(Math.hypot(x - to[i]![0], y - to[i]![1]) < 1e-9);
    }
    const affine = perspectiveTransform(from, [
      [0, 0],
      [99, 10],
      [109, 57],
      [10, 47],
    ]);
    const [mx, my] = applyHomography(affine, 49.5, 23.5);
    assert.ok(Math.hypot(mx - 54.5, my - 28.5) < 1e-9);
  });
});

describe("perspectiveCrop", () => {
  // Vertical stripes 8 px wide over a 200 x 100 image: value depends on x only.
  const stripes = image(200, 100, (x) => (Math.floor(x / 8) % 2 === 0 ? 40 : 220));

  it("cuts an axis-aligned box at scale 1 exactly", () => {
    const quad: Quad = [
      [16, 10],
      [112, 10],
      [112, 58],
      [16, 58],
    ];
    const strip = perspectiveCrop(stripes, quad, { height: 48, maxWidth: 1000 });
    assert.equal(strip.height, 48);
    assert.equal(strip.width, 96);
    for (let x = 0; x < strip.width; x++)
      assert.equal(grey(strip, x, 20), grey(stripes, 16 + x, 30));
  });

  it("keeps the aspect ratio, squeezes to maxWidth, and turns 180 degrees", () => {
    const quad: Quad = [
      [0, 0],
      [199, 0],
      [199, 24],
      [0, 24],
    ];
    assert.equal(perspectiveCrop(stripes, quad, { height: 48, maxWidth: 1000 }).width, 398);
    const squeezed = perspectiveCrop(stripes, quad, { height: 48, maxWidth: 100 });
    assert.equal(squeezed.width, 100);
    const turned = rotate180(squeezed);
    assert.equal(grey(turned, 0, 0), grey(squeezed, 99, 47));
  });

  it("rectifies a turned box: a rotated gradient comes out as the same horizontal gradient", () => {
    const a = (12 * Math.PI) / 180;
    // Brightness grows along the turned axis u = x cos a + y sin a.
    const turned = image(300, 200, (x, y) =>
      Math.max(0, Math.min(255, Math.round((x - 60) * Math.cos(a) + (y - 60) * Math.sin(a)))),
    );
    const corner = (u: number, v: number): Point => [
      60 + u * Math.cos(a) - v * Math.sin(a),
      60 + u * Math.sin(a) + v * Math.cos(a),
    ];
    const quad: Quad = [corner(0, 0), corner(192, 0), corner(192, 48), corner(0, 48)];
    const strip = perspectiveCrop(turned, quad, { height: 48, maxWidth: 1000 });
    assert.equal(strip.width, 192);
    for (const x of [10, 50, 100, 150, 180]) {
      for (const y of [5, 24, 40]) assert.ok(Math.abs(grey(strip, x, y) - x) <= 2, `${x},${y}`);
    }
  });

  it("averages when shrinking: fine stripes become mid-grey, not aliased", () => {
    const fine = image(400, 96, (x) => (x % 2 === 0 ? 0 : 255));
    const quad: Quad = [
      [0, 0],
      [400, 0],
      [400, 96],
      [0, 96],
    ];
    const strip = perspectiveCrop(fine, quad, { height: 48, maxWidth: 1000 });
    for (const x of [10, 77, 150]) assert.ok(Math.abs(grey(strip, x, 20) - 128) < 20);
  });
});

describe("box helpers", () => {
  const tall: Quad = [
    [10, 10],
    [30, 10],
    [30, 110],
    [10, 110],
  ];
  it("turns a tall box so that its right side becomes the strip's top", () => {
    assert.deepEqual(uprightQuad(tall), [tall[1], tall[2], tall[3], tall[0]]);
    const wide: Quad = [tall[0], [130, 10], [130, 30], [10, 30]];
    assert.equal(uprightQuad(wide), wide);
  });

  it("adds a margin of a share of the height on every side", () => {
    const wide: Quad = [
      [10, 10],
      [110, 10],
      [110, 30],
      [10, 30],
    ];
    const grown = expandQuad(wide, 0.25);
    assert.deepEqual(grown, [
      [5, 5],
      [115, 5],
      [115, 35],
      [5, 35],
    ]);
    assert.deepEqual(quadSize(grown), { width: 110, height: 30 });
  });
});

describe("tensors", () => {
  it("sizes detection inputs: longest side limited, multiples of 32, never enlarged", () => {
    const cases: { input: [number, number, number]; output: { width: number; height: number } }[] =
      [
        { input: [1920, 1080, 960], output: { width: 960, height: 544 } },
        { input: [4000, 3000, 960], output: { width: 960, height: 736 } },
        { input: [800, 240, 960], output: { width: 800, height: 256 } },
        { input: [10, 10, 960], output: { width: 32, height: 32 } },
        { input: [1080, 1920, 640], output: { width: 352, height: 640 } },
      ];
    for (const { input, output } of cases) assert.deepEqual(detectionSize(...input), output);
  });

  it("normalizes detection input as B, G, R planes with the ImageNet constants", () => {
    const pixel: RgbImage = { data: Uint8Array.from([255, 0, 128]), width: 1, height: 1 };
    const tensor = normalizedTensor(pixel, "x");
    assert.deepEqual(tensor.shape, [1, 3, 1, 1]);
    const [b, g, r] = tensor.data as Float32Array;
    assert.ok(Math.abs(b! - (128 / 255 - 0.485) / 0.229) < 1e-5);
    assert.ok(Math.abs(g! - (0 - 0.456) / 0.224) < 1e-5);
    assert.ok(Math.abs(r! - (1 - 0.406) / 0.225) < 1e-5);
    const raw = pixelTensor(pixel, "image");
    assert.deepEqual(raw.shape, [1, 1, 1, 3]);
    assert.equal(raw.data, pixel.data);
  });

  it("makes strip tensors in [-1, 1], padded with 0, and squeezes wide strips for the classifier", () => {
    const strip = image(100, 48, () => 255);
    const tensor = stripTensor(strip, 128, "x");
    assert.deepEqual(tensor.shape, [1, 3, 48, 128]);
    const data = tensor.data as Float32Array;
    assert.equal(data[99], 1);
    assert.equal(data[100], 0);
    assert.throws(() => stripTensor(strip, 64, "x"), /exceeds/);
    const wide = classifierTensor(
      image(500, 48, () => 0),
      "x",
    );
    assert.deepEqual(wide.shape, [1, 3, 48, CLASSIFIER_WIDTH]);
    assert.equal((wide.data as Float32Array)[CLASSIFIER_WIDTH - 1], -1);
  });

  it("ocr_preprocess (the ONNX graph built in code) gives the same bits as normalizedTensor", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ocr-preprocess-"));
    try {
      const path = join(dir, "model.onnx");
      await writeFile(path, buildOcrPreprocessModel());
      const session = await openOrtSession(path, { intraOpThreads: 1 });
      const frames = [
        image(7, 5, (x, y) => (x * 37 + y * 91) % 256),
        image(7, 5, (x, y) => (x * y * 13) % 256),
      ];
      // Colour: make the channels differ so that a plane swap shows.
      for (const frame of frames)
        for (let i = 0; i < frame.data.length; i += 3) frame.data[i] = 255 - frame.data[i]!;
      const batch = makeTensor(
        { name: "image", datatype: "UINT8", shape: [2, 5, 7, 3] },
        Uint8Array.from([...frames[0]!.data, ...frames[1]!.data]),
      );
      const [out] = await session.run([batch], ["x"]);
      await session.release();
      assert.deepEqual(out!.shape, [2, 3, 5, 7]);
      const expected = frames.flatMap((f) => [...(normalizedTensor(f, "x").data as Float32Array)]);
      assert.deepEqual([...(out!.data as Float32Array)], expected);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
