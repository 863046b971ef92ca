/**
 * `infergate calibrate --model M --images DIR`: INT8 calibration of an OCR model on the CPU,
 * writing the TensorRT calibration cache that `deploy/build-engines.sh` passes to trtexec.
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { ENGINE_SOURCE } from "../repository/build-layout.js";
import { calibrateModel } from "../repository/calibration/calibrate.js";
import { formatCalibrationCache } from "../repository/calibration/calibration-cache.js";
import {
  imageSamples,
  listImages,
  SAMPLE_PREPROCESS,
} from "../repository/calibration/calibration-inputs.js";
import { createProgress } from "../repository/calibration/progress.js";
import {
  CALIBRATION_METHODS,
  type CalibrationMethod,
  DEFAULT_PERCENTILE,
} from "../repository/calibration/tensor-range.js";
import { readOnnxSignature } from "../repository/onnx-model.js";
import { TARGETS } from "../repository/targets.js";

const USAGE = `usage: infergate calibrate --model ocr_rec|ocr_cls|ocr_det --images DIR
         [--repository model_repository] [--out FILE] [--method entropy|percentile]
         [--percentile ${DEFAULT_PERCENTILE}] [--max-images N] [--tensorrt-version ${TARGETS.t4.gpu?.tensorrtVersion}]
`;

/** Runs the calibrate command; returns the process exit code. */
export async function runCalibrateCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      images: { type: "string" },
      repository: { type: "string", default: "model_repository" },
      out: { type: "string" },
      method: { type: "string", default: "entropy" },
      percentile: { type: "string", default: String(DEFAULT_PERCENTILE) },
      "max-images": { type: "string" },
      "tensorrt-version": { type: "string", default: TARGETS.t4.gpu?.tensorrtVersion },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const usage = (message: string) => {
    process.stderr.write(`infergate calibrate: ${message}\n${USAGE}`);
    return 2;
  };
  const model = values.model;
  if (!model || !values.images) return usage("--model and --images are required");
  const preprocess = SAMPLE_PREPROCESS[model];
  if (!preprocess) {
    return usage(
      `no calibration preprocessing for '${model}' (known: ${Object.keys(SAMPLE_PREPROCESS).join(", ")})`,
    );
  }
  const method = values.method as CalibrationMethod;
  if (!CALIBRATION_METHODS.includes(method)) return usage(`unknown --method '${values.method}'`);
  const maxImages = values["max-images"] === undefined ? undefined : Number(values["max-images"]);
  if (maxImages !== undefined && !(Number.isInteger(maxImages) && maxImages > 0)) {
    return usage("--max-images must be a positive integer");
  }
  const modelPath = findOnnxFile(values.repository, model);
  const files = await listImages(values.images, maxImages);
  if (files.length === 0) return usage(`no PNG, JPEG or WebP images in ${values.images}`);
  const input = (await readOnnxSignature(modelPath)).inputs[0]?.name ?? "x";
  const out = values.out ?? `${model}.calibration.cache`;

  process.stderr.write(`calibrate ${model}: ${modelPath}, ${files.length} image(s), ${method}\n`);
  const progress = createProgress({
    label: `calibrate ${model}`,
    total: files.length,
    unit: "images",
    stream: process.stderr,
  });
  progress.update(0);
  const result = await calibrateModel({
    modelPath,
    samples: imageSamples(files, preprocess, input),
    method,
    percentile: Number(values.percentile),
    tensorrtVersion: values["tensorrt-version"] ?? "",
    onSample: (done) => progress.update(done),
  });
  progress.finish();
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, formatCalibrationCache(result.cache));
  process.stdout.write(
    `calibrate ${model}: ${result.cache.scales.size} tensor range(s) from ${result.samples} image(s) -> ${out}\n`,
  );
  return 0;
}

/** The FP32 ONNX file: the version folder's, or an engine source of a built GPU repository. */
function findOnnxFile(repository: string, model: string): string {
  const candidates = [
    join(repository, model, "1", "model.onnx"),
    join(repository, model, ENGINE_SOURCE),
  ];
  const found = candidates.find((path) => existsSync(path));
  if (!found)
    throw new Error(`no ONNX file for '${model}': looked for ${candidates.join(" and ")}`);
  return found;
}
