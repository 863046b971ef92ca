/**
 * The in-memory image of the OCR stages: 8-bit RGB, interleaved (HWC), row-major, no padding
 * between rows; what sharp's raw output gives and what the tensors are made from.
 */

/** An RGB image, `data.length === width * height * 3`. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** The image turned by 180 degrees (an upside-down text strip set upright). */
export function rotate180(image: RgbImage): RgbImage {
  const { data, width, height } = image;
  const out = new Uint8Array(data.length);
  const pixels = width * height;
  for (let i = 0; i < pixels; i++) {
    const from = i * 3;
    const to = (pixels - 1 - i) * 3;
    out[to] = data[from]!;
    out[to + 1] = data[from + 1]!;
    out[to + 2] = data[from + 2]!;
  }
  return { data: out, width, height };
}

/**
 * The image resized to `width` columns, rows unchanged, each output column the area-weighted
 * mean of the source columns it covers (a box filter, so shrinking does not alias).
 */
export function resizeWidth(image: RgbImage, width: number): RgbImage {
  const { data, width: sourceWidth, height } = image;
  if (width === sourceWidth) return image;
  const out = new Uint8Array(width * height * 3);
  const scale = sourceWidth / width;
  for (let x = 0; x < width; x++) {
    const from = x * scale;
    const to = from + scale;
    for (let y = 0; y < height; y++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sx = Math.floor(from); sx < Math.min(Math.ceil(to), sourceWidth); sx++) {
        const weight = Math.min(sx + 1, to) - Math.max(sx, from);
        const at = (y * sourceWidth + sx) * 3;
        r += data[at]! * weight;
        g += data[at + 1]! * weight;
        b += data[at + 2]! * weight;
      }
      const at = (y * width + x) * 3;
      out[at] = Math.round(r / scale);
      out[at + 1] = Math.round(g / scale);
      out[at + 2] = Math.round(b / scale);
    }
  }
  return { data: out, width, height };
}
