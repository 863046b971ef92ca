/**
 * Model updates end to end: `repo push` and `repo rollback` against the embedded model server,
 * directly and through the gateway, under load (zero failed requests, traffic and cache keys
 * moving with the version), refusals that leave the repository as it was, a failed load that
 * restores the previous version, a server that polls its repository, the drop folder, the
 * update lock, and the CLI.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { InferError } from "../../gateway/src/errors.js";
import { createDropFolderWatcher } from "../../gateway/src/repository/drop-folder.js";
import {
  createGatewayModelControl,
  createTritonModelControl,
  type ModelControl,
} from "../../gateway/src/repository/model-control.js";
import {
  HISTORY_FOLDER,
  pushModelVersion,
  rollbackModel,
} from "../../gateway/src/repository/model-update.js";
import { encodeOnnxGraph } from "../../gateway/src/repository/onnx-model.js";
import { type FullGateway, startFullGateway } from "./helpers/full-gateway.js";
import { startTestModelServer, type TestModelServer } from "./helpers/model-server.js";

const MODEL = "scaler";

/** config.pbtxt of `scaler`: Y = X * factor, FP32 [4] rows, batched. */
const CONFIG = `name: "${MODEL}"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "X", data_type: TYPE_FP32, dims: [ 4 ] } ]
output [ { name: "Y", data_type: TYPE_FP32, dims: [ 4 ] } ]
`;

/** ONNX bytes of a `scaler` version: Y = X * factor (so answers tell versions apart). */
function scalerModel(factor: number, options: { inputName?: string; opType?: string } = {}) {
  const input = options.inputName ?? "X";
  return encodeOnnxGraph({
    name: `scaler_x${factor}`,
    inputs: [{ name: input, datatype: "FP32", dims: [-1, 4] }],
    outputs: [{ name: "Y", datatype: "FP32", dims: [-1, 4] }],
    initializers: [{ name: "factor", datatype: "FP32", dims: [1], values: [factor] }],
    nodes: [{ opType: options.opType ?? "Mul", inputs: [input, "factor"], outputs: ["Y"] }],
  });
}

/** A repository with `scaler` version 1 (factor 1). */
async function scalerRepository(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "infergate-update-"));
  await mkdir(join(root, MODEL, "1"), { recursive: true });
  await writeFile(join(root, MODEL, "config.pbtxt"), CONFIG);
  await writeFile(join(root, MODEL, "1", "model.onnx"), scalerModel(1));
  return root;
}

/** A push source folder holding a `model.onnx` (and a config when given). */
async function sourceFolder(model: Uint8Array, config?: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "infergate-source-"));
  await writeFile(join(dir, "model.onnx"), model);
  if (config !== undefined) await writeFile(join(dir, "config.pbtxt"), config);
  return dir;
}

async function versionsOnDisk(repository: string, model = MODEL): Promise<string[]> {
  const names = await readdir(join(repository, model));
  return names.filter((n) => /^\d+$/.test(n)).sort();
}

