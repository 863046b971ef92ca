/**
 * Config generation of `infergate repo build`: per target, from the build descriptions and the
 * shipped ONNX files (read, not run).
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { type ModelConfig, parseModelConfig } from "../../gateway/src/protocol/model-config.js";
import {
  engineShapes,
  generateModelConfig,
  placementOn,
} from "../../gateway/src/repository/build-config.js";
import { manifestText, pendingEngine } from "../../gateway/src/repository/build-notes.js";
import { configText } from "../../gateway/src/repository/build-repository.js";
import { MODEL_BUILDS, type ModelBuildSpec } from "../../gateway/src/repository/build-specs.js";
import { MODEL_SOURCES } from "../../gateway/src/repository/model-sources.js";
import { type OnnxSignature, readOnnxSignature } from "../../gateway/src/repository/onnx-model.js";
import { prepareRepository } from "../../gateway/src/repository/prepare.js";
import { TARGET_NAMES, TARGETS, type Target } from "../../gateway/src/repository/targets.js";
import { SHIPPED_REPOSITORY } from "../integration/helpers/model-server.js";

const signatures = new Map<string, OnnxSignature>();

/** Every model's config on `target`, ensembles after their steps, as `repo build` orders them. */
function configsFor(target: Target): Map<string, ModelConfig> {
  const built = new Map<string, ModelConfig>();
  const specs = Object.values(MODEL_BUILDS).sort(
    (a, b) => Number(!!a.ensemble) - Number(!!b.ensemble),
  );
  for (const spec of specs) {
    built.set(
      spec.name,
      generateModelConfig({ spec, target, signature: signatures.get(spec.name), built }),
    );
  }
  return built;
}

