/**
 * The result cache end to end: real processes' worth of servers on 127.0.0.1: a `redis-server`
 * this test starts, the embedded model server serving `simple` (with a 50 ms batching window,
 * so that concurrent requests overlap), and the whole gateway (`startGateway`, ports 0) with
 * Redis as its cache. What reaches the model is read from the model server's own statistics.
 */
import assert from "node:assert/strict";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { loadConfig } from "../../gateway/src/config/load-config.js";
import type { GatewayConfig } from "../../gateway/src/config/schema.js";
import { type RunningGateway, startGateway } from "../../gateway/src/gateway.js";
import { silentLogger } from "../../gateway/src/log.js";
import { openInferStream } from "./helpers/full-gateway.js";
import {
  type Message,
  makeTempRepository,
  methodDefinition,
  parsePrometheusText,
  samplesOf,
  startTestModelServer,
  type TempRepository,
  type TestModelServer,
} from "./helpers/model-server.js";
import { startRedisServer, type TestRedis } from "./helpers/redis-server.js";

const log = silentLogger();
const ROW = 16;

/** `simple` with a 50 ms batching window: concurrent requests are surely in flight together. */
const slowBatching = (shipped: string) =>
  shipped.replace(/max_queue_delay_microseconds: \d+/, "max_queue_delay_microseconds: 50000");

/** A KServe v2 JSON infer body for `simple`: rows of INPUT0 = values, INPUT1 = ones. */
function inferBody(
  values: number[],
  options: { rows?: number; datatype?: string; outputs?: string[] } = {},
) {
  const rows = options.rows ?? 1;
  const input0 = Array.from({ length: rows }, () => values).flat();
  return {
    inputs: [
      { name: "INPUT0", datatype: options.datatype ?? "INT32", shape: [rows, ROW], data: input0 },
      { name: "INPUT1", datatype: "INT32", shape: [rows, ROW], data: input0.map(() => 1) },
    ],
    ...(options.outputs ? { outputs: options.outputs.map((name) => ({ name })) } : {}),
  };
}

/** Sixteen values that no other test uses: `seed`, `seed + 1`, ... */
const fresh = (() => {
  let next = 1000;
  return () => {
    next += 100;
    return Array.from({ length: ROW }, (_, i) => next + i);
  };
})();

interface Answer {
  status: number;
  cache: string | null;
  body: Record<string, unknown>;
}

