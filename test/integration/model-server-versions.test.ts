/**
 * The embedded model server's model versions and loading, end to end over gRPC: an atomic
 * version swap under load, a failed load that leaves the old version serving, `poll` mode, the
 * `all` and `specific` version policies, and warmup. Every test builds its own repository in a
 * temp folder, with models encoded in code and config text written here.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import type { ModelServerOptions } from "../../gateway/src/models/model-server.js";
import {
  decodeInferResponseMessage,
  encodeInferRequestMessage,
} from "../../gateway/src/protocol/infer-message.js";
import { makeTensor } from "../../gateway/src/protocol/tensor.js";
import { encodeOnnxGraph } from "../../gateway/src/repository/onnx-model.js";
import { SIMPLE_ROW_ELEMENTS } from "../../gateway/src/repository/simple-model.js";
import { startTestModelServer, type TestModelServer } from "./helpers/model-server.js";

type Call = TestModelServer["call"];

/**
 * What a version computes as OUTPUT1 (OUTPUT0 is always a + b), so that answers tell versions
 * apart: `diff` is `simple` itself (a - b), `product` a * b, `reverse` b - a.
 */
type Variant = "diff" | "product" | "reverse";

const SECOND_OUTPUT: Record<Variant, (a: number, b: number) => number> = {
  diff: (a, b) => a - b,
  product: (a, b) => Math.imul(a, b),
  reverse: (a, b) => b - a,
};

/** ONNX bytes of a `simple`-shaped model (INT32 [-1, 16] in and out) computing `variant`. */
function buildVariant(variant: Variant): Uint8Array {
  const tensor = (name: string) => ({ name, datatype: "INT32", dims: [-1, SIMPLE_ROW_ELEMENTS] });
  const second = {
    diff: { opType: "Sub", inputs: ["INPUT0", "INPUT1"] },
    product: { opType: "Mul", inputs: ["INPUT0", "INPUT1"] },
    reverse: { opType: "Sub", inputs: ["INPUT1", "INPUT0"] },
  }[variant];
  return encodeOnnxGraph({
    name: `simple_${variant}`,
    inputs: [tensor("INPUT0"), tensor("INPUT1")],
    outputs: [tensor("OUTPUT0"), tensor("OUTPUT1")],
    nodes: [
      { opType: "Add", inputs: ["INPUT0", "INPUT1"], outputs: ["OUTPUT0"] },
      { ...second, outputs: ["OUTPUT1"] },
    ],
  });
}

/** config.pbtxt of a `simple`-shaped model named `name`, with `extra` text appended. */
function simpleConfig(name: string, extra = ""): string {
  return `
name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  { name: "INPUT0", data_type: TYPE_INT32, dims: [ ${SIMPLE_ROW_ELEMENTS} ] },
  { name: "INPUT1", data_type: TYPE_INT32, dims: [ ${SIMPLE_ROW_ELEMENTS} ] }
]
output [
  { name: "OUTPUT0", data_type: TYPE_INT32, dims: [ ${SIMPLE_ROW_ELEMENTS} ] },
  { name: "OUTPUT1", data_type: TYPE_INT32, dims: [ ${SIMPLE_ROW_ELEMENTS} ] }
]
dynamic_batching { max_queue_delay_microseconds: 1000 }
${extra}
`;
}

/** A model folder: config text and the variant each version folder holds. */
interface ModelSpec {
  config: string;
  versions: Record<number, Variant>;
}

/** Writes a repository of `models` into a fresh temp folder and returns its path. */
async function makeRepository(models: Record<string, ModelSpec>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "infergate-versions-"));
  for (const [name, spec] of Object.entries(models)) {
    await mkdir(join(root, name));
    await writeFile(join(root, name, "config.pbtxt"), spec.config);
    for (const [version, variant] of Object.entries(spec.versions)) {
      await addVersion(join(root, name), Number(version), buildVariant(variant));
    }
  }
  return root;
}

/**
 * Adds version folder `version` holding `modelBytes` as `model.onnx`. The folder is filled
 * under a hidden name, then renamed, so a repository poll never sees it half written.
 */
