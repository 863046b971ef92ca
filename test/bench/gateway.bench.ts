/**
 * The gateway's cost, three figures, each measured side by side in one run against one embedded
 * model server serving `simple` (INT32 [1,16] x2, batch 1, no dynamic batching, so no queue
 * delay hides or adds anything):
 *
 * 1. Added latency: `ModelInfer` through the gateway minus `ModelInfer` straight to the model
 *    server, at 1 and 16 outstanding requests, p50 and p99. Target at C=1: p50 <= 0.3 ms, p99 <=
 *    1 ms added. Beside it, for reference, what a bare grpc-js relay adds (bytes passed through,
 *    nothing decoded): the cost of the extra hop itself on this machine.
 * 2. Upstream transport: gateway throughput with `triton.transport: stream` (requests multiplexed
 *    over `ModelStreamInfer`) versus `unary` (`ModelInfer` per request), 32 outstanding. The
 *    client side is the same unary `ModelInfer` in both. Target >= 5x.
 * 3. Saturation: throughput through the gateway (stream transport) divided by throughput
 *    straight to the model server, 64 outstanding each. Target >= 0.8.
 *
 * Process layout, as `infergate up` runs in production: the model server is a child process
 * (`infergate models`, the command `up` starts); each gateway is a child process too (this file
 * started again with `--gateway-child`, calling `startGateway` with the default configuration,
 * ports 0, logging at the shipped level `info` to /dev/null), so that the gateway has its own
 * event loop as it does in production rather than sharing one with the load generator. Two
 * gateways run, one per transport, both in front of the same model server; the one not being
 * measured idles. The client (grpc-js, unary `ModelInfer`, one connection per target) runs in
 * this process and is the same code for every case, so the direct and gateway figures differ
 * only by the hop through the gateway.
 *
 * Method: closed loops (N workers, each sending its next request when its previous answer
 * arrives) for a fixed time per round; one warm-up round, then ROUNDS rounds in rotating order
 * (A B, B A, ...); figures are medians over rounds. Added latency is the median over rounds of
 * (gateway - direct) in the same round, so slow drifts of a shared machine cancel out. CPU time
 * per request of each process (from /proc) is shown for figures 2 and 3: it tells where
 * the time goes.
 * Run: `npm run bench:gateway` (about 110 s on two cores). `BENCH_CPU_PROF=DIR` writes V8 CPU
 * profiles of the gateways and the model server to DIR; `BENCH_LOG_LEVEL=silent` runs the
 * gateways without their per-request log line. Exits 0; a missed target is reported as MISSED.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { loadConfig } from "../../gateway/src/config/load-config.js";
import { startGateway } from "../../gateway/src/gateway.js";
import { createLogger } from "../../gateway/src/log.js";
import type {
  ModelInferRequestMessage,
  ModelInferResponseMessage,
} from "../../gateway/src/protocol/infer-message.js";
import { loadServiceDefinitions } from "../../gateway/src/protocol/protos.js";
import {
  buildSimpleModel,
  SIMPLE_ROW_ELEMENTS,
} from "../../gateway/src/repository/simple-model.js";
import {
  childExecArgv,
  cpuTimeMs,
  median,
  percentile,
  startModelServerProcess,
  stopChild,
} from "./bench-support.js";

const ROUNDS = 7;
const LATENCY_ROUND_MS = 1500;
const THROUGHPUT_ROUND_MS = 1500;
const LATENCY_CONCURRENCY = [1, 16];
const TRANSPORT_CONCURRENCY = 32;
const SATURATION_CONCURRENCY = 64;
const TARGET_ADDED_P50_MS = 0.3;
const TARGET_ADDED_P99_MS = 1;
const TARGET_STREAM_OVER_UNARY = 5;
const TARGET_SATURATION_RATIO = 0.8;
const MODEL = "simple";
const THIS_FILE = fileURLToPath(import.meta.url);
const ROOT = join(dirname(THIS_FILE), "..", "..");
/** argv[2] of a gateway child process; argv[3] is the transport, argv[4] the model server. */
const CHILD_FLAG = "--gateway-child";
/** argv[2] of the reference relay child; argv[3] is the model server. */
const RELAY_FLAG = "--relay-child";
const CPU_PROFILE_DIR = process.env["BENCH_CPU_PROF"];
const GATEWAY_LOG_LEVEL = process.env["BENCH_LOG_LEVEL"] ?? "info";