/** A gateway under test and its clients. */
interface Gateway {
  running: RunningGateway;
  infer(body: object, headers?: Record<string, string>): Promise<Answer>;
  admin(path: string, body: object): Promise<{ status: number; body: unknown }>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

async function startTestGateway(config: GatewayConfig): Promise<Gateway> {
  const running = await startGateway({ config, log });
  const base = `http://127.0.0.1:${running.httpPort}`;
  return {
    running,
    async infer(body, headers = {}) {
      const response = await fetch(`${base}/v2/models/simple/infer`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
      const json = (await response.json()) as Record<string, unknown>;
      return { status: response.status, cache: response.headers.get("x-cache"), body: json };
    },
    async admin(path, body) {
      const response = await fetch(`http://127.0.0.1:${running.adminPort}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
    async metric(name, labels = {}) {
      const text = parsePrometheusText(await running.metrics.text());
      return samplesOf(text, name, labels).reduce((sum, s) => sum + s.value, 0);
    },
  };
}

describe("result cache through the gateway, Redis behind it", () => {
  let redis: TestRedis;
  let repo: TempRepository;
  let models: TestModelServer;
  let gateway: Gateway;
  let replica: Gateway;

  const configFor = (): GatewayConfig => {
    const config = loadConfig(undefined, {});
    config.server = { host: "127.0.0.1", httpPort: 0, grpcPort: 0, metricsPort: 0 };
    config.admin = { host: "127.0.0.1", port: 0 };
    config.triton.endpoints = [{ name: "e0", url: `127.0.0.1:${models.server.grpcPort}` }];
    config.triton.healthIntervalMs = 200;
    config.log.level = "silent";
    config.cache.redisUrl = redis.url;
    config.cache.breaker.resetTimeoutMs = 300;
    config.cache.pipelines["simple-math"] = {
      enabled: true,
      ttlSeconds: 60,
      maxEntryBytes: 1 << 20,
    };
    return config;
  };

  /** Successful inferences the model server ran for `simple`, over all its versions. */
  const served = async (): Promise<number> => {
    const reply = await models.call("ModelStatistics", { name: "simple" });
    return (reply["model_stats"] as Message[]).reduce(
      (sum, s) => sum + Number(s["inference_stats"]?.["success"]?.["count"] ?? 0),
      0,
    );
  };

  before(async () => {
    redis = await startRedisServer();
    repo = await makeTempRepository([{ name: "simple", config: slowBatching }]);
    models = await startTestModelServer(repo.path, {
      controlMode: "explicit",
      startupModels: ["simple"],
    });
    gateway = await startTestGateway(configFor());
    replica = await startTestGateway(configFor());
  });
  after(async () => {
    await replica?.running.close();
    await gateway?.running.close();
    await models?.close();
    await repo?.remove();
    await redis?.stop();
  });

  it("answers a second identical request from the cache: x-cache hit, no new inference", async () => {
    const body = inferBody(fresh());
    const first = await gateway.infer(body);
    assert.equal(first.status, 200);
    assert.equal(first.cache, "miss");
    const before = await served();
    const second = await gateway.infer(body);
    assert.equal(second.cache, "hit");
    assert.deepEqual(second.body, first.body);
    assert.equal(await served(), before);
    // The other replica shares the entry through Redis.
    assert.equal((await replica.infer(body)).cache, "hit");
    assert.equal(await served(), before);
  });

  it("misses for another shape or other outputs, never serving a wrong entry", async () => {
    const values = fresh();
    await gateway.infer(inferBody(values));
    const twoRows = await gateway.infer(inferBody(values, { rows: 2 }));
    assert.equal(twoRows.cache, "miss");
    assert.deepEqual((twoRows.body["outputs"] as Message[])[0]!["shape"], [2, ROW]);
    const oneOutput = await gateway.infer(inferBody(values, { outputs: ["OUTPUT1"] }));
    assert.equal(oneOutput.cache, "miss");
    assert.deepEqual(
      (oneOutput.body["outputs"] as Message[]).map((o) => o["name"]),
      ["OUTPUT1"],
    );
    assert.equal((await gateway.infer(inferBody(values, { outputs: ["OUTPUT1"] }))).cache, "hit");
  });

  it("misses for another datatype with the same bytes (the model refuses it: no stale hit)", async () => {
    const values = fresh();
    await gateway.infer(inferBody(values));
    const before = await served();
    const asUint = await gateway.infer(inferBody(values, { datatype: "UINT32" }));
    assert.equal(asUint.status, 400);
    assert.equal(asUint.cache, null);
    assert.equal(await served(), before);
  });

  it("N identical concurrent requests: one inference, the others coalesced", async () => {
    const body = inferBody(fresh());
    const before = await served();
    const answers = await Promise.all(Array.from({ length: 20 }, () => gateway.infer(body)));
    assert.ok(answers.every((a) => a.status === 200));
    assert.equal(await served(), before + 1);
    const counts = countBy(answers.map((a) => a.cache));
    assert.equal(counts["miss"], 1, JSON.stringify(counts));
    assert.equal(counts["coalesced"], 19, JSON.stringify(counts));
  });

  it("across replicas: concurrent identical requests on two gateways cost one inference", async () => {
    const body = inferBody(fresh());
    const before = await served();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? gateway : replica).infer(body)),
    );
    assert.ok(answers.every((a) => a.status === 200));
    assert.equal(await served(), before + 1);
    const counts = countBy(answers.map((a) => a.cache));
    assert.equal(counts["miss"], 1, JSON.stringify(counts));
  });

  it("Cache-Control: no-cache goes to the model and refreshes the entry; no-store stores nothing", async () => {
    const body = inferBody(fresh());
    await gateway.infer(body);
    const before = await served();
    const bypass = await gateway.infer(body, { "cache-control": "no-cache" });
    assert.equal(bypass.cache, "bypass");
    assert.equal(await served(), before + 1);
    assert.equal((await gateway.infer(body)).cache, "hit");

    const other = inferBody(fresh());
    assert.equal((await gateway.infer(other, { "cache-control": "no-store" })).cache, "miss");
    assert.equal((await gateway.infer(other)).cache, "miss");
    assert.equal((await gateway.infer(other)).cache, "hit");
  });

  it("gRPC: x-cache in trailing metadata, cache-control metadata honoured", async () => {
    const client = new grpc.Client(
      `127.0.0.1:${gateway.running.grpcPort}`,
      grpc.credentials.createInsecure(),
    );
    try {
      const values = fresh();
      const first = await grpcInfer(client, values);
      const second = await grpcInfer(client, values);
      const bypass = await grpcInfer(client, values, { "cache-control": "no-cache" });
      assert.deepEqual([first.cache, second.cache, bypass.cache], ["miss", "hit", "bypass"]);
      assert.deepEqual(second.outputs, first.outputs);
    } finally {
      client.close();
    }
  });

  it("gRPC stream: each answer carries its cache status in its parameters", async () => {
    const { stream, close } = openInferStream(gateway.running.grpcPort);
    try {
      const values = fresh();
      const raw = (v: number[]) => Buffer.from(Int32Array.from(v).buffer);
      const request = (id: string) => ({
        id,
        model_name: "simple",
        inputs: ["INPUT0", "INPUT1"].map((name) => ({ name, datatype: "INT32", shape: [1, ROW] })),
        raw_input_contents: [raw(values), raw(values.map(() => 1))],
      });
      const answers: Message[] = [];
      const ended = new Promise<void>((resolve, reject) => {
        stream.on("data", (m: Message) => answers.push(m));
        stream.on("end", resolve);
        stream.on("error", reject);
      });
      // One at a time, so that the second finds the first's entry stored.
      const next = () => new Promise((r) => stream.once("data", r));
      stream.write(request("a"));
      await next();
      stream.write(request("b"));
      await next();
      stream.end();
      await ended;
      const status = answers.map((a) => [
        a["infer_response"]["id"],
        a["infer_response"]["parameters"]?.["x-cache"]?.["string_param"],
      ]);
      assert.deepEqual(status, [
        ["a", "miss"],
        ["b", "hit"],
      ]);
      assert.deepEqual(
        answers[1]!["infer_response"]["raw_output_contents"],
        answers[0]!["infer_response"]["raw_output_contents"],
      );
    } finally {
      close();
    }
  });

  it("caches pipelines too, and the admin flush empties one model's or one pipeline's entries", async () => {
    const body = inferBody(fresh());
    await gateway.infer(body);
    const run = async () => {
      const response = await fetch(
        `http://127.0.0.1:${gateway.running.httpPort}/v1/pipelines/simple-math`,
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ pairs: [[range(3), range(5)]] }),
        },
      );
      const json = (await response.json()) as Record<string, unknown>;
      assert.equal(response.status, 200, JSON.stringify(json));
      assert.equal(json["cache"], undefined);
      return response.headers.get("x-cache");
    };
    assert.equal(await run(), "miss");
    assert.equal(await run(), "hit");

