/**
 * `ocr`: text in an image, PP-OCRv4 on Triton. Detection (DB), direction classification and
 * recognition (CTC) are three Triton models; the gateway does the image work between them.
 *
 *   decode (preprocess)             request -> upright RGB pixels, longest side <= workingSide
 *                                   (sharp: EXIF orientation, shrink-on-load, pixel limit)
 *   detection-input (preprocess)    resized to the detection size (sides multiples of 32) and
 *                                   made a tensor: float32 NCHW normalized, or uint8 NHWC
 *   detect (infer)                  ocr_det, or the ensemble ocr_det_uint8 = ocr_preprocess
 *                                   (normalization on Triton's device) -> ocr_det
 *   boxes (postprocess)             probability map -> rotated text boxes (db-postprocess.ts)
 *   small-text                      text found small at the detection size (median box under
 *                                   SMALL_TEXT_PX high): detection-input, detect and boxes
 *                                   again at `smallTextSide`, as PaddleOCR users do by hand
 *   crop (preprocess)               each box, with a margin, warped to a horizontal strip
 *                                   48 px high
 *   direction (map over strips)     ocr_cls, the strips' calls joined into batches; strips
 *     ocr_cls (infer)               read as upside down are turned by 180 degrees
 *   recognize (map over strips)     ocr_rec_greedy = ocr_rec -> ocr_ctc_argmax (the best class
 *     ocr_rec_greedy (infer)        per step, on the server), strips padded to width buckets so
 *                                   that equal shapes batch; greedy CTC per strip
 *   text (postprocess)              dictionary lookup, confidence filter, reading order,
 *                                   boxes in the original image's pixels
 *
 * Request and response (the image as a raw body, a multipart file, or base64 in `image`;
 * settings as JSON fields, multipart fields or query parameters):
 *
 *   POST /v1/pipelines/ocr?timings=true   (body: a JPEG)
 *   {"pipeline": "ocr", "result": {"lines": [{"text": "Hello", "confidence": 0.98,
 *     "box": [[12, 8], [96, 8], [96, 30], [12, 30]]}], "width": 640, "height": 480},
 *    "timings": {"decode": 4.1, "detect": 210.3, ...}}
 */
import { join } from "node:path";
import { contentKey, createStageCache, type StageCache } from "../cache/stage-cache.js";
import type { PipelineInput } from "../core/gateway-core.js";
import { compose } from "../pipeline/compose.js";
import { createInfer, type NamedTensors } from "../pipeline/infer.js";
import { createMap } from "../pipeline/map.js";
import { definePipeline } from "../pipeline/pipeline.js";
import { createPostprocess } from "../pipeline/postprocess.js";
import { createPreprocess } from "../pipeline/preprocess.js";
import { nameStage, type Stage, type StageContext } from "../pipeline/stage.js";
import { ctcCollapse } from "./stages/ctc-decode.js";
import { DB_DEFAULTS, dbPostprocess, type TextBox } from "./stages/db-postprocess.js";
import { detectionSize, normalizedTensor, pixelTensor } from "./stages/detection-input.js";
import { createDictionaryLoader, DICTIONARY_FILE } from "./stages/dictionary.js";
import { type DecodedImage, decodeImage, resizeImage } from "./stages/image.js";
import { type OcrSettings, parseOcrRequest } from "./stages/ocr-request.js";
import { type PageLines, pageLines, type ReadStrip } from "./stages/page-lines.js";
import { expandQuad, perspectiveCrop, quadSize, uprightQuad } from "./stages/perspective-crop.js";
import { type RgbImage, rotate180 } from "./stages/rgb-image.js";
import { classifierTensor, stripTensor } from "./stages/strip-tensor.js";
import { bucketWidth, stripBuckets } from "./stages/width-buckets.js";

/** Triton models and their tensors (see model_repository/<model>/config.pbtxt). */
const DET = { float: "ocr_det", uint8: "ocr_det_uint8", output: "sigmoid_0.tmp_0" } as const;
const CLS = { model: "ocr_cls", output: "softmax_0.tmp_0" } as const;
/**
 * Recognition through the ensemble `ocr_rec_greedy` (ocr_rec -> ocr_ctc_argmax): per time step
 * the best class and its probability, all that greedy CTC decoding reads, instead of ocr_rec's
 * 6625 probabilities (4 x 6625 bytes per step, about 3 MB per line).
 */
const REC = {
  model: "ocr_rec_greedy",
  recognizer: "ocr_rec",
  classes: "best_class",
  probabilities: "best_probability",
  softmax: "softmax_11.tmp_0",
} as const;

/** The recognizer's (and classifier's) strip height, px. */
export const STRIP_HEIGHT = 48;

