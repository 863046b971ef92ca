/**
 * The embedded model server under load: three figures, each a ratio of throughputs measured side
 * by side in one run.
 *
 * 1. Serving efficiency: `ocr_cls` (FP32 [8,3,48,192]) over gRPC to the embedded server, divided by
 *    the same ONNX file run in this process through `createOrtSession` (one worker thread, as each
 *    server instance is): batch 8, 4 requests outstanding, no dynamic batching on either side, at
 *    1 and at 2 intra-op threads (2 = the server's default on two cores, cores / instances). The
 *    server runs two ways: in this process (its gRPC work shares the event loop with the client,
 *    as the baseline's posting to its worker does) and in a child process (`infergate models`:
 *    its own event loop, but one more process on the same cores).
 * 2. Dynamic batching gain: `simple`, 32 outstanding requests of batch 1, with
 *    `dynamic_batching { max_queue_delay_microseconds: 500 }` (as `model_repository/simple`)
 *    versus without, over unary `ModelInfer` and over one `ModelStreamInfer` stream, with the
 *    average batch size from `ModelStatistics` (inference_count / execution_count).
 * 3. `ModelStreamInfer` versus `ModelInfer`: `simple` with dynamic batching, batch 1, 64
 *    outstanding; one bidirectional stream multiplexing requests by `id` versus unary calls on the
 *    same channel. No target: it says what a stream saves per request.
 * Figures 2 and 3 use the child-process server, as a client on another host would.
 *
 * Load generator: grpc-js in this process, each distinct request encoded once and sent as bytes
 * (as perf_analyzer prepares its requests once), so that it takes as little as it can of the two
 * cores the server runs on.
 *
 * Method: each case is a closed loop (N workers, each sending its next request when its previous
 * answer arrives) for ROUND_MS; one warm-up round, then ROUNDS rounds in a rotating order (A B C,
 * B C A, ...) so no case always runs first. Throughputs are medians over rounds; ratios are medians
 * of per-round ratios, since the cases of one round run back to back and the load of a shared
 * machine drifts between rounds. The model repository is a temporary folder whose config text is
 * written here, so the figures do not move when `model_repository/` is tuned.
 * Run: `npm run bench:models` (about two minutes on two cores). It exits 0: a missed target is
 * reported as MISSED, not failed.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { silentLogger } from "../../gateway/src/log.js";
import { startModelServer } from "../../gateway/src/models/model-server.js";
import { createOrtSession, type OrtSession } from "../../gateway/src/models/ort-session.js";
import type {
  ModelInferRequestMessage,
  ModelInferResponseMessage,
} from "../../gateway/src/protocol/infer-message.js";
import { loadServiceDefinitions } from "../../gateway/src/protocol/protos.js";
import { makeTensor } from "../../gateway/src/protocol/tensor.js";
import { prepareRepository } from "../../gateway/src/repository/prepare.js";
import {
  buildSimpleModel,
  SIMPLE_ROW_ELEMENTS,
} from "../../gateway/src/repository/simple-model.js";
import { cpuTimeMs, median, startModelServerProcess } from "./bench-support.js";

const ROUNDS = 8;
const ROUND_MS = 1000;
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const OCR_BATCH = 8;
const OCR_SHAPE = [OCR_BATCH, 3, 48, 192];
const OCR_CONCURRENCY = 4;
const OCR_OUTPUT = "softmax_0.tmp_0";
/** Intra-op thread counts figure 1 compares, each on both sides. */
const OCR_THREADS = [1, 2] as const;

const BATCHING_CONCURRENCY = 32;
const QUEUE_DELAY_US = 500;
const STREAM_CONCURRENCY = 64;
const SIMPLE_BATCHED = "simple_batched";
const SIMPLE_UNBATCHED = "simple_unbatched";

// ---------------------------------------------------------------------------------------------
// The repository

const ocrModel = (threads: number) => `ocr_cls_${threads}t`;

