/**
 * The sharp (libvips) adapter: the one module that imports sharp. It decodes client images
 * (JPEG, PNG, WebP) straight to the working size the OCR pipeline needs, and resizes decoded
 * pixels. Decoding honours EXIF orientation, shrinks on load (libjpeg's DCT scaling and
 * WebP's scaled decoding: a 12 MP JPEG wanted at 1920 px is decoded at half size, never at
 * full size), flattens transparency onto white, and refuses images over a pixel limit from
 * their header alone, before any pixel is decoded.
 */
import sharp from "sharp";
import { invalidArgument } from "../../errors.js";
import type { RgbImage } from "./rgb-image.js";

/** The formats accepted from clients. */
export const IMAGE_FORMATS = ["jpeg", "png", "webp"] as const;

/** Options of {@link decodeImage}. */
export interface DecodeOptions {
  /** Largest image accepted, width x height in pixels (`limits.maxImagePixels`). */
  maxPixels: number;
  /** The decoded image's longest side is at most this, px (never enlarged). */
  maxSide: number;
}

/** A decoded image. */
export interface DecodedImage {
  /** The pixels, upright, longest side at most `maxSide`. */
  image: RgbImage;
  /** The upright image's full size, px (EXIF orientation applied). */
  width: number;
  height: number;
  format: (typeof IMAGE_FORMATS)[number];
}

/**
 * Decodes `bytes`. Anything that is not a readable JPEG, PNG or WebP, or is larger than
 * `maxPixels`, is INVALID_ARGUMENT with a message saying which.
 */
export async function decodeImage(
  bytes: Uint8Array,
  options: DecodeOptions,
): Promise<DecodedImage> {
  if (bytes.length === 0) throw invalidArgument("the image is empty (0 bytes)");
  const header = await readHeader(bytes);
  const format = IMAGE_FORMATS.find((f) => f === header.format);
  if (format === undefined) {
    throw invalidArgument(`unsupported image format '${header.format}'; send JPEG, PNG or WebP`);
  }
  const pixels = header.width * header.height;
  if (pixels > options.maxPixels) {
    throw invalidArgument(
      `image of ${header.width}x${header.height} = ${pixels} pixels exceeds the limit of ` +
        `${options.maxPixels} pixels (limits.maxImagePixels)`,
    );
  }
  const { width, height } = header.autoOrient ?? header;
  try {
    const { data, info } = await sharp(bytes, {
      limitInputPixels: options.maxPixels,
      failOn: "truncated",
      autoOrient: true,
    })
      .resize({
        width: options.maxSide,
        height: options.maxSide,
        fit: "inside",
        withoutEnlargement: true,
        fastShrinkOnLoad: true,
      })
      .flatten({ background: "#ffffff" })
      .toColourspace("srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { image: toRgb(data, info.width, info.height, info.channels), width, height, format };
  } catch (error: unknown) {
    throw undecodable(error);
  }
}

/** `image` resized to exactly `width` x `height` (aspect ratio not kept), by libvips. */
export async function resizeImage(
  image: RgbImage,
  width: number,
  height: number,
): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  const { data, info } = await sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .resize({ width, height, fit: "fill" })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return toRgb(data, info.width, info.height, info.channels);
}

async function readHeader(bytes: Uint8Array) {
  try {
    // The header only: sharp reads no pixels for metadata.
    return await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error: unknown) {
    throw undecodable(error);
  }
}

function undecodable(error: unknown) {
  const reason = error instanceof Error ? error.message : String(error);
  return invalidArgument(`the image cannot be decoded: ${reason.split("\n")[0]}`);
}

/** Raw sharp output as RGB: grey is spread to three channels, a fourth dropped. */
function toRgb(data: Buffer, width: number, height: number, channels: number): RgbImage {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (channels === 3) return { data: bytes, width, height };
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    for (let k = 0; k < 3; k++) out[3 * i + k] = bytes[channels * i + Math.min(k, channels - 1)]!;
  }
  return { data: out, width, height };
}
