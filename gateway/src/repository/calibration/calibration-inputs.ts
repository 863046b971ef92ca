/**
 * Calibration samples from image files, preprocessed exactly as the OCR pipeline prepares each
 * model's input (the pipeline's own stage functions, with its defaults), one image per run:
 *
 * - `ocr_rec`: each image is a text strip as the pipeline cuts it (a text line with some margin
 *   around it); warped to 48 px high like a crop, padded to its width bucket, normalized.
 * - `ocr_cls`: the same strip, squeezed or padded to the classifier's 192 px.
 * - `ocr_det`: each image is a page; decoded at the working size, resized to the detection
 *   size (sides multiples of 32), ImageNet-normalized.
 */
import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { OCR_DEFAULTS, STRIP_HEIGHT } from "../../pipelines/ocr.js";
import { detectionSize, normalizedTensor } from "../../pipelines/stages/detection-input.js";
import { decodeImage, resizeImage } from "../../pipelines/stages/image.js";
import { perspectiveCrop } from "../../pipelines/stages/perspective-crop.js";
import type { RgbImage } from "../../pipelines/stages/rgb-image.js";
import { classifierTensor, stripTensor } from "../../pipelines/stages/strip-tensor.js";
import { bucketWidth, stripBuckets } from "../../pipelines/stages/width-buckets.js";
import type { Tensor } from "../../protocol/tensor.js";

/** Turns one image file's bytes into the model's input tensor named `input`. */
export type SamplePreprocess = (bytes: Uint8Array, input: string) => Promise<Tensor>;

const decodeOptions = {
  maxPixels: OCR_DEFAULTS.maxImagePixels,
  maxSide: OCR_DEFAULTS.workingSide,
};

/** The pipeline's width buckets for recognition (see `buildOcr` in `pipelines/ocr.ts`). */
const BUCKETS = stripBuckets(OCR_DEFAULTS);

/** A strip image as the crop stage makes it: the whole image warped to 48 px high. */
async function stripOf(bytes: Uint8Array): Promise<RgbImage> {
  const { image } = await decodeImage(bytes, decodeOptions);
  const { width, height } = image;
  return perspectiveCrop(
    image,
    [
      [0, 0],
      [width, 0],
      [width, height],
      [0, height],
    ],
    { height: STRIP_HEIGHT, maxWidth: BUCKETS.max },
  );
}

/** Preprocessing per calibratable model. */
export const SAMPLE_PREPROCESS: Readonly<Record<string, SamplePreprocess>> = {
  async ocr_rec(bytes, input) {
    const strip = await stripOf(bytes);
    return stripTensor(strip, bucketWidth(strip.width, BUCKETS), input);
  },
  async ocr_cls(bytes, input) {
    return classifierTensor(await stripOf(bytes), input);
  },
  async ocr_det(bytes, input) {
    const { image } = await decodeImage(bytes, decodeOptions);
    const size = detectionSize(image.width, image.height, OCR_DEFAULTS.detectionSide);
    return normalizedTensor(await resizeImage(image, size.width, size.height), input);
  },
};

const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg", ".webp"]);

/** The image files of a folder (PNG, JPEG, WebP), sorted by name, at most `max`. */
export async function listImages(
  folder: string,
  max = Number.POSITIVE_INFINITY,
): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase()))
    .map((e) => join(folder, e.name))
    .sort()
    .slice(0, max);
}

/** The samples of `files`, read and preprocessed one at a time (never all in memory). */
export async function* imageSamples(
  files: readonly string[],
  preprocess: SamplePreprocess,
  input: string,
): AsyncGenerator<Tensor[]> {
  for (const file of files) {
    try {
      yield [await preprocess(await readFile(file), input)];
    } catch (error: unknown) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`${file}: ${reason}`, { cause: error });
    }
  }
}