/**
 * Median text box height at the detection size, px, under which a page is detected again at
 * `smallTextSide`. Measured on rendered 1080p pages detected at 960: 20-44 px text gives
 * medians of 17.5-22 px, 11-15 px text 9.5-12 px (and lines missed).
 */
export const SMALL_TEXT_PX = 14;

/**
 * Options of `ocr`, set with `ocrPipeline.configure(...)` (from the gateway's configuration);
 * the eight settings of {@link OcrSettings} may also be changed per request.
 */
export interface OcrOptions extends OcrSettings {
  /** Images are decoded with their longest side at most this (or detectionSide), px. */
  workingSide: number;
  /** Largest image accepted, pixels; set it to `limits.maxImagePixels`. */
  maxImagePixels: number;
  /** The model repository holding ocr_rec's label file; set it to `embedded.repository`. */
  repository: string;
  /** Most text regions examined per image. */
  maxBoxes: number;
  /** The classifier's 180-degree probability above which a strip is turned. */
  flipThreshold: number;
  /**
   * Context added around each box before it is cut out for recognition, as a share of the
   * box's height on every side. PP-OCRv4's recognizer drops the spaces between words when the
   * text fills the strip's height; 0.25 cuts that (and the CER on printed text) several-fold.
   */
  cropMargin: number;
  /** Widest strip sent to the recognizer, px; longer lines are squeezed. */
  maxStripWidth: number;
  /** Strips are padded to a multiple of this width, px (a multiple of 8). */
  bucketStep: number;
  /** Narrowest padded strip, px. */
  minBucketWidth: number;
  /**
   * In-process bound on cached decoded and resized images (by content hash, so a repeated
   * image skips decoding even when its result is not cached), bytes; 0 = off.
   */
  stageCacheBytes: number;
}

/** The defaults (PaddleOCR's where it has one). */
export const OCR_DEFAULTS: OcrOptions = {
  detectionSide: 960,
  pixelThreshold: DB_DEFAULTS.pixelThreshold,
  boxThreshold: DB_DEFAULTS.boxThreshold,
  unclipRatio: DB_DEFAULTS.unclipRatio,
  classify: true,
  // The same boxes as "float" from 4x fewer bytes sent: the detect stage measured 135 ms
  // against 193 ms per 1080p page on two CPU cores, side by side.
  detector: "uint8",
  minConfidence: 0.5,
  smallTextSide: 1920,
  workingSide: 1920,
  maxImagePixels: 40_000_000,
  repository: "model_repository",
  maxBoxes: 1000,
  flipThreshold: 0.9,
  cropMargin: 0.25,
  maxStripWidth: 2560,
  bucketStep: 64,
  minBucketWidth: 128,
  stageCacheBytes: 128 * 1024 * 1024,
};

/** A decoded page on its way through the chain. */
interface Page {
  settings: OcrSettings;
  /** The image's content hash ("" when stage caching is off), for the stage caches. */
  imageKey: string;
  /** Upright pixels at the working size. */
  image: RgbImage;
  /** The upright original's size, px. */
  width: number;
  height: number;
}

interface DetectionInput extends Page {
  detection: RgbImage;
}

interface Detected extends Page {
  map: { data: Float32Array; width: number; height: number };
}

interface Boxed extends Page {
  boxes: TextBox[];
}

/** A box and its strip. */
interface Strip {
  box: TextBox;
  strip: RgbImage;
}

interface Cropped extends Page {
  strips: Strip[];
}

interface Recognized extends Page {
  strips: ReadStrip[];
}

function settingsOf(options: OcrOptions): OcrSettings {
  const { detectionSide, pixelThreshold, boxThreshold, unclipRatio } = options;
  const { classify, detector, minConfidence, smallTextSide } = options;
  return {
    detectionSide,
    pixelThreshold,
    boxThreshold,
    unclipRatio,
    classify,
    detector,
    minConfidence,
    smallTextSide,
  };
}

/**
 * Whether `page`'s text is small at its detection size and a detection at `smallTextSide`
 * would see the image larger: boxes found, their median height at the detection size under
 * SMALL_TEXT_PX, and the image wider or taller than the detection side.
 */
export function needsSmallTextDetection(
  boxes: readonly TextBox[],
  image: { width: number; height: number },
  settings: Pick<OcrSettings, "detectionSide" | "smallTextSide">,
): boolean {
  const longest = Math.max(image.width, image.height);
  if (boxes.length === 0 || settings.smallTextSide <= settings.detectionSide) return false;
  if (longest <= settings.detectionSide) return false;
  const detection = detectionSize(image.width, image.height, settings.detectionSide);
  const scale = detection.height / image.height;
  const heights = boxes.map((b) => quadSize(b.quad).height * scale).sort((a, b) => a - b);
  return heights[Math.floor(heights.length / 2)]! < SMALL_TEXT_PX;
}

