/**
 * What an OCR request carries: the image (a raw body, a multipart file, or base64 in the
 * JSON field `image`) and per-request settings that override the pipeline's configured ones.
 * Settings may arrive as JSON values or as strings (query parameters, multipart text fields).
 */
import type { PipelineInput } from "../../core/gateway-core.js";
import { invalidArgument } from "../../errors.js";

/** The detector variants: `ocr_det` on float32 tensors, or `ocr_det_uint8` on raw pixels. */
export const DETECTORS = ["float", "uint8"] as const;

/** A detector variant. */
export type Detector = (typeof DETECTORS)[number];

/** The settings a request may override. */
export interface OcrSettings {
  /** Longest side of the detector's input, px (rounded to multiples of 32). */
  detectionSide: number;
  /** Probability above which a pixel is text. */
  pixelThreshold: number;
  /** Mean probability a text box needs. */
  boxThreshold: number;
  /** How far boxes are grown back, see `unclip.ts`. */
  unclipRatio: number;
  /** Run the direction classifier and turn upside-down lines. */
  classify: boolean;
  detector: Detector;
  /** Lines read with a lower confidence are left out. */
  minConfidence: number;
  /**
   * When the text found is small at the detection size (see `ocr.ts`), detect again with this
   * longest side (px; 0 = never). Only larger than `detectionSide` has an effect.
   */
  smallTextSide: number;
}

/** A parsed request. */
export interface OcrRequest {
  image: Uint8Array;
  settings: OcrSettings;
}

type Rule = (value: unknown, field: string) => OcrSettings[keyof OcrSettings];

const number =
  (min: number, max: number): Rule =>
  (value, field) => {
    const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    if (typeof n !== "number" || !Number.isFinite(n) || n < min || n > max) {
      throw invalidArgument(`'${field}' must be a number from ${min} to ${max}`);
    }
    return n;
  };

const boolean: Rule = (value, field) => {
  if (value === true || value === "true" || value === "1") return true;
  if (value === false || value === "false" || value === "0") return false;
  throw invalidArgument(`'${field}' must be true or false`);
};

const sideOrOff: Rule = (value, field) => {
  const n = number(0, 4096)(value, field) as number;
  if (n !== 0 && n < 32) throw invalidArgument(`'${field}' must be 0 (off) or from 32 to 4096`);
  return n;
};

const detector: Rule = (value, field) => {
  const found = DETECTORS.find((d) => d === value);
  if (found === undefined)
    throw invalidArgument(`'${field}' must be one of ${DETECTORS.join(", ")}`);
  return found;
};

/** Each setting's rule. */
const RULES: { [K in keyof OcrSettings]: Rule } = {
  detectionSide: number(32, 4096),
  pixelThreshold: number(0, 1),
  boxThreshold: number(0, 1),
  unclipRatio: number(0, 10),
  classify: boolean,
  detector,
  minConfidence: number(0, 1),
  smallTextSide: sideOrOff,
};

/** The request's image and settings (`defaults` where it names none). */
export function parseOcrRequest(input: PipelineInput, defaults: OcrSettings): OcrRequest {
  const settings = { ...defaults };
  for (const [field, value] of Object.entries(input.fields)) {
    if (field === "image") continue;
    if (!Object.hasOwn(RULES, field)) {
      throw invalidArgument(
        `unknown field '${field}' (known: image, ${Object.keys(RULES).join(", ")})`,
      );
    }
    const key = field as keyof OcrSettings;
    Object.assign(settings, { [key]: RULES[key](value, field) });
  }
  return { image: imageOf(input), settings };
}

function imageOf(input: PipelineInput): Uint8Array {
  const files = Object.entries(input.files);
  const field = input.fields["image"];
  if (files.length > 1) {
    throw invalidArgument(`send one image, not ${files.length} files`);
  }
  if (files.length === 1 && field !== undefined) {
    throw invalidArgument("send the image once: as the body, a file, or the field 'image'");
  }
  if (files.length === 1) return files[0]![1].bytes;
  if (field === undefined) {
    throw invalidArgument(
      "no image: send it as the body (image/jpeg, image/png, image/webp), a multipart file, " +
        "or base64 in the JSON field 'image'",
    );
  }
  if (typeof field !== "string") throw invalidArgument("'image' must be a base64 string");
  return decodeBase64(field);
}

/** Base64 (standard or URL-safe, padding optional), optionally as a `data:` URL. */
function decodeBase64(text: string): Uint8Array {
  const payload = text.replace(/^data:[^,]*;base64,/, "").replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(payload) || payload.length % 4 === 1) {
    throw invalidArgument("'image' is not valid base64");
  }
  return Buffer.from(payload, "base64");
}