type Transport = "stream" | "unary";

/** `simple` as shipped, less `dynamic_batching`: each request runs alone, at once. */
const SIMPLE_CONFIG = (() => {
  const tensor = (n: string) =>
    `{ name: "${n}", data_type: TYPE_INT32, dims: [ ${SIMPLE_ROW_ELEMENTS} ] }`;
  return `name: "${MODEL}"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ ${tensor("INPUT0")}, ${tensor("INPUT1")} ]
output [ ${tensor("OUTPUT0")}, ${tensor("OUTPUT1")} ]
instance_group [ { count: 1, kind: KIND_CPU } ]
`;
})();

// ---------------------------------------------------------------------------------------------
// Processes

/** A child process the bench talks to over gRPC. */
interface BenchProcess {
  label: string;
  address: string;
  pid: number;
  close(): Promise<void>;
}

/** Rejects if `child` exits first; `what` names it in the message. */
function failOnExit(child: ChildProcess, what: string, output: () => string): Promise<never> {
  return new Promise((_, reject) => {
    child.once("exit", (code) => reject(new Error(`${what} exited with ${code}:\n${output()}`)));
  });
}

/** `infergate models` as `infergate up` starts it; resolves once it logs that it is ready. */
async function startModelServer(repository: string): Promise<BenchProcess> {
  const server = await startModelServerProcess(
    repository,
    childExecArgv(CPU_PROFILE_DIR, "models"),
  );
  return { label: "model server", ...server };
}

/** This file as a gateway child process with `transport`; resolves with its gRPC address. */
async function startGatewayProcess(transport: Transport, upstream: string): Promise<BenchProcess> {
  const child = spawn(
    process.execPath,
    [
      ...childExecArgv(CPU_PROFILE_DIR, `gateway-${transport}`),
      THIS_FILE,
      CHILD_FLAG,
      transport,
      upstream,
    ],
    // stdout (one JSON log line per request) goes to /dev/null; errors still show.
    { cwd: ROOT, stdio: ["ignore", "ignore", "inherit", "ipc"] },
  );
  const [message] = (await withTimeout(
    Promise.race([once(child, "message"), failOnExit(child, `the ${transport} gateway`, () => "")]),
    60_000,
    `the ${transport} gateway did not start`,
  )) as [{ grpcPort: number }];
  child.disconnect();
  return {
    label: `gateway (${transport})`,
    address: `127.0.0.1:${message.grpcPort}`,
    pid: child.pid!,
    close: () => stopChild(child),
  };
}

/** The child side: the whole gateway (`startGateway`) on port 0 in front of `upstream`. */
async function runGatewayChild(transport: Transport, upstream: string): Promise<void> {
  const config = loadConfig(undefined, {});
  // Identical requests would be answered by the result cache: measure the inference path.
  config.cache.enabled = false;
  config.server = { host: "127.0.0.1", httpPort: 0, grpcPort: 0, metricsPort: 0 };
  config.admin.port = 0;
  config.triton.endpoints = [{ name: "embedded", url: upstream }];
  config.triton.transport = transport;
  const log = createLogger({ level: GATEWAY_LOG_LEVEL, base: { service: "infergate" } });
  const gateway = await startGateway({ config, log });
  process.once("SIGTERM", () => {
    gateway.close().then(() => process.exit(0));
  });
  process.send?.({ grpcPort: gateway.grpcPort });
}

/**
 * A reference, not a product: a bare grpc-js relay (this file with `--relay-child`) that passes
 * `ModelInfer` bytes through to `upstream` without decoding them, one unary call per request.
 * What it adds over a direct call is what one more grpc-js server and client hop costs on this
 * machine, before any gateway logic.
 */
