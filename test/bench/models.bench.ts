/**
 * The embedded model server under load, three figures, each a ratio of two throughputs measured
 * side by side in one run:
 *
 * 1. Serving efficiency: `ocr_cls` (FP32 [8,3,48,192]) over gRPC to the embedded server, divided by
 *    the same ONNX file run in-process through `createOrtSession` (one worker thread, as each
 *    server instance is): same intra-op threads, batch 8, 4 requests outstanding, no dynamic
 *    batching on either side. The server is measured twice: in this process (its gRPC work shares
 *    the event loop with the client, as the baseline's posting does) and in a child process
 *    (`infergate models`, its own event loop, but a second process on the same cores).
 *    `openOrtSession` (ONNX Runtime on the calling thread) is measured too, for reference.
 * 2. Dynamic batching gain: `simple`, 32 outstanding requests of batch 1, with
 *    `dynamic_batching { max_queue_delay_microseconds: 200 }` versus without, plus the average
 *    batch size from `ModelStatistics` (inference_count / execution_count).
 * 3. `ModelStreamInfer` versus `ModelInfer`: `simple` with dynamic batching, batch 1, 64
 *    outstanding; one bidirectional stream multiplexing requests by `id` versus unary calls on the
 *    same channel. No target: the figure says what a stream saves per request.
 * Figures 2 and 3 use the child-process server, as a client on another host would see it.
 *
 * Method: each figure's cases run as closed loops (N workers, each sending its next request when
 * its previous answer arrives) for ROUND_MS per round; one warm-up round, then ROUNDS rounds in a
 * rotating order (A B, B A, A B, ...) so no case always runs first or right after the other; the
 * figure is the median per-round throughput. The model repository is a temporary folder with its
 * config text written here, so the figures do not move when `model_repository/` is tuned.
 * Run: `npm run bench:models` (about two minutes on two cores). Exits 0; a missed target is
 * reported as MISSED, not failed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { silentLogger } from "../../gateway/src/log.js";
import { startModelServer } from "../../gateway/src/models/model-server.js";
import { openOrtSession } from "../../gateway/src/models/ort-runtime.js";
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

const ROUNDS = 5;
const ROUND_MS = 1500;
/** ONNX Runtime intra-op threads, for the baseline and the server alike. */
const INTRA_OP_THREADS = availableParallelism();
const OCR_BATCH = 8;
const OCR_SHAPE = [OCR_BATCH, 3, 48, 192];
const OCR_CONCURRENCY = 4;
const OCR_OUTPUT = "softmax_0.tmp_0";
const BATCHING_CONCURRENCY = 32;
const QUEUE_DELAY_US = 200;
const STREAM_CONCURRENCY = 64;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * `ocr_cls` as shipped, less `dynamic_batching`: with it the server would merge the 4 outstanding
 * batch-8 requests into batches of 16 or 32, which is different (and on a CPU, cheaper per row)
 * work than the baseline's batch-8 runs. Without it both sides run the same executions.
 */
const OCR_CLS_CONFIG = `name: "ocr_cls"
platform: "onnxruntime_onnx"
max_batch_size: 64
input [ { name: "x", data_type: TYPE_FP32, format: FORMAT_NCHW, dims: [ 3, 48, 192 ] } ]
output [ { name: "${OCR_OUTPUT}", data_type: TYPE_FP32, dims: [ 2 ] } ]
instance_group [ { count: 1, kind: KIND_CPU } ]
`;

/** `simple` under another name, with or without the dynamic batcher. */
function simpleConfig(name: string, dynamicBatching: boolean): string {
  const tensor = (n: string) =>
    `{ name: "${n}", data_type: TYPE_INT32, dims: [ ${SIMPLE_ROW_ELEMENTS} ] }`;
  return `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ ${tensor("INPUT0")}, ${tensor("INPUT1")} ]
output [ ${tensor("OUTPUT0")}, ${tensor("OUTPUT1")} ]
${dynamicBatching ? `dynamic_batching { max_queue_delay_microseconds: ${QUEUE_DELAY_US} }\n` : ""}instance_group [ { count: 1, kind: KIND_CPU } ]
`;
}