/** Builds the chain; see the module comment. */
function buildOcr(options: OcrOptions): Stage<PipelineInput, PageLines> {
  const dictionary = createDictionaryLoader(join(options.repository, DICTIONARY_FILE));
  const buckets = stripBuckets(options);

  // Decoded pages take most of the stage cache; detection inputs are a quarter their size.
  const cacheBytes = options.stageCacheBytes;
  const decodedImages = createStageCache<DecodedImage>("ocr.decode", (cacheBytes * 3) / 4);
  const detectionImages = createStageCache<RgbImage>("ocr.detection-input", cacheBytes / 4);
  const cached = <V>(
    cache: StageCache<V>,
    key: string,
    compute: () => Promise<V>,
    costOf: (v: V) => number,
  ): Promise<V> =>
    key === ""
      ? compute()
      : cache.getOrCompute(key, async () => {
          const value = await compute();
          return { value, costBytes: costOf(value) };
        });

  const decode = createPreprocess({
    name: "decode",
    run: async (input: PipelineInput): Promise<Page> => {
      const { image, settings } = parseOcrRequest(input, settingsOf(options));
      const imageKey = cacheBytes > 0 ? contentKey(image) : "";
      const maxSide = Math.max(options.workingSide, settings.detectionSide);
      const decoded = await cached(
        decodedImages,
        imageKey && `${imageKey}:${maxSide}:${options.maxImagePixels}`,
        () => decodeImage(image, { maxPixels: options.maxImagePixels, maxSide }),
        (d) => d.image.data.byteLength,
      );
      return {
        settings,
        imageKey,
        image: decoded.image,
        width: decoded.width,
        height: decoded.height,
      };
    },
  });

  const detectionInput = createPreprocess({
    name: "detection-input",
    run: async (page: Page): Promise<DetectionInput> => {
      const { width, height } = page.image;
      const size = detectionSize(width, height, page.settings.detectionSide);
      const detection = await cached(
        detectionImages,
        page.imageKey && `${page.imageKey}:${width}x${height}:${size.width}x${size.height}`,
        () => resizeImage(page.image, size.width, size.height),
        (image) => image.data.byteLength,
      );
      return { ...page, detection };
    },
  });

  const readMap = (tensors: NamedTensors, page: DetectionInput): Detected => {
    const { detection, ...rest } = page;
    const map = tensors[DET.output]!;
    // [1, 1, H, W] at the detection input's size.
    return {
      ...rest,
      map: { data: map.data as Float32Array, width: map.shape[3]!, height: map.shape[2]! },
    };
  };
  const floatDetector = createInfer({
    model: DET.float,
    inputs: (page: DetectionInput) => [normalizedTensor(page.detection, "x")],
    outputNames: [DET.output],
    outputs: readMap,
  });
  const uint8Detector = createInfer({
    model: DET.uint8,
    inputs: (page: DetectionInput) => [pixelTensor(page.detection, "image")],
    outputNames: [DET.output],
    outputs: readMap,
  });
  const detect = nameStage("detect", async function detect(page: DetectionInput, ctx) {
    return (page.settings.detector === "uint8" ? uint8Detector : floatDetector)(page, ctx);
  });

  const boxes = createPostprocess({
    name: "boxes",
    run: (page: Detected): Boxed => {
      const { map, ...rest } = page;
      const found = dbPostprocess(map, page.image.width, page.image.height, {
        pixelThreshold: page.settings.pixelThreshold,
        boxThreshold: page.settings.boxThreshold,
        unclipRatio: page.settings.unclipRatio,
        minSize: DB_DEFAULTS.minSize,
        maxCandidates: options.maxBoxes,
      });
      return { ...rest, boxes: found };
    },
  });

  const crop = createPreprocess({
    name: "crop",
    run: (page: Boxed): Cropped => {
      const { boxes: found, ...rest } = page;
      const strips = found.map((box) => ({
        box,
        strip: perspectiveCrop(page.image, expandQuad(uprightQuad(box.quad), options.cropMargin), {
          height: STRIP_HEIGHT,
          maxWidth: buckets.max,
        }),
      }));
      return { ...rest, strips };
    },
  });

  const direction = createMap({
    name: "direction",
    items: (page: Cropped) => (page.settings.classify ? page.strips : []),
    each: createInfer<Strip, Strip>({
      model: CLS.model,
      inputs: (item: Strip) => [classifierTensor(item.strip, "x")],
      outputNames: [CLS.output],
      outputs: (tensors, item): Strip => {
        // [1, 2]: probabilities of 0 and 180 degrees.
        const upsideDown = (tensors[CLS.output]!.data as Float32Array)[1]!;
        return upsideDown > options.flipThreshold
          ? { ...item, strip: rotate180(item.strip) }
          : item;
      },
    }),
    collect: (strips, page): Cropped => (page.settings.classify ? { ...page, strips } : page),
  });

  const recognize = createMap({
    name: "recognize",
    items: (page: Cropped) => page.strips,
    each: createInfer<Strip, ReadStrip>({
      model: REC.model,
      inputs: (item: Strip) => [
        stripTensor(item.strip, bucketWidth(item.strip.width, buckets), "x"),
      ],
      outputNames: [REC.classes, REC.probabilities],
      outputs: (tensors, item): ReadStrip => {
        // Both [1, T]: per time step, the best class and its probability.
        const path = ctcCollapse(
          tensors[REC.classes]!.data as Int32Array,
          tensors[REC.probabilities]!.data as Float32Array,
        );
        return { box: item.box, path };
      },
    }),
    collect: (strips, page): Recognized => ({ ...page, strips }),
  });

  // The recognizer's class count, the last dim of its output (the dictionary must match it).
  const recognizerClasses = async (ctx: StageContext): Promise<number> => {
    const info = await ctx.modelInfo(REC.recognizer);
    return info.outputs.find((o) => o.name === REC.softmax)?.shape.at(-1) ?? -1;
  };

  const text = createPostprocess({
    name: "text",
    run: async (page: Recognized, ctx): Promise<PageLines> =>
      pageLines(page.strips, await dictionary(), {
        classes: await recognizerClasses(ctx),
        minConfidence: page.settings.minConfidence,
        scaleX: page.width / page.image.width,
        scaleY: page.height / page.image.height,
        width: page.width,
        height: page.height,
      }),
  });

  const detectBoxes = compose(detectionInput, detect, boxes);
  const smallText = nameStage("small-text", async function smallText(page: Boxed, ctx) {
    if (!needsSmallTextDetection(page.boxes, page.image, page.settings)) return page;
    const { boxes: _, ...rest } = page;
    const settings = { ...page.settings, detectionSide: page.settings.smallTextSide };
    return detectBoxes({ ...rest, settings }, ctx);
  });

  return compose(
    compose(decode, detectBoxes, smallText),
    compose(crop, direction, recognize, text),
  );
}