async function startRelayProcess(upstream: string): Promise<BenchProcess> {
  const child = spawn(
    process.execPath,
    [...childExecArgv(CPU_PROFILE_DIR, "relay"), THIS_FILE, RELAY_FLAG, upstream],
    { cwd: ROOT, stdio: ["ignore", "ignore", "inherit", "ipc"] },
  );
  const [message] = (await withTimeout(
    Promise.race([once(child, "message"), failOnExit(child, "the relay", () => "")]),
    60_000,
    "the relay did not start",
  )) as [{ grpcPort: number }];
  child.disconnect();
  return {
    label: "bare grpc-js relay",
    address: `127.0.0.1:${message.grpcPort}`,
    pid: child.pid!,
    close: () => stopChild(child),
  };
}

async function runRelayChild(upstream: string): Promise<void> {
  const path = loadServiceDefinitions().inference["ModelInfer"]!.path;
  const bytes = (b: Buffer) => b;
  const client = new grpc.Client(upstream, grpc.credentials.createInsecure());
  const server = new grpc.Server();
  const relay: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    client.makeUnaryRequest(
      path,
      bytes,
      bytes,
      call.request,
      { deadline: call.getDeadline() },
      (error, response) => callback(error, response),
    );
  };
  server.register(path, relay, bytes, bytes, "unary");
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  process.once("SIGTERM", () => {
    client.close();
    server.tryShutdown(() => process.exit(0));
  });
  process.send?.({ grpcPort: port });
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// The client: grpc-js with the project's serializers, unary ModelInfer

/** A connection to one target (the model server or a gateway). */
interface InferTarget {
  label: string;
  pid: number;
  /** One `ModelInfer` of `simple`; rejects on an error or a wrong-sized answer. */
  infer(): Promise<void>;
  /** Checks once that OUTPUT0 is INPUT0 + INPUT1. */
  check(): Promise<void>;
  close(): void;
}

const asBuffer = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const INPUT0 = Int32Array.from({ length: SIMPLE_ROW_ELEMENTS }, (_, i) => i);
const INPUT1 = Int32Array.from({ length: SIMPLE_ROW_ELEMENTS }, () => 1);
const REQUEST: ModelInferRequestMessage = {
  model_name: MODEL,
  inputs: ["INPUT0", "INPUT1"].map((name) => ({
    name,
    datatype: "INT32",
    shape: [1, SIMPLE_ROW_ELEMENTS],
  })),
  raw_input_contents: [asBuffer(INPUT0), asBuffer(INPUT1)],
};
const OUTPUT_BYTES = SIMPLE_ROW_ELEMENTS * 4;

function connect(server: BenchProcess): InferTarget {
  const def = loadServiceDefinitions().inference["ModelInfer"]!;
  const client = new grpc.Client(server.address, grpc.credentials.createInsecure(), {
    // Each target its own connection, never a shared subchannel.
    "grpc.use_local_subchannel_pool": 1,
  });
  const call = () =>
    new Promise<ModelInferResponseMessage>((resolve, reject) => {
      client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        REQUEST,
        (error, response) =>
          error ? reject(error) : resolve(response as ModelInferResponseMessage),
      );
    });
  return {
    label: server.label,
    pid: server.pid,
    async infer() {
      const response = await call();
      if (response.raw_output_contents?.[0]?.byteLength !== OUTPUT_BYTES) {
        throw new Error(`${server.label}: unexpected response ${JSON.stringify(response)}`);
      }
    },
    async check() {
      const response = await call();
      const sum = response.raw_output_contents?.[0];
      const expected = asBuffer(INPUT0.map((x, i) => x + INPUT1[i]!));
      if (!sum || !expected.equals(Buffer.from(sum))) {
        throw new Error(`${server.label}: wrong OUTPUT0 ${JSON.stringify(response)}`);
      }
    },
    close: () => client.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// Load generation and statistics

/** One case of a figure: a target and how many requests it keeps outstanding. */
interface BenchCase {
  label: string;
  target: InferTarget;
  concurrency: number;
}

/** A process whose CPU time a round records. */
interface Watched {
  label: string;
  pid: number;
}

/** What one round of a case measured. */
interface RoundResult {
  /** Requests per second. */
  rate: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time per request by process label, µs (where /proc could be read). */
  cpuUsPerRequest: Map<string, number>;
}

/** A closed loop of `c.concurrency` workers over `durationMs`; latencies of every request. */
async function closedLoop(
  c: BenchCase,
  durationMs: number,
  watched: readonly Watched[],
): Promise<RoundResult> {
  const latencies: number[] = [];
  const cpuBefore = watched.map((p) => cpuTimeMs(p.pid));
  const start = performance.now();
  const end = start + durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      const sent = performance.now();
      await c.target.infer();
      latencies.push(performance.now() - sent);
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, worker));
  const elapsedMs = performance.now() - start;
  const cpuUsPerRequest = new Map<string, number>();
  watched.forEach((p, i) => {
    const after = cpuTimeMs(p.pid);
    const before = cpuBefore[i];
    if (after !== undefined && before !== undefined) {
      cpuUsPerRequest.set(p.label, ((after - before) * 1000) / latencies.length);
    }
  });
  latencies.sort((a, b) => a - b);
  return {
    rate: latencies.length / (elapsedMs / 1000),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    cpuUsPerRequest,
  };
}

