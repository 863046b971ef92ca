/**
 * Codec throughput on a 1x3x640x640 FP32 tensor (an image batch of one): raw little-endian
 * bytes versus KServe v2 JSON text, encode and decode, measured side by side.
 *
 * Method: one warm-up round, then ROUNDS rounds; each round runs every case (in a rotating
 * order, so no case always runs on a cold or a hot heap) for at least BATCH_MS, and the
 * per-operation time is the median over rounds. MB/s counts tensor payload bytes (1 MB = 1e6 B).
 * Run: `npx tsx test/bench/codec.bench.ts` (about 15 s on two cores).
 */
import { decodeJsonTensor, encodeJsonTensor } from "../../gateway/src/protocol/json-codec.js";
import { decodeRawTensor, encodeRawTensor } from "../../gateway/src/protocol/raw-codec.js";
import { makeTensor, type Tensor } from "../../gateway/src/protocol/tensor.js";
import { median } from "./bench-support.js";

const ROUNDS = 7;
const BATCH_MS = 150;
const SHAPE = [1, 3, 640, 640];

interface BenchCase {
  codec: string;
  op: "encode" | "decode";
  run: () => number;
}

/** Deterministic values in [0, 1), like a normalised image (xorshift32). */
function imageTensor(): Tensor {
  const data = new Float32Array(SHAPE.reduce((a, b) => a * b, 1));
  let state = 0x9e3779b9;
  for (let i = 0; i < data.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    data[i] = (state >>> 0) / 2 ** 32;
  }
  return makeTensor({ name: "images", datatype: "FP32", shape: SHAPE }, data);
}

function cases(tensor: Tensor): BenchCase[] {
  const raw = encodeRawTensor(tensor, "input");
  const unaligned = Buffer.alloc(raw.length + 1).subarray(1);
  raw.copy(unaligned);
  const json = Buffer.from(JSON.stringify(encodeJsonTensor(tensor, { role: "input" })));
  return [
    { codec: "raw (view)", op: "encode", run: () => encodeRawTensor(tensor, "input").length },
    { codec: "raw (view)", op: "decode", run: () => decodeRawTensor(tensor, raw).data.length },
    {
      codec: "raw (unaligned: copy)",
      op: "decode",
      run: () => decodeRawTensor(tensor, unaligned).data.length,
    },
    {
      codec: "JSON (to text bytes)",
      op: "encode",
      run: () => Buffer.from(JSON.stringify(encodeJsonTensor(tensor, { role: "input" }))).length,
    },
    {
      codec: "JSON (from text bytes)",
      op: "decode",
      run: () => decodeJsonTensor(JSON.parse(json.toString("utf8"))).data.length,
    },
  ];
}

/** Milliseconds per operation over a batch of at least BATCH_MS. */
function timeBatch(benchCase: BenchCase, sink: { value: number }): number {
  let iterations = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    sink.value += benchCase.run();
    iterations++;
    elapsed = performance.now() - start;
  } while (elapsed < BATCH_MS);
  return elapsed / iterations;
}

/** Rates past 10^5 in exponent form: a zero-copy view is "infinitely" fast and says so plainly. */
function formatRate(value: number): string {
  return value >= 1e5 ? value.toExponential(2) : value.toFixed(1);
}

function main(): void {
  const tensor = imageTensor();
  const payloadBytes = (tensor.data as Float32Array).byteLength;
  const jsonBytes = Buffer.byteLength(JSON.stringify(encodeJsonTensor(tensor)));
  const all = cases(tensor);
  const samples = all.map((): number[] => []);
  const sink = { value: 0 };
  for (let round = -1; round < ROUNDS; round++) {
    for (let k = 0; k < all.length; k++) {
      const index = (k + Math.max(round, 0)) % all.length;
      const ms = timeBatch(all[index]!, sink);
      if (round >= 0) samples[index]!.push(ms);
    }
  }
  const medians = samples.map(median);
  const mbPerSecond = (ms: number) => payloadBytes / 1e6 / (ms / 1000);

  console.log(
    `FP32 ${JSON.stringify(SHAPE)}: ${(payloadBytes / 1e6).toFixed(2)} MB raw, ${(jsonBytes / 1e6).toFixed(2)} MB as JSON text; ` +
      `median of ${ROUNDS} interleaved rounds (>= ${BATCH_MS} ms each), Node ${process.version}`,
  );
  const header = ["codec", "op", "ms/op", "ops/s", "MB/s"];
  const rows = all.map((c, i) => [
    c.codec,
    c.op,
    medians[i]!.toPrecision(4),
    formatRate(1000 / medians[i]!),
    formatRate(mbPerSecond(medians[i]!)),
  ]);
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((row) => row[col]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, col) => (col < 2 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!)))
      .join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
  const ratio = (rawIndex: number, jsonIndex: number) =>
    (medians[jsonIndex]! / medians[rawIndex]!).toFixed(0);
  console.log(
    `raw/JSON throughput ratio: encode ${ratio(0, 3)}x, decode ${ratio(1, 4)}x (unaligned raw decode ${ratio(2, 4)}x)`,
  );
  if (sink.value === 0) throw new Error("benchmark did no work");
}

main();