const point = { type: "array", items: { type: "number" }, minItems: 2, maxItems: 2 };

/** The `ocr` pipeline. */
export const ocrPipeline = definePipeline({
  name: "ocr",
  version: "1",
  description:
    "Reads the text in a JPEG, PNG or WebP image with PP-OCRv4: DB text detection, direction " +
    "classification and CTC recognition on Triton, lines in reading order with their boxes.",
  input: {
    type: "object",
    properties: {
      image: {
        type: "string",
        contentEncoding: "base64",
        description: "the image, unless sent as the raw body (image/*) or a multipart file",
      },
      detectionSide: { type: "integer", minimum: 32, maximum: 4096, default: 960 },
      pixelThreshold: { type: "number", minimum: 0, maximum: 1, default: 0.3 },
      boxThreshold: { type: "number", minimum: 0, maximum: 1, default: 0.6 },
      unclipRatio: { type: "number", minimum: 0, maximum: 10, default: 1.5 },
      classify: { type: "boolean", default: true, description: "turn upside-down lines" },
      detector: { enum: ["float", "uint8"], default: "uint8" },
      minConfidence: { type: "number", minimum: 0, maximum: 1, default: 0.5 },
      smallTextSide: {
        type: "integer",
        minimum: 0,
        maximum: 4096,
        default: 1920,
        description: "detect again at this side when the text found is small; 0 = never",
      },
    },
  },
  output: {
    type: "object",
    properties: {
      lines: {
        type: "array",
        items: {
          type: "object",
          properties: {
            text: { type: "string" },
            confidence: { type: "number", description: "mean probability of the characters" },
            box: {
              type: "array",
              items: point,
              minItems: 4,
              maxItems: 4,
              description:
                "corners in image pixels: top-left, top-right, bottom-right, bottom-left",
            },
          },
        },
        description: "in reading order: rows top to bottom, left to right within a row",
      },
      width: { type: "integer", description: "the image's width, px, EXIF orientation applied" },
      height: { type: "integer" },
    },
  },
  // ocr_rec is asked for its class count (the dictionary check) besides running in REC.model.
  models: [DET.float, DET.uint8, CLS.model, REC.model, REC.recognizer],
  defaults: OCR_DEFAULTS,
  build: buildOcr,
  parse: (input) => input,
  respond: (page) => ({ lines: page.lines, width: page.width, height: page.height }),
});