describe("repo build: configs per target", () => {
  before(async () => {
    await prepareRepository({ repository: SHIPPED_REPOSITORY });
    for (const source of MODEL_SOURCES) {
      if (source.files.some((f) => f.target === "1/model.onnx")) {
        signatures.set(
          source.name,
          await readOnnxSignature(join(SHIPPED_REPOSITORY, source.name, "1", "model.onnx")),
        );
      }
    }
  });

  it("has a build description for every model source", () => {
    assert.deepEqual(MODEL_SOURCES.map((s) => s.name).sort(), Object.keys(MODEL_BUILDS).sort());
  });

  it("cpu: every generated config means what the committed config.pbtxt does", async () => {
    for (const [name, config] of configsFor(TARGETS.cpu)) {
      const committed = await readFile(join(SHIPPED_REPOSITORY, name, "config.pbtxt"), "utf8");
      assert.deepEqual(config, parseModelConfig(committed), name);
    }
  });

  it("cpu: two one-thread ocr_rec instances, one-thread ocr_ctc_argmax", () => {
    const configs = configsFor(TARGETS.cpu);
    assert.deepEqual(configs.get("ocr_rec")?.instance_group, [{ count: 2, kind: "KIND_CPU" }]);
    assert.deepEqual(configs.get("ocr_ctc_argmax")?.parameters, {
      intra_op_thread_count: { string_value: "1" },
    });
  });

  for (const name of TARGET_NAMES) {
    it(`${name}: printed configs parse back to the generated message, comments included`, () => {
      const target = TARGETS[name];
      for (const [model, config] of configsFor(target)) {
        const spec = MODEL_BUILDS[model]!;
        const text = configText(spec, target, placementOn(spec, target), config);
        assert.deepEqual(parseModelConfig(text), config, model);
        assert.match(text, /^# /, `${model}: starts with its comment`);
      }
    });
  }

  for (const { name, precision } of [
    { name: "t4", precision: "INT8" },
    { name: "p100", precision: "FP16" },
  ] as const) {
    it(`${name}: TensorRT ${precision} engines with the ONNX file's IO, 2 instances on GPU 0`, () => {
      const target = TARGETS[name];
      const configs = configsFor(target);
      const engines = [...configs.values()].filter((c) => c.platform === "tensorrt_plan");
      assert.deepEqual(engines.map((c) => c.name).sort(), ["ocr_cls", "ocr_det", "ocr_rec"]);
      for (const config of engines) {
        const signature = signatures.get(config.name!)!;
        assert.equal(config.default_model_filename, "model.plan");
        assert.deepEqual(config.parameters, { engine_precision: { string_value: precision } });
        assert.deepEqual(config.instance_group, [{ count: 2, kind: "KIND_GPU", gpus: [0] }]);
        const preferred = config.dynamic_batching?.preferred_batch_size ?? [];
        assert.ok(preferred.length > 0, `${config.name}: preferred batch sizes`);
        for (const size of preferred)
          assert.ok(size <= config.max_batch_size!, `${config.name}: ${size}`);
        // Batch dimension first in the ONNX file, then the config's dims.
        const io = (tensors: { name?: string; dims?: number[] }[]) =>
          tensors.map((t) => ({ name: t.name, dims: [-1, ...(t.dims ?? [])] }));
        assert.deepEqual(
          io(config.input ?? []),
          signature.inputs.map(({ name, dims }) => ({ name, dims })),
        );
        assert.deepEqual(
          io(config.output ?? []),
          signature.outputs.map(({ name, dims }) => ({ name, dims })),
        );
      }
      assert.equal(configs.get("ocr_preprocess")?.platform, "onnxruntime_onnx");
      assert.deepEqual(configs.get("ocr_preprocess")?.instance_group, [
        { count: 1, kind: "KIND_GPU", gpus: [0] },
      ]);
      assert.equal(configs.get("ocr_det_uint8")?.platform, "ensemble");
      assert.equal(configs.get("ocr_det_uint8")?.instance_group, undefined);
      assert.deepEqual(configs.get("simple")?.instance_group, [{ count: 1, kind: "KIND_CPU" }]);
      // The per-step argmax stays next to ocr_rec's output on the device, threads Triton's.
      assert.equal(configs.get("ocr_ctc_argmax")?.platform, "onnxruntime_onnx");
      assert.deepEqual(configs.get("ocr_ctc_argmax")?.instance_group, [
        { count: 1, kind: "KIND_GPU", gpus: [0] },
      ]);
      assert.equal(configs.get("ocr_ctc_argmax")?.parameters, undefined);
      assert.equal(configs.get("ocr_rec_greedy")?.platform, "ensemble");
    });
  }

  it("p100 names its TensorRT 8.x image in the comments", () => {
    const spec = MODEL_BUILDS.ocr_rec!;
    const config = configsFor(TARGETS.p100).get("ocr_rec")!;
    const text = configText(spec, TARGETS.p100, "tensorrt", config);
    assert.match(text, /# Target p100: TensorRT FP16 engine/);
    assert.match(text, /TensorRT 8\.6\.3/);
    assert.match(text, /tritonserver:24\.04-py3/);
  });

  it("engine shapes: batch 1 .. opt .. max_batch_size, the pipeline's sizes for open dims", () => {
    assert.deepEqual(engineShapes(MODEL_BUILDS.ocr_rec!), {
      min: "x:1x3x48x128",
      opt: "x:32x3x48x320",
      max: "x:32x3x48x2560",
    });
    assert.deepEqual(engineShapes(MODEL_BUILDS.ocr_det!), {
      min: "x:1x3x32x32",
      opt: "x:1x3x640x640",
      max: "x:4x3x960x960",
    });
  });

  it("the manifest is one tab-separated line per engine, calibration only for INT8", () => {
    const shapes = engineShapes(MODEL_BUILDS.ocr_cls!);
    const t4 = manifestText(
      TARGETS.t4,
      ["ocr_cls"],
      [pendingEngine("ocr_cls", TARGETS.t4, shapes)],
    );
    const p100 = manifestText(
      TARGETS.p100,
      ["ocr_cls"],
      [pendingEngine("ocr_cls", TARGETS.p100, shapes)],
    );
    const row = (text: string) => text.split("\n").filter((l) => l && !l.startsWith("#"));
    assert.deepEqual(row(t4), [
      "ocr_cls\tocr_cls/source/model.onnx\tocr_cls/1/model.plan\tINT8\tocr_cls/source/calibration.cache\tx:1x3x48x192\tx:64x3x48x192\tx:64x3x48x192",
    ]);
    assert.equal(row(p100)[0]!.split("\t")[4], "-");
    assert.match(t4, /^# tensorrt_image: nvcr\.io\/nvidia\/tensorrt:24\.12-py3$/m);
    assert.match(p100, /^# trtexec_flags: --fp16$/m);
  });

  const mismatches: {
    name: string;
    change: (spec: ModelBuildSpec) => ModelBuildSpec;
    error: RegExp;
  }[] = [
    {
      name: "a rank the ONNX file does not have",
      change: (s) => ({ ...s, inputs: [{ ...s.inputs[0]!, shape: [3, 48] }] }),
      error: /input 'x' has rank 3 .* 2 in its build description/,
    },
    {
      name: "a size the ONNX file fixes otherwise",
      change: (s) => ({ ...s, inputs: [{ ...s.inputs[0]!, shape: [3, 32, 320] }] }),
      error: /dimension 2 is 48 in the ONNX file/,
    },
    {
      name: "an input the ONNX file does not have",
      change: (s) => ({ ...s, inputs: [{ ...s.inputs[0]!, name: "image" }] }),
      error: /ONNX input 'x' has no build description/,
    },
    {
      name: "an output the ONNX file does not have",
      change: (s) => ({ ...s, outputs: [{ name: "logits" }] }),
      error: /output 'logits' is not in the ONNX file/,
    },
  ];
  for (const row of mismatches) {
    it(`refuses a build description with ${row.name}`, () => {
      const spec = row.change(MODEL_BUILDS.ocr_rec!);
      for (const target of [TARGETS.cpu, TARGETS.t4]) {
        assert.throws(
          () =>
            generateModelConfig({
              spec,
              target,
              signature: signatures.get("ocr_rec"),
              built: new Map(),
            }),
          row.error,
        );
      }
    });
  }
});