/** Runs a figure's cases: one warm-up round, then ROUNDS rotating rounds; results per case. */
async function measure(
  cases: readonly BenchCase[],
  roundMs: number,
  watched: readonly Watched[] = [],
): Promise<RoundResult[][]> {
  const results = cases.map((): RoundResult[] => []);
  for (let round = -1; round < ROUNDS; round++) {
    for (let k = 0; k < cases.length; k++) {
      const index = (k + Math.max(round, 0)) % cases.length;
      const result = await closedLoop(cases[index]!, roundMs, watched);
      if (round >= 0) results[index]!.push(result);
    }
  }
  return results;
}

/** Median over rounds of one field. */
const medianOf = (rounds: readonly RoundResult[], field: (r: RoundResult) => number) =>
  median(rounds.map(field));

/** Median over rounds of (b - a) taken round by round. */
const pairedDifference = (
  a: readonly RoundResult[],
  b: readonly RoundResult[],
  field: (r: RoundResult) => number,
) => median(a.map((r, i) => field(b[i]!) - field(r)));

// ---------------------------------------------------------------------------------------------
// Figures

/** A row of the summary: one figure against its target. */
interface Verdict {
  figure: string;
  value: string;
  target: string;
  met: boolean;
}

async function addedLatency(
  direct: InferTarget,
  gateway: InferTarget,
  relay: InferTarget,
): Promise<Verdict[]> {
  const cases = LATENCY_CONCURRENCY.flatMap((concurrency) => [
    { label: `direct, C=${concurrency}`, target: direct, concurrency },
    { label: `gateway (stream), C=${concurrency}`, target: gateway, concurrency },
    { label: `bare grpc-js relay, C=${concurrency}`, target: relay, concurrency },
  ]);
  const results = await measure(cases, LATENCY_ROUND_MS);
  console.log(
    `\n1. Added latency: ModelInfer of ${MODEL} batch 1, through the gateway vs direct; ${ROUNDS} rounds of ${LATENCY_ROUND_MS} ms`,
  );
  printTable(
    ["case", "p50 ms", "p99 ms", "req/s", "p50 per round (ms)", "p99 per round (ms)"],
    cases.map((c, i) => {
      const rounds = results[i]!;
      return [
        c.label,
        medianOf(rounds, (r) => r.p50Ms).toFixed(3),
        medianOf(rounds, (r) => r.p99Ms).toFixed(3),
        medianOf(rounds, (r) => r.rate).toFixed(0),
        rounds.map((r) => r.p50Ms.toFixed(3)).join(" "),
        rounds.map((r) => r.p99Ms.toFixed(3)).join(" "),
      ];
    }),
  );
  const verdicts: Verdict[] = [];
  LATENCY_CONCURRENCY.forEach((concurrency, k) => {
    const [a, b, c] = [results[3 * k]!, results[3 * k + 1]!, results[3 * k + 2]!];
    const p50 = pairedDifference(a, b, (r) => r.p50Ms);
    const p99 = pairedDifference(a, b, (r) => r.p99Ms);
    console.log(
      `added by the gateway at C=${concurrency}: p50 ${signed(p50)} ms, p99 ${signed(p99)} ms`,
    );
    const relayP50 = pairedDifference(a, c, (r) => r.p50Ms);
    const relayP99 = pairedDifference(a, c, (r) => r.p99Ms);
    console.log(
      `added by a bare grpc-js relay at C=${concurrency} (reference): p50 ${signed(relayP50)} ms, p99 ${signed(relayP99)} ms`,
    );
    if (concurrency === 1) {
      verdicts.push(
        {
          figure: "added p50 latency, C=1",
          value: `${signed(p50)} ms`,
          target: `<= ${TARGET_ADDED_P50_MS} ms`,
          met: p50 <= TARGET_ADDED_P50_MS,
        },
        {
          figure: "added p99 latency, C=1",
          value: `${signed(p99)} ms`,
          target: `<= ${TARGET_ADDED_P99_MS} ms`,
          met: p99 <= TARGET_ADDED_P99_MS,
        },
      );
    }
  });
  return verdicts;
}

