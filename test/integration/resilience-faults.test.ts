/**
 * Fault tests of the gateway's resilience with real processes on 127.0.0.1: two embedded model
 * servers as child processes (`infergate models`), the gateway in this process, a load of
 * concurrent clients. One server is killed mid-load, then both; then one comes back.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { loadConfig } from "../../gateway/src/config/load-config.js";
import type { GatewayConfig } from "../../gateway/src/config/schema.js";
import type { CoreInferRequest, RequestContext } from "../../gateway/src/core/gateway-core.js";
import { Code, InferError } from "../../gateway/src/errors.js";
import { type RunningGateway, startGateway } from "../../gateway/src/gateway.js";
import { silentLogger } from "../../gateway/src/log.js";
import type { Tensor } from "../../gateway/src/protocol/tensor.js";
import { createChannel } from "../../gateway/src/triton/channel.js";
import { makeTempRepository, type TempRepository } from "./helpers/model-server.js";
import { freePort } from "./helpers/redis-server.js";

const log = silentLogger();

/** `infergate models` as a child process; resolves once ServerReady answers. */
async function startModels(repository: string, port: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "gateway/src/cli/main.ts",
      "models",
      "--repository",
      repository,
      "--grpc-port",
      String(port),
      "--metrics-port=-1",
    ],
    { stdio: "ignore", env: { ...process.env, LOG_LEVEL: "warn" } },
  );
  const channel = createChannel({
    url: `127.0.0.1:${port}`,
    maxMessageBytes: 1 << 20,
    keepaliveMs: 30_000,
  });
  try {
    for (let i = 0; i < 300; i++) {
      const ready = await channel
        .unary<{ ready?: boolean }>("ServerReady", {}, { deadlineMs: Date.now() + 500 })
        .then(
          (r) => r.ready === true,
          () => false,
        );
      if (ready) return child;
      if (child.exitCode !== null) throw new Error(`model server exited with ${child.exitCode}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("model server not ready in 30 s");
  } finally {
    channel.close();
  }
}

async function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

function request(k: number): CoreInferRequest {
  const input = (name: string, f: (i: number) => number): Tensor => ({
    name,
    datatype: "INT32",
    shape: [1, 16],
    data: Int32Array.from({ length: 16 }, (_, i) => f(i)),
  });
  return {
    modelName: "simple",
    modelVersion: "",
    id: `r${k}`,
    inputs: [input("INPUT0", (i) => k + i), input("INPUT1", () => 1)],
    outputs: [],
    parameters: {},
  };
}

function ctx(deadlineMs = 3000): RequestContext {
  return {
    requestId: `f-${Math.random().toString(36).slice(2)}`,
    deadlineMs: Date.now() + deadlineMs,
    signal: new AbortController().signal,
    log,
  };
}

let lastError = "";
/** Request counter across loads, so that no two requests are alike. */
let k = 0;

/** Runs `workers` closed loops for `durationMs`; returns the outcome codes in order. */
async function load(gateway: RunningGateway, durationMs: number, workers = 8): Promise<Code[]> {
  const codes: Code[] = [];
  const until = Date.now() + durationMs;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (Date.now() < until) {
        const n = k++;
        const code = await gateway.core.infer(request(n), ctx()).then(
          (r) => {
            assert.equal((r.outputs[0]!.data as Int32Array)[0], n + 1);
            return Code.OK;
          },
          (e: unknown) => {
            lastError = InferError.from(e).message;
            return InferError.from(e).code;
          },
        );
        codes.push(code);
      }
    }),
  );
  return codes;
}

describe("resilience under faults (real model server processes)", { timeout: 120_000 }, () => {
  let repo: TempRepository;
  let ports: number[] = [];
  const servers: (ChildProcess | undefined)[] = [];
  let gateway: RunningGateway;

  before(async () => {
    repo = await makeTempRepository(["simple"]);
    ports = [await freePort(), await freePort()];
    servers[0] = await startModels(repo.path, ports[0]!);
    servers[1] = await startModels(repo.path, ports[1]!);
    const config: GatewayConfig = loadConfig(undefined, {});
    // Every answer must come from a model server, not from the result cache.
    config.cache.enabled = false;
    config.server = { host: "127.0.0.1", httpPort: 0, grpcPort: 0, metricsPort: 0 };
    config.admin.port = 0;
    config.log.level = "silent";
    config.triton.endpoints = ports.map((p, i) => ({ name: `m${i}`, url: `127.0.0.1:${p}` }));
    config.triton.healthIntervalMs = 200;
    config.resilience.breaker = {
      errorThresholdPercentage: 50,
      volumeThreshold: 5,
      resetTimeoutMs: 1500,
      rollingWindowMs: 5000,
    };
    gateway = await startGateway({ config, log });
  });

  after(async () => {
    await gateway?.close();
    for (const s of servers) await kill(s);
    await repo?.remove();
  });

  it("serves from both endpoints while both are up", async () => {
    const codes = await load(gateway, 800);
    assert.ok(codes.length > 20);
    assert.deepEqual([...new Set(codes)], [Code.OK], lastError);
  });

  it("loses at most the requests in flight on a killed server, then none", async () => {
    const during = load(gateway, 2500);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await kill(servers[0]);
    const codes = await during;
    const failures = codes.filter((c) => c !== Code.OK);
    // At most what was in flight on the dead server (8 workers); the rest were rerouted or retried.
    assert.ok(
      failures.length <= 8,
      `${failures.length} failures (${[...new Set(failures.map((c) => Code[c]))].join(",")}), last: ${lastError}`,
    );
    for (const c of failures) assert.ok([Code.UNAVAILABLE, Code.INTERNAL].includes(c), Code[c]);
    // The dead endpoint is drained (refused connections, health probes, its breaker): no failures.
    const after = await load(gateway, 800);
    assert.deepEqual([...new Set(after)], [Code.OK]);
  });

  it("answers fast 503-style UNAVAILABLE with a retry-after when no endpoint is left", async () => {
    await kill(servers[1]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const started = Date.now();
    const error = await gateway.core.infer(request(1), ctx(5000)).then(
      () => assert.fail("expected a failure"),
      (e: unknown) => InferError.from(e),
    );
    assert.equal(error.code, Code.UNAVAILABLE);
    assert.ok(error.retryAfterMs !== undefined && error.retryAfterMs > 0);
    assert.ok(Date.now() - started < 1000, "failed fast, not at the 5 s deadline");
    const response = await fetch(`http://127.0.0.1:${gateway.httpPort}/v2/models/simple/infer`, {
      method: "POST",
      body: JSON.stringify({
        inputs: [
          { name: "INPUT0", datatype: "INT32", shape: [1, 16], data: Array(16).fill(1) },
          { name: "INPUT1", datatype: "INT32", shape: [1, 16], data: Array(16).fill(1) },
        ],
      }),
    });
    assert.equal(response.status, 503);
    assert.ok(Number(response.headers.get("retry-after")) >= 1);
    assert.match(((await response.json()) as { error: string }).error, /simple/);
  });

  it("recovers when a server comes back, within the health interval and the breaker's reset", async () => {
    servers[0] = await startModels(repo.path, ports[0]!);
    let ok = false;
    for (let i = 0; i < 40 && !ok; i++) {
      ok = await gateway.core.infer(request(i), ctx()).then(
        () => true,
        () => false,
      );
      if (!ok) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.ok(ok, "served again within 10 s");
    const codes = await load(gateway, 800);
    assert.deepEqual([...new Set(codes)], [Code.OK]);
  });
});