async function addVersion(
  modelDir: string,
  version: number,
  modelBytes: Uint8Array | string,
): Promise<void> {
  const staging = join(modelDir, `.staging-${version}`);
  await mkdir(staging);
  await writeFile(join(staging, "model.onnx"), modelBytes);
  await rename(staging, join(modelDir, String(version)));
}

/** A checker for `assert.rejects`: a gRPC status error with `code` and matching details. */
function isStatus(code: status, details: RegExp) {
  return (error: unknown): boolean => {
    const e = error as { code?: number; details?: string };
    assert.equal(e.code, code, `expected ${status[code]}, got ${e.code}: ${e.details}`);
    assert.match(e.details ?? "", details);
    return true;
  };
}

/** Polls `predicate` every 20 ms until it holds; fails after `timeoutMs` naming `what`. */
async function waitFor(
  what: string,
  predicate: () => Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Sends one request (inputs derived from `seed`) to `model` (`version` "" = the policy's pick),
 * checks OUTPUT0 = a + b, and returns the version that answered and the variant its OUTPUT1
 * shows.
 */
async function infer(
  call: Call,
  model: string,
  seed: number,
  version = "",
): Promise<{ version: string; variant: Variant }> {
  const a = Int32Array.from({ length: SIMPLE_ROW_ELEMENTS }, (_, i) => seed + i + 2);
  const b = Int32Array.from({ length: SIMPLE_ROW_ELEMENTS }, (_, i) => 3 - i);
  const shape = [1, SIMPLE_ROW_ELEMENTS];
  const response = await call(
    "ModelInfer",
    encodeInferRequestMessage({
      modelName: model,
      modelVersion: version,
      inputs: [
        makeTensor({ name: "INPUT0", datatype: "INT32", shape }, a),
        makeTensor({ name: "INPUT1", datatype: "INT32", shape }, b),
      ],
    }),
  );
  const decoded = decodeInferResponseMessage(response);
  const [sum, second] = decoded.outputs;
  assert.ok(sum && second, `expected two outputs, got ${decoded.outputs.length}`);
  assert.deepEqual(
    [...(sum.data as Int32Array)],
    [...a].map((x, i) => x + b[i]!),
  );
  const got = [...(second.data as Int32Array)];
  const variant = (Object.keys(SECOND_OUTPUT) as Variant[]).find((v) =>
    got.every((x, i) => x === SECOND_OUTPUT[v](a[i]!, b[i]!)),
  );
  assert.ok(variant, `OUTPUT1 ${got} matches no known version`);
  return { version: decoded.modelVersion, variant };
}

interface IndexRow {
  name: string;
  version?: string;
  state?: string;
  reason?: string;
}

/** The `RepositoryIndex` rows of `model`. */
async function indexOf(call: Call, model: string): Promise<IndexRow[]> {
  const response = await call("RepositoryIndex", {});
  return ((response.models ?? []) as IndexRow[]).filter((row) => row.name === model);
}

// ---------------------------------------------------------------------------------------------

describe("embedded model server: versions and loading", () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    await Promise.all(cleanups.map((cleanup) => cleanup()));
  });
  /** A server on a fresh repository of `models`; stopped and removed after the suite. */
  const start = async (
    models: Record<string, ModelSpec>,
    options: Partial<ModelServerOptions> = {},
  ): Promise<TestModelServer & { repository: string }> => {
    const repository = await makeRepository(models);
    const server = await startTestModelServer(repository, { metricsPort: -1, ...options });
    cleanups.push(async () => {
      await server.close();
      await rm(repository, { recursive: true, force: true });
    });
    return Object.assign(server, { repository });
  };

  it("swaps to a new version under load without failing a request", async () => {
    const { call, repository } = await start(
      { simple: { config: simpleConfig("simple"), versions: { 1: "diff" } } },
      { controlMode: "explicit", startupModels: ["simple"] },
    );
    const answers: { startedMs: number; version: string; variant: Variant }[] = [];
    const failures: string[] = [];
    let stop = false;
    const worker = async (id: number) => {
      for (let n = 0; !stop; n++) {
        const startedMs = performance.now();
        try {
          answers.push({ startedMs, ...(await infer(call, "simple", id * 100_000 + n)) });
        } catch (error: unknown) {
          failures.push(String((error as { details?: string }).details ?? error));
        }
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await sleep(800);
    await addVersion(join(repository, "simple"), 2, buildVariant("product"));
    await call("RepositoryModelLoad", { model_name: "simple" });
    const loadedMs = performance.now();
    await sleep(800);
    stop = true;
    await Promise.all(workers);

    assert.deepEqual(failures, [], `${failures.length} of ${answers.length} requests failed`);
    for (const answer of answers) {
      assert.equal(answer.variant, answer.version === "1" ? "diff" : "product");
    }
    const before = answers.filter((a) => a.version === "1").length;
    const afterLoad = answers.filter((a) => a.startedMs > loadedMs);
    assert.ok(before > 0, "no answer from version 1");
    assert.ok(afterLoad.length > 0, "no request after the load");
    assert.deepEqual(new Set(afterLoad.map((a) => a.version)), new Set(["2"]));
    assert.deepEqual(
      (await indexOf(call, "simple")).map((r) => [r.version, r.state]),
      [["2", "READY"]],
    );
  });

  it("keeps the old version serving when loading a new one fails", async () => {
    const { call, repository } = await start(
      { simple: { config: simpleConfig("simple"), versions: { 1: "diff", 2: "product" } } },
      { controlMode: "explicit", startupModels: ["simple"] },
    );
    assert.deepEqual(await infer(call, "simple", 1), { version: "2", variant: "product" });
    // Deliberately not a model: text where version 3's ONNX file should be.
    await addVersion(join(repository, "simple"), 3, "this is not an ONNX model\n");
    await assert.rejects(
      call("RepositoryModelLoad", { model_name: "simple" }),
      isStatus(status.INVALID_ARGUMENT, /failed to load 'simple' version 3: /),
    );
    assert.deepEqual(await infer(call, "simple", 2), { version: "2", variant: "product" });
    assert.equal((await call("ModelReady", { name: "simple" })).ready, true);
    assert.deepEqual((await call("ModelMetadata", { name: "simple" })).versions, ["2"]);
    assert.deepEqual(
      (await indexOf(call, "simple")).map((r) => [r.version, r.state]),
      [["2", "READY"]],
    );
  });

  it("picks up a new version folder in poll mode, and unloads a removed model", async () => {
    const { call, repository } = await start(
      { simple: { config: simpleConfig("simple"), versions: { 1: "diff" } } },
      { controlMode: "poll", pollIntervalMs: 200 },
    );
    assert.deepEqual(await infer(call, "simple", 1), { version: "1", variant: "diff" });
    await addVersion(join(repository, "simple"), 2, buildVariant("product"));
    await waitFor("version 2 to be served", async () => {
      const metadata = await call("ModelMetadata", { name: "simple" });
      return metadata.versions.join() === "2";
    });
    assert.deepEqual(await infer(call, "simple", 2), { version: "2", variant: "product" });

    await rm(join(repository, "simple"), { recursive: true });
    await waitFor(
      "the removed model to unload",
      async () => !(await call("ModelReady", { name: "simple" })).ready,
    );
    await assert.rejects(infer(call, "simple", 3), (error: unknown) => {
      const code = (error as { code?: number }).code;
      return code === status.NOT_FOUND || code === status.UNAVAILABLE;
    });
    // Unloading drains in-flight requests first (state UNLOADING), then reports UNAVAILABLE.
    await waitFor(
      "the index to report the model unavailable",
      async () => (await indexOf(call, "simple")).map((r) => r.state).join() === "UNAVAILABLE",
    );
  });

  it("serves every version under version_policy all, and the listed ones under specific", async () => {
    const { call } = await start({
      every: {
        config: simpleConfig("every", "version_policy: { all { } }"),
        versions: { 1: "diff", 2: "product" },
      },
      chosen: {
        config: simpleConfig("chosen", "version_policy: { specific { versions: [ 1, 3 ] } }"),
        versions: { 1: "diff", 2: "product", 3: "reverse" },
      },
    });
    assert.deepEqual((await call("ModelMetadata", { name: "every" })).versions, ["1", "2"]);
    assert.deepEqual(await infer(call, "every", 1, "1"), { version: "1", variant: "diff" });
    assert.deepEqual(await infer(call, "every", 2, "2"), { version: "2", variant: "product" });
    assert.deepEqual(await infer(call, "every", 3), { version: "2", variant: "product" });

    assert.deepEqual((await call("ModelMetadata", { name: "chosen" })).versions, ["1", "3"]);
    assert.deepEqual(await infer(call, "chosen", 4, "1"), { version: "1", variant: "diff" });
    assert.deepEqual(await infer(call, "chosen", 5, "3"), { version: "3", variant: "reverse" });
    assert.equal((await call("ModelReady", { name: "chosen", version: "2" })).ready, false);
    await assert.rejects(
      infer(call, "chosen", 6, "2"),
      isStatus(status.NOT_FOUND, /'chosen' version 2/),
    );
    assert.deepEqual(
      (await indexOf(call, "chosen")).map((r) => [r.version, r.state]),
      [
        ["1", "READY"],
        ["3", "READY"],
      ],
    );
  });

  it("loads a model after its warmup, and fails the load of one whose warmup is wrong", async () => {
    const input = (name: string, data: string, dims = SIMPLE_ROW_ELEMENTS) =>
      `inputs { key: "${name}" value: { data_type: TYPE_INT32 dims: [ ${dims} ] ${data} } }`;
    const warmup = (samples: string) => `model_warmup [ ${samples} ]`;
    const { call, repository } = await start(
      {
        warm: {
          config: simpleConfig(
            "warm",
            warmup(`
              { name: "zeros" batch_size: 2
                ${input("INPUT0", "zero_data: true")} ${input("INPUT1", "zero_data: true")} },
              { name: "noise" batch_size: 8 count: 3
                ${input("INPUT0", "random_data: true")} ${input("INPUT1", "random_data: true")} }`),
          ),
          versions: { 1: "diff" },
        },
        unknown_input: {
          config: simpleConfig(
            "unknown_input",
            warmup(`{ name: "typo" batch_size: 1
              ${input("INPUT0", "zero_data: true")} ${input("INPUT1", "zero_data: true")}
              ${input("NOPE", "zero_data: true")} }`),
          ),
          versions: { 1: "diff" },
        },
        wrong_shape: {
          config: simpleConfig(
            "wrong_shape",
            warmup(`{ name: "short" batch_size: 1
              ${input("INPUT0", "zero_data: true", 8)} ${input("INPUT1", "zero_data: true", 8)} }`),
          ),
          versions: { 1: "diff" },
        },
      },
      { controlMode: "explicit", startupModels: ["warm"] },
    );
    assert.equal((await call("ModelReady", { name: "warm" })).ready, true);
    assert.deepEqual(await infer(call, "warm", 1), { version: "1", variant: "diff" });

    await assert.rejects(
      call("RepositoryModelLoad", { model_name: "unknown_input" }),
      isStatus(
        status.INVALID_ARGUMENT,
        /failed to load 'unknown_input'.*model_warmup\[0\]\.inputs\['NOPE'\]: 'NOPE' is not an input of the model/,
      ),
    );
    await assert.rejects(
      call("RepositoryModelLoad", { model_name: "wrong_shape" }),
      isStatus(
        status.INVALID_ARGUMENT,
        /failed to load 'wrong_shape' version 1: warmup 'short': .*'INPUT0'/,
      ),
    );
    for (const name of ["unknown_input", "wrong_shape"]) {
      assert.equal((await call("ModelReady", { name })).ready, false);
      const [row] = await indexOf(call, name);
      assert.equal(row?.state, "UNAVAILABLE");
      assert.match(row?.reason ?? "", new RegExp(`failed to load '${name}'.*warmup`));
    }
    // Fixed on disk, the model loads.
    await writeFile(join(repository, "wrong_shape", "config.pbtxt"), simpleConfig("wrong_shape"));
    await call("RepositoryModelLoad", { model_name: "wrong_shape" });
    assert.deepEqual(await infer(call, "wrong_shape", 2), { version: "1", variant: "diff" });
  });
});
