/**
 * INT8 calibration on the CPU: runs a calibration copy of an FP32 ONNX model (every
 * activation exposed as an output, see `buildCalibrationGraph`) with ONNX Runtime over sample
 * inputs, collects a histogram of |x| per floating-point tensor, and turns each into a dynamic
 * range by the chosen method, giving the scales of a TensorRT calibration cache.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openOrtSession } from "../../models/ort-runtime.js";
import { fp16ToFloat } from "../../protocol/half.js";
import type { Tensor } from "../../protocol/tensor.js";
import { buildCalibrationGraph } from "../onnx-model.js";
import { type CalibrationCache, cacheHeader, scaleOfRange } from "./calibration-cache.js";
import { AbsHistogram, DEFAULT_BINS } from "./histogram.js";
import { type RangeOptions, tensorRange } from "./tensor-range.js";

/** Options of {@link calibrateModel}. */
export interface CalibrateOptions extends RangeOptions {
  /** The FP32 ONNX model. */
  modelPath: string;
  /** The inputs of each run (one preprocessed image per run for the OCR models). */
  samples: AsyncIterable<Tensor[]> | Iterable<Tensor[]>;
  /** The TensorRT version the cache is for, e.g. `10.3.0` (it goes into the header). */
  tensorrtVersion: string;
  /** Histogram bins per tensor; default 2048. */
  bins?: number;
  /** ONNX Runtime threads per operator; default 1. */
  threads?: number;
  /** Called after each sample, with how many are done. */
  onSample?: (done: number) => void;
}

/** What {@link calibrateModel} found. */
export interface CalibrationResult {
  cache: CalibrationCache;
  /** The dynamic range per tensor, in graph order (scale = range / 127). */
  ranges: Map<string, number>;
  /** Samples run. */
  samples: number;
}

/** Calibrates a model; the cache names every floating-point input and node output. */
export async function calibrateModel(options: CalibrateOptions): Promise<CalibrationResult> {
  const graph = await buildCalibrationGraph(options.modelPath);
  const folder = await mkdtemp(join(tmpdir(), "infergate-calibrate-"));
  try {
    const path = join(folder, "calibration.onnx");
    await writeFile(path, graph.bytes);
    // Optimizations off: the tensors measured are the ONNX graph's, as TensorRT's parser sees it.
    const session = await openOrtSession(path, {
      intraOpThreads: options.threads ?? 1,
      graphOptimizationLevel: "disabled",
    });
    try {
      const histograms = await collectHistograms(session, graph.tensors, options);
      return rangesOf(histograms, graph.tensors, options);
    } finally {
      await session.release();
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

interface Collected {
  byTensor: Map<string, AbsHistogram>;
  samples: number;
}

async function collectHistograms(
  session: Awaited<ReturnType<typeof openOrtSession>>,
  tensors: readonly string[],
  options: CalibrateOptions,
): Promise<Collected> {
  const inputNames = new Set(session.inputNames);
  const outputNames = tensors.filter((name) => !inputNames.has(name));
  const byTensor = new Map<string, AbsHistogram>();
  const record = (tensor: Tensor) => {
    const values = floatValues(tensor);
    if (!values) return;
    let histogram = byTensor.get(tensor.name);
    if (!histogram) {
      histogram = new AbsHistogram(options.bins ?? DEFAULT_BINS);
      byTensor.set(tensor.name, histogram);
    }
    histogram.add(values);
  };
  let samples = 0;
  for await (const inputs of options.samples) {
    for (const input of inputs) record(input);
    for (const output of await session.run(inputs, outputNames)) record(output);
    samples++;
    options.onSample?.(samples);
  }
  if (samples === 0) throw new Error("no calibration samples: nothing to measure ranges on");
  return { byTensor, samples };
}

/** The values of a floating-point tensor; undefined for other types (never quantized). */
function floatValues(tensor: Tensor): ArrayLike<number> | undefined {
  switch (tensor.datatype) {
    case "FP32":
    case "FP64":
      return tensor.data;
    case "FP16":
      return Float32Array.from(tensor.data, fp16ToFloat);
    default:
      return undefined;
  }
}

function rangesOf(
  collected: Collected,
  tensors: readonly string[],
  options: CalibrateOptions,
): CalibrationResult {
  const ranges = new Map<string, number>();
  const scales = new Map<string, number>();
  for (const name of tensors) {
    const histogram = collected.byTensor.get(name);
    if (!histogram) continue;
    const range = tensorRange(histogram, options);
    ranges.set(name, range);
    scales.set(name, scaleOfRange(range));
  }
  return {
    cache: { header: cacheHeader(options.tensorrtVersion), scales },
    ranges,
    samples: collected.samples,
  };
}
