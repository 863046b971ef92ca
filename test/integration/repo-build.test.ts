/**
 * `infergate repo build` end to end: each target built into a temp folder and linted, every
 * config parsed, the cpu output served by the embedded model server, and
 * `deploy/build-engines.sh` checked as far as a machine without GPU or Docker allows.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { parseModelConfig } from "../../gateway/src/protocol/model-config.js";
import {
  type BuildResult,
  buildRepository,
} from "../../gateway/src/repository/build-repository.js";
import { lintRepository } from "../../gateway/src/repository/lint.js";
import { readOnnxSignature } from "../../gateway/src/repository/onnx-model.js";
import { SHIPPED_REPOSITORY, startTestModelServer } from "./helpers/model-server.js";

const run = promisify(execFile);
const SCRIPT = "deploy/build-engines.sh";

describe("repo build", () => {
  let folder = "";
  const built = new Map<string, BuildResult>();
  const progress: string[] = [];
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), "infergate-repo-build-"));
    for (const target of ["cpu", "t4", "p100"]) {
      built.set(
        target,
        await buildRepository({
          target,
          repository: SHIPPED_REPOSITORY,
          out: join(folder, target),
          onModel: (m) => progress.push(`${target} ${m.name}`),
        }),
      );
    }
  });
  after(() => rm(folder, { recursive: true, force: true }));

  it("reports progress per model and lints clean, engines pending on GPU targets", () => {
    assert.equal(progress.length, 24);
    assert.deepEqual(built.get("cpu")!.lint.problems, []);
    assert.deepEqual(built.get("cpu")!.lint.pending, []);
    for (const target of ["t4", "p100"]) {
      const { lint } = built.get(target)!;
      assert.deepEqual(lint.problems, [], target);
      assert.deepEqual(
        lint.pending?.map((p) => p.slice(folder.length + 1)),
        ["ocr_cls", "ocr_det", "ocr_rec"].map((m) => join(target, m, "1", "model.plan")),
      );
    }
  });

  it("lint without pending engines allowed is honest: the plans are missing until built", async () => {
    assert.deepEqual((await lintRepository(join(folder, "cpu"))).problems, []);
    const report = await lintRepository(join(folder, "t4"));
    assert.deepEqual(
      report.problems.map((p) => `${p.model} ${p.rule}`),
      ["ocr_cls model-file", "ocr_det model-file", "ocr_rec model-file"],
    );
  });

  it("pending engines still have their ONNX source checked against the config", async () => {
    const copy = join(folder, "t4-edited");
    await run("cp", ["-r", join(folder, "t4"), copy]);
    const path = join(copy, "ocr_cls", "config.pbtxt");
    await writeFile(path, (await readFile(path, "utf8")).replace('name: "x"', 'name: "image"'));
    const report = await lintRepository(copy, { allowPendingEngines: true });
    assert.ok(
      report.problems.some((p) => p.model === "ocr_cls" && p.rule === "io-mismatch"),
      JSON.stringify(report.problems),
    );
  });

  it("lays out files per target: ONNX in 1/ for ONNX Runtime, in source/ for engines", () => {
    const has = (target: string, path: string) => existsSync(join(folder, target, path));
    assert.ok(has("cpu", "ocr_rec/1/model.onnx"));
    assert.ok(has("cpu", "ocr_rec/ppocr_keys_v1.txt"));
    for (const target of ["t4", "p100"]) {
      assert.ok(has(target, "ocr_rec/source/model.onnx"));
      assert.ok(!has(target, "ocr_rec/1/model.onnx"));
      assert.ok(has(target, "ocr_rec/ppocr_keys_v1.txt"));
      assert.ok(has(target, "ocr_preprocess/1/model.onnx"));
      assert.ok(has(target, "ocr_det_uint8/1"));
      assert.ok(has(target, "ocr_ctc_argmax/1/model.onnx"));
      assert.ok(has(target, "ocr_rec_greedy/1"));
      assert.ok(has(target, "BUILD.txt"));
    }
  });

  it("writes configs that parse, with each target's platform, precision and placement", async () => {
    for (const [target, result] of built) {
      for (const model of result.models) {
        const text = await readFile(join(folder, target, model.name, "config.pbtxt"), "utf8");
        const config = parseModelConfig(text);
        assert.deepEqual(config, model.config, `${target}/${model.name}`);
        if (config.platform !== "tensorrt_plan") continue;
        const precision = target === "t4" ? "INT8" : "FP16";
        assert.match(text, new RegExp(`# Target ${target}: TensorRT ${precision} engine`));
        assert.equal(config.parameters?.engine_precision?.string_value, precision);
        assert.deepEqual(config.instance_group, [{ count: 2, kind: "KIND_GPU", gpus: [0] }]);
        for (const size of config.dynamic_batching?.preferred_batch_size ?? []) {
          assert.ok(size <= config.max_batch_size!);
        }
        const signature = await readOnnxSignature(
          join(folder, target, model.name, "source", "model.onnx"),
        );
        assert.deepEqual(
          config.input?.map((t) => [t.name, [-1, ...(t.dims ?? [])]]),
          signature.inputs.map((t) => [t.name, t.dims]),
        );
        assert.deepEqual(
          config.output?.map((t) => [t.name, [-1, ...(t.dims ?? [])]]),
          signature.outputs.map((t) => [t.name, t.dims]),
        );
      }
    }
  });

  it("BUILD.txt names the engines still to build and how", async () => {
    const t4 = await readFile(join(folder, "t4", "BUILD.txt"), "utf8");
    assert.match(t4, /Engines still to build \(3\)/);
    assert.match(t4, /infergate calibrate --model ocr_rec --images <images>/);
    assert.match(t4, /deploy\/build-engines\.sh /);
    const p100 = await readFile(join(folder, "p100", "BUILD.txt"), "utf8");
    assert.doesNotMatch(p100, /infergate calibrate/);
    const cpu = await readFile(join(folder, "cpu", "BUILD.txt"), "utf8");
    assert.match(cpu, /No engines to build/);
  });

  it("refuses to write into a folder that is not empty", async () => {
    await assert.rejects(
      buildRepository({ target: "cpu", repository: SHIPPED_REPOSITORY, out: join(folder, "cpu") }),
      /is not empty/,
    );
  });

  it("the cpu output serves: one inference on simple", async () => {
    const h = await startTestModelServer(join(folder, "cpu"), {
      controlMode: "explicit",
      startupModels: ["simple"],
    });
    try {
      const row = (f: (i: number) => number) => Int32Array.from({ length: 16 }, (_, i) => f(i));
      const bytes = (a: Int32Array) => Buffer.from(a.buffer);
      const response = await h.call("ModelInfer", {
        model_name: "simple",
        inputs: [
          { name: "INPUT0", datatype: "INT32", shape: [1, 16] },
          { name: "INPUT1", datatype: "INT32", shape: [1, 16] },
        ],
        raw_input_contents: [bytes(row((i) => i)), bytes(row(() => 1))],
      });
      const outputs = response.raw_output_contents as Buffer[];
      const names = (response.outputs as { name: string }[]).map((o) => o.name);
      const sum = outputs[names.indexOf("OUTPUT0")]!;
      assert.deepEqual(
        [...new Int32Array(sum.buffer.slice(sum.byteOffset, sum.byteOffset + sum.byteLength))],
        [...row((i) => i + 1)],
      );
    } finally {
      await h.close();
    }
  });

  describe("deploy/build-engines.sh", () => {
    it("is valid bash (and shellcheck-clean where shellcheck is installed)", async () => {
      await run("bash", ["-n", SCRIPT]);
      const shellcheck = await run("sh", ["-c", "command -v shellcheck"]).catch(() => undefined);
      if (shellcheck) await run("shellcheck", [SCRIPT]);
    });

    it("--help describes the usage", async () => {
      const { stdout } = await run("bash", [SCRIPT, "--help"]);
      assert.match(stdout, /^usage: deploy\/build-engines\.sh \[options\] REPOSITORY/);
      assert.match(stdout, /--dry-run/);
      const failed = await run("bash", [SCRIPT]).catch((e: { code: number; stderr: string }) => e);
      assert.equal((failed as { code: number }).code, 2);
    });

    it("--dry-run prints the exact trtexec and Triton commands for a t4 repository", async () => {
      const repo = join(folder, "t4");
      const { stdout, stderr } = await run("bash", [SCRIPT, "--dry-run", repo]);
      const lines = stdout.trim().split("\n");
      const trtexec = (model: string, shapes: string[]) =>
        [
          `docker run --rm --gpus device=0 -v ${repo}:/models nvcr.io/nvidia/tensorrt:24.12-py3 trtexec`,
          `--onnx=/models/${model}/source/model.onnx --int8 --fp16`,
          `--calib=/models/${model}/source/calibration.cache`,
          `--minShapes=${shapes[0]} --optShapes=${shapes[1]} --maxShapes=${shapes[2]}`,
          `--saveEngine=/models/${model}/1/model.plan`,
        ].join(" ");
      assert.deepEqual(lines.slice(0, 3), [
        trtexec("ocr_det", ["x:1x3x32x32", "x:1x3x640x640", "x:4x3x960x960"]),
        trtexec("ocr_cls", ["x:1x3x48x192", "x:64x3x48x192", "x:64x3x48x192"]),
        trtexec("ocr_rec", ["x:1x3x48x128", "x:32x3x48x320", "x:32x3x48x2560"]),
      ]);
      assert.match(
        lines[3]!,
        new RegExp(
          `^docker run -d --rm --name infergate-build-engines-\\d+ --gpus device=0 -p 127\\.0\\.0\\.1:18000:8000 -v ${repo}:/models:ro nvcr\\.io/nvidia/tritonserver:24\\.12-py3 tritonserver --model-repository=/models`,
        ),
      );
      assert.deepEqual(
        lines.slice(4),
        [
          "ocr_det",
          "ocr_cls",
          "ocr_rec",
          "ocr_preprocess",
          "ocr_ctc_argmax",
          "simple",
          "ocr_det_uint8",
          "ocr_rec_greedy",
        ].map((m) => `curl -fsS http://127.0.0.1:18000/v2/models/${m}/ready`),
      );
      // No calibration caches yet: a dry run warns, a real run would stop before any build.
      assert.match(stderr, /warning: ocr_rec: INT8 needs the calibration cache/);
    });

    it("--dry-run on p100 builds FP16 engines without a calibration cache", async () => {
      const { stdout, stderr } = await run("bash", [
        SCRIPT,
        "--dry-run",
        "--skip-triton",
        join(folder, "p100"),
      ]);
      const lines = stdout.trim().split("\n");
      assert.equal(lines.length, 3);
      for (const line of lines) {
        assert.match(line, /nvcr\.io\/nvidia\/tensorrt:24\.04-py3 trtexec .* --fp16 --minShapes/);
        assert.doesNotMatch(line, /--int8|--calib/);
      }
      assert.doesNotMatch(stderr, /warning/);
    });

    it("a real run stops before building when a calibration cache is missing", async () => {
      const failed = (await run("bash", [SCRIPT, join(folder, "t4")]).catch((e) => e)) as {
        code: number;
        stderr: string;
      };
      assert.equal(failed.code, 1);
      assert.match(
        failed.stderr,
        /error: ocr_det: INT8 needs the calibration cache .*infergate calibrate --model ocr_det/,
      );
    });

    it("with the caches in place the dry run has nothing to warn about", async () => {
      const repo = join(folder, "t4-calibrated");
      await run("cp", ["-r", join(folder, "t4"), repo]);
      for (const model of ["ocr_det", "ocr_cls", "ocr_rec"]) {
        await mkdir(join(repo, model, "source"), { recursive: true });
        await writeFile(
          join(repo, model, "source", "calibration.cache"),
          "TRT-100700-EntropyCalibration2\n",
        );
      }
      const { stderr } = await run("bash", [
        SCRIPT,
        "--dry-run",
        "--triton-url",
        "http://gpu-host:8000",
        repo,
      ]);
      assert.doesNotMatch(stderr, /warning/);
    });
  });
});
