/**
 * The result cache's figures, measured side by side in one run on one machine:
 *
 * 1. Hit throughput: KServe v2 JSON infer of `simple` answered from the cache, through the whole
 *    gateway, divided by a bare express endpoint that reads the same request body and answers
 *    the same response bytes. Both stores: the in-process LRU (the default) and Redis. Target
 *    >= 0.8 (memory store; the Redis figure is reported beside it).
 * 2. Hit latency: the same at 1 outstanding request, p50 and p99. Target p50 <= 0.5 ms.
 * 3. Coalescing: N identical requests sent at once (fresh inputs each burst) cost one model
 *    call; their latency against a lone miss's.
 *
 * Process layout: the model server (`infergate models`), the gateways (this file again with
 * `--gateway-child`, `startGateway` with the default configuration, ports 0, logging at the
 * shipped level `info` to /dev/null) and the express endpoint (`--express-child`) are child
 * processes with their own event loops; `redis-server` is one too (started here on a free port,
 * no persistence). The load generator runs here: keep-alive HTTP/1.1 connections written to
 * and parsed by hand, so that it costs far less than the servers it measures.
 *
 * Method: closed loops (N connections, each sending its next request when its answer is in)
 * for a fixed time per round; one warm-up round, then ROUNDS rounds in rotating order; figures
 * are medians over rounds, ratios taken round by round.
 * Run: `npm run bench:cache` (about a minute). `BENCH_LOG_LEVEL=silent` runs the gateways
 * without their per-request log line; `BENCH_CPU_PROF=DIR` writes V8 CPU profiles of the
 * gateways and the express endpoint to DIR. Exits 0; a missed target is reported as MISSED.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { connect as netConnect, type Socket } from "node:net";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import express from "express";
import { createCacheMetrics } from "../../gateway/src/cache/cache-metrics.js";
import { createFailOpenStore } from "../../gateway/src/cache/fail-open-store.js";
import { createMemoryCache } from "../../gateway/src/cache/memory-cache.js";
import { createResultCache } from "../../gateway/src/cache/result-cache.js";
import { loadConfig } from "../../gateway/src/config/load-config.js";
import type { CoreInferRequest, CoreInferResult } from "../../gateway/src/core/gateway-core.js";
import { startGateway } from "../../gateway/src/gateway.js";
import { createLogger, silentLogger } from "../../gateway/src/log.js";
import { createMetricsRegistry } from "../../gateway/src/metrics.js";
import { loadServiceDefinitions } from "../../gateway/src/protocol/protos.js";
import { makeTensor } from "../../gateway/src/protocol/tensor.js";
import { makeTempRepository } from "../integration/helpers/model-server.js";
import { startRedisServer } from "../integration/helpers/redis-server.js";
import {
  childExecArgv,
  cpuTimeMs,
  median,
  percentile,
  printTable,
  startModelServerProcess,
  stopChild,
} from "./bench-support.js";

const ROUNDS = 5;
const ROUND_MS = 1500;
const THROUGHPUT_CONCURRENCY = 16;
const BURSTS = [16, 64];
const BURST_TRIALS = 7;
const TARGET_RATIO = 0.8;
const TARGET_HIT_P50_MS = 0.5;
const THIS_FILE = fileURLToPath(import.meta.url);
const ROOT = join(dirname(THIS_FILE), "..", "..");
const GATEWAY_FLAG = "--gateway-child";
const EXPRESS_FLAG = "--express-child";
const GATEWAY_LOG_LEVEL = process.env["BENCH_LOG_LEVEL"] ?? "info";
const CPU_PROFILE_DIR = process.env["BENCH_CPU_PROF"];
const INFER_PATH = "/v2/models/simple/infer";

// ---------------------------------------------------------------------------------------------
// Child processes

/** A child process serving HTTP on `port`. */
interface Server {
  label: string;
  port: number;
  pid: number;
  close(): Promise<void>;
}