/**
 * `ocr_cls` as shipped, less `dynamic_batching` (with it the server would merge the 4 outstanding
 * batch-8 requests into batches of 16 or 32: other, and per row cheaper, work than the baseline's
 * batch-8 runs), with its intra-op threads set by Triton's ONNX Runtime backend parameter.
 */
function ocrConfig(threads: number): string {
  return `name: "${ocrModel(threads)}"
platform: "onnxruntime_onnx"
max_batch_size: 64
input [ { name: "x", data_type: TYPE_FP32, format: FORMAT_NCHW, dims: [ 3, 48, 192 ] } ]
output [ { name: "${OCR_OUTPUT}", data_type: TYPE_FP32, dims: [ 2 ] } ]
instance_group [ { count: 1, kind: KIND_CPU } ]
parameters { key: "intra_op_thread_count", value: { string_value: "${threads}" } }
`;
}

/**
 * `simple` under another name, with or without the dynamic batcher. One intra-op thread: a
 * 16-element add gains nothing from a second, and on two cores the second competes with gRPC.
 */
function simpleConfig(name: string, dynamicBatching: boolean): string {
  const tensor = (n: string) =>
    `{ name: "${n}", data_type: TYPE_INT32, dims: [ ${SIMPLE_ROW_ELEMENTS} ] }`;
  const batching = `dynamic_batching { max_queue_delay_microseconds: ${QUEUE_DELAY_US} }\n`;
  return `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ ${tensor("INPUT0")}, ${tensor("INPUT1")} ]
output [ ${tensor("OUTPUT0")}, ${tensor("OUTPUT1")} ]
${dynamicBatching ? batching : ""}instance_group [ { count: 1, kind: KIND_CPU } ]
parameters { key: "intra_op_thread_count", value: { string_value: "1" } }
`;
}

/** Writes the benchmark repository: `ocr_cls` per thread count and two `simple`s. */
async function writeRepository(dir: string): Promise<void> {
  // `ocr_cls`'s file comes from its npm package, as `repo prepare` puts it in place; that folder
  // has no config, so the server skips it.
  await mkdir(join(dir, "ocr_cls"), { recursive: true });
  await prepareRepository({ repository: dir, models: ["ocr_cls"] });
  for (const threads of OCR_THREADS) {
    await mkdir(join(dir, ocrModel(threads), "1"), { recursive: true });
    await writeFile(join(dir, ocrModel(threads), "config.pbtxt"), ocrConfig(threads));
    await copyFile(ocrModelPath(dir), join(dir, ocrModel(threads), "1", "model.onnx"));
  }
  for (const [name, batching] of [
    [SIMPLE_BATCHED, true],
    [SIMPLE_UNBATCHED, false],
  ] as const) {
    await mkdir(join(dir, name, "1"), { recursive: true });
    await writeFile(join(dir, name, "config.pbtxt"), simpleConfig(name, batching));
    await writeFile(join(dir, name, "1", "model.onnx"), buildSimpleModel());
  }
}

const ocrModelPath = (dir: string) => join(dir, "ocr_cls", "1", "model.onnx");

// ---------------------------------------------------------------------------------------------
// Load generation

/** One case of a figure: `call` sends one request and resolves with the inferences it did. */
interface BenchCase {
  label: string;
  concurrency: number;
  call: () => Promise<number>;
  /** Run around each measured round, e.g. to read the server's statistics. */
  before?: () => Promise<void>;
  after?: () => Promise<void>;
}

/** Inferences and inferences per second of a closed loop of `concurrency` workers. */
async function closedLoop(
  c: BenchCase,
  durationMs: number,
): Promise<{ inferences: number; rate: number }> {
  let inferences = 0;
  const start = performance.now();
  const end = start + durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      // Not `inferences += await ...`: that reads the total before the await and loses updates.
      const rows = await c.call();
      inferences += rows;
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, worker));
  return { inferences, rate: inferences / ((performance.now() - start) / 1000) };
}

