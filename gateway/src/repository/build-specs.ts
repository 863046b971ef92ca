/**
 * What `infergate repo build` needs to know about each model of `MODEL_SOURCES` beyond its
 * files: batching preferences, the shapes the pipeline sends (which fix the dims the ONNX file
 * leaves open, and give TensorRT its optimization profile), where the model runs on a GPU
 * target, and the comments of its `config.pbtxt`. Datatypes and the names and ranks of inputs
 * and outputs are read from the ONNX file itself, never repeated here.
 */
import { OCR_DEFAULTS } from "../pipelines/ocr.js";
import { stripBuckets } from "../pipelines/stages/width-buckets.js";
import type {
  ModelDynamicBatching,
  ModelEnsembling,
  ModelWarmup,
} from "../protocol/model-config.js";

/** A dimension the pipeline fixes, or the range it varies in (min, TensorRT's opt, max). */
export type DimSpec = number | { min: number; opt: number; max: number };

/** An input, by the ONNX file's name. */
export interface InputBuildSpec {
  name: string;
  format?: "FORMAT_NCHW" | "FORMAT_NHWC";
  /** Per dimension after the batch dimension, as the pipeline sends it. */
  shape: DimSpec[];
}

/** An output, by the ONNX file's name. */
export interface OutputBuildSpec {
  name: string;
  /** A file of the model folder (listed in `MODEL_SOURCES`), one class label per line. */
  labelFilename?: string;
}

/**
 * Where a model runs on a GPU target:
 * - `tensorrt`: a TensorRT engine (`model.plan`) built on the GPU host from the ONNX file;
 * - `onnxruntime-gpu`: ONNX Runtime on the GPU (work TensorRT has no use for);
 * - `cpu`: as on the cpu target;
 * - `ensemble`: Triton's ensemble scheduler (it runs nowhere itself).
 */
export type GpuPlacement = "tensorrt" | "onnxruntime-gpu" | "cpu" | "ensemble";

/** The build description of one model. */
export interface ModelBuildSpec {
  name: string;
  /** Comment lines at the top of every target's config.pbtxt (without `# `). */
  comment: string[];
  maxBatchSize: number;
  inputs: InputBuildSpec[];
  outputs: OutputBuildSpec[];
  /** On the cpu target (and for models that stay on ONNX Runtime). */
  dynamicBatching?: ModelDynamicBatching;
  /**
   * Instances where the model runs on the CPU; default 1. The embedded server gives each
   * cores / instances intra-op threads.
   */
  cpuInstances?: number;
  /**
   * ONNX Runtime intra-op threads per instance where the model runs on the CPU (Triton's
   * `intra_op_thread_count` parameter); default: the server's choice (cores / instances).
   */
  cpuIntraOpThreads?: number;
  /** A comment line printed above `instance_group` where the model runs on the CPU. */
  instancesComment?: string;
  /** A comment line printed above `dynamic_batching`. */
  batchingComment?: string;
  warmup?: ModelWarmup[];
  gpu: {
    placement: GpuPlacement;
    /** Why it runs there (a comment in the GPU targets' config). */
    reason: string;
    /** Batch sizes the dynamic batcher aims at on a GPU; each <= maxBatchSize. */
    preferredBatchSizes?: number[];
    /** The batch size TensorRT tunes its kernels for (the profile's opt); default the largest preferred. */
    optBatchSize?: number;
  };
  /** Ensembles only: the steps; IO is that of the steps' models. */
  ensemble?: ModelEnsembling;
}

/** Side lengths the detector sees: multiples of 32 up to the pipeline's detectionSide (960). */
const DETECTION_SIDE = { min: 32, opt: 640, max: 960 } as const;
/** Strip widths the recognizer sees: the OCR pipeline's width buckets (128..2560 px). */
const STRIP_WIDTH = {
  min: OCR_DEFAULTS.minBucketWidth,
  opt: 320,
  max: stripBuckets(OCR_DEFAULTS).max,
} as const;
/** The recognizer's time steps: one per 8 px of strip width. */
const STRIP_STEPS = { min: 16, opt: 40, max: 320 } as const;
/** The recognizer's classes: blank, the 6623 lines of ppocr_keys_v1.txt, space. */
const REC_CLASSES = 6625;