/** Y[0] of one inference straight to the model server: the version's factor. */
async function factorOf(server: TestModelServer, model = MODEL): Promise<number> {
  const response = await server.call("ModelInfer", {
    model_name: model,
    inputs: [{ name: "X", datatype: "FP32", shape: [1, 4] }],
    raw_input_contents: [Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)],
  });
  const raw = response["raw_output_contents"][0] as Buffer;
  return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + 16))[0]!;
}

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe("repo push and rollback through the gateway, under load", () => {
  let repository: string;
  let server: TestModelServer;
  let gateway: FullGateway;
  let control: ModelControl;

  before(async () => {
    repository = await scalerRepository();
    server = await startTestModelServer(repository, {
      controlMode: "explicit",
      startupModels: ["*"],
    });
    gateway = await startFullGateway({
      endpoints: [`127.0.0.1:${server.server.grpcPort}`],
      configure: (config) => {
        config.cache.models = {
          [MODEL]: { enabled: true, ttlSeconds: 300, maxEntryBytes: 1 << 20 },
        };
      },
    });
    control = createGatewayModelControl({ adminUrl: gateway.adminUrl("") });
    cleanups.push(
      () => rm(repository, { recursive: true, force: true }),
      () => server.close(),
      () => gateway.close(),
    );
  });

  /**
   * Runs `update` while 4 clients send the same (cacheable) request through the gateway's HTTP
   * front end in a loop; returns each answer's factor and start time, and every failure.
   */
  async function underLoad(update: () => Promise<unknown>) {
    const answers: Array<{ startedMs: number; factor: number; cache: string }> = [];
    const failures: string[] = [];
    let running = true;
    const client = async () => {
      while (running) {
        const startedMs = Date.now();
        const response = await fetch(gateway.url(`/v2/models/${MODEL}/infer`), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            inputs: [{ name: "X", datatype: "FP32", shape: [1, 4], data: [1, 2, 3, 4] }],
          }),
        }).catch((error: unknown) => error as Error);
        if (response instanceof Error) failures.push(response.message);
        else if (!response.ok) failures.push(`${response.status} ${await response.text()}`);
        else {
          const body = (await response.json()) as { outputs: Array<{ data: number[] }> };
          const cache = response.headers.get("x-cache") ?? "";
          answers.push({ startedMs, factor: body.outputs[0]!.data[0]!, cache });
        }
      }
    };
    const clients = Array.from({ length: 4 }, client);
    await new Promise((r) => setTimeout(r, 150));
    const result = await update();
    const doneMs = Date.now();
    await new Promise((r) => setTimeout(r, 150));
    running = false;
    await Promise.all(clients);
    return { result, answers, failures, doneMs };
  }

  it("push: version 2 serves once the push returns, with zero failed requests", async () => {
    const source = await sourceFolder(scalerModel(2));
    cleanups.push(() => rm(source, { recursive: true, force: true }));
    const run = await underLoad(() =>
      pushModelVersion({ repository, model: MODEL, source, control }),
    );
    assert.deepEqual(run.failures, []);
    assert.deepEqual(run.result, { model: MODEL, version: 2, previous: 1, configChanged: false });
    const before = run.answers.filter((a) => a.startedMs < run.doneMs);
    const afterPush = run.answers.filter((a) => a.startedMs > run.doneMs);
    assert.ok(
      before.some((a) => a.factor === 1),
      "version 1 served before the push",
    );
    assert.ok(
      before.some((a) => a.cache === "hit"),
      "the cache served version 1's result",
    );
    assert.ok(afterPush.length > 0, "requests ran after the push");
    // Old cache entries are unreachable: every answer after the push is version 2's.
    assert.deepEqual([...new Set(afterPush.map((a) => a.factor))], [2]);
    assert.ok(run.answers.every((a) => a.factor === 1 || a.factor === 2));
    // Version 1 stays on disk for rollback; the config version 1 was served with is recorded.
    assert.deepEqual(await versionsOnDisk(repository), ["1", "2"]);
    assert.equal(
      await readFile(join(repository, MODEL, HISTORY_FOLDER, "config.1.pbtxt"), "utf8"),
      CONFIG,
    );
  });

  it("rollback: version 1 serves again, with zero failed requests", async () => {
    const run = await underLoad(() => rollbackModel({ repository, model: MODEL, control }));
    assert.deepEqual(run.failures, []);
    assert.deepEqual(run.result, { model: MODEL, retired: 2, serving: 1 });
    const afterRollback = run.answers.filter((a) => a.startedMs > run.doneMs);
    assert.ok(afterRollback.length > 0);
    assert.deepEqual([...new Set(afterRollback.map((a) => a.factor))], [1]);
    assert.deepEqual(await versionsOnDisk(repository), ["1"]);
    const retired = await readdir(join(repository, MODEL, HISTORY_FOLDER, "retired"));
    assert.ok(
      retired.some((n) => n.startsWith("2-rolled-back-")),
      retired.join(", "),
    );
  });

  it("a later push never reuses a retired version number", async () => {
    const source = await sourceFolder(scalerModel(3));
    cleanups.push(() => rm(source, { recursive: true, force: true }));
    const result = await pushModelVersion({ repository, model: MODEL, source, control });
    assert.equal(result.version, 3);
    assert.equal(await factorOf(server), 3);
  });

  it("refuses a version whose IO does not match the config, leaving everything as it was", async () => {
    const source = await sourceFolder(scalerModel(5, { inputName: "INPUT" }));
    cleanups.push(() => rm(source, { recursive: true, force: true }));
    const disk = await versionsOnDisk(repository);
    await assert.rejects(
      pushModelVersion({ repository, model: MODEL, source, control }),
      (error: unknown) =>
        error instanceof InferError &&
        error.code === 3 &&
        /push refused/.test(error.message) &&
        /X/.test(error.message),
    );
    assert.deepEqual(await versionsOnDisk(repository), disk);
    const history = await readdir(join(repository, MODEL, HISTORY_FOLDER));
    assert.ok(!history.some((n) => n.startsWith("staging-")), history.join(", "));
    assert.ok(!history.includes("lock"));
    assert.equal(await factorOf(server), 3);
  });

  it("a version that fails to load is retired and the previous one keeps serving", async () => {
    const source = await sourceFolder(scalerModel(7, { opType: "NoSuchOperator" }));
    cleanups.push(() => rm(source, { recursive: true, force: true }));
    await assert.rejects(pushModelVersion({ repository, model: MODEL, source, control }));
    assert.deepEqual(await versionsOnDisk(repository), ["1", "3"]);
    const retired = await readdir(join(repository, MODEL, HISTORY_FOLDER, "retired"));
    assert.ok(
      retired.some((n) => n.startsWith("4-failed-")),
      retired.join(", "),
    );
    assert.deepEqual(await control.readyVersions(MODEL), [3]);
    assert.equal(await factorOf(server), 3);
  });

  it("refuses a second update of the same model while one runs, and takes over stale locks", async () => {
    const lock = join(repository, MODEL, HISTORY_FOLDER, "lock");
    const lockOf = (pid: number, token = "someone-else") =>
      JSON.stringify({ pid, host: hostname(), token });
    const refused = () =>
      assert.rejects(
        rollbackModel({ repository, model: MODEL, control }),
        /another update of model 'scaler' is running/,
      );
    // Held by a live process on this host.
    const alive = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"]);
    try {
      await writeFile(lock, lockOf(alive.pid!));
      await refused();
    } finally {
      alive.kill();
    }
    // Being written (not yet a whole lock): held for a while.
    await writeFile(lock, "");
    await refused();
    // This process's own pid with a token it does not hold: a restarted container (pid 1 again).
    await writeFile(lock, lockOf(process.pid));
    const before = await versionsOnDisk(repository);
    const taken = await rollbackModel({ repository, model: MODEL, control });
    assert.equal(taken.retired, Number(before.at(-1)));
    assert.ok(!existsSync(lock), "released");
    // A lock whose process is gone is taken over too.
    const gone = spawn(process.execPath, ["-e", ""]);
    await new Promise((r) => gone.once("exit", r));
    await writeFile(lock, lockOf(gone.pid!));
    await assert.rejects(
      rollbackModel({ repository, model: MODEL, control }),
      /nothing to roll back to/,
      "the lock was taken; only then did the rollback find one version",
    );
    assert.ok(!existsSync(lock));
  });

  it("two pushes of one new model at once: one lands, the other is refused, nothing is deleted", async () => {
    const config = CONFIG.replace(`name: "${MODEL}"`, 'name: "scaler_e"');
    const sources = await Promise.all([
      sourceFolder(scalerModel(11), config),
      sourceFolder(scalerModel(12), config),
    ]);
    cleanups.push(() => Promise.all(sources.map((s) => rm(s, { recursive: true, force: true }))));
    const outcomes = await Promise.allSettled(
      sources.map((source) => pushModelVersion({ repository, model: "scaler_e", source, control })),
    );
    const landed = outcomes.filter((o) => o.status === "fulfilled");
    const refusedPushes = outcomes.filter((o) => o.status === "rejected");
    assert.equal(landed.length, 1, JSON.stringify(outcomes));
    assert.match(String((refusedPushes[0] as PromiseRejectedResult).reason), /another update/);
    assert.deepEqual(await versionsOnDisk(repository, "scaler_e"), ["1"]);
    assert.ok([11, 12].includes(await factorOf(server, "scaler_e")));
  });

  it("rollback with a single version on disk refuses", async () => {
    await assert.rejects(
      rollbackModel({ repository, model: MODEL, control }),
      /nothing to roll back to/,
    );
  });

  it("pushes a new model with its config", async () => {
    const config = CONFIG.replace(`name: "${MODEL}"`, 'name: "scaler_b"');
    const source = await sourceFolder(scalerModel(6), config);
    cleanups.push(() => rm(source, { recursive: true, force: true }));
    const result = await pushModelVersion({ repository, model: "scaler_b", source, control });
    assert.deepEqual(result, { model: "scaler_b", version: 1, configChanged: true });
    assert.equal(await factorOf(server, "scaler_b"), 6);
  });

  it("a new model without a config, or with a bad name, is refused and leaves no folder", async () => {
    const source = await sourceFolder(scalerModel(6));
    cleanups.push(() => rm(source, { recursive: true, force: true }));
    await assert.rejects(
      pushModelVersion({ repository, model: "scaler_c", source, control }),
      /needs a config.pbtxt/,
    );
    await assert.rejects(
      pushModelVersion({ repository, model: "../x", source, control }),
      /not a model folder name/,
    );
    const bad = await sourceFolder(
      scalerModel(6, { inputName: "Z" }),
      CONFIG.replace(MODEL, "scaler_d"),
    );
    cleanups.push(() => rm(bad, { recursive: true, force: true }));
    await assert.rejects(pushModelVersion({ repository, model: "scaler_d", source: bad, control }));
    assert.ok(!existsSync(join(repository, "scaler_c")));
    assert.ok(!existsSync(join(repository, "scaler_d")));
  });

  it("the drop folder pushes a finished upload and files a broken one under .failed", async () => {
    const drop = await mkdtemp(join(tmpdir(), "infergate-drop-"));
    cleanups.push(() => rm(drop, { recursive: true, force: true }));
    const lines: string[] = [];
    const watcher = createDropFolderWatcher({
      drop,
      repository,
      control,
      progress: (line) => lines.push(line),
    });
    await mkdir(join(drop, MODEL));
    await writeFile(join(drop, MODEL, "model.onnx"), scalerModel(8));
    await mkdir(join(drop, "scaler_b"));
    await writeFile(join(drop, "scaler_b", "model.onnx"), scalerModel(9, { inputName: "Q" }));
    await mkdir(join(drop, "empty_upload"));
    // First pass: records what it sees; nothing has been stable for an interval yet.
    assert.deepEqual(await watcher.pass(), []);
    const outcomes = await watcher.pass();
    const byModel = new Map(outcomes.map((o) => [o.model, o]));
    assert.equal(outcomes.length, 2, JSON.stringify(outcomes));
    assert.equal(byModel.get(MODEL)?.result?.version, 5);
    assert.match(byModel.get(MODEL)!.movedTo, /\.done/);
    assert.match(byModel.get("scaler_b")!.error!, /push refused/);
    assert.match(
      await readFile(join(byModel.get("scaler_b")!.movedTo, "error.txt"), "utf8"),
      /push refused/,
    );
    assert.equal(await factorOf(server), 8);
    assert.equal(await factorOf(server, "scaler_b"), 6);
    assert.ok(existsSync(join(drop, "empty_upload")), "an empty folder waits for its files");
    assert.ok(lines.some((l) => l.includes("version 5 is serving")));
  });
});

