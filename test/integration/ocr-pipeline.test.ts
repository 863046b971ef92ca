/**
 * The `ocr` pipeline end to end: the real gateway (`startGateway`) in front of the embedded
 * model server serving the PP-OCRv4 models, over HTTP and gRPC, on text images rendered here
 * with known ground truth (DejaVu fonts, sizes 18-40 px, 1-3 lines, slight rotation, noise,
 * JPEG artefacts, dark on light and light on dark). Detection runs at 640 px to keep the suite
 * short on a small CPU.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { stageCacheStats } from "../../gateway/src/cache/stage-cache.js";
import { type OcrAnswer, type OcrGateway, startOcrGateway } from "../fixtures/ocr/ocr-gateway.js";
import { editDistance, renderTextImage, renderTextPage } from "../fixtures/ocr/render-text.js";
import { pngBomb } from "../fixtures/ocr/test-images.js";
import { pageSamples, type TextSample, textSamples } from "../fixtures/ocr/text-samples.js";

const SIDE = { detectionSide: "640" };

/** The answer's lines joined by row (boxes whose vertical extents overlap share a row). */
function rows(answer: OcrAnswer): string[] {
  const lines = answer.result!.lines;
  const out: { text: string; top: number; bottom: number }[] = [];
  for (const line of lines) {
    const ys = line.box.map((p) => p[1]);
    const [top, bottom] = [Math.min(...ys), Math.max(...ys)];
    const last = out.at(-1);
    const overlap = last ? Math.min(last.bottom, bottom) - Math.max(last.top, top) : -1;
    if (last && overlap > 0.5 * Math.min(last.bottom - last.top, bottom - top)) {
      last.text += ` ${line.text}`;
      last.bottom = Math.max(last.bottom, bottom);
    } else {
      out.push({ text: line.text, top, bottom });
    }
  }
  return out.map((row) => row.text);
}