/** Starts this file as a child with `args`; resolves with its first IPC message. */
async function startChild<M>(label: string, args: string[]) {
  const name = label.replace(/[^a-z0-9]+/gi, "-");
  const child = spawn(
    process.execPath,
    [...childExecArgv(CPU_PROFILE_DIR, name), THIS_FILE, ...args],
    {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    },
  );
  const exit = once(child, "exit").then(([code]) => {
    throw new Error(`${label} exited with ${code}`);
  });
  const [message] = (await Promise.race([once(child, "message"), exit])) as [M];
  child.disconnect();
  return { child, message };
}

/** A gateway child; `redisUrl` "" = the memory store. */
async function startGatewayProcess(label: string, upstream: string, redisUrl: string) {
  const { child, message } = await startChild<{ httpPort: number }>(label, [
    GATEWAY_FLAG,
    upstream,
    redisUrl,
  ]);
  return { label, port: message.httpPort, pid: child.pid!, close: () => stopChild(child) };
}

async function runGatewayChild(upstream: string, redisUrl: string): Promise<void> {
  const config = loadConfig(undefined, {});
  config.server = { host: "127.0.0.1", httpPort: 0, grpcPort: 0, metricsPort: 0 };
  config.admin.port = 0;
  config.triton.endpoints = [{ name: "embedded", url: upstream }];
  if (redisUrl) config.cache.redisUrl = redisUrl;
  const log = createLogger({ level: GATEWAY_LOG_LEVEL, base: { service: "infergate" } });
  const gateway = await startGateway({ config, log });
  process.once("SIGTERM", () => {
    gateway.close().then(() => process.exit(0));
  });
  process.send?.({ httpPort: gateway.httpPort });
}

/** The bare endpoint: reads the body, answers `body` (base64) with `contentType`. */
async function runExpressChild(body: string, contentType: string): Promise<void> {
  const bytes = Buffer.from(body, "base64");
  const headers = { "content-type": contentType, "content-length": String(bytes.length) };
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.post(INFER_PATH, (req, res) => {
    req.on("data", () => {});
    req.on("end", () => {
      res.writeHead(200, headers);
      res.end(bytes);
    });
  });
  const server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  process.once("SIGTERM", () => server.close(() => process.exit(0)));
  const address = server.address();
  process.send?.({ httpPort: typeof address === "object" && address ? address.port : 0 });
}

// ---------------------------------------------------------------------------------------------
// The load generator: raw keep-alive HTTP/1.1

/** One keep-alive connection sending one request at a time. */
interface Connection {
  /** Sends `request` (a whole HTTP/1.1 message); resolves with the response's head and body. */
  send(request: Buffer): Promise<{ head: string; body: Buffer }>;
  close(): void;
}

async function openConnection(port: number): Promise<Connection> {
  const socket: Socket = netConnect(port, "127.0.0.1");
  socket.setNoDelay(true);
  await once(socket, "connect");
  let buffered: Buffer = Buffer.alloc(0);
  let waiting: { resolve: (r: { head: string; body: Buffer }) => void; reject: (e: Error) => void };
  socket.on("data", (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const headEnd = buffered.indexOf("\r\n\r\n");
    if (headEnd < 0) return;
    const head = buffered.toString("latin1", 0, headEnd);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    const end = headEnd + 4 + length;
    if (buffered.length < end) return;
    const body = buffered.subarray(headEnd + 4, end);
    buffered = buffered.subarray(end);
    waiting.resolve({ head, body });
  });
  socket.on("error", (error) => waiting?.reject(error));
  return {
    send(request) {
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
        socket.write(request);
      });
    },
    close: () => socket.destroy(),
  };
}

