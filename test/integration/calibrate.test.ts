/**
 * `infergate calibrate` end to end: a small graph built in code whose ranges are known, and
 * `ocr_rec` on a few rendered text strips through the CLI (plain progress lines, as not a TTY).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { makeTensor } from "../../gateway/src/protocol/tensor.js";
import { calibrateModel } from "../../gateway/src/repository/calibration/calibrate.js";
import { parseCalibrationCache } from "../../gateway/src/repository/calibration/calibration-cache.js";
import { buildCalibrationGraph, encodeOnnxGraph } from "../../gateway/src/repository/onnx-model.js";
import { random, renderTextImage } from "../fixtures/ocr/render-text.js";
import { SHIPPED_REPOSITORY } from "./helpers/model-server.js";

const run = promisify(execFile);

describe("calibrate", () => {
  let folder = "";
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), "infergate-calibrate-test-"));
  });
  after(() => rm(folder, { recursive: true, force: true }));

  /** x -> Mul by 2 -> Relu, with an INT64 Shape output that must not be calibrated. */
  async function writeSmallModel(): Promise<string> {
    const path = join(folder, "double_relu.onnx");
    await writeFile(
      path,
      encodeOnnxGraph({
        name: "double_relu",
        inputs: [{ name: "x", datatype: "FP32", dims: [-1, 64] }],
        outputs: [
          { name: "y", datatype: "FP32", dims: [-1, 64] },
          { name: "shape", datatype: "INT64", dims: [2] },
        ],
        initializers: [{ name: "two", datatype: "FP32", dims: [], values: [2] }],
        nodes: [
          { opType: "Mul", inputs: ["x", "two"], outputs: ["doubled"] },
          { opType: "Relu", inputs: ["doubled"], outputs: ["y"] },
          { opType: "Shape", inputs: ["y"], outputs: ["shape"] },
        ],
      }),
    );
    return path;
  }

  /** Batches of x uniform in [-0.5, 0.5], then one that reaches -1.5 (the range grows). */
  function* samples() {
    const next = random(9);
    for (let batch = 0; batch < 8; batch++) {
      const data = Float32Array.from({ length: 64 * 64 }, () => next() - 0.5);
      if (batch === 7) data[5] = -1.5;
      yield [makeTensor({ name: "x", datatype: "FP32", shape: [64, 64] }, data)];
    }
  }

  it("exposes node outputs and calibrates only floating-point tensors", async () => {
    const path = await writeSmallModel();
    const graph = await buildCalibrationGraph(path);
    // `shape` is typed INT64 in the file, so it is not even exposed.
    assert.deepEqual(graph.tensors, ["x", "doubled", "y"]);

    let seen = 0;
    const result = await calibrateModel({
      modelPath: path,
      samples: samples(),
      method: "percentile",
      percentile: 100,
      tensorrtVersion: "10.7.0",
      onSample: (done) => {
        seen = done;
      },
    });
    assert.equal(seen, 8);
    assert.equal(result.samples, 8);
    // The INT64 shape is ONNX Runtime's to type: it is measured out, not calibrated.
    assert.deepEqual([...result.ranges.keys()], ["x", "doubled", "y"]);
    const near = (actual: number, expected: number) =>
      assert.ok(Math.abs(actual - expected) <= (2 * expected) / 2048, `${actual} vs ${expected}`);
    near(result.ranges.get("x")!, 1.5);
    near(result.ranges.get("doubled")!, 3);
    // Relu drops the negative outlier: y's largest value is twice x's largest positive one.
    assert.ok(result.ranges.get("y")! <= 1.0 + 2 / 1024 && result.ranges.get("y")! > 0.9);
    assert.equal(result.cache.header, "TRT-100700-EntropyCalibration2");
    assert.equal(result.cache.scales.get("x"), Math.fround(result.ranges.get("x")! / 127));

    const entropy = await calibrateModel({
      modelPath: path,
      samples: samples(),
      method: "entropy",
      tensorrtVersion: "10.7.0",
    });
    // One outlier among 32768 values is clipped by entropy calibration, kept by the maximum.
    assert.ok(entropy.ranges.get("x")! < 1.0, `entropy range of x ${entropy.ranges.get("x")}`);
  });

  it("calibrates ocr_rec on rendered text strips through the CLI", async () => {
    const images = join(folder, "strips");
    await import("node:fs/promises").then((fs) => fs.mkdir(images));
    const lines = ["Hello world, this is a test.", "Total: 128.50 EUR", "Gate B12"];
    for (const [i, text] of lines.entries()) {
      const png = await renderTextImage({
        lines: [text],
        font: "DejaVu Sans",
        size: 28,
        width: 40 + text.length * 17,
        height: 64,
      });
      await writeFile(join(images, `strip_${i}.png`), png);
    }
    await writeFile(join(images, "notes.txt"), "not an image");
    const out = join(folder, "ocr_rec.cache");
    const { stdout, stderr } = await run(
      process.execPath,
      [
        "--import",
        "tsx",
        "gateway/src/cli/main.ts",
        "calibrate",
        "--model",
        "ocr_rec",
        "--images",
        images,
        "--repository",
        SHIPPED_REPOSITORY,
        "--out",
        out,
        "--max-images",
        "2",
      ],
      { timeout: 120_000 },
    );
    assert.match(stderr, /calibrate ocr_rec 0\/2 images/);
    assert.match(stderr, /calibrate ocr_rec 2\/2 images, \d+s total/);
    assert.match(stdout, /tensor range\(s\) from 2 image\(s\)/);

    const cache = parseCalibrationCache(await readFile(out, "utf8"));
    assert.equal(cache.header, "TRT-100700-EntropyCalibration2");
    const graph = await buildCalibrationGraph(
      join(SHIPPED_REPOSITORY, "ocr_rec", "1", "model.onnx"),
    );
    // Every exposed tensor but the integer ones (shapes, casts to int, a minority) has a line.
    assert.ok(
      cache.scales.size > graph.tensors.length * 0.75,
      `${cache.scales.size} lines for ${graph.tensors.length} tensors`,
    );
    assert.ok(cache.scales.size < graph.tensors.length);
    for (const name of ["x", "softmax_11.tmp_0"]) assert.ok(cache.scales.has(name), name);
    for (const [name, scale] of cache.scales) {
      assert.ok(Number.isFinite(scale) && scale > 0, `${name}: ${scale}`);
      assert.ok(graph.tensors.includes(name), `${name} is not a tensor of the graph`);
    }
    // Softmax probabilities lie in [0, 1].
    assert.ok(cache.scales.get("softmax_11.tmp_0")! <= Math.fround(1 / 127));
  });
});