describe("repo push straight to a server that polls its repository", () => {
  it("waits for the server to pick the new version up", async () => {
    const repository = await scalerRepository();
    const server = await startTestModelServer(repository, {
      controlMode: "poll",
      pollIntervalMs: 100,
    });
    const control = createTritonModelControl([`127.0.0.1:${server.server.grpcPort}`]);
    const source = await sourceFolder(scalerModel(4));
    try {
      const lines: string[] = [];
      const result = await pushModelVersion({
        repository,
        model: MODEL,
        source,
        control,
        progress: (line) => lines.push(line),
      });
      assert.equal(result.version, 2);
      assert.ok(
        lines.some((l) => /poll their repository/.test(l)),
        lines.join("\n"),
      );
      assert.equal(await factorOf(server), 4);
    } finally {
      control.close();
      await server.close();
      await rm(repository, { recursive: true, force: true });
      await rm(source, { recursive: true, force: true });
    }
  });
});

describe("infergate repo push/rollback (the CLI)", () => {
  const cli = resolve(import.meta.dirname, "../../gateway/src/cli/main.ts");

  function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((done) => {
      const child = spawn(process.execPath, ["--import", "tsx", cli, ...args], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("exit", (code) => done({ code: code ?? -1, stdout, stderr }));
    });
  }

  it("pushes and rolls back with --triton, printing progress and a JSON result", async () => {
    const repository = await scalerRepository();
    const server = await startTestModelServer(repository, {
      controlMode: "explicit",
      startupModels: ["*"],
    });
    const source = await sourceFolder(scalerModel(2));
    const url = `127.0.0.1:${server.server.grpcPort}`;
    const rollback = (...extra: string[]) =>
      run(["repo", "rollback", MODEL, "--repository", repository, "--triton", url, ...extra]);
    try {
      const push = await run([
        "repo",
        "push",
        MODEL,
        source,
        "--repository",
        repository,
        "--triton",
        url,
      ]);
      assert.equal(push.code, 0, push.stderr);
      assert.deepEqual(JSON.parse(push.stdout), {
        model: MODEL,
        version: 2,
        previous: 1,
        configChanged: false,
      });
      assert.match(push.stderr, /version 2 is serving; version 1 kept for rollback/);
      assert.equal(await factorOf(server), 2);
      const back = await rollback();
      assert.equal(back.code, 0, back.stderr);
      assert.equal(await factorOf(server), 1);
      const badTimeout = await rollback("--timeout-ms", "5m");
      assert.equal(badTimeout.code, 1);
      assert.match(
        badTimeout.stderr,
        /--timeout-ms must be a positive whole number of milliseconds, got '5m'/,
      );
      assert.equal(await factorOf(server), 1, "nothing was done");
      const usage = await run(["repo", "push", MODEL]);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /usage:/);
      const refused = await rollback();
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /nothing to roll back to/);
    } finally {
      await server.close();
      await rm(repository, { recursive: true, force: true });
      await rm(source, { recursive: true, force: true });
    }
  });
});
