/**
 * The CPU graph rewrites `repo prepare` applies to the PaddleOCR exports (`onnx-fuse.ts`): each
 * rewrite on a small graph built in code, then the shipped models, always comparing ONNX
 * Runtime's outputs of the original and the rewritten file on the same input. Also `repo
 * prepare`'s stamp: a rewritten file is made once, and again when its source or rewrite changes.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { openOrtSession } from "../../gateway/src/models/ort-runtime.js";
import { normalizedTensor } from "../../gateway/src/pipelines/stages/detection-input.js";
import { makeTensor } from "../../gateway/src/protocol/tensor.js";
import { CPU_FUSION, MODEL_SOURCES } from "../../gateway/src/repository/model-sources.js";
import { type FuseReport, fuseForCpu } from "../../gateway/src/repository/onnx-fuse.js";
import {
  decodeOnnxModel,
  encodeOnnxGraph,
  encodeOnnxModel,
  floatAttribute,
  type GraphInitializerSpec,
  type GraphNodeSpec,
} from "../../gateway/src/repository/onnx-model.js";
import { prepareRepository, resolvePackageFile } from "../../gateway/src/repository/prepare.js";
import { renderTextImage } from "../fixtures/ocr/render-text.js";

const CHANNELS = 4;
const SHAPE = [1, CHANNELS, 6, 7];

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "infergate-fuse-"));
});
after(() => rm(dir, { recursive: true, force: true }));

/** Deterministic values in [-scale, scale) (xorshift32). */
function noise(count: number, seed: number, scale = 1): Float32Array {
  const data = new Float32Array(count);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    data[i] = ((state >>> 0) / 2 ** 32 - 0.5) * 2 * scale;
  }
  return data;
}

const fp32 = (name: string, dims: number[], values: ArrayLike<number>): GraphInitializerSpec => ({
  name,
  datatype: "FP32",
  dims,
  values: Array.from(values),
});
const scalar = (name: string, value: number) => fp32(name, [1], [value]);

/** A Conv of CHANNELS -> CHANNELS with a k x k kernel, `pad` on every side, `group` groups. */
function conv(input: string, output: string, weights: string, k: number, pad: number, group = 1) {
  const perGroup = CHANNELS / group;
  return {
    node: {
      opType: "Conv",
      inputs: [input, weights, `${weights}_b`],
      outputs: [output],
      attributes: { kernel_shape: [k, k], pads: [pad, pad, pad, pad], group },
    },
    initializers: [
      fp32(weights, [CHANNELS, perGroup, k, k], noise(CHANNELS * perGroup * k * k, k + 7, 0.5)),
      fp32(`${weights}_b`, [CHANNELS], noise(CHANNELS, 11, 0.2)),
    ],
  };
}

/** `input -> Mul(scale) -> Add(shift) -> output` with scalar constants. */
function affine(input: string, output: string, scale: number, shift: number) {
  return {
    nodes: [
      { opType: "Mul", inputs: [input, `${output}_s`], outputs: [`${output}_m`] },
      { opType: "Add", inputs: [`${output}_m`, `${output}_t`], outputs: [output] },
    ],
    initializers: [scalar(`${output}_s`, scale), scalar(`${output}_t`, shift)],
  };
}

/** Hard-swish as Paddle2ONNX spells it: x * Clip(x + 3, 0, 6) / 6 (opset 13 Clip). */
function hardSwish(input: string, output: string) {
  return {
    nodes: [
      { opType: "Add", inputs: [input, `${output}_3`], outputs: [`${output}_a`] },
      {
        opType: "Clip",
        inputs: [`${output}_a`, `${output}_0`, `${output}_6`],
        outputs: [`${output}_c`],
      },
      { opType: "Mul", inputs: [input, `${output}_c`], outputs: [`${output}_m`] },
      { opType: "Div", inputs: [`${output}_m`, `${output}_6`], outputs: [output] },
    ],
    initializers: [scalar(`${output}_3`, 3), scalar(`${output}_0`, 0), scalar(`${output}_6`, 6)],
  };
}

type Part = ReturnType<typeof conv> | ReturnType<typeof affine>;