const SIMPLE_BATCHED = "simple_batched";
const SIMPLE_UNBATCHED = "simple_unbatched";

/** Writes the benchmark repository: ocr_cls (file from its npm package) and two `simple`s. */
async function writeRepository(dir: string): Promise<void> {
  await mkdir(join(dir, "ocr_cls"), { recursive: true });
  await writeFile(join(dir, "ocr_cls", "config.pbtxt"), OCR_CLS_CONFIG);
  await prepareRepository({ repository: dir, models: ["ocr_cls"] });
  for (const [name, batching] of [
    [SIMPLE_BATCHED, true],
    [SIMPLE_UNBATCHED, false],
  ] as const) {
    await mkdir(join(dir, name, "1"), { recursive: true });
    await writeFile(join(dir, name, "config.pbtxt"), simpleConfig(name, batching));
    await writeFile(join(dir, name, "1", "model.onnx"), buildSimpleModel());
  }
}

// ---------------------------------------------------------------------------------------------
// Load generation and statistics

/** One case of a figure: `call` sends one request and resolves with the inferences it did. */
interface BenchCase {
  label: string;
  concurrency: number;
  call: () => Promise<number>;
  /** Called around each measured round, e.g. to read the server's statistics. */
  before?: () => Promise<void>;
  after?: () => Promise<void>;
}

/** Inferences per second of a closed loop of `concurrency` workers over `durationMs`. */
async function closedLoop(c: BenchCase, durationMs: number): Promise<number> {
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
  return inferences / ((performance.now() - start) / 1000);
}

/** Runs a figure's cases: one warm-up round, then ROUNDS rotating rounds; medians per case. */
async function measure(cases: readonly BenchCase[]): Promise<number[][]> {
  const samples = cases.map((): number[] => []);
  for (let round = -1; round < ROUNDS; round++) {
    for (let k = 0; k < cases.length; k++) {
      const index = (k + Math.max(round, 0)) % cases.length;
      const c = cases[index]!;
      if (round >= 0) await c.before?.();
      const rate = await closedLoop(c, ROUND_MS);
      if (round >= 0) {
        await c.after?.();
        samples[index]!.push(rate);
      }
    }
  }
  return samples;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// ---------------------------------------------------------------------------------------------
// The gRPC client (grpc-js with the project's own serializers, raw_input_contents)

type Unary<Req, Res> = (request: Req) => Promise<Res>;

interface InferenceClient {
  address: string;
  infer: Unary<ModelInferRequestMessage, ModelInferResponseMessage>;
  statistics: (name: string) => Promise<{ inferences: number; executions: number }>;
  /** One `ModelStreamInfer` stream; `infer` resolves with the response whose `id` matches. */
  openStream(): BenchStream;
  close(): void;
}

function createInferenceClient(address: string): InferenceClient {
  const service = loadServiceDefinitions().inference;
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  });
  const unary =
    <Req, Res>(method: string): Unary<Req, Res> =>
    (request) => {
      const def = service[method]!;
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          def.path,
          def.requestSerialize,
          def.responseDeserialize,
          request,
          (error, response) => (error ? reject(error) : resolve(response as Res)),
        );
      });
    };
  const stats = unary<{ name: string }, { model_stats?: ModelStatsMessage[] }>("ModelStatistics");
  return {
    address,
    infer: unary("ModelInfer"),
    async statistics(name) {
      const s = (await stats({ name })).model_stats?.[0];
      return { inferences: s?.inference_count ?? 0, executions: s?.execution_count ?? 0 };
    },
    openStream: () => openStream(client, service["ModelStreamInfer"]!),
    close: () => client.close(),
  };
}

interface ModelStatsMessage {
  inference_count?: number;
  execution_count?: number;
}

/** A `ModelStreamInfer` stream used as a request/response channel. */
interface BenchStream {
  infer: Unary<ModelInferRequestMessage, ModelInferResponseMessage>;
  /** Half-closes the stream, so the server can end it and shut down without waiting. */
  end(): void;
}