/** A POST of a JSON infer body for `simple`: INPUT0 = values, INPUT1 = ones. */
function inferRequest(values: number[], port: number): Buffer {
  const body = JSON.stringify({
    inputs: [
      { name: "INPUT0", datatype: "INT32", shape: [1, 16], data: values },
      { name: "INPUT1", datatype: "INT32", shape: [1, 16], data: values.map(() => 1) },
    ],
  });
  return Buffer.from(
    `POST ${INFER_PATH} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

const statusOf = (head: string) => Number(head.slice(9, 12));
const headerOf = (head: string, name: string) =>
  new RegExp(`\\r\\n${name}:\\s*([^\\r]*)`, "i").exec(head)?.[1];

/** What one closed-loop round measured. */
interface Round {
  rate: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerRequest: number;
}

async function closedLoop(server: Server, concurrency: number, values: number[]): Promise<Round> {
  const connections = await Promise.all(
    Array.from({ length: concurrency }, () => openConnection(server.port)),
  );
  const request = inferRequest(values, server.port);
  const latencies: number[] = [];
  const cpuBefore = cpuTimeMs(server.pid);
  const start = performance.now();
  const end = start + ROUND_MS;
  await Promise.all(
    connections.map(async (connection) => {
      while (performance.now() < end) {
        const sent = performance.now();
        const { head } = await connection.send(request);
        if (statusOf(head) !== 200) throw new Error(`${server.label}: ${head}`);
        latencies.push(performance.now() - sent);
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  const cpuMs = (cpuTimeMs(server.pid) ?? Number.NaN) - (cpuBefore ?? Number.NaN);
  for (const c of connections) c.close();
  latencies.sort((a, b) => a - b);
  return {
    rate: latencies.length / (elapsedMs / 1000),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    cpuUsPerRequest: (cpuMs * 1000) / latencies.length,
  };
}

/** One warm-up round, then ROUNDS rotating rounds of each server; rounds per server. */
async function measure(
  servers: readonly Server[],
  concurrency: number,
  values: number[],
): Promise<Round[][]> {
  const results = servers.map((): Round[] => []);
  for (let round = -1; round < ROUNDS; round++) {
    for (let k = 0; k < servers.length; k++) {
      const index = (k + Math.max(round, 0)) % servers.length;
      const result = await closedLoop(servers[index]!, concurrency, values);
      if (round >= 0) results[index]!.push(result);
    }
  }
  return results;
}

const medianOf = (rounds: readonly Round[], field: (r: Round) => number) =>
  median(rounds.map(field));

/** Successful inferences of `simple` on the model server (gRPC ModelStatistics). */
function modelStatistics(address: string) {
  const definition = loadServiceDefinitions().inference["ModelStatistics"]!;
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return {
    served: () =>
      new Promise<number>((resolve, reject) => {
        client.makeUnaryRequest(
          definition.path,
          definition.requestSerialize,
          definition.responseDeserialize,
          { name: "simple" },
          (error, reply) => {
            if (error) return reject(error);
            const stats = (
              reply as { model_stats: { inference_stats: { success: { count: unknown } } }[] }
            ).model_stats;
            resolve(stats.reduce((n, s) => n + Number(s.inference_stats.success.count), 0));
          },
        );
      }),
    close: () => client.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// Figures

interface Verdict {
  figure: string;
  value: string;
  target: string;
  met: boolean | undefined;
}

const HIT_VALUES = Array.from({ length: 16 }, (_, i) => i);

async function hitThroughput(
  memory: Server,
  redis: Server,
  bare: Server,
  concurrency: number,
): Promise<{ rounds: Round[][]; servers: Server[] }> {
  const servers = [bare, memory, redis];
  return { rounds: await measure(servers, concurrency, HIT_VALUES), servers };
}

function report(title: string, measured: { rounds: Round[][]; servers: Server[] }): void {
  console.log(`\n${title}`);
  printTable(
    ["case", "req/s", "p50 ms", "p99 ms", "server CPU µs/req", "req/s per round"],
    measured.servers.map((s, i) => {
      const rounds = measured.rounds[i]!;
      return [
        s.label,
        medianOf(rounds, (r) => r.rate).toFixed(0),
        medianOf(rounds, (r) => r.p50Ms).toFixed(3),
        medianOf(rounds, (r) => r.p99Ms).toFixed(3),
        medianOf(rounds, (r) => r.cpuUsPerRequest).toFixed(1),
        rounds.map((r) => r.rate.toFixed(0)).join(" "),
      ];
    }),
  );
}

/** Ratio of server `i` to the bare endpoint (index 0), round by round, median. */
const ratioTo = (rounds: Round[][], i: number) =>
  median(rounds[i]!.map((r, k) => r.rate / rounds[0]![k]!.rate));

async function coalescing(gateway: Server, stats: ReturnType<typeof modelStatistics>) {
  console.log(
    `\n3. Coalescing: N identical requests at once through the gateway (memory store), fresh inputs per burst, ${BURST_TRIALS} bursts each`,
  );
  const rows: string[][] = [];
  let seed = 1_000_000;
  const verdicts: Verdict[] = [];
  for (const n of [1, ...BURSTS]) {
    const connections = await Promise.all(
      Array.from({ length: n }, () => openConnection(gateway.port)),
    );
    const p50s: number[] = [];
    const maxes: number[] = [];
    const calls: number[] = [];
    const outcomes: Record<string, number> = {};
    for (let trial = 0; trial < BURST_TRIALS; trial++) {
      seed += 100;
      const request = inferRequest(
        Array.from({ length: 16 }, (_, i) => seed + i),
        gateway.port,
      );
      const before = await stats.served();
      const latencies = await Promise.all(
        connections.map(async (c) => {
          const sent = performance.now();
          const { head } = await c.send(request);
          const cache = headerOf(head, "x-cache") ?? "none";
          outcomes[cache] = (outcomes[cache] ?? 0) + 1;
          return performance.now() - sent;
        }),
      );
      calls.push((await stats.served()) - before);
      latencies.sort((a, b) => a - b);
      p50s.push(percentile(latencies, 0.5));
      maxes.push(latencies.at(-1)!);
    }
    for (const c of connections) c.close();
    rows.push([
      String(n),
      calls.join(" "),
      median(p50s).toFixed(3),
      median(maxes).toFixed(3),
      Object.entries(outcomes)
        .map(([k, v]) => `${k} ${v}`)
        .join(", "),
    ]);
    if (n > 1) {
      verdicts.push({
        figure: `model calls per burst of ${n}`,
        value: `${Math.max(...calls)}`,
        target: "1",
        met: calls.every((c) => c === 1),
      });
    }
  }
  printTable(["N", "model calls per burst", "p50 ms", "max ms", "x-cache"], rows);
  return verdicts;
}

/**
 * The cache's own CPU per hit, in this process: version resolution, key, lookup in the memory
 * store, decoding, metrics (`ResultCache.infer` of `simple`'s request, no HTTP).
 */
async function ownCostPerHit(): Promise<number> {
  const log = silentLogger();
  const store = createMemoryCache({ maxBytes: 1 << 24 });
  const metrics = createCacheMetrics(createMetricsRegistry(), store);
  const settings = { enabled: true, ttlSeconds: 600, maxEntryBytes: 1 << 20 };
  const cache = createResultCache({
    store: createFailOpenStore(store, { metrics, log }),
    models: { simple: settings },
    pipelines: {},
    leaseMs: 0,
    resolveVersion: async () => "1",
    metrics,
    log,
  });
  const tensor = (name: string, f: (i: number) => number) =>
    makeTensor({ name, datatype: "INT32", shape: [1, 16] }, Int32Array.from(HIT_VALUES, f));
  const request: CoreInferRequest = {
    modelName: "simple",
    modelVersion: "",
    id: "",
    inputs: [tensor("INPUT0", (v) => v), tensor("INPUT1", () => 1)],
    outputs: [],
    parameters: {},
  };
  const ctx = {
    requestId: "b",
    deadlineMs: Date.now() + 3_600_000,
    signal: new AbortController().signal,
    log,
  };
  const next = async (r: CoreInferRequest): Promise<CoreInferResult> => ({
    modelName: r.modelName,
    modelVersion: "1",
    id: r.id,
    outputs: r.inputs,
  });
  await cache.infer(request, ctx, next);
  const perRound: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const n = 20_000;
    const cpu = process.cpuUsage();
    for (let i = 0; i < n; i++) await cache.infer(request, ctx, next);
    const used = process.cpuUsage(cpu);
    perRound.push((used.user + used.system) / n);
  }
  await cache.close();
  return median(perRound);
}

async function main(): Promise<void> {
  console.log(
    `cache bench: ${availableParallelism()} cores, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}, node ${process.version}, gateway log level ${GATEWAY_LOG_LEVEL}`,
  );
  const repo = await makeTempRepository(["simple"]);
  const redis = await startRedisServer();
  const models = await startModelServerProcess(repo.path);
  const stats = modelStatistics(models.address);
  const started: { close(): Promise<void> }[] = [];
  try {
    const memory = await startGatewayProcess("gateway, memory store", models.address, "");
    started.push(memory);
    const viaRedis = await startGatewayProcess("gateway, Redis store", models.address, redis.url);
    started.push(viaRedis);

    // The hit's exact response, which the bare endpoint will answer.
    const probe = await openConnection(memory.port);
    const miss = await probe.send(inferRequest(HIT_VALUES, memory.port));
    const hit = await probe.send(inferRequest(HIT_VALUES, memory.port));
    probe.close();
    if (headerOf(hit.head, "x-cache") !== "hit") throw new Error(`not a hit: ${hit.head}`);
    if (!hit.body.equals(miss.body)) throw new Error("a hit answered other bytes than the miss");
    const { child, message } = await startChild<{ httpPort: number }>("express", [
      EXPRESS_FLAG,
      hit.body.toString("base64"),
      headerOf(hit.head, "content-type") ?? "application/json",
    ]);
    const bare: Server = {
      label: "bare express, same bytes",
      port: message.httpPort,
      pid: child.pid!,
      close: () => stopChild(child),
    };
    started.push(bare);
    const before = await stats.served();

    const throughput = await hitThroughput(memory, viaRedis, bare, THROUGHPUT_CONCURRENCY);
    report(
      `1. Hit throughput, C=${THROUGHPUT_CONCURRENCY}, ${ROUNDS} rounds of ${ROUND_MS} ms (response ${hit.body.length} bytes)`,
      throughput,
    );
    const memoryRatio = ratioTo(throughput.rounds, 1);
    const redisRatio = ratioTo(throughput.rounds, 2);
    console.log(
      `gateway / bare express: memory store ${memoryRatio.toFixed(3)}, Redis store ${redisRatio.toFixed(3)}`,
    );

    const latency = await hitThroughput(memory, viaRedis, bare, 1);
    report("2. Hit latency, C=1", latency);
    const p50 = (i: number) => medianOf(latency.rounds[i]!, (r) => r.p50Ms);
    const served = (await stats.served()) - before;
    console.log(`model calls during figures 1 and 2: ${served} (every request a hit)`);

    const verdicts: Verdict[] = [
      {
        figure: "hit throughput / bare express (memory store)",
        value: memoryRatio.toFixed(3),
        target: `>= ${TARGET_RATIO}`,
        met: memoryRatio >= TARGET_RATIO,
      },
      {
        figure: "hit throughput / bare express (Redis store)",
        value: redisRatio.toFixed(3),
        target: `(>= ${TARGET_RATIO})`,
        met: redisRatio >= TARGET_RATIO,
      },
      {
        figure: "hit p50 latency, C=1 (memory store)",
        value: `${p50(1).toFixed(3)} ms`,
        target: `<= ${TARGET_HIT_P50_MS} ms`,
        met: p50(1) <= TARGET_HIT_P50_MS,
      },
      {
        figure: "hit p50 latency, C=1 (Redis store)",
        value: `${p50(2).toFixed(3)} ms`,
        target: `(<= ${TARGET_HIT_P50_MS} ms)`,
        met: p50(2) <= TARGET_HIT_P50_MS,
      },
      ...(await coalescing(memory, stats)),
    ];
    const ownUs = await ownCostPerHit();
    console.log(
      `\n4. The cache's own CPU per hit (in-process: resolve, key, lookup, decode, metrics): ${ownUs.toFixed(1)} µs`,
    );
    verdicts.push({
      figure: "cache's own CPU per hit",
      value: `${ownUs.toFixed(1)} µs`,
      target: "(none)",
      met: true,
    });
    console.log("\nSummary");
    printTable(
      ["figure", "value", "target", ""],
      verdicts.map((v) => [v.figure, v.value, v.target, v.met ? "met" : "MISSED"]),
    );
  } finally {
    stats.close();
    for (const s of started.reverse()) await s.close();
    await models.close();
    await redis.stop();
    await repo.remove();
  }
}

if (process.argv[2] === GATEWAY_FLAG) {
  await runGatewayChild(process.argv[3]!, process.argv[4] ?? "");
} else if (process.argv[2] === EXPRESS_FLAG) {
  await runExpressChild(process.argv[3]!, process.argv[4]!);
} else {
  await main();
}