/** A graph of `parts` from `x` to `y`, FP32 [1, CHANNELS, 6, 7] both. */
function graphOf(parts: Part[], opsetVersion = 13): Uint8Array {
  const initializers = new Map<string, GraphInitializerSpec>();
  for (const i of parts.flatMap((p) => p.initializers)) initializers.set(i.name, i);
  return encodeOnnxGraph({
    name: "block",
    inputs: [{ name: "x", datatype: "FP32", dims: SHAPE }],
    outputs: [{ name: "y", datatype: "FP32", dims: SHAPE }],
    nodes: parts.flatMap((p): GraphNodeSpec[] => ("node" in p ? [p.node] : p.nodes)),
    initializers: [...initializers.values()],
    opsetVersion,
  });
}

/** A PP-LCNet-like block: conv3x3 -> affine -> hardswish -> affine -> conv1x1 -> affine ->
 * hardswish -> affine -> conv3x3 (padded, so the last affine cannot be folded into it); the
 * convolutions have `group` groups. */
function blockGraph(group = 1): Uint8Array {
  return graphOf([
    conv("x", "c1", "w1", 3, 1, group),
    affine("c1", "a1", 1.5, -0.25),
    hardSwish("a1", "h1"),
    affine("h1", "l1", 0.8, 0.1),
    conv("l1", "c2", "w2", 1, 0, group),
    affine("c2", "a2", 0.7, 0.3),
    hardSwish("a2", "h2"),
    affine("h2", "l2", 1.2, -0.4),
    conv("l2", "y", "w3", 3, 1, group),
  ]);
}

/** Runs both files on the same input; asserts the outputs agree and are not trivial. */
async function assertSameOutputs(name: string, original: Uint8Array, fused: Uint8Array) {
  await writeFile(join(dir, `${name}.onnx`), original);
  await writeFile(join(dir, `${name}-fused.onnx`), fused);
  const input = noise(
    SHAPE.reduce((a, b) => a * b, 1),
    5,
    4,
  );
  const a = await run(join(dir, `${name}.onnx`), input, SHAPE);
  const b = await run(join(dir, `${name}-fused.onnx`), input, SHAPE);
  assert.ok(maxAbs(a) > 0.5, "the graph computes something");
  assert.ok(maxAbsDifference(a, b) < 1e-5, `max |diff| ${maxAbsDifference(a, b)}`);
}

/** Runs the ONNX file at `path` on `input` (shape `shape`); returns its first output. */
async function run(path: string, input: Float32Array, shape: number[]): Promise<Float32Array> {
  const session = await openOrtSession(path, { intraOpThreads: 1 });
  try {
    const tensor = makeTensor({ name: session.inputNames[0]!, datatype: "FP32", shape }, input);
    const [out] = await session.run([tensor], [session.outputNames[0]!]);
    return out!.data as Float32Array;
  } finally {
    await session.release();
  }
}