function openStream(
  client: grpc.Client,
  def: grpc.MethodDefinition<unknown, unknown>,
): BenchStream {
  const call = client.makeBidiStreamRequest(
    def.path,
    def.requestSerialize,
    def.responseDeserialize,
  );
  const waiting = new Map<string, (r: { error_message?: string } & StreamResponse) => void>();
  let nextId = 0;
  call.on("data", (message: StreamResponse & { error_message?: string }) => {
    const id = message.infer_response?.id ?? "";
    waiting.get(id)?.(message);
    waiting.delete(id);
  });
  call.on("error", () => {}); // cancelled at teardown
  return {
    infer(request) {
      const id = String(nextId++);
      return new Promise((resolve, reject) => {
        waiting.set(id, (message) =>
          message.error_message
            ? reject(new Error(message.error_message))
            : resolve(message.infer_response!),
        );
        call.write({ ...request, id });
      });
    },
    end: () => call.end(),
  };
}

interface StreamResponse {
  infer_response?: ModelInferResponseMessage;
}

// ---------------------------------------------------------------------------------------------
// Servers

/** A server to benchmark: where it listens and how to stop it. */
interface BenchServer {
  address: string;
  close(): Promise<void>;
}

async function startInProcess(repository: string): Promise<BenchServer> {
  const server = await startModelServer({
    repository,
    grpcPort: 0,
    metricsPort: -1,
    intraOpThreads: INTRA_OP_THREADS,
    maxMessageBytes: MAX_MESSAGE_BYTES,
    log: silentLogger(),
  });
  return { address: `127.0.0.1:${server.grpcPort}`, close: () => server.close() };
}

/** A free TCP port: the `infergate models` command takes a fixed port, not 0. */
async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const address = probe.address();
  probe.close();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** `infergate models` in a child process; resolves once it logs that it is ready. */