    const flushed = await gateway.admin("/v1/cache/flush", { model: "simple" });
    assert.equal(flushed.status, 200);
    assert.ok((flushed.body as { deleted: number }).deleted >= 1);
    assert.equal((await gateway.infer(body)).cache, "miss");
    assert.equal(await run(), "hit");
    assert.equal((await gateway.admin("/v1/cache/flush", { pipeline: "simple-math" })).status, 200);
    assert.equal(await run(), "miss");
    assert.equal((await gateway.admin("/v1/cache/flush", { model: 1 })).status, 400);
    const all = await gateway.admin("/v1/cache/flush", {});
    assert.ok((all.body as { deleted: number }).deleted >= 2);
    assert.equal(await run(), "miss");
  });

  it("a new model version makes the old entries unreachable", async () => {
    const body = inferBody(fresh());
    const v1 = await gateway.infer(body);
    assert.equal(v1.body["model_version"], "1");
    assert.equal((await gateway.infer(body)).cache, "hit");
    await cp(join(repo.path, "simple", "1"), join(repo.path, "simple", "2"), { recursive: true });
    assert.equal((await gateway.admin("/v2/repository/models/simple/load", {})).status, 200);
    // The replica learns of it from its next health check.
    await sleep(600);
    const before = await served();
    const v2 = await gateway.infer(body);
    assert.equal(v2.body["model_version"], "2");
    assert.equal(v2.cache, "miss");
    assert.equal(await served(), before + 1);
    assert.equal((await replica.infer(body)).cache, "hit");
    assert.equal((await gateway.infer(body)).body["model_version"], "2");
  });

  it("without Redis (the default) the in-process store serves, per gateway", async () => {
    const config = configFor();
    config.cache.redisUrl = undefined;
    const local = await startTestGateway(config);
    try {
      const body = inferBody(fresh());
      assert.equal((await local.infer(body)).cache, "miss");
      const before = await served();
      assert.equal((await local.infer(body)).cache, "hit");
      assert.equal(await served(), before);
      assert.ok((await local.metric("infergate_cache_memory_bytes")) > 0);
      // Not shared: the Redis-backed gateway has never seen it.
      assert.equal((await gateway.infer(body)).cache, "miss");
    } finally {
      await local.running.close();
    }
  });

  it("Redis killed in the middle of a load: no failed request, caching resumes after restart", async () => {
    const inputs = Array.from({ length: 4 }, () => inferBody(fresh()));
    const failures: string[] = [];
    const seen: Record<string, number> = {};
    let stop = false;
    const worker = async (w: number) => {
      for (let i = w; !stop; i++) {
        const target = i % 2 === 0 ? gateway : replica;
        try {
          const answer = await target.infer(inputs[i % inputs.length]!);
          if (answer.status !== 200)
            failures.push(`${answer.status} ${JSON.stringify(answer.body)}`);
          seen[String(answer.cache)] = (seen[String(answer.cache)] ?? 0) + 1;
        } catch (error: unknown) {
          failures.push(String(error));
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    await sleep(500);
    await redis.kill();
    await sleep(1500);
    await redis.restart();
    // Caching resumes: the breaker's trial call succeeds, a miss is stored, then hits follow.
    const probe = inferBody(fresh());
    let resumedAfterMs = -1;
    const started = Date.now();
    while (Date.now() - started < 8000) {
      const answer = await gateway.infer(probe);
      if (answer.cache === "hit") {
        resumedAfterMs = Date.now() - started;
        break;
      }
      await sleep(50);
    }
    stop = true;
    await load;
    assert.deepEqual(failures, []);
    assert.ok(resumedAfterMs >= 0, `no hit within 8 s of the restart (${JSON.stringify(seen)})`);
    assert.ok((seen["bypass"] ?? 0) + (seen["miss"] ?? 0) > 0, JSON.stringify(seen));
    assert.ok((await gateway.metric("infergate_cache_errors_total")) > 0);
  });
});

function range(n: number): number[] {
  return Array.from({ length: ROW }, (_, i) => n * 100 + i);
}

function countBy(values: ReadonlyArray<string | null>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[String(v)] = (counts[String(v)] ?? 0) + 1;
  return counts;
}

/** One gRPC `ModelInfer` of `simple` (INPUT1 = ones); the outputs and the `x-cache` trailer. */
function grpcInfer(
  client: grpc.Client,
  values: number[],
  metadata: Record<string, string> = {},
): Promise<{ outputs: string[]; cache: string | undefined }> {
  const definition = methodDefinition("ModelInfer");
  const raw = (v: number[]) => Buffer.from(Int32Array.from(v).buffer);
  const request = {
    model_name: "simple",
    inputs: ["INPUT0", "INPUT1"].map((name) => ({ name, datatype: "INT32", shape: [1, ROW] })),
    raw_input_contents: [raw(values), raw(values.map(() => 1))],
  };
  const meta = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) meta.set(k, v);
  return new Promise((resolve, reject) => {
    let response: Message | undefined;
    const call = client.makeUnaryRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      request,
      meta,
      { deadline: new Date(Date.now() + 10_000) },
      (error, reply) => {
        if (error) reject(error);
        else response = reply;
      },
    );
    call.on("status", (status: grpc.StatusObject) => {
      if (status.code !== grpc.status.OK) return;
      const [cache] = status.metadata.get("x-cache");
      const outputs = ((response?.["raw_output_contents"] ?? []) as Buffer[]).map((b) =>
        Buffer.from(b).toString("hex"),
      );
      resolve({ outputs, cache: typeof cache === "string" ? cache : undefined });
    });
  });
}