async function streamVersusUnary(
  stream: InferTarget,
  unary: InferTarget,
  watched: readonly Watched[],
): Promise<Verdict> {
  const cases = [
    { label: "gateway, triton.transport stream", target: stream },
    { label: "gateway, triton.transport unary", target: unary },
  ].map((c) => ({ ...c, concurrency: TRANSPORT_CONCURRENCY }));
  const results = await measure(cases, THROUGHPUT_ROUND_MS, watched);
  console.log(
    `\n2. Upstream transport: gateway throughput, ${MODEL} batch 1, C=${TRANSPORT_CONCURRENCY} unary ModelInfer clients in both cases`,
  );
  printThroughput(cases, results);
  printCpu(cases, results, watched);
  const ratio = medianOf(results[0]!, (r) => r.rate) / medianOf(results[1]!, (r) => r.rate);
  // The transport's own saving, apart from the client's and the model server's shares of the
  // cores: each gateway's CPU per request in its own case.
  const ownCpu = (i: number) =>
    medianOf(results[i]!, (r) => r.cpuUsPerRequest.get(cases[i]!.target.label) ?? Number.NaN);
  console.log(
    `stream / unary: ${ratio.toFixed(3)}x throughput; gateway CPU per request unary / stream: ${(ownCpu(1) / ownCpu(0)).toFixed(2)}x (no target)`,
  );
  return {
    figure: "stream / unary transport, C=32",
    value: `${ratio.toFixed(3)}x`,
    target: `>= ${TARGET_STREAM_OVER_UNARY}x`,
    met: ratio >= TARGET_STREAM_OVER_UNARY,
  };
}

async function saturation(
  direct: InferTarget,
  gateway: InferTarget,
  watched: readonly Watched[],
): Promise<Verdict> {
  const cases = [
    { label: "direct to the model server", target: direct },
    { label: "through the gateway (stream)", target: gateway },
  ].map((c) => ({ ...c, concurrency: SATURATION_CONCURRENCY }));
  const results = await measure(cases, THROUGHPUT_ROUND_MS, watched);
  console.log(
    `\n3. Saturation: throughput through the gateway / direct, ${MODEL} batch 1, C=${SATURATION_CONCURRENCY}`,
  );
  printThroughput(cases, results);
  printCpu(cases, results, watched);
  const ratio = medianOf(results[1]!, (r) => r.rate) / medianOf(results[0]!, (r) => r.rate);
  console.log(`gateway / direct: ${ratio.toFixed(3)}x`);
  return {
    figure: "saturation, gateway / direct, C=64",
    value: `${ratio.toFixed(3)}x`,
    target: `>= ${TARGET_SATURATION_RATIO}x`,
    met: ratio >= TARGET_SATURATION_RATIO,
  };
}

// ---------------------------------------------------------------------------------------------
// Output

/** The 1, 5 and 15 minute load averages: how busy the shared machine was. */
const loadAverage = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");

