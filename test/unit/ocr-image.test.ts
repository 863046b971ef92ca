/**
 * The sharp adapter's decoding of client images: formats, EXIF orientation, the working size,
 * grey and transparent images, and every way an image is refused (with the message a client
 * sees).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, InferError } from "../../gateway/src/errors.js";
import { decodeImage, resizeImage } from "../../gateway/src/pipelines/stages/image.js";
import type { RgbImage } from "../../gateway/src/pipelines/stages/rgb-image.js";
import { encodePixels, pngBomb } from "../fixtures/ocr/test-images.js";

const LIMITS = { maxPixels: 40_000_000, maxSide: 1920 };

/** A w x h RGB image, red everywhere but a blue top-left quarter. */
function marked(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const blue = x < width / 2 && y < height / 2;
      data.set(blue ? [0, 0, 255] : [255, 0, 0], (y * width + x) * 3);
    }
  }
  return data;
}

const pixel = (image: RgbImage, x: number, y: number) => [
  ...image.data.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3),
];

async function rejection(promise: Promise<unknown>): Promise<InferError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof InferError);
    return error;
  }
  throw new Error("expected a rejection");
}

describe("decodeImage", () => {
  for (const format of ["png", "jpeg", "webp"] as const) {
    it(`decodes ${format} to RGB`, async () => {
      const bytes = await encodePixels(marked(40, 20), 40, 20, { format });
      const decoded = await decodeImage(bytes, LIMITS);
      assert.equal(decoded.format, format);
      assert.deepEqual([decoded.width, decoded.height], [40, 20]);
      assert.equal(decoded.image.data.length, 40 * 20 * 3);
      const [r, , b] = pixel(decoded.image, 2, 2);
      assert.ok(b! > 200 && r! < 50, `top-left is blue, got ${pixel(decoded.image, 2, 2)}`);
    });
  }

  it("applies the EXIF orientation (6: turn 90 degrees clockwise)", async () => {
    const bytes = await encodePixels(marked(40, 20), 40, 20, { format: "jpeg", orientation: 6 });
    const decoded = await decodeImage(bytes, LIMITS);
    assert.deepEqual([decoded.width, decoded.height], [20, 40]);
    assert.deepEqual([decoded.image.width, decoded.image.height], [20, 40]);
    // The blue corner moves from top-left to top-right.
    assert.ok(pixel(decoded.image, 17, 2)[2]! > 200);
    assert.ok(pixel(decoded.image, 2, 2)[0]! > 200);
  });

  it("decodes at most maxSide on the longest side and reports the full size", async () => {
    const bytes = await encodePixels(marked(400, 200), 400, 200, { format: "jpeg" });
    const decoded = await decodeImage(bytes, { ...LIMITS, maxSide: 100 });
    assert.deepEqual([decoded.image.width, decoded.image.height], [100, 50]);
    assert.deepEqual([decoded.width, decoded.height], [400, 200]);
    const small = await decodeImage(bytes, { ...LIMITS, maxSide: 1000 });
    assert.deepEqual([small.image.width, small.image.height], [400, 200]);
  });

  it("spreads grey to three channels and flattens transparency onto white", async () => {
    const grey = await decodeImage(
      await encodePixels(new Uint8Array(6).fill(77), 3, 2, { format: "png", channels: 1 }),
      LIMITS,
    );
    assert.deepEqual(pixel(grey.image, 1, 1), [77, 77, 77]);
    const clear = await decodeImage(
      await encodePixels(new Uint8Array(4 * 4).fill(0), 2, 2, { format: "png", channels: 4 }),
      LIMITS,
    );
    assert.deepEqual(pixel(clear.image, 0, 0), [255, 255, 255]);
  });

  const refusals: { name: string; bytes: () => Promise<Uint8Array>; error: RegExp }[] = [
    { name: "no bytes", bytes: async () => new Uint8Array(0), error: /the image is empty/ },
    {
      name: "bytes that are no image",
      bytes: async () => Buffer.from("this is not an image at all"),
      error: /the image cannot be decoded: .*unsupported image format/,
    },
    {
      name: "a format other than JPEG, PNG or WebP",
      bytes: () => encodePixels(marked(4, 4), 4, 4, { format: "gif" }),
      error: /unsupported image format 'gif'; send JPEG, PNG or WebP/,
    },
    {
      name: "a truncated JPEG",
      bytes: async () => {
        const jpeg = await encodePixels(marked(64, 64), 64, 64, { format: "jpeg" });
        return jpeg.subarray(0, Math.floor(jpeg.length / 2));
      },
      error: /the image cannot be decoded/,
    },
    {
      name: "a decompression bomb (a tiny PNG declaring 100000 x 100000 pixels)",
      bytes: () => pngBomb(100_000, 100_000),
      error:
        /100000x100000 = 10000000000 pixels exceeds the limit of 40000000 pixels \(limits\.maxImagePixels\)/,
    },
  ];
  for (const { name, bytes, error } of refusals) {
    it(`refuses ${name} with INVALID_ARGUMENT`, async () => {
      const failure = await rejection(decodeImage(await bytes(), LIMITS));
      assert.equal(failure.code, Code.INVALID_ARGUMENT);
      assert.match(failure.message, error);
    });
  }

  it("applies the pixel limit it is given", async () => {
    const bytes = await encodePixels(marked(100, 100), 100, 100, { format: "png" });
    const failure = await rejection(decodeImage(bytes, { ...LIMITS, maxPixels: 9999 }));
    assert.match(failure.message, /10000 pixels exceeds the limit of 9999/);
  });
});

describe("resizeImage", () => {
  it("resizes to exactly the size asked, and returns the image itself when it fits", async () => {
    const image: RgbImage = { data: marked(40, 20), width: 40, height: 20 };
    const resized = await resizeImage(image, 32, 32);
    assert.deepEqual([resized.width, resized.height, resized.data.length], [32, 32, 32 * 32 * 3]);
    assert.equal(await resizeImage(image, 40, 20), image);
  });
});