async function startChild(repository: string): Promise<BenchServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      join(ROOT, "gateway", "src", "cli", "main.ts"),
      "models",
      "--repository",
      repository,
      `--grpc-port=${port}`,
      "--metrics-port=-1",
      `--intra-op-threads=${INTRA_OP_THREADS}`,
    ],
    { cwd: ROOT, env: { ...process.env, LOG_LEVEL: "info" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child server not ready:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (output.includes("model server ready")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`child server exited with ${code}:\n${output}`));
    });
  });
  child.stdout?.resume();
  return {
    address: `127.0.0.1:${port}`,
    async close() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Requests

/** Deterministic values in [-1, 1), like a normalised text strip (xorshift32). */
function ocrInput(): Float32Array {
  const data = new Float32Array(OCR_BATCH * 3 * 48 * 192);
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

function ocrRequest(data: Float32Array): ModelInferRequestMessage {
  return {
    model_name: "ocr_cls",
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

/** Sends `request` and checks the answer's size; resolves with the rows inferred. */
function checkedInfer(
  infer: Unary<ModelInferRequestMessage, ModelInferResponseMessage>,
  request: ModelInferRequestMessage,
  rows: number,
  outputBytes: number,
): () => Promise<number> {
  return async () => {
    const response = await infer(request);
    const first = response.raw_output_contents?.[0];
    if (first?.byteLength !== outputBytes) {
      throw new Error(`${request.model_name}: unexpected response ${JSON.stringify(response)}`);
    }
    return rows;
  };
}

/** Checks once that `simple` answers INPUT0 + INPUT1, so the figures measure a working model. */
async function checkSimple(client: InferenceClient, model: string): Promise<void> {
  const response = await client.infer(simpleRequest(model));
  const sum = response.raw_output_contents?.[0];
  const expected = Int32Array.from({ length: SIMPLE_ROW_ELEMENTS }, (_, i) => i + 1);
  if (!sum || !asBuffer(expected).equals(Buffer.from(sum))) {
    throw new Error(`${model}: wrong OUTPUT0 ${JSON.stringify(response)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Figures

interface Figure {
  title: string;
  rows: { label: string; rates: number[]; note?: string }[];
  /** A ratio without a target is printed for reference, with no verdict. */
  ratios: { label: string; value: number; target?: number }[];
}

/** Runs `session` on a fresh copy of `data` and checks the output; resolves with the rows. */
function sessionCall(session: OrtSession, data: Float32Array): () => Promise<number> {
  return async () => {
    // A fresh copy per run: the worker-backed session transfers (detaches) an input buffer its
    // tensor owns, so a reused tensor is empty on its second run. The server copies the same
    // bytes out of the gRPC message, so both sides pay for this copy.
    const tensor = makeTensor({ name: "x", datatype: "FP32", shape: OCR_SHAPE }, data.slice());
    const [out] = await session.run([tensor], [OCR_OUTPUT]);
    if (out?.data.length !== OCR_BATCH * 2) throw new Error("ocr_cls: wrong output");
    return OCR_BATCH;
  };
}

async function servingEfficiency(
  repository: string,
  inProcess: InferenceClient,
  child: InferenceClient,
): Promise<Figure> {
  const data = ocrInput();
  const modelPath = join(repository, "ocr_cls", "1", "model.onnx");
  const options = { intraOpThreads: INTRA_OP_THREADS };
  const sessions = [
    await createOrtSession(modelPath, options),
    await openOrtSession(modelPath, options),
  ];
  const request = ocrRequest(data);
  const outputBytes = OCR_BATCH * 2 * 4;
  const cases: BenchCase[] = [
    {
      label: "createOrtSession (worker thread)",
      concurrency: OCR_CONCURRENCY,
      call: sessionCall(sessions[0]!, data),
    },
    {
      label: "openOrtSession (this thread)",
      concurrency: OCR_CONCURRENCY,
      call: sessionCall(sessions[1]!, data),
    },
    {
      label: "gRPC, server in this process",
      concurrency: OCR_CONCURRENCY,
      call: checkedInfer(inProcess.infer, request, OCR_BATCH, outputBytes),
    },
    {
      label: "gRPC, server in a child process",
      concurrency: OCR_CONCURRENCY,
      call: checkedInfer(child.infer, request, OCR_BATCH, outputBytes),
    },
  ];
  const samples = await measure(cases);
  await Promise.all(sessions.map((session) => session.release()));
  const [base, direct, own, other] = samples.map(median) as [number, number, number, number];
  return {
    title: `1. Serving efficiency: ocr_cls FP32 [${OCR_SHAPE.join(",")}], ${OCR_CONCURRENCY} outstanding, ${INTRA_OP_THREADS} intra-op threads, no dynamic batching`,
    rows: cases.map((c, i) => ({ label: c.label, rates: samples[i]! })),
    ratios: [
      { label: "gRPC (server in this process) / createOrtSession", value: own / base, target: 0.9 },
      {
        label: "gRPC (server in a child process) / createOrtSession",
        value: other / base,
        target: 0.9,
      },
      { label: "for reference, createOrtSession / openOrtSession", value: base / direct },
    ],
  };
}

async function batchingGain(client: InferenceClient): Promise<Figure> {
  const counted = (model: string) => {
    const totals = { inferences: 0, executions: 0 };
    let start = { inferences: 0, executions: 0 };
    return {
      totals,
      before: async () => {
        start = await client.statistics(model);
      },
      after: async () => {
        const end = await client.statistics(model);
        totals.inferences += end.inferences - start.inferences;
        totals.executions += end.executions - start.executions;
      },
    };
  };
  const batched = counted(SIMPLE_BATCHED);
  const unbatched = counted(SIMPLE_UNBATCHED);
  const outputBytes = SIMPLE_ROW_ELEMENTS * 4;
  const cases: BenchCase[] = [
    {
      label: `dynamic_batching (delay ${QUEUE_DELAY_US} us)`,
      concurrency: BATCHING_CONCURRENCY,
      call: checkedInfer(client.infer, simpleRequest(SIMPLE_BATCHED), 1, outputBytes),
      before: batched.before,
      after: batched.after,
    },
    {
      label: "no dynamic_batching",
      concurrency: BATCHING_CONCURRENCY,
      call: checkedInfer(client.infer, simpleRequest(SIMPLE_UNBATCHED), 1, outputBytes),
      before: unbatched.before,
      after: unbatched.after,
    },
  ];
  const samples = await measure(cases);
  const average = (t: { inferences: number; executions: number }) =>
    t.inferences / Math.max(1, t.executions);
  const [on, off] = samples.map(median) as [number, number];
  return {
    title: `2. Dynamic batching gain: simple INT32 [1,16] x2, ${BATCHING_CONCURRENCY} outstanding, max_batch_size 8`,
    rows: [
      {
        label: cases[0]!.label,
        rates: samples[0]!,
        note: `avg batch ${average(batched.totals).toFixed(2)}`,
      },
      {
        label: cases[1]!.label,
        rates: samples[1]!,
        note: `avg batch ${average(unbatched.totals).toFixed(2)}`,
      },
    ],
    ratios: [{ label: "with / without dynamic batching", value: on / off, target: 3 }],
  };
}

async function streamVersusUnary(client: InferenceClient): Promise<Figure> {
  const stream = client.openStream();
  const request = simpleRequest(SIMPLE_BATCHED);
  const outputBytes = SIMPLE_ROW_ELEMENTS * 4;
  const cases: BenchCase[] = [
    {
      label: "ModelStreamInfer (one stream, by id)",
      concurrency: STREAM_CONCURRENCY,
      call: checkedInfer(stream.infer, request, 1, outputBytes),
    },
    {
      label: "ModelInfer (unary calls)",
      concurrency: STREAM_CONCURRENCY,
      call: checkedInfer(client.infer, request, 1, outputBytes),
    },
  ];
  const samples = await measure(cases);
  stream.end();
  const [streamed, unary] = samples.map(median) as [number, number];
  return {
    title: `3. ModelStreamInfer vs ModelInfer: ${SIMPLE_BATCHED}, batch 1, ${STREAM_CONCURRENCY} outstanding`,
    rows: cases.map((c, i) => ({ label: c.label, rates: samples[i]! })),
    ratios: [{ label: "stream / unary (no target)", value: streamed / unary }],
  };
}

// ---------------------------------------------------------------------------------------------
// Output

function printFigure(figure: Figure): void {
  console.log(`\n${figure.title}`);
  const header = ["case", "median inf/s", `rounds (inf/s)`, ""];
  const rows = figure.rows.map((r) => [
    r.label,
    median(r.rates).toFixed(0),
    r.rates.map((x) => x.toFixed(0)).join(" "),
    r.note ?? "",
  ]);
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((row) => row[col]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, col) => (col === 1 ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!)))
      .join("  ")
      .trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
  for (const r of figure.ratios) {
    const value = `${r.label}: ${r.value.toFixed(2)}x`;
    if (r.target === undefined) console.log(value);
    else console.log(`${value} (target >= ${r.target}x) ${r.value >= r.target ? "ok" : "MISSED"}`);
  }
}

const METHOD = `Method: closed loops, one warm-up round, then ${ROUNDS} rounds of ${ROUND_MS} ms per case in
rotating order; medians. Figure 1 runs the server two ways, since neither alone is the fair
comparison on a small machine. In this process, the server's gRPC work shares one event loop with
the client, as the baseline's posting to its worker does, so the ratio is the cost of the gRPC
path (encode, HTTP/2, decode, check, batcher) on the same core budget. In a child process, the
server has its own event loop, but client, server and ONNX Runtime's threads compete for the
same cores. Figures 2 and 3 use the child-process server, as a remote client would see it.`;

async function main(): Promise<void> {
  const repository = await mkdtemp(join(tmpdir(), "infergate-bench-models-"));
  const servers: BenchServer[] = [];
  const clients: InferenceClient[] = [];
  try {
    await writeRepository(repository);
    servers.push(await startInProcess(repository), await startChild(repository));
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
    printFigure(await servingEfficiency(repository, own, child));
    printFigure(await batchingGain(child));
    printFigure(await streamVersusUnary(child));
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