/**
 * CPU microseconds used so far, all threads, by this process (`own`: the client, and the
 * in-process server) and by the child server (`child`). Unlike throughput, CPU time per inference
 * hardly depends on how much of a shared machine others leave us.
 */
type CpuMeter = () => { own: number; child: number };

/** One case's measured rounds. */
interface Samples {
  /** Inferences per second, per round. */
  rates: number[];
  /** CPU microseconds (see {@link CpuMeter}) per inference over all rounds. */
  cpuUsPerInference: { own: number; child: number };
}

/** Runs cases in one warm-up round, then ROUNDS rotating rounds. */
async function measure(cases: readonly BenchCase[], cpu: CpuMeter): Promise<Samples[]> {
  const samples = cases.map(() => ({ rates: [] as number[], own: 0, child: 0, inferences: 0 }));
  for (let round = -1; round < ROUNDS; round++) {
    for (let k = 0; k < cases.length; k++) {
      const index = (k + Math.max(round, 0)) % cases.length;
      const c = cases[index]!;
      if (round >= 0) await c.before?.();
      const cpuBefore = cpu();
      const { inferences, rate } = await closedLoop(c, ROUND_MS);
      const cpuAfter = cpu();
      if (round >= 0) {
        await c.after?.();
        const sample = samples[index]!;
        sample.rates.push(rate);
        sample.own += cpuAfter.own - cpuBefore.own;
        sample.child += cpuAfter.child - cpuBefore.child;
        sample.inferences += inferences;
      }
    }
  }
  return samples.map((s) => ({
    rates: s.rates,
    cpuUsPerInference: {
      own: s.own / Math.max(1, s.inferences),
      child: s.child / Math.max(1, s.inferences),
    },
  }));
}

// ---------------------------------------------------------------------------------------------
// The gRPC client: grpc-js with the project's own serializers, tensors in raw_input_contents

type Call = (request: ModelInferRequestMessage) => Promise<ModelInferResponseMessage>;

interface InferenceClient {
  infer: Call;
  /** The model's cumulative inference and execution counts. */
  statistics(model: string): Promise<{ inferences: number; executions: number }>;
  openStream(): InferStream;
  close(): void;
}

/** One `ModelStreamInfer` stream used for concurrent requests, answers matched by `id`. */
interface InferStream {
  infer: Call;
  /** Half-closes the stream, so the server ends it and can shut down without waiting. */
  end(): void;
}

/**
 * The load generator's requests are encoded once each and sent as bytes, as Triton's
 * perf_analyzer prepares its requests once: re-encoding a 884 KB tensor per call cost this
 * process as much CPU as the server's own gRPC work, on the same two cores. The server decodes
 * every request as sent.
 */
const identity = (bytes: Buffer) => bytes;

function createInferenceClient(address: string): InferenceClient {
  const service = loadServiceDefinitions().inference;
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  });
  const unary =
    <Req, Res>(method: string, encode: (request: Req) => Buffer) =>
    (request: Req): Promise<Res> => {
      const def = service[method]!;
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          def.path,
          identity,
          def.responseDeserialize,
          encode(request),
          (error, response) => (error ? reject(error) : resolve(response as Res)),
        );
      });
    };
  const serialize = (method: string) => (request: object) =>
    service[method]!.requestSerialize(request);
  const encoded = new WeakMap<object, Buffer>();
  const encodeOnce = (request: ModelInferRequestMessage) => {
    let bytes = encoded.get(request);
    if (!bytes) {
      bytes = serialize("ModelInfer")(request);
      encoded.set(request, bytes);
    }
    return bytes;
  };
  const stats = unary<
    { name: string },
    { model_stats?: { inference_count?: number; execution_count?: number }[] }
  >("ModelStatistics", serialize("ModelStatistics"));
  return {
    infer: unary("ModelInfer", encodeOnce),
    async statistics(model) {
      const s = (await stats({ name: model })).model_stats?.[0];
      return { inferences: s?.inference_count ?? 0, executions: s?.execution_count ?? 0 };
    },
    openStream: () => openStream(client, service["ModelStreamInfer"]!, encodeOnce),
    close: () => client.close(),
  };
}

