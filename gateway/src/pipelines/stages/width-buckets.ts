/**
 * Width buckets for recognition: a strip is padded to the next bucket width, so strips of
 * similar length share one tensor shape and the map stage sends them to Triton as one batch,
 * while short strips are not padded to the longest one's width.
 */

/** Bucket bounds, px. */
export interface BucketOptions {
  /** Bucket widths are multiples of this (a multiple of 8: the recognizer's stride). */
  step: number;
  /** The narrowest bucket. */
  min: number;
  /** The widest bucket (strips are never wider, see `CropOptions.maxWidth`). */
  max: number;
}

/**
 * The buckets of `step` and `min` whose widest is `maxStripWidth` rounded up to a bucket (the
 * OCR pipeline's settings; calibration uses the same).
 */
export function stripBuckets(settings: {
  bucketStep: number;
  minBucketWidth: number;
  maxStripWidth: number;
}): BucketOptions {
  const { bucketStep: step, minBucketWidth: min } = settings;
  return { step, min, max: bucketWidth(settings.maxStripWidth, { step, min, max: Infinity }) };
}

/** The bucket width of a strip `width` px wide: the next multiple of `step` in [min, max]. */
export function bucketWidth(width: number, options: BucketOptions): number {
  const rounded = Math.ceil(width / options.step) * options.step;
  return Math.min(Math.max(rounded, options.min), options.max);
}
