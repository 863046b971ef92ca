/**
 * Greedy CTC decoding, the dictionary's class layout, and width bucketing, table-driven.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code, InferError } from "../../gateway/src/errors.js";
import { openOrtSession } from "../../gateway/src/models/ort-runtime.js";
import { ctcCollapse, ctcGreedy, pathText } from "../../gateway/src/pipelines/stages/ctc-decode.js";
import {
  charsetOf,
  createDictionaryLoader,
} from "../../gateway/src/pipelines/stages/dictionary.js";
import { bucketWidth, stripBuckets } from "../../gateway/src/pipelines/stages/width-buckets.js";
import { makeTensor } from "../../gateway/src/protocol/tensor.js";
import { buildCtcArgmaxModel } from "../../gateway/src/repository/model-sources.js";

/** Probabilities over `classes` classes putting `p` on each step's class and the rest evenly. */
function steps(classes: number, path: number[], p = 0.9): Float32Array {
  const data = new Float32Array(path.length * classes).fill((1 - p) / (classes - 1));
  path.forEach((c, t) => {
    data[t * classes + c] = p;
  });
  return data;
}

// blank, a, b, c, space
const CHARSET = ["", "a", "b", "c", " "];

describe("ctcGreedy and pathText", () => {
  const cases: { name: string; input: number[]; output: string }[] = [
    { name: "blanks only", input: [0, 0, 0], output: "" },
    { name: "repeats collapse", input: [1, 1, 1, 2, 2], output: "ab" },
    { name: "a blank separates a doubled letter", input: [1, 1, 0, 1, 3], output: "aac" },
    { name: "leading and trailing blanks", input: [0, 2, 0, 0, 3, 0], output: "bc" },
    { name: "the last class is the space", input: [1, 4, 4, 2], output: "a b" },
  ];
  for (const { name, input, output } of cases) {
    it(name, () => {
      const path = ctcGreedy(steps(5, input), input.length, 5);
      assert.equal(pathText(path, CHARSET).text, output);
    });
  }

  it("reports the mean of the kept steps' maxima as the confidence", () => {
    const data = steps(5, [1, 1, 0, 2]);
    data[0 * 5 + 1] = 0.6; // the first 'a' step is kept; its repeat is not
    data[3 * 5 + 2] = 0.8;
    const { confidence } = pathText(ctcGreedy(data, 4, 5), CHARSET);
    assert.ok(Math.abs(confidence - 0.7) < 1e-6, `${confidence}`);
    assert.equal(pathText(ctcGreedy(steps(5, [0, 0]), 2, 5), CHARSET).confidence, 0);
  });

  it("reads a row of a batch at an offset", () => {
    const two = new Float32Array([...steps(5, [1, 2]), ...steps(5, [3, 3])]);
    assert.equal(pathText(ctcGreedy(two, 2, 5, 10), CHARSET).text, "c");
  });
});

describe("ocr_ctc_argmax and ctcCollapse", () => {
  it("give the path ctcGreedy gives, ties to the first class, in every row of a batch", async () => {
    const classes = 5;
    const rows = [
      [1, 1, 0, 1, 3, 4, 4, 2],
      [0, 2, 2, 0, 0, 3, 0, 1],
    ];
    const data = new Float32Array(rows.flatMap((row) => [...steps(classes, row, 0.7)]));
    // A tie between classes 2 and 3 on the first row's last step: the first one wins.
    data[7 * classes + 2] = 0.4;
    data[7 * classes + 3] = 0.4;
    data[7 * classes + 4] = 0.2;
    const folder = await mkdtemp(join(tmpdir(), "ctc-argmax-"));
    try {
      const path = join(folder, "model.onnx");
      await writeFile(path, buildCtcArgmaxModel());
      const session = await openOrtSession(path, { intraOpThreads: 1 });
      const input = makeTensor(
        { name: "probabilities", datatype: "FP32", shape: [2, 8, classes] },
        data,
      );
      const [best, maxima] = await session.run([input], ["best_class", "best_probability"]);
      await session.release();
      assert.equal(best!.datatype, "INT32");
      assert.deepEqual(best!.shape, [2, 8]);
      for (const row of [0, 1]) {
        const slice = (t: typeof best) => (t!.data as Int32Array).subarray(8 * row, 8 * row + 8);
        const got = ctcCollapse(
          slice(best) as Int32Array,
          (maxima!.data as Float32Array).subarray(8 * row, 8 * row + 8),
        );
        assert.deepEqual(got, ctcGreedy(data, 8, classes, 8 * classes * row));
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe("dictionary", () => {
  it("puts the blank first and the space last, lines in between", () => {
    assert.deepEqual(charsetOf("a\nb\r\nc\n"), ["", "a", "b", "c", " "]);
    assert.deepEqual(charsetOf("x\ny"), ["", "x", "y", " "]);
  });

  it("reads the file once, and names a missing file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ocr-dict-"));
    try {
      const path = join(dir, "keys.txt");
      await writeFile(path, "q\nr\n");
      const load = createDictionaryLoader(path);
      const first = await load();
      await rm(path);
      assert.equal(await load(), first);
      const missing = createDictionaryLoader(join(dir, "nope.txt"));
      await assert.rejects(missing(), (error: unknown) => {
        assert.ok(error instanceof InferError);
        assert.equal(error.code, Code.FAILED_PRECONDITION);
        assert.match(error.message, /nope\.txt cannot be read/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("bucketWidth", () => {
  const buckets = { step: 64, min: 128, max: 1024 };
  const cases: { input: number; output: number }[] = [
    { input: 1, output: 128 },
    { input: 128, output: 128 },
    { input: 129, output: 192 },
    { input: 500, output: 512 },
    { input: 1000, output: 1024 },
    { input: 5000, output: 1024 },
  ];
  for (const { input, output } of cases) {
    it(`${input} px -> ${output} px`, () => assert.equal(bucketWidth(input, buckets), output));
  }
  it("stripBuckets: the widest bucket is the widest strip rounded up to a step", () => {
    const settings = { bucketStep: 64, minBucketWidth: 128, maxStripWidth: 2500 };
    assert.deepEqual(stripBuckets(settings), { step: 64, min: 128, max: 2560 });
    assert.equal(stripBuckets({ ...settings, maxStripWidth: 2560 }).max, 2560);
  });
});
