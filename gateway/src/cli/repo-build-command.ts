/** `infergate repo build --target cpu|t4|p100 [--out DIR] [--repository DIR]`. */

import { parseArgs } from "node:util";
import { BUILD_NOTES } from "../repository/build-layout.js";
import { type BuiltModel, buildRepository } from "../repository/build-repository.js";
import { formatLintProblem } from "../repository/lint.js";

const USAGE = `usage: infergate repo build --target cpu|t4|p100 [--out DIR] [--repository model_repository]
  cpu   ONNX Runtime on the CPU (the configs of model_repository/)
  t4    TensorRT INT8 engines, 2 instances per GPU (Triton 24.12, TensorRT 10.7)
  p100  TensorRT FP16 engines (no INT8 on sm_60; Triton 24.04, TensorRT 8.6)
--out defaults to model_repository_<target>; it must be absent or empty. GPU outputs hold each
engine's ONNX source and engines.tsv for deploy/build-engines.sh; BUILD.txt lists the next steps.
`;

/** Runs `repo build`; returns the process exit code. */
export async function runRepoBuildCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      target: { type: "string" },
      out: { type: "string" },
      repository: { type: "string", default: "model_repository" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help || !values.target) {
    (values.help ? process.stdout : process.stderr).write(USAGE);
    return values.help ? 0 : 2;
  }
  const out = values.out ?? `model_repository_${values.target}`;
  const result = await buildRepository({
    target: values.target,
    repository: values.repository,
    out,
    onModel: (model) => process.stdout.write(`repo build ${values.target}: ${describe(model)}\n`),
  });
  for (const p of result.lint.problems) process.stdout.write(`${formatLintProblem(p)}\n`);
  const pending = result.lint.pending ?? [];
  const lint =
    result.lint.problems.length === 0
      ? `lint: no problems${pending.length > 0 ? ` (${pending.length} engine(s) pending)` : ""}`
      : `lint: ${result.lint.problems.length} problem(s)`;
  process.stdout.write(
    `repo build ${values.target}: ${result.models.length} model(s) in ${out}; ${lint}; next steps in ${out}/${BUILD_NOTES}\n`,
  );
  return result.lint.problems.length === 0 ? 0 : 1;
}

function describe(model: BuiltModel): string {
  const where = model.config.platform ?? "";
  if (model.engine) {
    return `${model.name} -> ${where} ${model.engine.precision}, engine ${model.engine.plan} to build`;
  }
  const kind = model.config.instance_group?.[0]?.kind;
  return `${model.name} -> ${where}${kind ? ` ${kind}` : ""}`;
}
