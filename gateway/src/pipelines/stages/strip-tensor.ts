/**
 * Tensors of text strips for the direction classifier and the recognizer, both trained on
 * `(x / 255 - 0.5) / 0.5` (values in [-1, 1]), NCHW float32, a strip placed at the left and
 * the rest padded with 0 (mid-grey), as PaddleOCR's `resize_norm_img`. Planes B, G, R: the
 * models were trained on OpenCV's BGR images.
 */
import { makeTensor, type Tensor } from "../../protocol/tensor.js";
import { type RgbImage, resizeWidth } from "./rgb-image.js";

/** Classifier input width, px (`ocr_cls` takes [3, 48, 192]). */
export const CLASSIFIER_WIDTH = 192;

/**
 * The tensor `[1, 3, H, width]` of `strip`, which must be `H` high and at most `width` wide,
 * normalized to [-1, 1] and padded on the right with 0.
 */
export function stripTensor(strip: RgbImage, width: number, name: string): Tensor {
  if (strip.width > width) throw new Error(`strip of ${strip.width} px exceeds ${width} px`);
  const { data, height } = strip;
  const plane = height * width;
  const out = new Float32Array(3 * plane);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < strip.width; x++) {
      const from = (y * strip.width + x) * 3;
      const to = y * width + x;
      out[to] = data[from + 2]! / 127.5 - 1;
      out[plane + to] = data[from + 1]! / 127.5 - 1;
      out[2 * plane + to] = data[from]! / 127.5 - 1;
    }
  }
  return makeTensor({ name, datatype: "FP32", shape: [1, 3, height, width] }, out);
}

/** The classifier's tensor of `strip`: squeezed to 192 px when wider, padded when narrower. */
export function classifierTensor(strip: RgbImage, name: string): Tensor {
  const fitted = strip.width > CLASSIFIER_WIDTH ? resizeWidth(strip, CLASSIFIER_WIDTH) : strip;
  return stripTensor(fitted, CLASSIFIER_WIDTH, name);
}