/** Where an ensemble runs on a GPU target: where its steps run. */
const ENSEMBLE_ON_GPU = {
  placement: "ensemble",
  reason: "an ensemble on every target: Triton chains its steps wherever they run",
} as const;

/** The build description of every model in `MODEL_SOURCES`, by name. */
export const MODEL_BUILDS: Readonly<Record<string, ModelBuildSpec>> = {
  ocr_det: {
    name: "ocr_det",
    comment: [
      "PP-OCRv4 text detection (DB). Input: normalized image, NCHW float32, sides multiples of 32.",
      "Output: per-pixel text probability map at the input's resolution.",
    ],
    maxBatchSize: 4,
    inputs: [{ name: "x", format: "FORMAT_NCHW", shape: [3, DETECTION_SIDE, DETECTION_SIDE] }],
    outputs: [{ name: "sigmoid_0.tmp_0" }],
    batchingComment:
      "Images of the same size batch together; others wait at most 2 ms for company.",
    dynamicBatching: {
      max_queue_delay_microseconds: 2000,
      default_queue_policy: { max_queue_size: 64 },
    },
    warmup: [zeroWarmup("zeros_640", "x", [3, 640, 640])],
    gpu: {
      placement: "tensorrt",
      reason: "a convolutional network: what TensorRT engines are for",
      preferredBatchSizes: [2, 4],
      // Pages rarely share a size, so most batches are single pages.
      optBatchSize: 1,
    },
  },
  ocr_cls: {
    name: "ocr_cls",
    comment: [
      "PP-OCR v2.0 mobile text direction classifier. Input: a text strip resized to 48x192,",
      "normalized to [-1, 1]. Output: probabilities of [0 degrees, 180 degrees].",
    ],
    maxBatchSize: 64,
    inputs: [{ name: "x", format: "FORMAT_NCHW", shape: [3, 48, 192] }],
    outputs: [{ name: "softmax_0.tmp_0" }],
    dynamicBatching: {
      preferred_batch_size: [16, 32, 64],
      max_queue_delay_microseconds: 1000,
      default_queue_policy: { max_queue_size: 1024 },
    },
    gpu: {
      placement: "tensorrt",
      reason: "a convolutional network: what TensorRT engines are for",
      preferredBatchSizes: [16, 32, 64],
    },
  },
  ocr_rec: {
    name: "ocr_rec",
    comment: [
      "PP-OCRv4 text recognition (CTC). Input: text strips of height 48, width a multiple of 8,",
      "normalized to [-1, 1]. Output: per time step, probabilities over 6625 classes: class 0 is the",
      "CTC blank, classes 1..6623 the lines of ppocr_keys_v1.txt, the last class a space.",
    ],
    maxBatchSize: 32,
    inputs: [{ name: "x", format: "FORMAT_NCHW", shape: [3, 48, STRIP_WIDTH] }],
    outputs: [{ name: "softmax_11.tmp_0", labelFilename: "ppocr_keys_v1.txt" }],
    batchingComment:
      "Strips are bucketed by width in the gateway so that equal shapes meet here and batch.",
    dynamicBatching: {
      preferred_batch_size: [8, 16, 32],
      max_queue_delay_microseconds: 2000,
      default_queue_policy: { max_queue_size: 1024 },
    },
    cpuInstances: 2,
    instancesComment:
      "Two instances of one intra-op thread each: a page's strips run side by side on two cores.",
    warmup: [zeroWarmup("zeros_320", "x", [3, 48, 320])],
    gpu: {
      placement: "tensorrt",
      reason: "a convolutional and attention network: what TensorRT engines are for",
      preferredBatchSizes: [8, 16, 32],
    },
  },
  ocr_preprocess: {
    name: "ocr_preprocess",
    comment: [
      "Detection preprocessing on Triton: raw RGB pixels (uint8 NHWC, 4x fewer bytes on the wire",
      "than float32) -> ImageNet-normalized float32 NCHW for ocr_det. Its ONNX file is built in code",
      "(gateway/src/repository/model-sources.ts) by `infergate repo prepare`.",
    ],
    maxBatchSize: 4,
    inputs: [{ name: "image", format: "FORMAT_NHWC", shape: [DETECTION_SIDE, DETECTION_SIDE, 3] }],
    outputs: [{ name: "x" }],
    gpu: {
      placement: "onnxruntime-gpu",
      reason:
        "element-wise normalization with nothing to quantize (TensorRT takes no uint8 inputs); ONNX Runtime on the GPU keeps the float32 tensor on the device, next to ocr_det",
    },
  },
  ocr_det_uint8: {
    name: "ocr_det_uint8",
    comment: [
      "Text detection on raw pixels: ocr_preprocess (uint8 NHWC -> normalized float32 NCHW) then",
      "ocr_det, chained inside Triton so the gateway sends uint8 pixels and the normalization runs",
      "where the model does. Same probability map as ocr_det on the gateway's own float32 tensor.",
    ],
    maxBatchSize: 4,
    inputs: [],
    outputs: [],
    gpu: ENSEMBLE_ON_GPU,
    ensemble: {
      step: [
        {
          model_name: "ocr_preprocess",
          model_version: -1,
          input_map: { image: "image" },
          output_map: { x: "normalized" },
        },
        {
          model_name: "ocr_det",
          model_version: -1,
          input_map: { x: "normalized" },
          output_map: { "sigmoid_0.tmp_0": "sigmoid_0.tmp_0" },
        },
      ],
    },
  },
  ocr_ctc_argmax: {
    name: "ocr_ctc_argmax",
    comment: [
      "Greedy CTC's per-step reduction of ocr_rec's output: the best class and its probability over",
      "the 6625 classes. Its ONNX file is built in code (gateway/src/repository/model-sources.ts) by",
      "`infergate repo prepare`.",
    ],
    maxBatchSize: 32,
    inputs: [{ name: "probabilities", shape: [STRIP_STEPS, REC_CLASSES] }],
    // A fraction of a millisecond per strip: a thread pool's wake-ups cost more than they save.
    cpuIntraOpThreads: 1,
    outputs: [{ name: "best_class" }, { name: "best_probability" }],
    gpu: {
      placement: "onnxruntime-gpu",
      reason:
        "two reductions over the class axis with nothing to quantize; ONNX Runtime on the GPU reads ocr_rec's probabilities where they are, on the device",
    },
  },
  ocr_rec_greedy: {
    name: "ocr_rec_greedy",
    comment: [
      "Text recognition answering what greedy CTC decoding needs: ocr_rec then ocr_ctc_argmax,",
      "chained inside Triton so that per time step 2 numbers leave the server instead of 6625",
      "probabilities (about 3 MB per line of text).",
    ],
    maxBatchSize: 32,
    inputs: [],
    outputs: [],
    gpu: ENSEMBLE_ON_GPU,
    ensemble: {
      step: [
        {
          model_name: "ocr_rec",
          model_version: -1,
          input_map: { x: "x" },
          output_map: { "softmax_11.tmp_0": "probabilities" },
        },
        {
          model_name: "ocr_ctc_argmax",
          model_version: -1,
          input_map: { probabilities: "probabilities" },
          output_map: { best_class: "best_class", best_probability: "best_probability" },
        },
      ],
    },
  },
  simple: {
    name: "simple",
    comment: [
      "Triton's classic example model: OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1.",
      "Its ONNX file is built in code (gateway/src/repository/simple-model.ts) by `infergate repo prepare`.",
    ],
    maxBatchSize: 8,
    inputs: [
      { name: "INPUT0", shape: [16] },
      { name: "INPUT1", shape: [16] },
    ],
    outputs: [{ name: "OUTPUT0" }, { name: "OUTPUT1" }],
    dynamicBatching: { max_queue_delay_microseconds: 500 },
    gpu: {
      placement: "cpu",
      reason:
        "integer sums for protocol tests: nothing for a GPU to speed up, and protocol tests stay independent of engine builds",
    },
  },
};

function zeroWarmup(name: string, input: string, dims: number[]): ModelWarmup {
  return {
    name,
    batch_size: 1,
    inputs: { [input]: { data_type: "TYPE_FP32", dims, zero_data: true } },
  };
}