interface StreamResponse {
  error_message?: string;
  infer_response?: ModelInferResponseMessage;
}

/**
 * A stream whose requests are the request's bytes encoded once plus its own `id` field appended
 * (a protobuf decoder merges fields in any order).
 */
function openStream(
  client: grpc.Client,
  def: grpc.MethodDefinition<unknown, unknown>,
  encodeOnce: (request: ModelInferRequestMessage) => Buffer,
): InferStream {
  const call = client.makeBidiStreamRequest(def.path, identity, def.responseDeserialize);
  const waiting = new Map<string, (response: StreamResponse) => void>();
  let nextId = 0;
  call.on("data", (response: StreamResponse) => {
    const id = response.infer_response?.id ?? "";
    waiting.get(id)?.(response);
    waiting.delete(id);
  });
  call.on("error", () => {}); // only at teardown, when the channel closes under it
  return {
    infer(request) {
      const id = String(nextId++);
      return new Promise((resolve, reject) => {
        waiting.set(id, (response) =>
          response.error_message
            ? reject(new Error(response.error_message))
            : resolve(response.infer_response!),
        );
        call.write(Buffer.concat([encodeOnce(request), def.requestSerialize({ id })]));
      });
    },
    end: () => call.end(),
  };
}

// ---------------------------------------------------------------------------------------------
// Servers. Neither is given intra-op threads: each model's config sets its own.

interface BenchServer {
  address: string;
  /** CPU microseconds the server's own process has used; 0 when that process is this one. */
  cpuUs(): number;
  close(): Promise<void>;
}

async function startInProcess(repository: string): Promise<BenchServer> {
  const server = await startModelServer({
    repository,
    grpcPort: 0,
    metricsPort: -1,
    maxMessageBytes: MAX_MESSAGE_BYTES,
    log: silentLogger(),
  });
  return {
    address: `127.0.0.1:${server.grpcPort}`,
    cpuUs: () => 0,
    close: () => server.close(),
  };
}

/**
 * CPU microseconds of another process, all threads: utime + stime from Linux's /proc/PID/stat, in
 * clock ticks of 10 ms (USER_HZ is 100 on Linux). NaN where there is no /proc.
 */
function processCpuUs(pid: number | undefined): number {
  return pid === undefined ? Number.NaN : (cpuTimeMs(pid) ?? Number.NaN) * 1000;
}

/** `infergate models` in a child process; resolves once it logs that it is ready. */
async function startChild(repository: string): Promise<BenchServer> {
  const server = await startModelServerProcess(repository);
  return { address: server.address, cpuUs: () => processCpuUs(server.pid), close: server.close };
}

// ---------------------------------------------------------------------------------------------
// Requests

/** Deterministic values in [-1, 1), like a normalised text strip (xorshift32). */
function ocrInput(): Float32Array {
  const data = new Float32Array(OCR_SHAPE.reduce((a, b) => a * b, 1));
  let state = 0x9e3779b9;
  for (let i = 0; i < data.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    data[i] = (state >>> 0) / 2 ** 31 - 1;
  }
  return data;
}

const asBuffer = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function ocrRequest(model: string, data: Float32Array): ModelInferRequestMessage {
  return {
    model_name: model,
    inputs: [{ name: "x", datatype: "FP32", shape: OCR_SHAPE }],
    outputs: [{ name: OCR_OUTPUT }],
    raw_input_contents: [asBuffer(data)],
  };
}

function simpleRequest(model: string): ModelInferRequestMessage {
  const a = Int32Array.from({ length: SIMPLE_ROW_ELEMENTS }, (_, i) => i);
  const b = Int32Array.from({ length: SIMPLE_ROW_ELEMENTS }, () => 1);
  const input = (name: string) => ({ name, datatype: "INT32", shape: [1, SIMPLE_ROW_ELEMENTS] });
  return {
    model_name: model,
    inputs: [input("INPUT0"), input("INPUT1")],
    raw_input_contents: [asBuffer(a), asBuffer(b)],
  };
}