function maxAbs(values: Float32Array): number {
  let max = 0;
  for (const v of values) max = Math.max(max, Math.abs(v));
  return max;
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Rewrites `bytes`; returns the new bytes, the report and the op types left. */
function fuse(bytes: Uint8Array): { bytes: Uint8Array; report: FuseReport; ops: string[] } {
  const model = decodeOnnxModel(bytes);
  const report = fuseForCpu(model.graph!);
  const ops = (model.graph!.node ?? []).map((n) => n.opType ?? "");
  return { bytes: encodeOnnxModel(model), report, ops };
}

describe("onnx-fuse: each rewrite on a graph built in code", () => {
  it("folds, fuses and converts a PP-LCNet-like block; outputs unchanged", async () => {
    const original = blockGraph();
    const fused = fuse(original);
    assert.deepEqual(fused.report, {
      affineIntoConv: 2,
      hardSwish: 2,
      affineIntoPointwiseConv: 1,
      affineAsDepthwiseConv: 1,
    });
    // Left: 3 convs, 2 x (HardSigmoid, Mul), 1 depthwise conv for the affine before the padded conv.
    assert.deepEqual([...fused.ops].sort(), [
      "Conv",
      "Conv",
      "Conv",
      "Conv",
      "HardSigmoid",
      "HardSigmoid",
      "Mul",
      "Mul",
    ]);
    await assertSameOutputs("block", original, fused.bytes);
  });

  it("folds through grouped convolutions alike", async () => {
    const original = blockGraph(2);
    const fused = fuse(original);
    assert.equal(fused.report.affineIntoConv, 2);
    assert.equal(fused.report.affineIntoPointwiseConv, 1);
    await assertSameOutputs("grouped", original, fused.bytes);
  });

  it("folds two affines in a row, and into convolutions that share one weight", async () => {
    const first = conv("x", "c1", "w", 1, 0);
    const second = conv("a2", "c2", "w", 1, 0);
    const original = graphOf([
      first,
      affine("c1", "a1", 2, 0.5),
      affine("a1", "a2", -0.5, 0.25),
      second,
      affine("c2", "y", 0.75, -1),
    ]);
    const fused = fuse(original);
    assert.equal(fused.report.affineIntoConv, 3);
    assert.deepEqual(fused.ops, ["Conv", "Conv"]);
    await assertSameOutputs("shared", original, fused.bytes);
  });

  it("fuses hard-swish whose Clip bounds are attributes (opset 9)", async () => {
    const parts = [conv("x", "c1", "w1", 1, 0), hardSwish("c1", "y")];
    const clipless = graphOf(parts, 9);
    const model = decodeOnnxModel(clipless);
    for (const node of model.graph!.node!) {
      if (node.opType !== "Clip") continue;
      node.input = [node.input![0]!];
      node.attribute = [floatAttribute("min", 0), floatAttribute("max", 6)];
    }
    const original = encodeOnnxModel(model);
    const fused = fuse(original);
    assert.equal(fused.report.hardSwish, 1);
    assert.deepEqual(fused.ops, ["Conv", "HardSigmoid", "Mul"]);
    // y, a graph output, is still written: by the new Mul.
    await assertSameOutputs("opset9", original, fused.bytes);
  });

  it("leaves graphs with subgraphs (If, Loop) alone", () => {
    const model = decodeOnnxModel(blockGraph());
    model.graph!.node!.push({
      opType: "If",
      input: ["x"],
      output: ["unused"],
      attribute: [{ name: "then_branch", g: { name: "branch" } }],
    });
    const report = fuseForCpu(model.graph!);
    assert.deepEqual(Object.values(report), [0, 0, 0, 0]);
  });

  it("leaves a chain alone when an intermediate tensor has another reader", () => {
    const c = conv("x", "c1", "w1", 1, 0);
    const chain = affine("c1", "a1", 2, 1);
    const bytes = encodeOnnxGraph({
      name: "shared",
      inputs: [{ name: "x", datatype: "FP32", dims: SHAPE }],
      outputs: [
        { name: "a1", datatype: "FP32", dims: SHAPE },
        { name: "c1", datatype: "FP32", dims: SHAPE },
      ],
      nodes: [c.node, ...chain.nodes],
      initializers: [...c.initializers, ...chain.initializers],
    });
    const fused = fuse(bytes);
    // c1 is a graph output too: folding the affine into the conv would lose it.
    assert.deepEqual(fused.ops, ["Conv", "Mul", "Add"]);
    assert.deepEqual(Object.values(fused.report), [0, 0, 0, 0]);
  });

  it("keeps a non-scalar scale as it is", () => {
    const c = conv("x", "c1", "w1", 1, 0);
    const bytes = encodeOnnxGraph({
      name: "per-channel",
      inputs: [{ name: "x", datatype: "FP32", dims: SHAPE }],
      outputs: [{ name: "y", datatype: "FP32", dims: SHAPE }],
      nodes: [c.node, { opType: "Mul", inputs: ["c1", "s"], outputs: ["y"] }],
      initializers: [...c.initializers, fp32("s", [CHANNELS, 1, 1], [1, 2, 3, 4])],
    });
    const fused = fuse(bytes);
    assert.deepEqual(fused.ops, ["Conv", "Mul"]);
  });
});

describe("onnx-fuse: the shipped PaddleOCR models", () => {
  /** Dark text-like bars on a light strip, normalized as the pipeline does ((x/255-0.5)/0.5). */
  const bars = (shape: number[]) => async () => {
    const width = shape[3]!;
    return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => {
      const y = Math.floor(i / width) % shape[2]!;
      return y % 24 > 8 && y % 24 < 18 && (i % width) % 40 > 4 ? -0.8 : 0.9;
    });
  };
  /** A rendered page of text, as the pipeline's detection input. */
  const page = (shape: number[]) => async () => {
    const png = await renderTextImage({
      lines: ["Invoice 2026-11 total 42.50 EUR", "Hello from infergate", "0123456789 abcdef"],
      font: "DejaVu Sans",
      size: 22,
      width: shape[3]!,
      height: shape[2]!,
    });
    const { data, info } = await sharp(png)
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const image = { data: new Uint8Array(data), width: info.width, height: info.height };
    return normalizedTensor(image, "x").data as Float32Array;
  };
  const cases = [
    { model: "ocr_rec", shape: [4, 3, 48, 320], input: bars([4, 3, 48, 320]) },
    { model: "ocr_cls", shape: [8, 3, 48, 192], input: bars([8, 3, 48, 192]) },
    { model: "ocr_det", shape: [1, 3, 256, 416], input: page([1, 3, 256, 416]) },
  ];
  for (const { model, shape, input: makeInput } of cases) {
    it(`${model}: rewritten, same outputs within float rounding`, async () => {
      const source = MODEL_SOURCES.find((m) => m.name === model)!.files[0]!.source;
      assert.equal(source.kind, "package");
      if (source.kind !== "package") return;
      const original = await readFile(resolvePackageFile(source.specifier, process.cwd()));
      const clips = decodeOnnxModel(original).graph!.node!.filter((n) => n.opType === "Clip");
      const fused = fuse(original);
      // Every Clip of these exports is a hard-swish's: all fused.
      assert.equal(fused.report.hardSwish, clips.length, JSON.stringify(fused.report));
      assert.ok(!fused.ops.includes("Clip"), "a hard-swish was left");
      await writeFile(join(dir, `${model}.onnx`), original);
      await writeFile(join(dir, `${model}-fused.onnx`), fused.bytes);
      const input = await makeInput();
      const a = await run(join(dir, `${model}.onnx`), input, shape);
      const b = await run(join(dir, `${model}-fused.onnx`), input, shape);
      const scale = maxAbs(a);
      assert.ok(scale > 1e-3, `${model} computes something (max |out| ${scale})`);
      assert.ok(
        maxAbsDifference(a, b) <= 1e-4 * Math.max(1, scale),
        `max |diff| ${maxAbsDifference(a, b)}`,
      );
    });
  }
});