describe("shedding a slow model (bulkhead)", { timeout: 60_000 }, () => {
  it("answers 429 with a retry-after instead of timing out, with in-flight bounded and memory flat", async (t) => {
    const repo = await makeTempRepository([
      {
        name: "simple",
        config: (text) =>
          text.replace(
            "max_queue_delay_microseconds: 500",
            "max_queue_delay_microseconds: 300000\n  preferred_batch_size: [ 8 ]",
          ),
      },
    ]);
    const port = await freePort();
    const server = await startModels(repo.path, port);
    const config = loadConfig(undefined, {});
    config.cache.enabled = false;
    config.server = { host: "127.0.0.1", httpPort: 0, grpcPort: 0, metricsPort: 0 };
    config.admin.port = 0;
    config.triton.endpoints = [{ name: "m", url: `127.0.0.1:${port}` }];
    config.models["simple"] = {
      batching: { enabled: false, maxBatchSize: 8, windowUs: 500 },
      idempotent: false,
      bulkhead: { maxInFlight: 2, maxQueued: 2 },
    };
    const gateway = await startGateway({ config, log });
    try {
      const started = Date.now();
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, (_, k) =>
          gateway.core.infer(request(k), ctx(5000)).then(
            () => Code.OK,
            (e: unknown) => InferError.from(e),
          ),
        ),
      );
      const shed = outcomes.filter(
        (o): o is InferError => o instanceof InferError && o.code === Code.RESOURCE_EXHAUSTED,
      );
      assert.equal(shed.length, 6, "2 in flight + 2 queued served, 6 shed");
      for (const e of shed) assert.ok((e.retryAfterMs ?? 0) > 0);
      assert.equal(outcomes.filter((o) => o === Code.OK).length, 4);
      assert.ok(Date.now() - started < 4000, "nothing waited for its deadline");

      // Sustained overload, round after round: what the gateway holds stays flat (nothing
      // kept per shed or served request) and nothing is left in flight between rounds.
      const heapAfterGc = () => {
        collectGarbage();
        return process.memoryUsage().heapUsed;
      };
      const round = (base: number) =>
        Promise.all(
          Array.from({ length: 100 }, (_, k) =>
            gateway.core.infer(request(base + k), ctx(5000)).catch(() => undefined),
          ),
        );
      for (let r = 0; r < 3; r++) await round(r * 100); // warm up: code paths, pools, JIT
      const heapBefore = heapAfterGc();
      for (let r = 3; r < 13; r++) await round(r * 100);
      const growthBytes = heapAfterGc() - heapBefore;
      t.diagnostic(
        `heap growth over 1000 overloaded requests: ${(growthBytes / 1024).toFixed(0)} KiB`,
      );
      assert.ok(
        growthBytes < 4 * 1024 * 1024,
        `heap grew ${(growthBytes / 1024).toFixed(0)} KiB over 1000 overloaded requests`,
      );
      const metrics = await fetch(`http://127.0.0.1:${gateway.metricsPort}/metrics`);
      const text = await metrics.text();
      for (const gauge of ["infergate_bulkhead_in_flight", "infergate_bulkhead_queued"]) {
        const line = text
          .split("\n")
          .find((l) => l.startsWith(`${gauge}{`) && l.includes('model="simple"'));
        assert.ok(line, `${gauge} exported`);
        assert.equal(Number(line.split(" ").at(-1)), 0, `${gauge} back to 0: ${line}`);
      }
    } finally {
      await gateway.close();
      await kill(server);
      await repo.remove();
    }
  });
});

/** Runs a full garbage collection (exposing `gc` for this process if it is not). */
function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  gc();
  gc();
}