const signed = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(3)}`;

/** Prints rows under a header, numbers right-aligned. */
function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((row) => row[col]!.length)));
  const numeric = (cell: string) => /^[+-]?[\d.]+$/.test(cell);
  const line = (cells: string[]) =>
    cells
      .map((cell, col) =>
        col > 0 && numeric(cell) ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!),
      )
      .join("  ")
      .trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
}

/** CPU time per request of each watched process, µs, median over rounds. */
function printCpu(
  cases: readonly BenchCase[],
  results: readonly RoundResult[][],
  watched: readonly Watched[],
): void {
  console.log("CPU time per request by process, µs (user + system, all threads):");
  printTable(
    ["case", ...watched.map((p) => p.label)],
    cases.map((c, i) => [
      c.label,
      ...watched.map((p) =>
        medianOf(results[i]!, (r) => r.cpuUsPerRequest.get(p.label) ?? Number.NaN).toFixed(0),
      ),
    ]),
  );
}

function printThroughput(cases: readonly BenchCase[], results: readonly RoundResult[][]): void {
  printTable(
    ["case", "median req/s", "p50 ms", "rounds (req/s)"],
    cases.map((c, i) => [
      c.label,
      medianOf(results[i]!, (r) => r.rate).toFixed(0),
      medianOf(results[i]!, (r) => r.p50Ms).toFixed(3),
      results[i]!.map((r) => r.rate.toFixed(0)).join(" "),
    ]),
  );
}

const LAYOUT = `Layout: the model server is a child process (\`infergate models\`, as \`infergate up\` runs it);
each gateway (one per upstream transport) is a child process running \`startGateway\` with the
default configuration (ports 0, log level ${GATEWAY_LOG_LEVEL}, its log to /dev/null); the client is this
process, the same grpc-js code for every case, one connection per target. On ${availableParallelism()} cores the
gateway cases run three busy processes where the direct cases run two.
Method: closed loops, one warm-up round, then ${ROUNDS} rounds per case in rotating order; medians
over rounds; added latency is the median of per-round (gateway - direct) differences.`;

async function main(): Promise<void> {
  const repository = await mkdtemp(join(tmpdir(), "infergate-bench-gateway-"));
  const processes: BenchProcess[] = [];
  const targets: InferTarget[] = [];
  try {
    await mkdir(join(repository, MODEL, "1"), { recursive: true });
    await writeFile(join(repository, MODEL, "config.pbtxt"), SIMPLE_CONFIG);
    await writeFile(join(repository, MODEL, "1", "model.onnx"), buildSimpleModel());
    if (CPU_PROFILE_DIR) await mkdir(CPU_PROFILE_DIR, { recursive: true });

    const models = await startModelServer(repository);
    processes.push(models);
    const gateways = await Promise.all(
      (["stream", "unary"] as const).map((t) => startGatewayProcess(t, models.address)),
    );
    processes.push(...gateways, await startRelayProcess(models.address));
    targets.push(...processes.map(connect));
    const [direct, viaStream, viaUnary, relay] = targets as [
      InferTarget,
      InferTarget,
      InferTarget,
      InferTarget,
    ];
    for (const target of targets) await target.check();

    console.log(
      `Gateway overhead, Node ${process.version}, ${availableParallelism()} cores, load average ${loadAverage()}`,
    );
    console.log(LAYOUT);
    const client = { label: "client (this process)", pid: process.pid };
    const verdicts = [
      ...(await addedLatency(direct, viaStream, relay)),
      await streamVersusUnary(viaStream, viaUnary, [client, viaStream, viaUnary, direct]),
      await saturation(direct, viaStream, [client, viaStream, direct]),
    ];
    console.log(`\nTargets (load average now ${loadAverage()})`);
    printTable(
      ["figure", "measured", "target", "verdict"],
      verdicts.map((v) => [v.figure, v.value, v.target, v.met ? "MET" : "MISSED"]),
    );
  } finally {
    for (const target of targets) target.close();
    await Promise.all(processes.map((p) => p.close()));
    await rm(repository, { recursive: true, force: true });
  }
}

if (process.argv[2] === RELAY_FLAG) {
  runRelayChild(process.argv[3]!).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else if (process.argv[2] === CHILD_FLAG) {
  runGatewayChild(process.argv[3] as Transport, process.argv[4]!).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