describe("ocr pipeline through the gateway and the embedded model server", () => {
  let ocr: OcrGateway;
  /** The model server's statistics of `model`, through the gateway. */
  const stats = async (model: string) => {
    const response = await fetch(`${ocr.url}/v2/models/${model}/stats`);
    const body = (await response.json()) as {
      model_stats: { inference_count: number; execution_count: number }[];
    };
    return body.model_stats[0]!;
  };
  const samples: { sample: TextSample; bytes: Buffer }[] = [];

  before(async () => {
    ocr = await startOcrGateway();
    for (const sample of textSamples(12, 2024)) {
      samples.push({ sample, bytes: await renderTextImage(sample) });
    }
  });
  after(async () => {
    await ocr?.close();
  });

  it("reads rendered text with a character error rate of at most 2% and finds every line", async (t) => {
    let errors = 0;
    let characters = 0;
    const report: string[] = [];
    for (const { sample, bytes } of samples) {
      const type = sample.jpegQuality === undefined ? "image/png" : "image/jpeg";
      const answer = await ocr.ocr(bytes, type, SIDE);
      assert.equal(answer.status, 200, answer.error);
      assert.deepEqual(
        [answer.result!.width, answer.result!.height],
        [sample.width, sample.height],
      );
      const found = rows(answer);
      const truth = sample.lines.join("\n");
      const distance = editDistance(found.join("\n"), truth);
      errors += distance;
      characters += [...truth].length;
      report.push(`${sample.name} (${sample.font} ${sample.size}px): ${JSON.stringify(found)}`);
      assert.equal(found.length, sample.lines.length, `every line of ${sample.name}: ${found}`);
      for (const [i, line] of sample.lines.entries()) {
        assert.ok(editDistance(found[i]!, line) <= line.length * 0.2, `${found[i]} vs ${line}`);
      }
      for (const line of answer.result!.lines) {
        assert.equal(line.box.length, 4);
        assert.ok(
          line.box.every(
            ([x, y]) => x! >= 0 && y! >= 0 && x! <= sample.width && y! <= sample.height,
          ),
        );
        assert.ok(line.confidence > 0.5 && line.confidence <= 1);
      }
    }
    const cer = errors / characters;
    t.diagnostic(
      `CER ${(cer * 100).toFixed(2)}% (${errors} edits over ${characters} characters, ${samples.length} images)`,
    );
    assert.ok(
      cer <= 0.02,
      `CER ${(cer * 100).toFixed(2)}% over ${characters} characters:\n${report.join("\n")}`,
    );
  });

  it("takes the image as a raw body, a multipart file, JSON base64 and over gRPC, with timings", async () => {
    const { sample, bytes } = samples[0]!;
    const raw = await ocr.ocr(bytes, "image/jpeg", { ...SIDE, timings: "true" });
    const form = new FormData();
    form.append("image", new Blob([bytes], { type: "image/jpeg" }), "scan.jpg");
    form.append("detectionSide", "640");
    const multipart = await fetch(`${ocr.url}/v1/pipelines/ocr`, {
      method: "POST",
      headers: { "cache-control": "no-cache, no-store" },
      body: form,
    });
    const json = await ocr.ocr(
      JSON.stringify({ image: bytes.toString("base64"), detectionSide: 640 }),
      "application/json",
    );
    const grpc = await ocr.ocrGrpc(bytes, { detectionSide: 640 });
    assert.equal(multipart.status, 200);
    const fromMultipart = ((await multipart.json()) as OcrAnswer).result;
    for (const other of [fromMultipart, json.result, grpc.result]) {
      assert.deepEqual(other, raw.result);
    }
    assert.equal(rows(raw).length, sample.lines.length);
    const stages = Object.keys(raw.timings ?? {});
    for (const stage of [
      "decode",
      "detection-input",
      "detect",
      "boxes",
      "crop",
      "direction/ocr_cls",
      "recognize/ocr_rec_greedy",
      "text",
    ]) {
      assert.ok(stages.includes(stage), `timings name '${stage}': ${stages}`);
    }
    assert.ok(Object.keys(grpc.timings ?? {}).includes("detect"));
  });

  it("decodes a repeated image once: the stage cache answers, with the same result", async () => {
    // An image no other test sends, so the first request surely misses.
    const [sample] = textSamples(1, 77);
    const bytes = await renderTextImage(sample!);
    const type = sample!.jpegQuality === undefined ? "image/png" : "image/jpeg";
    // Snapshots (the stats are live objects); a cache not built yet has done nothing.
    const snapshot = () => new Map(stageCacheStats().map(([name, s]) => [name, { ...s }]));
    const none = { hits: 0, misses: 0 };
    const before = snapshot();
    const first = await ocr.ocr(bytes, type, SIDE);
    const second = await ocr.ocr(bytes, type, SIDE);
    assert.equal(second.status, 200, second.error);
    assert.deepEqual(second.result, first.result);
    const after = snapshot();
    for (const cache of ["ocr.decode", "ocr.detection-input"]) {
      const [was, now] = [before.get(cache) ?? none, after.get(cache)!];
      assert.equal(now.misses - was.misses, 1, `${cache}: the first request decodes`);
      assert.equal(now.hits - was.hits, 1, `${cache}: the second is served from the cache`);
      assert.ok(now.bytes > 0 && now.bytes <= now.maxBytes);
    }
    const metrics = await (
      await fetch(`http://127.0.0.1:${ocr.gateway.metricsPort}/metrics`)
    ).text();
    assert.match(
      metrics,
      /infergate_stage_cache_requests_total\{cache="ocr.decode",result="hit"\} [1-9]/,
    );
    assert.match(metrics, /infergate_stage_cache_bytes\{cache="ocr.detection-input"\} [1-9]/);
  });

  it("gives the same boxes with the uint8 ensemble (ocr_det_uint8) as with float input", async () => {
    const { bytes } = samples[1]!;
    const float = await ocr.ocr(bytes, "image/jpeg", { ...SIDE, detector: "float" });
    const ensembleBefore = await stats("ocr_det_uint8");
    const uint8 = await ocr.ocr(bytes, "image/jpeg", { ...SIDE, detector: "uint8" });
    assert.equal(uint8.status, 200, uint8.error);
    const ensembleAfter = await stats("ocr_det_uint8");
    assert.equal(ensembleAfter.inference_count - ensembleBefore.inference_count, 1);
    assert.ok(float.result!.lines.length > 0);
    assert.deepEqual(uint8.result, float.result);
  });

  it("detects small text on a large page again at smallTextSide, finding every line", async () => {
    // 11-15 px text on a 1920 x 1080 page: at side 960 it is 5-7 px high, and lines are missed.
    const page = pageSamples(3, 1080, { sizes: [11, 15], maxRotate: 1 })[2]!;
    const bytes = await renderTextPage(page.spec);
    const once = await ocr.ocr(bytes, "image/jpeg", { smallTextSide: "0" });
    assert.equal(once.status, 200, once.error);
    assert.ok(once.result!.lines.length < page.lines.length, "missed lines at side 960 alone");
    const twice = await ocr.ocr(bytes, "image/jpeg", { timings: "true" });
    assert.equal(twice.status, 200, twice.error);
    assert.ok((twice.timings?.["small-text"] ?? 0) > 0, "the second detection ran");
    const found = twice.result!.lines.map((line) => line.text);
    assert.equal(found.length, page.lines.length, found.join("\n"));
    const truth = page.lines.join("\n");
    assert.ok(editDistance(found.join("\n"), truth) <= truth.length * 0.02, found.join("\n"));
  });

  it("turns upside-down text with the direction classifier", async () => {
    const lines = ["Please keep this receipt for your records"];
    const bytes = await renderTextImage({
      lines,
      font: "DejaVu Sans",
      size: 30,
      width: 900,
      height: 120,
      rotateDegrees: 180,
      noise: 4,
      jpegQuality: 85,
    });
    const turned = await ocr.ocr(bytes, "image/jpeg", { ...SIDE, classify: "true" });
    assert.deepEqual(rows(turned), lines);
    const unturned = await ocr.ocr(bytes, "image/jpeg", { ...SIDE, classify: "false" });
    assert.notDeepEqual(rows(unturned), lines);
  });

  it("sends each stage's per-box calls to Triton as batches", async () => {
    const before = await stats("ocr_cls");
    const three = samples.find(({ sample }) => sample.lines.length === 3)!;
    const answer = await ocr.ocr(three.bytes, "image/jpeg", SIDE);
    const after = await stats("ocr_cls");
    const boxes = answer.result!.lines.length;
    assert.ok(boxes >= 3);
    assert.equal(after.inference_count - before.inference_count, boxes);
    assert.equal(after.execution_count - before.execution_count, 1, "one batch for all boxes");
  });

  const refusals: {
    name: string;
    body: () => Promise<Uint8Array | string>;
    type: string;
    status: number;
    error: RegExp;
  }[] = [
    {
      name: "bytes that are no image",
      body: async () => Buffer.from("GIF89a? no, just some text pretending"),
      type: "image/png",
      status: 400,
      error: /the image cannot be decoded/,
    },
    {
      name: "a decompression bomb (a tiny PNG declaring 100000 x 100000 pixels)",
      body: () => pngBomb(100_000, 100_000),
      type: "image/png",
      status: 400,
      error: /100000x100000 = 10000000000 pixels exceeds the limit of 40000000 pixels/,
    },
    {
      name: "an empty image body",
      body: async () => new Uint8Array(0),
      type: "image/jpeg",
      status: 400,
      error: /the image is empty/,
    },
    {
      name: "a JSON body without an image",
      body: async () => JSON.stringify({ detectionSide: 640 }),
      type: "application/json",
      status: 400,
      error: /no image: send it as the body/,
    },
    {
      name: "an unknown setting",
      body: async () => JSON.stringify({ image: "AAAA", maxBoxes: 3 }),
      type: "application/json",
      status: 400,
      error: /unknown field 'maxBoxes'/,
    },
  ];
  for (const { name, body, type, status, error } of refusals) {
    it(`answers ${status} with a JSON error for ${name}`, async () => {
      const answer = await ocr.ocr(await body(), type);
      assert.equal(answer.status, status);
      assert.match(answer.error ?? "", error);
    });
  }
});
