import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { lintRepository } from "../../gateway/src/repository/lint.js";
import { encodeOnnxGraph } from "../../gateway/src/repository/onnx-model.js";

const run = promisify(execFile);
const FIXTURE = "test/fixtures/broken_repository";
const INT32_ROW = { datatype: "INT32", dims: [-1, 16] };

/** Model files for the fixture's models, built in code (binaries are never committed). */
function identityModel(): Uint8Array {
  return encodeOnnxGraph({
    name: "identity",
    inputs: [{ name: "INPUT0", ...INT32_ROW }],
    outputs: [{ name: "OUTPUT0", ...INT32_ROW }],
    nodes: [{ opType: "Identity", inputs: ["INPUT0"], outputs: ["OUTPUT0"] }],
  });
}

function twoInputModel(): Uint8Array {
  return encodeOnnxGraph({
    name: "add",
    inputs: [
      { name: "INPUT0", ...INT32_ROW },
      { name: "INPUT1", ...INT32_ROW },
    ],
    outputs: [{ name: "OUTPUT0", ...INT32_ROW }],
    nodes: [{ opType: "Add", inputs: ["INPUT0", "INPUT1"], outputs: ["OUTPUT0"] }],
  });
}

describe("infergate lint on a broken repository", () => {
  let repo = "";
  before(async () => {
    repo = await mkdtemp(join(tmpdir(), "infergate-lint-"));
    await cp(FIXTURE, repo, { recursive: true });
    for (const model of [
      "bad_batching",
      "wrong_name",
      "missing_label",
      "missing_specific",
      "good",
    ]) {
      await writeFile(join(repo, model, "1", "model.onnx"), identityModel());
    }
    await writeFile(join(repo, "io_mismatch", "1", "model.onnx"), twoInputModel());
  });
  after(() => rm(repo, { recursive: true, force: true }));

  // One row per kind of message: the model it concerns, the rule, and what the message says.
  const expected: Array<{ model: string; rule: string | RegExp; message: RegExp }> = [
    { model: "no_config", rule: "config-missing", message: /no config\.pbtxt/ },
    { model: "syntax_error", rule: "syntax", message: /config\.pbtxt:4:\d+: .*TYPE_INT33/ },
    {
      model: "bad_batching",
      rule: /preferred/,
      message: /preferred_batch_size.*16.*max_batch_size 8/,
    },
    { model: "wrong_name", rule: /name/, message: /not_the_folder/ },
    { model: "no_version", rule: "version-folder", message: /no numeric version folder/ },
    {
      model: "missing_file",
      rule: "model-file",
      message: /version 1 has no model file 'model\.onnx'/,
    },
    {
      model: "io_mismatch",
      rule: "io-mismatch",
      message: /input 'INPUT0': config says TYPE_FP32, the model file has INT32/,
    },
    {
      model: "io_mismatch",
      rule: "io-mismatch",
      message: /model file input 'INPUT1' is missing from the config/,
    },
    {
      model: "io_mismatch",
      rule: "io-mismatch",
      message: /output 'OUTPUT0': dimension 1 is 8 in the config/,
    },
    {
      model: "io_mismatch",
      rule: "io-mismatch",
      message: /output 'OUTPUT9' is not an output of the model file/,
    },
    { model: "bad_ensemble", rule: /ensemble|step|model/, message: /no_such_model/ },
    { model: "missing_label", rule: "label-file", message: /label file 'labels\.txt'/ },
    {
      model: "missing_specific",
      rule: "version-folder",
      message: /version 3 is named by version_policy/,
    },
  ];

  for (const row of expected) {
    it(`reports ${row.model}: ${row.message.source}`, async () => {
      const report = await lintRepository(repo);
      const found = report.problems.filter(
        (p) =>
          p.model === row.model &&
          (typeof row.rule === "string" ? p.rule === row.rule : row.rule.test(p.rule)) &&
          row.message.test(p.message),
      );
      assert.equal(
        found.length,
        1,
        `problems of ${row.model}: ${JSON.stringify(
          report.problems.filter((p) => p.model === row.model),
          null,
          1,
        )}`,
      );
      assert.match(
        found[0]!.message,
        new RegExp(row.model === "syntax_error" ? "" : `'${row.model}'`),
      );
    });
  }

  it("finds nothing wrong with the good model", async () => {
    const report = await lintRepository(repo);
    assert.deepEqual(
      report.problems.filter((p) => p.model === "good"),
      [],
    );
    assert.equal(report.models.length, 11);
  });

  it("exits 1 from the command line and prints each problem with its location", async () => {
    const result = await run(process.execPath, [
      "--import",
      "tsx",
      "gateway/src/cli/main.ts",
      "lint",
      repo,
    ]).then(
      () => ({ code: 0, stdout: "" }),
      (error: { code: number; stdout: string }) => error,
    );
    assert.equal(result.code, 1);
    assert.match(result.stdout, /syntax_error\/config\.pbtxt:4:\d+: /);
    assert.match(result.stdout, /11 model\(s\), \d+ problem\(s\)/);
  });
});

describe("infergate lint on the shipped repository", () => {
  it("passes with exit code 0", async () => {
    const { stdout } = await run(process.execPath, [
      "--import",
      "tsx",
      "gateway/src/cli/main.ts",
      "lint",
      "model_repository",
    ]);
    assert.match(stdout, /model_repository: \d+ model\(s\), no problems/);
  });
});