/** Sends `request`, checks the size of the first output; resolves with the rows inferred. */
function checkedCall(
  call: Call,
  request: ModelInferRequestMessage,
  rows: number,
  outputBytes: number,
): () => Promise<number> {
  return async () => {
    const response = await call(request);
    if (response.raw_output_contents?.[0]?.byteLength !== outputBytes) {
      throw new Error(`${request.model_name}: unexpected response ${JSON.stringify(response)}`);
    }
    return rows;
  };
}

/** Runs `session` on one tensor of `data`, again and again; resolves with the rows inferred. */
function sessionCall(session: OrtSession, data: Float32Array): () => Promise<number> {
  // The session copies its inputs to the worker thread, as it does for the server's batches.
  const tensor = makeTensor({ name: "x", datatype: "FP32", shape: OCR_SHAPE }, data);
  return async () => {
    const [out] = await session.run([tensor], [OCR_OUTPUT]);
    if (out?.data.length !== OCR_BATCH * 2) throw new Error("ocr_cls: wrong output");
    return OCR_BATCH;
  };
}

/** Checks once that a `simple` answers INPUT0 + INPUT1, so the figures time a working model. */
async function checkSimple(client: InferenceClient, model: string): Promise<void> {
  const response = await client.infer(simpleRequest(model));
  const sum = response.raw_output_contents?.[0];
  const expected = Int32Array.from({ length: SIMPLE_ROW_ELEMENTS }, (_, i) => i + 1);
  if (!sum || !asBuffer(expected).equals(Buffer.from(sum))) {
    throw new Error(`${model}: wrong OUTPUT0 in ${JSON.stringify(response)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Figures

interface Figure {
  title: string;
  rows: (Samples & { label: string; note?: string })[];
  ratios: Ratio[];
  /**
   * Ratios of the child server's CPU per inference, rows[over] / rows[under]: the gain a client on
   * another host would see from a CPU-bound server, which the client's own cost hides here.
   */
  cpuRatios?: Omit<Ratio, "target">[];
}

/**
 * One figure's ratio: the median over rounds of rows[over]'s throughput / rows[under]'s in the
 * same round. Cases of one round run back to back, so a change in the machine's load between
 * rounds cancels out; the range of the per-round ratios says how noisy the run was. A ratio
 * without a target is printed for information, with no verdict.
 */
interface Ratio {
  label: string;
  over: number;
  under: number;
  target?: number;
}

async function servingEfficiency(
  repository: string,
  inProcess: InferenceClient,
  child: InferenceClient,
  cpu: CpuMeter,
): Promise<Figure> {
  const data = ocrInput();
  const sessions: OrtSession[] = [];
  const cases: BenchCase[] = [];
  for (const threads of OCR_THREADS) {
    const session = await createOrtSession(ocrModelPath(repository), { intraOpThreads: threads });
    sessions.push(session);
    const request = ocrRequest(ocrModel(threads), data);
    const grpcCall = (client: InferenceClient) =>
      checkedCall(client.infer, request, OCR_BATCH, OCR_BATCH * 2 * 4);
    const concurrency = OCR_CONCURRENCY;
    cases.push(
      { label: `${threads}t createOrtSession`, concurrency, call: sessionCall(session, data) },
      { label: `${threads}t gRPC, server in this process`, concurrency, call: grpcCall(inProcess) },
      { label: `${threads}t gRPC, server in a child process`, concurrency, call: grpcCall(child) },
    );
  }
  const samples = await measure(cases, cpu);
  await Promise.all(sessions.map((session) => session.release()));
  return {
    title: `1. Serving efficiency: ocr_cls FP32 [${OCR_SHAPE.join(",")}], ${OCR_CONCURRENCY} outstanding, no dynamic batching, 1 and 2 intra-op threads (t)`,
    rows: cases.map((c, i) => ({ label: c.label, ...samples[i]! })),
    ratios: OCR_THREADS.flatMap((threads, k) => [
      {
        label: `${threads}t gRPC, this process / createOrtSession`,
        over: 3 * k + 1,
        under: 3 * k,
        target: 0.9,
      },
      {
        label: `${threads}t gRPC, child process / createOrtSession`,
        over: 3 * k + 2,
        under: 3 * k,
        target: 0.9,
      },
    ]),
  };
}

/** Sums a model's inference and execution counts over the measured rounds of one case. */
function executionCounter(client: InferenceClient, model: string) {
  const totals = { inferences: 0, executions: 0 };
  let start = { ...totals };
  return {
    before: async () => {
      start = await client.statistics(model);
    },
    after: async () => {
      const end = await client.statistics(model);
      totals.inferences += end.inferences - start.inferences;
      totals.executions += end.executions - start.executions;
    },
    averageBatch: () => totals.inferences / Math.max(1, totals.executions),
  };
}

async function batchingGain(client: InferenceClient, cpu: CpuMeter): Promise<Figure> {
  const stream = client.openStream();
  const transports = [
    { name: "ModelInfer", call: client.infer },
    { name: "ModelStreamInfer", call: stream.infer },
  ];
  const cases: (BenchCase & { averageBatch: () => number })[] = [];
  for (const transport of transports) {
    for (const model of [SIMPLE_BATCHED, SIMPLE_UNBATCHED]) {
      const counter = executionCounter(client, model);
      cases.push({
        label: `${transport.name}, ${model === SIMPLE_BATCHED ? `dynamic_batching ${QUEUE_DELAY_US} us` : "no dynamic_batching"}`,
        concurrency: BATCHING_CONCURRENCY,
        call: checkedCall(transport.call, simpleRequest(model), 1, SIMPLE_ROW_ELEMENTS * 4),
        ...counter,
      });
    }
  }
  const samples = await measure(cases, cpu);
  stream.end();
  return {
    title: `2. Dynamic batching gain: simple INT32 [1,16] x2, ${BATCHING_CONCURRENCY} outstanding, max_batch_size 8, server in a child process`,
    rows: cases.map((c, i) => ({
      label: c.label,
      ...samples[i]!,
      note: `avg batch ${c.averageBatch().toFixed(2)}`,
    })),
    ratios: transports.map((t, k) => ({
      label: `${t.name}: with / without dynamic batching`,
      over: 2 * k,
      under: 2 * k + 1,
      target: 3,
    })),
    cpuRatios: transports.map((t, k) => ({
      label: `${t.name}: server CPU per inference, without / with dynamic batching`,
      over: 2 * k + 1,
      under: 2 * k,
    })),
  };
}

async function streamVersusUnary(client: InferenceClient, cpu: CpuMeter): Promise<Figure> {
  const stream = client.openStream();
  const request = simpleRequest(SIMPLE_BATCHED);
  const outputBytes = SIMPLE_ROW_ELEMENTS * 4;
  const cases: BenchCase[] = [
    {
      label: "ModelStreamInfer (one stream, by id)",
      concurrency: STREAM_CONCURRENCY,
      call: checkedCall(stream.infer, request, 1, outputBytes),
    },
    {
      label: "ModelInfer (unary calls)",
      concurrency: STREAM_CONCURRENCY,
      call: checkedCall(client.infer, request, 1, outputBytes),
    },
  ];
  const samples = await measure(cases, cpu);
  stream.end();
  return {
    title: `3. ModelStreamInfer vs ModelInfer: ${SIMPLE_BATCHED}, batch 1, ${STREAM_CONCURRENCY} outstanding, server in a child process`,
    rows: cases.map((c, i) => ({ label: c.label, ...samples[i]! })),
    ratios: [{ label: "stream / unary (no target)", over: 0, under: 1 }],
  };
}

// ---------------------------------------------------------------------------------------------
// Output

function printFigure(figure: Figure): void {
  console.log(`\n${figure.title}`);
  const notes = figure.rows.some((r) => r.note);
  const header = [
    "case",
    "median inf/s",
    "CPU us/inf here + child",
    "rounds (inf/s)",
    ...(notes ? [""] : []),
  ];
  const rows = figure.rows.map((r) => [
    r.label,
    median(r.rates).toFixed(0),
    `${r.cpuUsPerInference.own.toFixed(0)} + ${Number.isNaN(r.cpuUsPerInference.child) ? "n/a" : r.cpuUsPerInference.child.toFixed(0)}`,
    r.rates.map((x) => x.toFixed(0)).join(" "),
    ...(notes ? [r.note ?? ""] : []),
  ]);
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((row) => row[col]!.length)));
  const numeric = (col: number) => col === 1 || col === 2;
  const line = (cells: string[]) =>
    cells
      .map((cell, col) => (numeric(col) ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!)))
      .join("  ")
      .trimEnd();
  console.log(line(header));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const row of rows) console.log(line(row));
  for (const r of figure.ratios) {
    const over = figure.rows[r.over]!.rates;
    const perRound = figure.rows[r.under]!.rates.map((under, i) => over[i]! / under);
    const value = median(perRound);
    const range = `rounds ${Math.min(...perRound).toFixed(2)}-${Math.max(...perRound).toFixed(2)}`;
    const verdict =
      r.target === undefined
        ? ""
        : ` target >= ${r.target}x: ${value >= r.target ? "ok" : "MISSED"}`;
    console.log(`${r.label}: ${value.toFixed(2)}x (${range})${verdict}`);
  }
  for (const r of figure.cpuRatios ?? []) {
    const child = (row: number) => figure.rows[row]!.cpuUsPerInference.child;
    console.log(`${r.label}: ${(child(r.over) / child(r.under)).toFixed(2)}x (for reference)`);
  }
}

const METHOD = `Method: closed loops; one warm-up round, then ${ROUNDS} rounds of ${ROUND_MS} ms per case
in rotating order. Throughputs are medians over rounds; ratios are medians of per-round ratios.
CPU us/inf: CPU time per inference of all threads of this process (the client, and the server
when in this process) + of the child server; unlike throughput, it hardly depends on what others
leave of a shared machine.
Figure 1 runs the server two ways, since neither alone is the fair comparison on a small machine:
in this process, the server's gRPC work shares one event loop with the client, as the baseline's
posting to its worker thread does; in a child process, the server has its own event loop, but
client, server and ONNX Runtime threads compete for the same cores. Either way the client's gRPC
work runs on the same cores as the server. Figures 2 and 3 use the child-process server.`;

async function main(): Promise<void> {
  const repository = await mkdtemp(join(tmpdir(), "infergate-bench-models-"));
  const servers: BenchServer[] = [];
  const clients: InferenceClient[] = [];
  try {
    await writeRepository(repository);
    servers.push(await startInProcess(repository));
    servers.push(await startChild(repository));
    clients.push(...servers.map((s) => createInferenceClient(s.address)));
    const [own, child] = clients as [InferenceClient, InferenceClient];
    for (const c of clients) {
      await checkSimple(c, SIMPLE_BATCHED);
      await checkSimple(c, SIMPLE_UNBATCHED);
    }
    console.log(
      `Embedded model server throughput, Node ${process.version}, ${availableParallelism()} cores`,
    );
    console.log(METHOD);
    // The in-process server idles while the child is measured, and the other way round.
    const started = performance.now();
    const cpu = () => {
      const usage = process.cpuUsage();
      return { own: usage.user + usage.system, child: servers[1]!.cpuUs() };
    };
    printFigure(await servingEfficiency(repository, own, child, cpu));
    printFigure(await batchingGain(child, cpu));
    printFigure(await streamVersusUnary(child, cpu));
    console.log(`\nmeasured for ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.close()));
    await rm(repository, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