describe("repo prepare: rewritten files", () => {
  it("rewrites once, then leaves the file alone until its stamp changes", async () => {
    const repository = join(dir, "repo");
    await mkdir(join(repository, "ocr_cls"), { recursive: true });
    await writeFile(join(repository, "ocr_cls", "config.pbtxt"), 'name: "ocr_cls"\n');
    const actions = async () =>
      (await prepareRepository({ repository, models: ["ocr_cls"] })).map((f) => f.action);
    assert.deepEqual(await actions(), ["rewritten"]);
    const stampPath = join(repository, "ocr_cls", "1", ".model.onnx.prepared");
    const stamp = JSON.parse(await readFile(stampPath, "utf8")) as Record<string, unknown>;
    assert.equal(stamp["transform"], CPU_FUSION.id);
    assert.deepEqual(await actions(), ["unchanged"]);
    await writeFile(stampPath, JSON.stringify({ ...stamp, transform: "cpu-fusion-0" }));
    assert.deepEqual(await actions(), ["rewritten"]);
    await rm(join(repository, "ocr_cls", "1", "model.onnx"));
    assert.deepEqual(await actions(), ["rewritten"]);
    // The source copied over the rewrite (an older prepare, a hand copy): rewritten again.
    const source = MODEL_SOURCES.find((m) => m.name === "ocr_cls")!.files[0]!.source;
    if (source.kind !== "package") throw new Error("ocr_cls comes from a package");
    await writeFile(
      join(repository, "ocr_cls", "1", "model.onnx"),
      await readFile(resolvePackageFile(source.specifier, process.cwd())),
    );
    assert.deepEqual(await actions(), ["rewritten"]);
    assert.deepEqual(await actions(), ["unchanged"]);
  });
});
