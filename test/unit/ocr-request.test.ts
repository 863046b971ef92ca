/**
 * Parsing an OCR request: where the image comes from and the per-request settings, which may
 * arrive as JSON values or as strings (query parameters, multipart fields). Table-driven.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PipelineInput } from "../../gateway/src/core/gateway-core.js";
import { Code, InferError } from "../../gateway/src/errors.js";
import {
  needsSmallTextDetection,
  OCR_DEFAULTS,
  SMALL_TEXT_PX,
} from "../../gateway/src/pipelines/ocr.js";
import type { TextBox } from "../../gateway/src/pipelines/stages/db-postprocess.js";
import {
  type OcrSettings,
  parseOcrRequest,
} from "../../gateway/src/pipelines/stages/ocr-request.js";

const DEFAULTS: OcrSettings = {
  detectionSide: OCR_DEFAULTS.detectionSide,
  pixelThreshold: OCR_DEFAULTS.pixelThreshold,
  boxThreshold: OCR_DEFAULTS.boxThreshold,
  unclipRatio: OCR_DEFAULTS.unclipRatio,
  classify: OCR_DEFAULTS.classify,
  detector: OCR_DEFAULTS.detector,
  minConfidence: OCR_DEFAULTS.minConfidence,
  smallTextSide: OCR_DEFAULTS.smallTextSide,
};

const IMAGE = Buffer.from([1, 2, 3, 4]);
const file = { bytes: IMAGE, contentType: "image/png" };

const input = (fields: Record<string, unknown>, files: PipelineInput["files"] = {}) => ({
  fields,
  files,
  timings: false,
});

describe("parseOcrRequest", () => {
  const cases: {
    name: string;
    input: PipelineInput;
    output?: { image: number[]; settings: Partial<OcrSettings> };
    error?: RegExp;
  }[] = [
    {
      name: "a raw body (the file 'image') with the defaults",
      input: input({}, { image: file }),
      output: { image: [1, 2, 3, 4], settings: {} },
    },
    {
      name: "a multipart file of any name",
      input: input({}, { scan: file }),
      output: { image: [1, 2, 3, 4], settings: {} },
    },
    {
      name: "base64 in the JSON field 'image', settings as JSON values",
      input: input({ image: IMAGE.toString("base64"), detectionSide: 640, classify: false }),
      output: { image: [1, 2, 3, 4], settings: { detectionSide: 640, classify: false } },
    },
    {
      name: "a data URL",
      input: input({ image: `data:image/png;base64,${IMAGE.toString("base64")}` }),
      output: { image: [1, 2, 3, 4], settings: {} },
    },
    {
      name: "settings as strings (query parameters, multipart fields)",
      input: input(
        { detectionSide: "1280", boxThreshold: "0.5", classify: "0", detector: "uint8" },
        { image: file },
      ),
      output: {
        image: [1, 2, 3, 4],
        settings: { detectionSide: 1280, boxThreshold: 0.5, classify: false, detector: "uint8" },
      },
    },
    { name: "no image at all", input: input({}), error: /no image: send it as the body/ },
    {
      name: "two images",
      input: input({ image: "AQID" }, { image: file }),
      error: /send the image once/,
    },
    { name: "two files", input: input({}, { a: file, b: file }), error: /send one image, not 2/ },
    { name: "an image that is not a string", input: input({ image: 42 }), error: /base64 string/ },
    {
      name: "an image that is not base64",
      input: input({ image: "not base64!" }),
      error: /not valid base64/,
    },
    {
      name: "an unknown field",
      input: input({ side: 640 }, { image: file }),
      error: /unknown field 'side' \(known: image, detectionSide, /,
    },
    {
      name: "a field named like an Object property",
      input: input({ toString: 1 }, { image: file }),
      error: /unknown field 'toString'/,
    },
    {
      name: "a detection side out of range",
      input: input({ detectionSide: 10 }, { image: file }),
      error: /'detectionSide' must be a number from 32 to 4096/,
    },
    {
      name: "a threshold that is not a number",
      input: input({ boxThreshold: "high" }, { image: file }),
      error: /'boxThreshold' must be a number from 0 to 1/,
    },
    {
      name: "classify that is not a boolean",
      input: input({ classify: "yes" }, { image: file }),
      error: /'classify' must be true or false/,
    },
    {
      name: "an unknown detector",
      input: input({ detector: "int8" }, { image: file }),
      error: /'detector' must be one of float, uint8/,
    },
    {
      name: "smallTextSide 0 turns the second detection off",
      input: input({ smallTextSide: "0" }, { image: file }),
      output: { image: [1, 2, 3, 4], settings: { smallTextSide: 0 } },
    },
    {
      name: "a smallTextSide between 0 and 32",
      input: input({ smallTextSide: 16 }, { image: file }),
      error: /'smallTextSide' must be 0 \(off\) or from 32 to 4096/,
    },
  ];
  for (const { name, input: given, output, error } of cases) {
    it(name, () => {
      if (error) {
        assert.throws(
          () => parseOcrRequest(given, DEFAULTS),
          (thrown: unknown) =>
            thrown instanceof InferError &&
            thrown.code === Code.INVALID_ARGUMENT &&
            error.test(thrown.message),
        );
        return;
      }
      const parsed = parseOcrRequest(given, DEFAULTS);
      assert.deepEqual([...parsed.image], output!.image);
      assert.deepEqual(parsed.settings, { ...DEFAULTS, ...output!.settings });
    });
  }
});

describe("needsSmallTextDetection", () => {
  /** A horizontal box `h` px high (in the image's pixels). */
  const box = (h: number): TextBox => ({
    quad: [
      [10, 10],
      [400, 10],
      [400, 10 + h],
      [10, 10 + h],
    ],
    score: 0.9,
  });
  const page = { width: 1920, height: 1080 };
  const settings = { detectionSide: 960, smallTextSide: 1920 };
  // At side 960 a 1920 x 1080 page is scaled by 0.5: SMALL_TEXT_PX at detection is 28 px here.
  const cases: {
    name: string;
    heights: number[];
    image?: typeof page;
    set?: object;
    yes: boolean;
  }[] = [
    { name: "small text (median 20 px = 10 at detection)", heights: [18, 20, 22], yes: true },
    { name: "document text (median 40 px = 20 at detection)", heights: [18, 40, 44], yes: false },
    { name: "no boxes at all", heights: [], yes: false },
    {
      name: "an image no larger than the detection side",
      heights: [8, 8, 8],
      image: { width: 900, height: 600 },
      yes: false,
    },
    { name: "smallTextSide 0 (off)", heights: [8], set: { smallTextSide: 0 }, yes: false },
    {
      name: "smallTextSide not above detectionSide",
      heights: [8],
      set: { detectionSide: 1920 },
      yes: false,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.yes ? "detect again" : "keep"}`, () => {
      assert.equal(
        needsSmallTextDetection(c.heights.map(box), c.image ?? page, { ...settings, ...c.set }),
        c.yes,
      );
    });
  }
  it("the threshold is SMALL_TEXT_PX at the detection size", () => {
    const at = (h: number) => needsSmallTextDetection([box(h)], page, settings);
    assert.equal(at(2 * SMALL_TEXT_PX - 2), true);
    assert.equal(at(2 * SMALL_TEXT_PX + 2), false);
  });
});
