/**
 * The detector's input: the image's size for detection (longest side limited, both sides
 * multiples of 32 as DB's down- and up-sampling needs) and the tensors sent to Triton, either
 * normalized float32 NCHW for `ocr_det` or the raw uint8 NHWC pixels for the `ocr_det_uint8`
 * ensemble, which normalizes them in its `ocr_preprocess` step exactly as here.
 *
 * PaddleOCR trains and runs its models on OpenCV's BGR images, so the planes are B, G, R, and
 * the ImageNet constants apply in that order (B gets 0.485, as PaddleOCR's NormalizeImage does).
 */
import { makeTensor, type Tensor } from "../../protocol/tensor.js";
import type { RgbImage } from "./rgb-image.js";

/** ImageNet mean and standard deviation per plane (on the 0..1 scale), as PP-OCR applies them. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/**
 * The per-channel constants on the 0..255 scale as float32, so that `(x - mean) / std`
 * computed in float32 here and in the ONNX graph of `ocr_preprocess` gives the same bits.
 */
export const PIXEL_MEAN = IMAGENET_MEAN.map((m) => Math.fround(m * 255));
export const PIXEL_STD = IMAGENET_STD.map((s) => Math.fround(s * 255));

/** Per channel, the normalized float32 value of each byte value 0..255. */
const NORMALIZED: readonly Float32Array[] = [0, 1, 2].map((c) =>
  Float32Array.from({ length: 256 }, (_, v) =>
    // One float32 rounding per operation, as ONNX Sub and Div do (double rounding of a
    // single +, -, x or / through float64 is exact; Figueroa 1995).
    Math.fround(Math.fround(v - PIXEL_MEAN[c]!) / PIXEL_STD[c]!),
  ),
);

/**
 * The detection size of a `width` x `height` image: scaled down (never up) so its longest side
 * is at most `maxSide`, then each side rounded to a multiple of 32 (at least 32).
 */
export function detectionSize(
  width: number,
  height: number,
  maxSide: number,
): { width: number; height: number } {
  const ratio = Math.max(width, height) > maxSide ? maxSide / Math.max(width, height) : 1;
  const round32 = (side: number) => Math.max(32, Math.round((side * ratio) / 32) * 32);
  return { width: round32(width), height: round32(height) };
}

/** The float32 NCHW tensor `[1, 3, H, W]` named `name`: planes B, G, R, normalized. */
export function normalizedTensor(image: RgbImage, name: string): Tensor {
  const { data, width, height } = image;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  const [first, second, third] = NORMALIZED as [Float32Array, Float32Array, Float32Array];
  for (let i = 0; i < plane; i++) {
    out[i] = first[data[3 * i + 2]!]!;
    out[plane + i] = second[data[3 * i + 1]!]!;
    out[2 * plane + i] = third[data[3 * i]!]!;
  }
  return makeTensor({ name, datatype: "FP32", shape: [1, 3, height, width] }, out);
}

/** The uint8 NHWC tensor `[1, H, W, 3]` named `name`: the RGB pixels as they are, no copy. */
export function pixelTensor(image: RgbImage, name: string): Tensor {
  return makeTensor(
    { name, datatype: "UINT8", shape: [1, image.height, image.width, 3] },
    image.data,
  );
}
